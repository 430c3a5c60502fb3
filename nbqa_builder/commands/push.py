"""`push DATASET --repo ORG/NAME`: publish a built dataset folder to the Hugging Face Hub.

The token comes from `HF_TOKEN` (or a saved `hf auth login`). Re-pushing replaces the previous
version in one commit, stale shards removed; an interrupted push resumes when run again.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset_dir", metavar="DATASET", help="a built dataset folder, e.g. out/demo/dataset")
    parser.add_argument("--repo", required=True, metavar="ORG/NAME", help="the Hub dataset repository")
    parser.add_argument("--private", action="store_true", help="create the repository private")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.publish.hub import PushError, push_dataset

    try:
        report = push_dataset(args.dataset_dir, args.repo, private=args.private)
    except PushError as exc:
        raise UserError(str(exc)) from None
    print(f"pushed {args.dataset_dir} to https://huggingface.co/datasets/{report.repo_id}: "
          f"{len(report.uploaded)} uploaded, {len(report.deleted)} removed, {report.unchanged} unchanged")
    return 0
