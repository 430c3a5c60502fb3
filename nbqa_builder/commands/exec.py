"""`exec NOTEBOOK --data-dir DIR`: run one notebook in the sandbox and print each cell's result.

The notebook runs in a fresh working folder holding a copy of DIR (so it reads `data.csv` when
DIR holds `data.csv`). Exit code 0 when every cell ran without error, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MAX_DATA_BYTES = 2 * 2**30  # copying more than this into a job folder is a mistake, not a notebook


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="the .ipynb file to run")
    parser.add_argument("--data-dir", help="folder copied as the notebook's working folder (its data files)")
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap", help="bwrap (default) or process (trusted notebooks only)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def main(args: argparse.Namespace) -> int:
    import nbformat

    from nbqa_builder.cli import UserError
    from nbqa_builder.sandbox import Limits, SandboxError, SandboxUnavailable, WarmWorker

    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as exc:
        raise UserError(f"{args.notebook}: cannot read notebook: {exc}") from None
    files = data_files(args.data_dir) if args.data_dir else {}
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    limits = Limits(timeout_s=args.timeout, total_timeout_s=max(600.0, args.timeout))
    try:
        with WarmWorker(args.sandbox, limits) as worker:
            run = worker.run_notebook(code, files, cwd="")
    except SandboxUnavailable as exc:
        raise UserError(str(exc)) from None
    except SandboxError as exc:
        raise UserError(f"the sandbox failed: {exc}") from None
    if args.json:
        cells = [
            {"cell": i, "status": c.status, "time_s": round(c.time_s, 4), "message": c.message, "outputs": c.outputs}
            for i, c in enumerate(run.cells)
        ]
        json.dump({"notebook": args.notebook, "status": run.status, "executable": run.executable, "cells": cells}, sys.stdout)
        print()
    else:
        for index, cell in enumerate(run.cells):
            note = f"  ({cell.message})" if cell.message else ""
            print(f"[cell {index}] {cell.status} {cell.time_s:.3f}s{note}")
            for output in cell.outputs:
                print(_indent(output_text(output)))
        print(f"status: {run.status}")
    return 0 if run.executable else 1


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
