"""Benchmark: the CPU steps of the pipeline over a corpus of 20,000+ notebooks of real sizes.

    python bench/pipeline.py [--notebooks 20000] [--workers 2]

The corpus is made of copies of the ../shared/corpus notebooks (or of examples/ when it is absent),
each copy with one extra line of code so that exact dedup does not remove it; data files are hard
links to the originals, so relative reads still resolve. It runs read, validate, deps, filter,
exact dedup, heuristic extraction and write, each size in a fresh process, and prints
notebooks/second and the peak RSS of that process tree (the run's own processes: the one that
builds the corpus is not counted), then does the same for twice the corpus so the growth is visible. The baseline
(nbformat.reads + nbformat.validate, and orjson alone) is measured in the same run on a sample.
Last line: notebooks_per_s=<x> peak_rss_mb=<m> rss_growth=<ratio>
"""

from __future__ import annotations

import argparse
import json
import os
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
  - filter: {{rules: [no_code, out_of_order, unexecuted_code_cells, error_outputs, neural_network_or_gpu, external_api]}}
  - deps: {{}}
  - filter: {{rules: [teaching_dataset, decontaminate, too_little_data]}}
  - redact: {{}}
  - dedup: {{exact: true}}
  - extract: {{backend: heuristic}}
output: "{output}"
executor: {{kind: local, workers: {workers}, part_size: 250}}
"""


def source_base() -> Path:
    return CORPUS if CORPUS.is_dir() else ROOT / "examples" / "repos"


def originals() -> list[Path]:
    return sorted(p for p in source_base().rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


# Copies of one repository's notebooks per repository folder: a corpus grows by repositories
# of real sizes (as a crawl does), not by ever larger repositories.
COPIES_PER_REPO = 20


def build_corpus(target: Path, count: int) -> tuple[int, int]:
    """`count` notebook copies under target/<repo>-c<k>/..., each repository folder holding
    COPIES_PER_REPO copies of its original's notebooks and hard links to its data files.
    Returns (files, bytes)."""
    sources, base = originals(), source_base()
    data_files = [p for p in base.rglob("*") if p.is_file() and p.suffix != ".ipynb"]
    linked: set[str] = set()

    def repo_copy(rel: Path, variant: int) -> Path:
        """The folder of copy `variant` of the repository of `rel`, its data files linked."""
        if len(rel.parts) == 1:  # examples/ style: notebooks at the top of a single repository
            return target / f"repo-c{variant // COPIES_PER_REPO}"
        name = f"{rel.parts[0]}-c{variant // COPIES_PER_REPO}"
        if name not in linked:
            linked.add(name)
            # the copy keeps the original's name, so links to its raw GitHub files still resolve
            (target / name).mkdir(parents=True, exist_ok=True)
            (target / name / ".nbqa-repo.json").write_text(json.dumps({"repo": rel.parts[0].replace("__", "/", 1)}))
            for path in data_files:
                inner = path.relative_to(base)
                if inner.parts[0] != rel.parts[0]:
                    continue
                link = target / name / Path(*inner.parts[1:])
                link.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, link)
                except OSError:
                    shutil.copyfile(path, link)
        return target / name

    parsed = []
    for path in sources:
        try:
            parsed.append((path.relative_to(base), orjson.loads(path.read_bytes())))
        except orjson.JSONDecodeError:
            parsed.append((path.relative_to(base), None))
    written = size = 0
    for index in range(count):
        rel, data = parsed[index % len(parsed)]
        variant = index // len(parsed)
        inner = Path(*rel.parts[1:]) if len(rel.parts) > 1 else rel
        out = repo_copy(rel, variant) / inner.parent / f"{rel.stem}__v{variant}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            raw = (sources[index % len(parsed)]).read_bytes()
        else:
            for cell in data.get("cells", []):
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    source = cell.get("source")
                    line = f"_bench_variant = {variant}\n"
                    cell["source"] = [line] + source if isinstance(source, list) else line + (source or "")
                    break
            raw = orjson.dumps(data)
            for cell in data.get("cells", []):  # undo, for the next variant
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    source = cell["source"]
                    cell["source"] = source[1:] if isinstance(source, list) else source.split("\n", 1)[1]
                    break
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


def run_pipeline(source: Path, output: Path, workers: int) -> tuple[float, float, dict]:
    """Run the recipe in a fresh process (so that building the corpus, or an earlier run, leaves
    nothing in the memory measured); its elapsed time, the peak RSS of its process tree, stats."""
    command = [sys.executable, __file__, "--run", str(source), str(output), str(workers)]
    with PeakRSS() as rss:
        started = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - started
    return elapsed, rss.peak / 2**20, json.loads((output / "stats.json").read_text())


def run_recipe(source: str, output: str, workers: int) -> None:
    recipe = parse_recipe(RECIPE.format(source=source, output=output, workers=workers), "bench.yaml")
    Pipeline(recipe, progress=False).run(restart=True)


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
        orjson.loads(raw)
    return nbformat_rate, len(blobs) / (time.perf_counter() - started)


def main() -> None:
    if sys.argv[1:2] == ["--run"]:  # the measured child process
        run_recipe(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    print(f"source notebooks: {len(originals())} from {'../shared/corpus' if CORPUS.is_dir() else 'examples/'}")
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
            print(f"{files} notebooks ({size / files / 1024:.0f} KB mean, {size / 2**30:.2f} GiB): "
                  f"{elapsed:.1f} s, {rate:.0f} notebooks/s, peak RSS {peak:.0f} MB, "
                  f"kept {stats['notebooks']['kept']}, tasks {stats['tasks']['written']}")
            shutil.rmtree(corpus)
            shutil.rmtree(work / f"out-{count}")
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
