"""`value-data TREES... --out DIR`: value targets from search trees (training/value_data.py)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trees", nargs="+", metavar="TREES",
                        help="tree files written by `search` (one JSONL per task), or folders holding them")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the dataset (data/train-*.parquet: prompt, messages, value, task_id, "
                             "tree_id, node_id, depth, ...) and stats.json")
    parser.add_argument("-k", "--paths", dest="k", type=int, default=4,
                        help="correct and wrong terminal paths drawn per tree, at most, each (default 4, as JUPITER)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    parser.add_argument("--actions", dest="action_format", choices=("fenced", "raw"), default=None,
                        help="how Action turns are written (default: as each tree's header says, else fenced)")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.training.value_data import TreeFileError, write_value_data

    if args.k < 1:
        raise UserError("--paths must be at least 1")
    try:
        report = write_value_data(args.trees, args.out, args.k, args.seed, args.action_format)
    except TreeFileError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{exc.filename or args.out}: cannot write: {exc.strerror or exc}") from None
    counts = report.counts
    print(f"{report.rows} value targets from {report.trees} trees in {args.out}: "
          f"{counts['correct paths drawn']} correct and {counts['wrong paths drawn']} wrong paths "
          f"(of {counts['correct paths found']} and {counts['wrong paths found']} found)")
    if counts["trees without a correct path"]:
        print(f"note: {counts['trees without a correct path']} trees without a correct path")
    return 0
