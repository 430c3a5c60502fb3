"""Benchmark: the pipeline's steps over a corpus of 20,000+ notebooks of real sizes.

    python bench/pipeline.py [--notebooks 20000] [--full-notebooks 500] [--workers 2] [--sandbox bwrap]

The corpus is made of copies of the ../shared/corpus notebooks (or of examples/ when it is absent),
each copy with one extra line of code so that exact dedup does not remove it; data files are hard
links to the originals, so relative reads still resolve. The rules are the paper's recipe's
(recipes/nbqa-github.yaml) in both tiers, so that the share of real notebooks that passes them
(about a tenth of the corpus: the others have no code, no outputs, no data file...) reaches the
later steps with its data files.

- CPU steps (read, validate, filter, deps, redact, exact dedup, heuristic extraction, write) over
  `--notebooks` and twice that, each size in a fresh process: notebooks/second and the peak RSS
  of that process tree (the run's own processes: the one that builds the corpus is not counted),
  so the growth is visible;
- every step, execute and verify in the sandbox included, over `--full-notebooks`;
both print the seconds spent in each step (summed over workers). The baseline (nbformat.reads +
nbformat.validate, and orjson alone) is measured in the same run on a sample.
Last line: notebooks_per_s=<x> peak_rss_mb=<m> rss_growth=<ratio>
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbqa_builder.pipeline import Pipeline  # noqa: E402
from nbqa_builder.recipe import parse_recipe  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
RECIPE = """
name: bench
source: {{kind: local, path: "{source}"}}
steps:
  - validate: {{}}
  - filter: {{rules: [no_code, out_of_order, unexecuted_code_cells, error_outputs, neural_network_or_gpu, external_api,
                     no_outputs]}}
  - deps: {{}}
  - filter: {{rules: [teaching_dataset, decontaminate, network_read, missing_data_file, too_little_data,
                     incompatible_code]}}
  - redact: {{}}
  - dedup: {{exact: true}}
{sandboxed}
output: "{output}"
executor: {{kind: local, workers: {workers}, part_size: {part_size}}}
"""
CPU_STEPS = "  - extract: {backend: heuristic}"
EVERY_STEP = """  - execute: {{sandbox: {sandbox}, timeout_s: 180, runs: 2}}
  - extract: {{backend: heuristic}}
  - verify: {{sandbox: {sandbox}, timeout_s: 180}}"""


EXAMPLES = ROOT / "examples" / "repos"


def bases() -> list[tuple[Path, int]]:
    """(folder of repositories, copies of each notebook per round): real notebooks of
    ../shared/corpus, of which the paper's rules keep about 2 in 100 (the others have no code, no
    outputs, no data file, run out of order...), and the project's examples, of which they keep
    about 1 in 5, weighted so that about a tenth of the corpus passes the rules with its data
    files and reaches execute, extract and verify. Without the shared corpus: the examples alone."""
    if not CORPUS.is_dir():
        return [(EXAMPLES, 1)]
    return [(CORPUS, 1), (EXAMPLES, 5)]


def originals(base: Path | None = None) -> list[Path]:
    folders = [base] if base is not None else [folder for folder, _ in bases()]
    # in the order of `bases()` (the corpus first), whatever the checkout's path sorts against ../shared
    return [p for folder in folders for p in sorted(folder.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]


# Copies of one repository's notebooks per repository folder: a corpus grows by repositories
# of real sizes (as a crawl does), not by ever larger repositories.
COPIES_PER_REPO = 20


def build_corpus(target: Path, count: int) -> tuple[int, int]:
    """`count` notebook copies under target/<repo>-c<k>/..., each repository folder holding
    COPIES_PER_REPO copies of its original's notebooks and hard links to its data files; each copy
    has one extra line of code (its number), so that exact dedup keeps it. Returns (files, bytes)."""
    linked: set[str] = set()

    def repo_copy(base: Path, rel: Path, variant: int) -> Path:
        """The folder of copy `variant` of the repository of `rel`, its data files linked."""
        name = f"{rel.parts[0]}-c{variant // COPIES_PER_REPO}"
        if name not in linked:
            linked.add(name)
            # the copy keeps the original's name, so links to its raw GitHub files still resolve
            (target / name).mkdir(parents=True, exist_ok=True)
            (target / name / ".nbqa-repo.json").write_text(json.dumps({"repo": rel.parts[0].replace("__", "/", 1)}))
            for path in (base / rel.parts[0]).rglob("*"):
                if not path.is_file() or path.suffix == ".ipynb":
                    continue
                link = target / name / path.relative_to(base / rel.parts[0])
                link.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, link)
                except OSError:
                    shutil.copyfile(path, link)
        return target / name

    parsed = []  # (base, path relative to it, parsed JSON or None, raw bytes), weighted
    for base, weight in bases():
        for path in originals(base):
            raw = path.read_bytes()
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = None
            parsed += [(base, path.relative_to(base), data, raw)] * weight
    random.Random(0).shuffle(parsed)  # mixed, so that a small corpus holds some of each
    written = size = 0
    for index in range(count):
        base, rel, data, raw = parsed[index % len(parsed)]
        out = repo_copy(base, rel, index // len(parsed)) / Path(*rel.parts[1:]).parent / f"{rel.stem}__v{index}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            copy = orjson.loads(raw)
            for cell in copy.get("cells", []) if isinstance(copy, dict) else []:
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    source = cell.get("source")
                    line = f"_bench_variant = {index}\n"
                    cell["source"] = [line] + source if isinstance(source, list) else line + (source or "")
                    break
            raw = orjson.dumps(copy)
        out.write_bytes(raw)
        written += 1
        size += len(raw)
    return written, size


class PeakRSS:
    """Samples the RSS of this process's children and their children every 50 ms (not of this
    process, which built the corpus)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in me.children(recursive=True):
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_pipeline(source: Path, output: Path, workers: int, sandbox: str | None = None) -> tuple[float, float, dict]:
    """Run the recipe (its CPU steps; every step with a `sandbox`) in a fresh process (so that
    building the corpus, or an earlier run, leaves nothing in the memory measured); its elapsed
    time, the peak RSS of its process tree, stats."""
    command = [sys.executable, __file__, "--run", str(source), str(output), str(workers), sandbox or ""]
    with PeakRSS() as rss:
        started = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - started
    return elapsed, rss.peak / 2**20, json.loads((output / "stats.json").read_text())


def run_recipe(source: str, output: str, workers: int, sandbox: str) -> None:
    sandboxed = EVERY_STEP.format(sandbox=sandbox) if sandbox else CPU_STEPS
    text = RECIPE.format(source=source, output=output, workers=workers, sandboxed=sandboxed,
                         part_size=16 if sandbox else 250)  # small parts: sandboxed work spreads over workers
    Pipeline(parse_recipe(text, "bench.yaml"), progress=False).run(restart=True)


def step_line(stats: dict) -> str:
    seconds = stats.get("step_seconds", {})
    shares = ", ".join(f"{step} {value:.1f}" for step, value in seconds.items())
    return f"  seconds in each step (summed over workers): {shares}"


def funnel_line(stats: dict) -> str:
    tiers = stats["notebooks"].get("tiers", {})
    return (f"kept {stats['notebooks']['kept']} of {stats['notebooks']['input']} "
            f"({100 * stats['notebooks']['kept'] / max(1, stats['notebooks']['input']):.1f}%; re-ran to their end "
            f"{tiers.get('reran_to_end', 0)}, sft only {tiers.get('sft_only', 0)}), tasks {stats['tasks']['written']} "
            f"({', '.join(f'{k} {v}' for k, v in stats['tasks']['by_config'].items())})")


def baseline(sample: list[Path]) -> tuple[float, float]:
    import nbformat

    blobs = [p.read_bytes() for p in sample]
    started = time.perf_counter()
    for raw in blobs:
        try:
            nbformat.validate(nbformat.reads(raw.decode("utf-8"), as_version=4))
        except Exception:  # noqa: BLE001 - a verdict, either way
            pass
    nbformat_rate = len(blobs) / (time.perf_counter() - started)
    started = time.perf_counter()
    for raw in blobs:
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:  # a broken example notebook: a verdict too
            pass
    return nbformat_rate, len(blobs) / (time.perf_counter() - started)


def main() -> None:
    if sys.argv[1:2] == ["--run"]:  # the measured child process
        run_recipe(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=20_000, help="for the CPU steps (and twice that)")
    parser.add_argument("--full-notebooks", type=int, default=500, help="for every step, the sandboxed ones included")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap")
    args = parser.parse_args()

    print("source notebooks: " + ", ".join(f"{len(originals(base))} from {base.relative_to(ROOT.parent)} (x{weight})"
                                         for base, weight in bases()))
    work = Path(tempfile.mkdtemp(prefix="nbqa-bench-"))
    try:
        results = []
        for count in (args.notebooks, 2 * args.notebooks):
            corpus = work / f"corpus-{count}"
            files, size = build_corpus(corpus, count)
            os.sync()  # the kernel writes the new corpus out now, not during the measured run
            elapsed, peak, stats = run_pipeline(corpus, work / f"out-{count}", args.workers)
            rate = files / elapsed
            results.append((rate, peak))
            print(f"CPU steps, {files} notebooks ({size / files / 1024:.0f} KB mean, {size / 2**30:.2f} GiB): "
                  f"{elapsed:.1f} s, {rate:.0f} notebooks/s, peak RSS {peak:.0f} MB, {funnel_line(stats)}")
            print(step_line(stats))
            shutil.rmtree(corpus)
            shutil.rmtree(work / f"out-{count}")
        corpus = work / "corpus-full"
        files, size = build_corpus(corpus, args.full_notebooks)
        os.sync()
        elapsed, peak, stats = run_pipeline(corpus, work / "out-full", args.workers, args.sandbox)
        print(f"every step ({args.sandbox}), {files} notebooks: {elapsed:.1f} s, {files / elapsed:.1f} notebooks/s, "
              f"peak RSS {peak:.0f} MB, {funnel_line(stats)}")
        print(step_line(stats))
        sample = originals()[:60]
        nbformat_rate, orjson_rate = baseline(sample)
        print(f"baseline on {len(sample)} notebooks, one core: nbformat.reads+validate {nbformat_rate:.0f}/s, "
              f"orjson.loads {orjson_rate:.0f}/s")
        print(f"ours on {args.workers} workers: {results[0][0]:.0f}/s = {results[0][0] / nbformat_rate:.1f}x the "
              f"one-core nbformat baseline for all CPU steps (goal: 1000/s)")
        print(f"notebooks_per_s={results[0][0]:.0f} peak_rss_mb={results[0][1]:.0f} rss_growth={results[1][1] / results[0][1]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
