"""`run RECIPE`: run a recipe end to end (resumable: run it again after a kill)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument("--restart", action="store_true",
                        help="forget finished parts and start over (LLM requests that failed in a batch are tried again)")
    parser.add_argument("--forget-llm-cache", action="store_true",
                        help="forget the LLM replies kept in OUTPUT/_llm/ (--restart keeps them): requests are "
                             "sent and paid again; the spend ledger stays")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--plan", action="store_true",
                        help="print the expected GitHub requests and time for the recipe, and stop")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would run, on how many notebooks, and what is done already; write nothing")
    parser.add_argument("--output", metavar="DIR", help="write here instead of the recipe's output")
    parser.add_argument("--workers", type=int, metavar="N", help="worker processes instead of the recipe's")
    trial = parser.add_mutually_exclusive_group()
    trial.add_argument("--limit", type=int, metavar="N", help="a quick trial: only the first N notebooks (local source)")
    trial.add_argument("--sample", type=int, metavar="N", help="a quick trial: N notebooks drawn at random (local source)")
    parser.add_argument("--seed", type=int, default=0, help="the draw of --sample (default 0)")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.pipeline import Pipeline, PlanMismatch
    from nbqa_builder.recipe import load_recipe, untrusted_process_sandboxes
    from nbqa_builder.sandbox import SandboxError
    from nbqa_builder.step import StopRun

    recipe = load_recipe(args.recipe)
    apply_overrides(recipe, args)
    refused = untrusted_process_sandboxes(recipe)
    if refused and not args.plan:
        raise UserError(f"{args.recipe}: {refused[0]}")
    if args.plan:
        if recipe.source.kind != "github":
            raise UserError(f"--plan estimates GitHub requests; {args.recipe} has a {recipe.source.kind} source")
        from nbqa_builder.sources.github import CrawlError, plan_crawl

        try:
            print(plan_crawl(recipe.source, Path(recipe.output)))
        except CrawlError as exc:
            raise UserError(str(exc)) from None
        return 0
    quiet = bool(getattr(args, "quiet", False))
    pipeline = Pipeline(recipe, progress=not (args.no_progress or quiet))
    if args.dry_run:
        for line in dry_run_lines(pipeline, args.recipe):
            print(line)
        return 0
    from nbqa_builder.sources.github import CrawlError, CrawlPaused

    check_output_folder(Path(recipe.output))
    if args.forget_llm_cache:
        from nbqa_builder.llm.store import forget_replies

        print(forget_replies(recipe.output), file=sys.stderr)
    try:
        stats = pipeline.run(restart=args.restart)
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
    except OSError as exc:  # the disk filled up, a folder went read-only ... while the run wrote
        raise UserError(output_error(exc, Path(recipe.output))) from None
    dataset = Path(recipe.output) / "dataset"
    if quiet:
        print(headline(recipe.name, stats, dataset))
    else:
        if pipeline.parts_run == 0 and not args.restart:
            print(f"nothing to do: every part of {shown(recipe.output)} was done by an earlier run "
                  "(--restart runs it all again)")
        for line in summary_lines(recipe.name, stats, dataset):
            print(line)
    if recipe.publish.hub:
        from nbqa_builder.publish.hub import PushError, push_dataset

        try:
            report = push_dataset(dataset, recipe.publish.hub, private=recipe.publish.private)
        except PushError as exc:
            raise UserError(f"{exc} (the dataset is written; `push` sends it alone)") from None
        print(f"pushed to https://huggingface.co/datasets/{report.repo_id}: {len(report.uploaded)} uploaded, "
              f"{len(report.deleted)} removed, {report.unchanged} unchanged")
    return 0


def apply_overrides(recipe: Any, args: argparse.Namespace) -> None:
    """--output, --workers, --limit and --sample change the recipe as read (paths on the command
    line are relative to the current folder, as a shell user expects)."""
    from nbqa_builder.cli import UserError

    if args.output:
        recipe.output = os.path.abspath(args.output)
    if args.workers is not None:
        if args.workers < 1:
            raise UserError(f"--workers {args.workers}: at least 1")
        recipe.executor.workers = args.workers
    count = args.limit if args.limit is not None else args.sample
    if count is not None:
        if recipe.source.kind != "local":
            raise UserError(f"--limit and --sample are for a local source; {args.recipe} has a {recipe.source.kind} source")
        if count < 1:
            raise UserError(f"--{'limit' if args.limit is not None else 'sample'} {count}: at least 1")
        recipe.source.limit, recipe.source.sample, recipe.source.seed = count, args.sample is not None, args.seed


def check_output_folder(output: Path) -> None:
    """A clear error now, not a traceback after an hour: the output must be a folder we can write."""
    from nbqa_builder.cli import UserError

    if output.exists() and not output.is_dir():
        raise UserError(f"output {output} is a file, not a folder; give another output (--output DIR)")
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / f".nbqa-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(output_error(exc, output)) from None


def output_error(exc: OSError, output: Path) -> str:
    import errno

    if exc.errno == errno.ENOSPC:
        return (f"no space left on the device of {output}; free some space and run the same command again "
                "(finished parts are kept)")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"output {output}: a part of this path is a file, not a folder; give another output (--output DIR)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {exc.filename or output}: {exc.strerror}; give an output folder you can write (--output DIR)"
    return f"{exc.filename or output}: {exc.strerror or exc}"


def shown(path: str | Path) -> str:
    """A path as the user can type it: relative to the current folder when it lies below it."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def headline(name: str, stats: dict[str, Any], dataset: Path) -> str:
    notebooks, tasks = stats["notebooks"], stats["tasks"]
    by_config = ", ".join(f"{config} {n}" for config, n in tasks["by_config"].items())
    hundred = tasks.get("per_100_input_notebooks")
    rate = f"; per 100 notebooks in: {hundred['tasks']} tasks, {hundred['sft']} sft, {hundred['interactive']} interactive" if hundred else ""
    return (f"{name}: {notebooks['input']} notebooks in, {notebooks['kept']} kept, {tasks['written']} tasks "
            f"({by_config}{rate}) -> {shown(dataset)}")


def summary_lines(name: str, stats: dict[str, Any], dataset: Path) -> list[str]:
    """The end of a run: what came out, where the funnel lost most, what to do next."""
    from nbqa_builder.commands.stats import largest_drops, rerun_line

    output = shown(dataset.parent)
    lines = [headline(name, stats, dataset)]
    drops = largest_drops(stats)
    if drops:
        lines.append("largest drops: " + "; ".join(drops) + f" (all: python -m nbqa_builder stats {output})")
    rerun = rerun_line(stats)
    if rerun:
        lines.append(rerun)
    lines += [
        f"dataset: {shown(dataset)} (card README.md); funnel: {output}/stats.json; drops by notebook: {output}/rejects/",
        "next:",
        f"  python -m nbqa_builder stats {output}",
        f"  python -c \"from datasets import load_dataset; print(load_dataset('{shown(dataset)}', 'all', split='train'))\"",
        f"  python -m nbqa_builder push {shown(dataset)} --repo ORG/NAME      (HF_TOKEN in the environment)",
    ]
    return lines


def dry_run_lines(pipeline: Any, recipe_file: str) -> list[str]:
    """What `run` would do, from a listing of the source: nothing is written."""
    from nbqa_builder.cli import UserError

    recipe = pipeline.recipe
    lines = [f"dry run of {recipe_file}: nothing is written"]
    root: Path | None = Path(recipe.output) / "mirror"  # a GitHub source's crawl, if there is one
    if recipe.source.kind == "local":
        try:
            root = pipeline.local_root()
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
    elif not root.is_dir():
        lines.append("source: GitHub, not crawled yet (the run crawls first; `run --plan` estimates the requests)")
        root = None
    if root is not None:
        repositories, parts = pipeline.list_parts(root)
        notebooks = sum(len(part) for part in parts)
        trial = ""
        if getattr(recipe.source, "limit", None):
            trial = f" (a trial: {'drawn at random' if recipe.source.sample else 'the first'} {recipe.source.limit})"
        lines.append(f"source: {shown(root)}: {len(repositories)} repositories, {notebooks} notebooks{trial}")
        lines.append(f"parts: {len(parts)} of at most {recipe.executor.part_size} notebooks, "
                     f"on {recipe.executor.workers} worker{'s' if recipe.executor.workers != 1 else ''}")
    lines.append("steps: " + " > ".join(recipe.step_labels()))
    done = pipeline.done_parts()
    for stage in pipeline.stages:
        state = f"{done[stage.index]} parts done" if done is not None else "not started"
        lines.append(f"  stage {stage.index}: {stage.label}: {state}")
    lines.append(f"output: {shown(recipe.output)}")
    return lines
