"""The search's live forked states against JUPITER's replay from the root, on the same tree.

    python bench/search.py [--iterations 40] [--children 3] [--max-depth 10] [--sandbox process]

One run expands the same tree three times (same policy, same value function, same seed):
- JUPITER's way: each new child is a notebook of every cell from the root and then its own, run in
  a fresh Jupyter kernel (what JUPITER's SandboxFusion `run_jupyter` requests do; nbclient here), so
  a depth-d child costs a kernel start and d + 1 cells;
- replay on our warm worker: the same d + 1 cells, in a session forked from the warm root (no kernel
  start, no imports): the cost of replay alone;
- ours: forking the parent's live state, one cell per child (the pool keeps at most --max-live). The policy is
in-process and gives `children` code steps per expansion; each cell does about 50 ms of pandas
work that builds state (a frame grows a derived column); the value function prefers depth, so the
tree reaches --max-depth. Printed: the cells executed and the wall time of each way, their
ratios, and the peak memory (PSS) of the sandbox's processes. Last line:
`speedup_vs_replay=<x> cells_ratio=<y> peak_rss_mb=<m>` (x: JUPITER's way over ours; y: its cells
over ours; m: the forking run's peak). The line before gives the speedup over replay on the warm
worker too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbqa_builder.sandbox import Limits, WarmWorker  # noqa: E402
from nbqa_builder.search.mcts import Searcher, SearchSettings  # noqa: E402
from nbqa_builder.search.policy import Sample  # noqa: E402
from nbqa_builder.search.states import Observed, StatePool  # noqa: E402
from nbqa_builder.turns import DEFAULT_TEMPLATE, first_turns  # noqa: E402

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


class KernelReplay:
    """JUPITER's way, as a pool of the search: every child is a new notebook of its path's cells,
    run from the top in a fresh kernel that is then shut down (nothing is kept between nodes)."""

    def __init__(self, cell_timeout_s: float) -> None:
        self.cell_timeout_s = cell_timeout_s
        self.cells_run = self.replays = self.replayed_cells = self.peak_live = 0
        self.folder = tempfile.mkdtemp(prefix="bench-search-kernel-")

    def __enter__(self) -> "KernelReplay":
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def run(self, parent, child, code: str) -> Observed:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        codes = [*parent.codes(), code]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in codes])
        failed = False
        try:
            NotebookClient(nb, timeout=self.cell_timeout_s, kernel_name="python3",
                           resources={"metadata": {"path": self.folder}}).execute()
        except CellExecutionError:
            failed = True
        self.cells_run += 1
        self.replays += 1 if parent.parent is not None else 0
        self.replayed_cells += len(codes) - 1
        outputs = nb.cells[-1].get("outputs", [])
        text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        return Observed(text, failed, "error" if failed else "ok")

    def drop(self, node) -> None:
        pass

    def carry(self, parent, child) -> None:
        pass  # a failed step kept open (infer mode): its path's cells are run again anyway


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


def expand(worker: WarmWorker, settings: SearchSettings, max_live: int | None) -> tuple[float, int, float, int]:
    """(wall seconds, cells executed, peak PSS MB, nodes) of one search of the tree; `max_live`
    None: JUPITER's way (a fresh kernel per node), 0: replay on the warm worker."""
    first = first_turns({"task": "grow the frame", "constraints": "", "format": "@x[value]"}, DEFAULT_TEMPLATE)
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):  # reading PSS walks page tables: not too often
            peak[0] = max(peak[0], sandbox_pss_mb(worker))

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    try:
        pool_of = (lambda: KernelReplay(settings.cell_timeout_s)) if max_live is None else (
            lambda: StatePool(worker, {}, ".", max_live, settings.cell_timeout_s))
        with pool_of() as pool:
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
        warm_s, warm_cells, warm_peak, warm_nodes = expand(worker, settings, 0)
        kernel_s, kernel_cells, _, kernel_nodes = expand(worker, settings, None)
    assert fork_nodes == warm_nodes == kernel_nodes, (fork_nodes, warm_nodes, kernel_nodes)  # the same tree
    print(f"tree: {fork_nodes} nodes, {args.iterations} iterations, {args.children} children, depth up to {args.max_depth}")
    print(f"JUPITER's way, a fresh kernel per node replaying its path: {kernel_cells} cells, {kernel_s:.1f} s")
    print(f"replay on the warm worker: {warm_cells} cells, {warm_s:.1f} s, peak {warm_peak:.0f} MB")
    print(f"ours, fork live states (max {args.max_live}): {fork_cells} cells, {fork_s:.1f} s, peak {fork_peak:.0f} MB")
    print(f"speedup_vs_warm_replay={warm_s / fork_s:.1f}")
    print(f"speedup_vs_replay={kernel_s / fork_s:.1f} cells_ratio={kernel_cells / fork_cells:.1f} peak_rss_mb={fork_peak:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
