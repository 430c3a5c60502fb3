"""`audit DATASET`: re-run every task's solution and reference program in the sandbox.

Prints one line per task and, last, `tasks=<n> verified=<n> reference_agrees=<n> wrong=<n>`.
Exit code 0 when no task is wrong, 1 otherwise (2 for a dataset that cannot be read).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET",
                        help="a dataset folder, a Hub repository ORG/NAME, or an NbQA-format .parquet file")
    parser.add_argument("--config", default="interactive", help="which tasks of a dataset (default: interactive)")
    parser.add_argument("--files-dir", metavar="DIR",
                        help="for a .parquet file: the folder holding the data files its rows name")
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap",
                        help="bwrap (default; crawled code) or process (trusted datasets only)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="audit only the first N tasks")
    parser.add_argument("--json", action="store_true", help="one JSON object per task, then the totals")


def main(args: argparse.Namespace) -> int:
    from itertools import islice

    from nbqa_builder.audit import parquet_tasks, run_audit
    from nbqa_builder.cli import UserError
    from nbqa_builder.publish.load import DatasetReadError, load_tasks
    from nbqa_builder.sandbox.backends import SandboxUnavailable, require_backend
    from nbqa_builder.sandbox.runner import SandboxError

    try:
        require_backend(args.sandbox)
        if args.dataset.endswith(".parquet"):
            if not args.files_dir:
                raise UserError("a .parquet file needs --files-dir DIR, the folder holding the data files its rows name")
            tasks = parquet_tasks(args.dataset, args.files_dir)
            dataset = None
        else:
            tasks = ((task, None) for task in load_tasks(args.dataset, args.config))
            dataset = args.dataset
        totals = {"tasks": 0, "verified": 0, "reference_agrees": 0, "wrong": 0}
        for verdict in run_audit(islice(tasks, args.limit), dataset, args.sandbox, args.timeout):
            totals["tasks"] += 1
            totals["verified"] += verdict.verified
            totals["reference_agrees"] += verdict.reference_agrees is True
            totals["wrong"] += verdict.wrong
            if args.json:
                print(json.dumps({"id": verdict.task_id, "verified": verdict.verified,
                                  "reference_agrees": verdict.reference_agrees, "wrong": verdict.wrong,
                                  "detail": verdict.detail}))
            else:
                reference = {True: "agrees", False: "disagrees", None: "none"}[verdict.reference_agrees]
                status = "wrong   " if verdict.wrong else "verified"
                print(f"{verdict.task_id}  {status}  reference: {reference:9}  {verdict.detail}".rstrip())
            sys.stdout.flush()
    except (DatasetReadError, SandboxUnavailable) as exc:
        raise UserError(str(exc)) from None
    except SandboxError as exc:
        raise UserError(f"the sandbox failed: {exc}") from None
    print(" ".join(f"{key}={value}" for key, value in totals.items()))
    return 1 if totals["wrong"] else 0
