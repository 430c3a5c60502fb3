"""Benchmark of scale: the pipeline benchmark's corpus through the local and the Ray executor on
this machine, in one run, and a simulated plan for the paper's 1.6 M notebooks.

    python bench/scale.py [--notebooks 20000] [--workers 2] [--plan-notebooks 1600000]

1. The corpus of bench/pipeline.py (copies of ../shared/corpus or examples/), its recipe plus
   MinHash near-dedup, run by the local executor and by the Ray executor (`address: local`, as
   many CPUs as workers), each in a fresh process: elapsed seconds as `stats.json` counts them
   (the Ray cluster's start-up, paid once per cluster, is printed apart), peak RSS of the process
   tree, and a check that both kept the same notebooks and wrote the same tasks.
2. The plan for 1.6 M notebooks: parts, keys and work-folder bytes extrapolated from the run
   above, hours of the CPU stages at several node counts from its rate, and the MinHash reduce
   on synthetic signatures (planted near-duplicates as in bench/dedup.py), sharded as the Ray
   executor shards it, in a fresh process: its peak RSS is that of one process holding the whole
   shuffle and every shard's reduce, so any node of a cluster holds less.

Last line: ray_vs_local=<local s / ray s> reduce_rss_1_6m_mb=<m>
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dedup import planted_pairs, precision_recall, synthetic_signatures  # noqa: E402
from pipeline import RECIPE as PIPELINE_RECIPE  # noqa: E402
from pipeline import PeakRSS, build_corpus, originals  # noqa: E402

from nbqa_builder.dedup.minhash import MinHashConfig, MinHashKey, band_keys  # noqa: E402
from nbqa_builder.executors.ray import NOTEBOOKS_PER_SHARD, PARTS_PER_SCATTER  # noqa: E402

# bench/pipeline.py's recipe, with MinHash near-dedup and the executor's kind to choose
RECIPE = (PIPELINE_RECIPE
          .replace("dedup: {{exact: true}}", "dedup: {{exact: true, minhash: {{threshold: 0.7, num_perm: 128}}}}")
          .replace("kind: local, workers", "kind: {kind}, workers"))
assert "minhash" in RECIPE and "{kind}" in RECIPE, "bench/pipeline.py's recipe changed: update these replacements"
PLAN_NODE_COUNTS = (1, 4, 16)
PLAN_CPUS_PER_NODE = 32


def run_recipe(source: str, output: str, kind: str, workers: int) -> None:
    from nbqa_builder.pipeline import Pipeline
    from nbqa_builder.recipe import parse_recipe

    text = RECIPE.format(source=source, output=output, kind=kind, workers=workers)
    Pipeline(parse_recipe(text, "scale.yaml"), progress=False).run(restart=True)


def timed_run(source: Path, output: Path, kind: str, workers: int) -> dict:
    command = [sys.executable, __file__, "--child-run", str(source), str(output), kind, str(workers)]
    with PeakRSS() as rss:
        started = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - started
    stats = json.loads((output / "stats.json").read_text())
    work = output / "_work"
    keys = sum(p.stat().st_size for p in work.glob("stage-*/part-*.keys.pkl"))
    parts = sum(p.stat().st_size for p in work.glob("stage-*/part-*.pkl")) - keys
    return {"wall_s": wall, "elapsed_s": stats["elapsed_s"], "peak_rss_mb": rss.peak / 2**20,
            "kept": stats["notebooks"]["kept"], "tasks": stats["tasks"]["written"], "input": stats["notebooks"]["input"],
            "key_bytes": keys, "part_bytes": parts, "steps": stats["steps"]}


# ---------------------------------------------------------------------------------------------
# The 1.6 M reduce on synthetic signatures


class SyntheticGroups:
    """Map keys of `n` notebooks in groups of `group` (one scatter task's parts), made on demand
    from fixed signatures, as the scatter tasks read them from the parts' key files."""

    def __init__(self, sigs: np.ndarray, group: int, config: MinHashConfig) -> None:
        self.sigs, self.group, self.config = sigs, group, config
        self.n_groups = math.ceil(len(sigs) / group)

    def __call__(self, g: int) -> list:
        block = self.sigs[g * self.group:(g + 1) * self.group]
        keys = band_keys(block, self.config)
        return [("minhash", MinHashKey(f"bench/repo:{g * self.group + k:08d}.ipynb", key.astype("<u8").tobytes(), 0, 1,
                                       sig.astype("<u4").tobytes()))
                for k, (sig, key) in enumerate(zip(block, keys))]


def sharded_reduce(n: int) -> dict:
    from nbqa_builder.dedup.sharded import LocalShuffle
    from nbqa_builder.dedup.step import DedupConfig, DedupStep

    config = MinHashConfig()
    sigs, groups = synthetic_signatures(n)
    shards = math.ceil(n / NOTEBOOKS_PER_SHARD)
    group = PARTS_PER_SCATTER * 200  # notebooks one scatter task reads (parts of 200)
    source = SyntheticGroups(sigs, group, config)
    step = DedupStep(DedupConfig(exact=False, minhash=config))
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    drops = step.reduce_sharded(LocalShuffle(source.n_groups, source), shards)
    seconds = time.perf_counter() - started
    precision, recall = precision_recall(drops, groups, lambda uid: int(uid.rsplit(":", 1)[1][:8]))
    # what one shard's reduce holds: its band rows, pickled as Ray's object store keeps them
    first = source(0)
    from nbqa_builder.dedup.sharded import scatter_bands

    piece_bytes = len(pickle.dumps(scatter_bands(first, frozenset(), shards, config)[0], protocol=5))
    return {"n": n, "shards": shards, "scatter_groups": source.n_groups, "seconds": seconds, "dropped": len(drops),
            "precision": precision, "recall": recall, "planted_pairs": len(planted_pairs(groups)),
            "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before, "signatures_mb": sigs.nbytes / 2**20,
            "shard_rows_mb": piece_bytes * source.n_groups / 2**20,
            "key_bytes_per_notebook": len(pickle.dumps(first, protocol=5)) / len(first)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------


def plan(local: dict, reduce: dict, n: int, workers: int) -> None:
    parts = math.ceil(n / 200)
    per_cpu = local["input"] / local["elapsed_s"] / workers
    work_gb = (local["part_bytes"] + local["key_bytes"]) / local["input"] * n / 2**30
    print(f"plan for {n:,} notebooks (parts of 200): {parts:,} parts, {reduce['scatter_groups']} scatter tasks, "
          f"{reduce['shards']} reduce shards")
    print(f"  map keys: {reduce['key_bytes_per_notebook']:.0f} bytes a notebook with MinHash "
          f"({reduce['key_bytes_per_notebook'] * n / 2**30:.2f} GiB in all, in the parts' key files)")
    print(f"  _work/ of the CPU stages: {work_gb:.1f} GiB (from this run's {local['part_bytes'] / local['input'] / 1024:.1f} KB "
          f"a notebook); a shard's band rows: {reduce['shard_rows_mb']:.0f} MB")
    print(f"  CPU stages at this run's {per_cpu:.0f} notebooks/s per CPU, {PLAN_CPUS_PER_NODE} CPUs a node: " + ", ".join(
        f"{nodes} node{'s' if nodes > 1 else ''} {n / (per_cpu * PLAN_CPUS_PER_NODE * nodes) / 3600:.2f} h"
        for nodes in PLAN_NODE_COUNTS))
    print(f"  MinHash reduce, {reduce['shards']} shards in one process: {reduce['seconds']:.0f} s, peak RSS "
          f"{reduce['peak_rss_mb']:.0f} MB ({reduce['rss_before_mb']:.0f} MB before it, {reduce['signatures_mb']:.0f} MB of "
          f"it the synthetic signatures standing in for the parts), dropped {reduce['dropped']:,}, "
          f"precision {reduce['precision']:.4f}, recall {reduce['recall']:.4f}")


def main() -> None:
    if sys.argv[1:2] == ["--child-run"]:
        run_recipe(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    if sys.argv[1:2] == ["--child-reduce"]:
        print(json.dumps(sharded_reduce(int(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plan-notebooks", type=int, default=1_600_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nbqa-scale-"))
    try:
        corpus = work / "corpus"
        files, size = build_corpus(corpus, args.notebooks)
        print(f"corpus: {files} notebooks ({size / 2**30:.2f} GiB) from {len(originals())} originals; "
              f"{args.workers} workers / CPUs")
        runs = {}
        for kind in ("local", "ray"):
            runs[kind] = result = timed_run(corpus, work / f"out-{kind}", kind, args.workers)
            print(f"  {kind:5s}: {result['elapsed_s']:.1f} s ({result['input'] / result['elapsed_s']:.0f} notebooks/s), "
                  f"wall with start-up {result['wall_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
                  f"kept {result['kept']}, tasks {result['tasks']}")
        local, ray = runs["local"], runs["ray"]
        assert (local["kept"], local["tasks"], local["steps"]) == (ray["kept"], ray["tasks"], ray["steps"]), \
            "the executors disagree"
        print("  both executors kept the same notebooks and wrote the same number of tasks, step by step")
        out = subprocess.run([sys.executable, __file__, "--child-reduce", str(args.plan_notebooks)], check=True,
                             capture_output=True, text=True).stdout
        reduce = json.loads(out.strip().splitlines()[-1])
        plan(local, reduce, args.plan_notebooks, args.workers)
        print(f"ray_vs_local={local['elapsed_s'] / ray['elapsed_s']:.2f} reduce_rss_1_6m_mb={reduce['peak_rss_mb']:.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
