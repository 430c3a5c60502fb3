"""The search's live forked states against JUPITER's replay from the root, on the same tree.

    python bench/search.py [--iterations 40] [--children 3] [--max-depth 10] [--sandbox process]

One run expands the same tree twice (same policy, same value function, same seed): once with no
live state kept, so that each new child rebuilds its parent by running every cell from the root
and then its own (JUPITER's way: a depth-d child costs d + 1 cells), and once by forking the
parent's live state (one cell per child; the pool keeps at most --max-live states). The policy is
in-process and gives `children` code steps per expansion; each cell does about 50 ms of pandas
work that builds state (a frame grows a derived column); the value function prefers depth, so the
tree reaches --max-depth. Printed: the cells executed and the wall time of each way, their
ratios, and the peak memory (PSS) of the sandbox's processes. Last line:
`speedup_vs_replay=<x> cells_ratio=<y> peak_rss_mb=<m>` (m: the forking run's peak).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbqa_builder.sandbox import Limits, WarmWorker  # noqa: E402
from nbqa_builder.search.mcts import Searcher, SearchSettings  # noqa: E402
from nbqa_builder.search.policy import Sample  # noqa: E402
from nbqa_builder.search.states import StatePool  # noqa: E402
from nbqa_builder.search.turns import DEFAULT_TEMPLATE, first_turns  # noqa: E402

SETUP = ("import numpy as np\nimport pandas as pd\n"
         "rng = np.random.default_rng(0)\n"
         "df = pd.DataFrame({'x': rng.random(400_000), 'g': rng.integers(0, 50, 400_000)})")


class GrowingPolicy:
    """Each step adds a derived column and a grouped summary: about 50 ms of pandas work."""

    def sample(self, messages, n):
        depth = sum(1 for m in messages if m["role"] == "assistant")
        steps = []
        for i in range(n):
            code = SETUP if depth == 0 and i == 0 else (
                f"df['c{depth}_{i}'] = (df['x'] * {depth + i + 1}).round(3)\n"
                f"summary = df.groupby('g')['c{depth}_{i}'].agg(['mean', 'std', 'median'])\n"
                f"print(summary.iloc[0, 0].round(3))")
            if depth == 0 and i > 0:
                code = SETUP + f"\ndf['x'] = df['x'] * {i + 1}"
            steps.append(Sample(f"Thought: step {depth}.{i}\nAction:\n```python\n{code}\n```", 1.0 / (i + 1)))
        return steps


class DepthValue:
    """Deeper is better, the first branch best: the search goes deep, and the same way each run."""

    def score(self, conversations):
        return [min(1.0, sum(1 for m in c if m["role"] == "assistant") / 10) for c in conversations]


def sandbox_pss_mb(worker: WarmWorker) -> float:
    """The memory (PSS: shared pages counted once) of the worker and every process under it."""
    try:
        root = psutil.Process(worker.process.pid)
        processes = [root, *root.children(recursive=True)]
    except (psutil.Error, AttributeError):
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_full_info().pss
        except psutil.Error:
            pass
    return total / 2**20


def expand(worker: WarmWorker, settings: SearchSettings, max_live: int) -> tuple[float, int, float, int]:
    """(wall seconds, cells executed, peak PSS MB, nodes) of one search of the tree."""
    first = first_turns({"task": "grow the frame", "constraints": "", "format": "@x[value]"}, DEFAULT_TEMPLATE)
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], sandbox_pss_mb(worker))

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    try:
        with StatePool(worker, {}, ".", max_live, settings.cell_timeout_s) as pool:
            result = Searcher(first, "@x[0]", GrowingPolicy(), DepthValue(), pool, settings).search()
    finally:
        stop.set()
        watcher.join()
    return time.perf_counter() - started, pool.cells_run + pool.replayed_cells, peak[0], len(result.tree.nodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--max-live", type=int, default=32)
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="process")
    args = parser.parse_args()
    settings = SearchSettings(mode="infer", iterations=args.iterations, children=args.children, c_puct=0.5,
                              max_depth=args.max_depth, cell_timeout_s=120, total_timeout_s=7200)
    with WarmWorker(args.sandbox, Limits(timeout_s=120, total_timeout_s=7200, memory_mb=8192)) as worker:
        fork_s, fork_cells, fork_peak, fork_nodes = expand(worker, settings, args.max_live)
        replay_s, replay_cells, replay_peak, replay_nodes = expand(worker, settings, 0)
    assert fork_nodes == replay_nodes, (fork_nodes, replay_nodes)  # the same tree both ways
    print(f"tree: {fork_nodes} nodes, {args.iterations} iterations, {args.children} children, depth up to {args.max_depth}")
    print(f"replay from the root (JUPITER): {replay_cells} cells, {replay_s:.1f} s, peak {replay_peak:.0f} MB")
    print(f"fork live states (max {args.max_live}): {fork_cells} cells, {fork_s:.1f} s, peak {fork_peak:.0f} MB")
    print(f"speedup_vs_replay={replay_s / fork_s:.1f} cells_ratio={replay_cells / fork_cells:.1f} peak_rss_mb={fork_peak:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
