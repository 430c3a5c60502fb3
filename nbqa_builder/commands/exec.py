"""`exec NOTEBOOK`: run one notebook in the sandbox, as the pipeline's execute step does, and
print each cell's result.

A notebook of a repository (the default) runs as `run` runs it: its repository is found (or
given with --repo), the deps step resolves the files it reads there, and each is placed where its
code reads it (`../data/sales.csv` from `notebooks/`), with the notebook's folder as the working
folder. A loose notebook runs with --data-dir DIR instead: a fresh working folder holding a copy
of DIR (so it reads `data.csv` when DIR holds `data.csv`). Exit code 0 when every cell ran
without error, 1 otherwise, with the cell that failed and why.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbqa_builder.commands.repository_notebook import REPO_HELP

MAX_DATA_BYTES = 2 * 2**30  # copying more than this into a job folder is a mistake, not a notebook
# why a read's file is not in the job folder, by the deps step's status
UNPLACED = {
    "found": "found, but read by an absolute path or URL that the job cannot hold",
    "missing": "its repository does not have it",
    "url": "a network read (the sandbox has no network)",
    "dynamic": "its path is computed at run time",
    "ambiguous": "several files of its repository match",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="the .ipynb file to run")
    parser.add_argument("--repo", help=REPO_HELP)
    parser.add_argument("--data-dir", help="for a loose notebook: folder copied as its working folder (its data "
                                           "files), instead of its repository's files")
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap", help="bwrap (default) or process (trusted notebooks only)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.sandbox import Limits, SandboxError, SandboxUnavailable, WarmWorker

    if args.data_dir and args.repo:
        raise UserError("--data-dir (a loose notebook's files) and --repo (its repository's) exclude each other")
    job = loose_notebook(args.notebook, args.data_dir) if args.data_dir else repository_notebook(args.notebook, args.repo)
    limits = Limits(timeout_s=args.timeout, total_timeout_s=max(600.0, args.timeout))
    try:
        with WarmWorker(args.sandbox, limits) as worker:
            run = worker.run_notebook(job.code, job.files, cwd=job.cwd)
    except SandboxUnavailable as exc:
        raise UserError(str(exc)) from None
    except SandboxError as exc:
        raise UserError(f"the sandbox failed: {exc}") from None
    except ValueError as exc:  # a read that climbs out of the job folder: nothing ran
        raise UserError(f"{args.notebook}: cannot place its files: {exc}") from None
    failed = job.failure(run.cells)
    if args.json:
        cells = [
            {"cell": i, "notebook_cell": job.cell_numbers[i], "status": c.status, "time_s": round(c.time_s, 4),
             "message": c.message, "outputs": c.outputs}
            for i, c in enumerate(run.cells)
        ]
        json.dump({"notebook": args.notebook, "repo": job.repo, "cwd": job.cwd, "reads": job.reads,
                   "status": run.status, "executable": run.executable, "failed": failed, "cells": cells}, sys.stdout)
        print()
    else:
        if job.repo is not None:
            print(f"repository: {job.repo}  (working folder: {job.cwd or '.'})")
            for read in job.reads:
                where = f"placed from {read['from']}" if read["placed"] else f"not placed: {unplaced_reason(read)}"
                print(f"[cell {read['cell']}] reads {read['as_written']!r}: {where}")
        for index, cell in enumerate(run.cells):
            note = f"  ({cell.message})" if cell.message else ""
            print(f"[cell {index}] {cell.status} {cell.time_s:.3f}s{note}")
            for output in cell.outputs:
                print(_indent(output_text(output)))
        print(f"status: {run.status}")
        if failed:
            print(f"failed: [cell {failed['cell']}] (cell {failed['notebook_cell']} of the notebook, markdown counted): "
                  f"{failed['why']}")
    return 0 if run.executable else 1


@dataclass
class Job:
    """What runs: the code cells (and their places among all cells), the files placed in the job
    folder, the working folder; for a repository's notebook, the repository and each read."""

    code: list[str]
    cell_numbers: list[int]
    files: dict[str, str]
    cwd: str = ""
    repo: str | None = None
    reads: list[dict[str, Any]] = field(default_factory=list)

    def failure(self, cells: list[Any]) -> dict[str, Any] | None:
        """The first cell that did not run to its end, and why: its error, or the sandbox's reason;
        and the files it reads that were not placed (what a failed re-run most often lacks)."""
        index = next((i for i, cell in enumerate(cells) if cell.status != "ok"), None)
        if index is None:
            return None
        cell = cells[index]
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        why = f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}" if errors else f"{cell.status}: {cell.message}"
        unplaced = [r for r in self.reads if r["cell"] == index and not r["placed"]]
        if unplaced:
            why += "; it reads " + ", ".join(f"{r['as_written']!r}, {unplaced_reason(r)}" for r in unplaced)
        return {"cell": index, "notebook_cell": self.cell_numbers[index], "status": cell.status, "why": why}


def unplaced_reason(read: dict[str, Any]) -> str:
    return UNPLACED.get(read["status"], read["status"])


def loose_notebook(notebook_path: str, data_dir: str) -> Job:
    import nbformat

    from nbqa_builder.cli import UserError

    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as exc:
        raise UserError(f"{notebook_path}: cannot read notebook: {exc}") from None
    code = [(i, cell.source) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    return Job([source for _, source in code], [i for i, _ in code], data_files(data_dir))


def repository_notebook(notebook_path: str, repo: str | None) -> Job:
    """The notebook as the execute step runs it: validated, its reads resolved in its repository
    and placed where its code reads them, from its own folder."""
    from nbqa_builder.cli import UserError
    from nbqa_builder.commands.repository_notebook import read_in_repository, repository_folder
    from nbqa_builder.notebooks.parse import NOT_PYTHON
    from nbqa_builder.records import FOUND, code_path
    from nbqa_builder.sandbox.step import job_path, notebook_files

    path = Path(notebook_path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    notebook = read_in_repository(path, repository_folder(path, repo), {})
    if notebook.drop_reason == NOT_PYTHON:
        raise UserError(f"{path}: a {notebook.kernel} notebook: the pipeline runs Python notebooks only")
    if notebook.dropped_by in ("source", "validate"):
        problem = (notebook.checks.get("validate") or notebook.checks.get("source") or {}).get("error")
        raise UserError(f"{path}: cannot read notebook: {notebook.drop_reason}" + (f" ({problem})" if problem else ""))
    files = notebook_files(notebook)
    cwd = posixpath.dirname(notebook.path)
    reads = []
    for ref in notebook.data_refs:
        written = code_path(ref.as_written)
        placed = written is not None and job_path(cwd, written) in files
        reads.append({"as_written": ref.as_written, "notebook_cell": ref.cell, "status": ref.status,
                      "placed": placed, "from": ref.resolved if placed and ref.status == FOUND else None})
    code = [(i, cell.source) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    code_cell = {number: index for index, (number, _) in enumerate(code)}
    for read in reads:
        read["cell"] = code_cell.get(read["notebook_cell"])
    return Job([source for _, source in code], [i for i, _ in code], files, cwd, notebook.repo, reads)


def data_files(data_dir: str) -> dict[str, str]:
    from nbqa_builder.cli import UserError

    root = Path(data_dir)
    if not root.is_dir():
        raise UserError(f"--data-dir {data_dir}: not a folder")
    files, total = {}, 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            files[path.relative_to(root).as_posix()] = str(path)
    if total > MAX_DATA_BYTES:
        raise UserError(f"--data-dir {data_dir}: {total} bytes is more than the {MAX_DATA_BYTES} allowed")
    return files


def output_text(output: dict) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f"{output.get('name')}: {output.get('text', '').rstrip()}"
    if kind == "error":
        return f"error: {output.get('ename')}: {output.get('evalue')}"
    data = output.get("data") or {}
    extra = " ".join(f"<{mime}>" for mime in data if mime != "text/plain")
    return f"{kind}: {data.get('text/plain', '')} {extra}".rstrip()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
