"""`crawl RECIPE [--plan]`: run only the GitHub crawl of a recipe (the `run` command does it too).

The mirror lands in `<output>/_work/crawl/`; run the command again after any stop to resume.
Exit codes: 0 done, 2 a user error (recipe, token, state), 75 paused (rate limit, failing API or
git, SIGTERM; run again later). Either way no git process and no clone outlives the command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EXIT_PAUSED = 75  # EX_TEMPFAIL: try again later


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML whose source is `kind: github`")
    parser.add_argument("--plan", action="store_true", help="print the expected requests and time, crawl nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.recipe import GithubSource, load_recipe

    recipe = load_recipe(args.recipe)
    if not isinstance(recipe.source, GithubSource):
        raise UserError(f"{args.recipe}: source.kind is {recipe.source.kind!r}; crawl needs a github source")
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        import github  # noqa: F401  (PyGithub: fail here, with the fix, rather than mid-crawl)

        from nbqa_builder.sources.github import CrawlError, CrawlPaused, crawl, plan_crawl
    except ImportError as exc:
        raise UserError(f"the github source needs its extra: pip install 'nbqa_builder[github]' ({exc})") from None
    try:
        if args.plan:
            print(plan_crawl(recipe.source, Path(recipe.output)))
            return 0
        mirror = crawl(recipe.source, Path(recipe.output), progress=not args.no_progress)
    except CrawlPaused as exc:
        print(f"paused: {exc}", file=sys.stderr)
        return EXIT_PAUSED
    except CrawlError as exc:
        raise UserError(str(exc)) from None
    print(f"crawled into {mirror}; manifest: {mirror.parent / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    # `python -m nbqa_builder.commands.crawl RECIPE`: the same command without the other commands' imports
    from nbqa_builder.cli import UserError
    from nbqa_builder.recipe import RecipeError

    parser = argparse.ArgumentParser(prog="python -m nbqa_builder.commands.crawl", description=__doc__.splitlines()[0])
    add_arguments(parser)
    # the global -v of `python -m nbqa_builder`, which this entry point goes without
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log what the crawl does (-vv: each request)")
    try:
        raise SystemExit(main(parser.parse_args()))
    except (UserError, RecipeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
