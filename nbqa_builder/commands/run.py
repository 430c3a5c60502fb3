"""`run RECIPE`: run a recipe end to end (resumable: run it again after a kill)."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument("--restart", action="store_true", help="forget finished parts and start over")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--plan", action="store_true",
                        help="print the expected GitHub requests and time for the recipe, and stop")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.pipeline import Pipeline, PlanMismatch
    from nbqa_builder.recipe import load_recipe, untrusted_process_sandboxes
    from nbqa_builder.sandbox import SandboxError
    from nbqa_builder.step import StopRun

    recipe = load_recipe(args.recipe)
    refused = untrusted_process_sandboxes(recipe)
    if refused and not args.plan:
        raise UserError(f"{args.recipe}: {refused[0]}")
    if args.plan:
        if recipe.source.kind != "github":
            raise UserError(f"--plan estimates GitHub requests; {args.recipe} has a {recipe.source.kind} source")
        from pathlib import Path

        from nbqa_builder.sources.github import CrawlError, plan_crawl

        try:
            print(plan_crawl(recipe.source, Path(recipe.output)))
        except CrawlError as exc:
            raise UserError(str(exc)) from None
        return 0
    from nbqa_builder.sources.github import CrawlError, CrawlPaused

    try:
        stats = Pipeline(recipe, progress=not args.no_progress).run(restart=args.restart)
    except CrawlPaused as exc:
        print(f"paused: {exc}; run the same command again to resume", file=sys.stderr)
        return 75
    except (PlanMismatch, FileNotFoundError, CrawlError) as exc:
        raise UserError(str(exc)) from None
    except SandboxError as exc:  # the parts it stopped are not done: run again once it is fixed
        raise UserError(str(exc)) from None
    except StopRun as exc:
        print(f"stopped: {exc}; finished parts are kept, run the same command again to continue", file=sys.stderr)
        return 3
    notebooks, tasks = stats["notebooks"], stats["tasks"]
    print(
        f"{recipe.name}: {notebooks['input']} notebooks, {notebooks['kept']} kept, "
        f"{tasks['written']} tasks ({json.dumps(tasks['by_config'])}) -> {recipe.output}/dataset"
    )
    if recipe.publish.hub:
        from pathlib import Path

        from nbqa_builder.publish.hub import PushError, push_dataset

        try:
            report = push_dataset(Path(recipe.output) / "dataset", recipe.publish.hub, private=recipe.publish.private)
        except PushError as exc:
            raise UserError(f"{exc} (the dataset is written; `push` sends it alone)") from None
        print(f"pushed to https://huggingface.co/datasets/{report.repo_id}: {len(report.uploaded)} uploaded, "
              f"{len(report.deleted)} removed, {report.unchanged} unchanged")
    return 0
