"""Per-notebook overhead of our warm forking runner vs nbclient with a fresh kernel per notebook.

    python bench/execute.py [--sandbox bwrap|process] [--corpus-limit 8]

Both runners get the same notebooks (small generated ones, `examples/` when present, and quick
notebooks of ../shared/corpus when present), each in a fresh working folder holding the files of
the notebook's own folder, and both stop at the first failing cell.

overhead = wall time of one notebook - time spent inside its cells, where "inside" is what the
kernel measures (nbclient: execute_input to execute_reply timestamps; ours: the worker's own
clock around run_cell). It is what a runner costs per notebook: kernel start-up and shutdown or
fork and cleanup, staging files, messaging. The warm worker's one-time start is printed apart.
The last line reads `speedup_vs_nbclient=<x> median_overhead_ms=<m>` (x = ratio of the median
overheads, m = ours), measured with the per-notebook isolation on. The line before it gives the
cost of that isolation: the median job start (the worker's receipt of the job to the session's
hello), the time the namespaces, mounts, privilege drop and seccomp filter take (measured inside
the sandbox; the worker sets them up ahead of the job), and the job start in the `process`
sandbox, which forks the same way without any of them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbqa_builder.sandbox import Limits, NotebookRun, WarmWorker  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SLOW_OR_NETWORKED = ("tensorflow", "torch", "keras", "!pip", "%pip", "fetch_", "load_dataset", "time.sleep", "urlopen", "requests.")
MAX_FOLDER_BYTES = 5_000_000


def generated(folder: Path) -> list[tuple[str, object, dict[str, str]]]:
    """Small analysis notebooks of the kind the pipeline keeps, with their data."""
    data = folder / "sales.csv"
    data.write_text("region,amount,units\n" + "".join(f"r{i % 5},{i * 1.5},{i % 7}\n" for i in range(500)))
    bodies = [
        ["import pandas as pd", "df = pd.read_csv('sales.csv')", "df['amount'].mean()"],
        ["import pandas as pd\ndf = pd.read_csv('sales.csv')", "df.groupby('region')['amount'].sum()", "df.describe()"],
        ["import numpy as np\nimport pandas as pd\ndf = pd.read_csv('sales.csv')", "np.corrcoef(df['amount'], df['units'])[0, 1]"],
        ["import pandas as pd\nfrom sklearn.linear_model import LinearRegression\ndf = pd.read_csv('sales.csv')",
         "model = LinearRegression().fit(df[['units']], df['amount'])\nround(model.coef_[0], 3)"],
        ["x = 1", "x + 1"],
        ["print('hello')"],
    ]
    return [(f"generated/{i}", new_notebook(cells=[new_code_cell(c) for c in body]), {"sales.csv": str(data)}) for i, body in enumerate(bodies)]


def folder_files(notebook_path: Path) -> dict[str, str] | None:
    files = {p.name: str(p) for p in notebook_path.parent.iterdir() if p.is_file() and p.suffix != ".ipynb"}
    if sum(Path(p).stat().st_size for p in files.values()) > MAX_FOLDER_BYTES:
        return None
    return files


def found_notebooks(folder: Path, limit: int) -> list[tuple[str, object, dict[str, str]]]:
    picked = []
    for path in sorted(folder.rglob("*.ipynb")):
        if len(picked) >= limit or ".ipynb_checkpoints" in path.parts or path.stat().st_size > 200_000:
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue
        code = [c for c in nb.cells if c.cell_type == "code"]
        text = "\n".join(c.source for c in code)
        files = folder_files(path)
        if not code or len(code) > 25 or files is None or any(word in text for word in SLOW_OR_NETWORKED):
            continue
        picked.append((str(path.relative_to(folder)), nb, files))
    return picked


def stage(files: dict[str, str]) -> str:
    folder = tempfile.mkdtemp(prefix="bench-nbclient-")
    for name, source in files.items():
        shutil.copyfile(source, Path(folder, name))
    return folder


def run_nbclient(nb, files: dict[str, str], timeout: float) -> tuple[float, float]:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.from_dict(nb)
    folder = stage(files)
    started = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True, resources={"metadata": {"path": folder}})
        client.execute()
    except (CellExecutionError, CellTimeoutError, RuntimeError):
        pass
    wall = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    inside = 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            begin = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            inside += (end - begin).total_seconds()
    return wall, inside


def run_ours(worker: WarmWorker, nb, files: dict[str, str]) -> tuple[float, float, NotebookRun]:
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    started = time.perf_counter()
    run = worker.run_notebook(code, files, cwd="")
    wall = time.perf_counter() - started
    return wall, sum(cell.inside_s for cell in run.cells), run


def job_starts(backend: str, notebooks: list, timeout: float) -> list[NotebookRun]:
    """The notebooks once more in a worker of `backend`, for their job-start times."""
    with WarmWorker(backend, Limits(timeout_s=timeout, total_timeout_s=10 * timeout)) as worker:
        worker.run_notebook(["1"], {}, cwd="")
        return [run_ours(worker, nb, files)[2] for _, nb, files in notebooks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap" if shutil.which("bwrap") else "process")
    parser.add_argument("--corpus-limit", type=int, default=8, help="quick corpus notebooks to include")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per cell, both runners")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-execute-"))
    notebooks = generated(scratch)
    if (ROOT / "examples").is_dir():
        notebooks += found_notebooks(ROOT / "examples", limit=20)
    if CORPUS.is_dir():
        notebooks += found_notebooks(CORPUS, limit=args.corpus_limit)
    else:
        print(f"(no corpus at {CORPUS.name}/: generated notebooks only)")
    print(f"{len(notebooks)} notebooks, sandbox={args.sandbox}")

    started = time.perf_counter()
    worker = WarmWorker(args.sandbox, Limits(timeout_s=args.timeout, total_timeout_s=10 * args.timeout))
    with worker:
        worker.run_notebook(["1"], {}, cwd="")  # waits for the warm-up
        print(f"warm worker start (once per process): {1000 * (time.perf_counter() - started):.0f} ms; "
              f"memory over the job's tree: {worker.memory_control}")
        ours, theirs, runs = [], [], []
        for name, nb, files in notebooks:
            wall_o, inside_o, run = run_ours(worker, nb, files)
            runs.append(run)
            wall_n, inside_n = run_nbclient(nb, files, args.timeout)
            ours.append(wall_o - inside_o)
            theirs.append(wall_n - inside_n)
            print(f"{name[:60]:60s} ours {1000 * wall_o:7.0f} ms (cells {1000 * inside_o:6.0f})   nbclient {1000 * wall_n:7.0f} ms (cells {1000 * inside_n:6.0f})")
    ours_ms, theirs_ms = 1000 * statistics.median(ours), 1000 * statistics.median(theirs)
    print(f"median overhead per notebook: nbclient {theirs_ms:.0f} ms, ours {ours_ms:.0f} ms")
    start_ms = 1000 * statistics.median(run.start_s for run in runs)
    isolation_ms = 1000 * statistics.median(run.isolation_s for run in runs)
    plain = [] if args.sandbox == "process" else job_starts("process", notebooks, args.timeout)
    plain_ms = f"{1000 * statistics.median(run.start_s for run in plain):.1f} ms" if plain else "-"
    print(f"isolation_cost: job_start_ms={start_ms:.1f} isolation_setup_ms={isolation_ms:.1f} (namespaces, mounts, privileges, filter; made ahead of the job) "
          f"vs job_start_ms_without_namespaces={plain_ms} (process sandbox)")
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"speedup_vs_nbclient={theirs_ms / ours_ms:.1f} median_overhead_ms={ours_ms:.0f}")


if __name__ == "__main__":
    main()
