"""Command line: `python -m nbqa_builder COMMAND ...`.

Each command lives in `nbqa_builder/commands/<name>.py` with two functions:
`add_arguments(parser)` and `main(args) -> int`. Commands are imported only when used, so
`--help` and light commands stay fast and need no optional extras.

`-v` (more: -vv) and `-q` go before or after the command: -v logs what each stage does, -q
prints only errors and each command's last line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("nbqa_builder.commands.run", "run a recipe end to end"),
    "validate": ("nbqa_builder.commands.validate", "check a recipe without running it"),
    "inspect": ("nbqa_builder.commands.inspect", "print every check for one notebook"),
    "stats": ("nbqa_builder.commands.stats", "print the funnel of a finished run"),
    "evaluate": ("nbqa_builder.commands.evaluate", "score @name[value] responses: ABQ, PSAQ, UASQ (DABench)"),
    "export": ("nbqa_builder.commands.export", "write tasks in another layout (dabench, jupiter, sft)"),
    "push": ("nbqa_builder.commands.push", "publish a built dataset folder to the Hugging Face Hub"),
    "audit": ("nbqa_builder.commands.audit", "re-run every task of a dataset in the sandbox: verified, reference agrees"),
    "search": ("nbqa_builder.commands.search", "value-guided tree search (or ReAct) over tasks with an OpenAI-compatible policy"),
    "exec": ("nbqa_builder.commands.exec", "run one notebook in the sandbox and print each cell's result"),
    "crawl": ("nbqa_builder.commands.crawl", "crawl a recipe's GitHub source into its local mirror (resumable)"),
    "value-data": ("nbqa_builder.commands.value_data", "value targets from search trees (a Hugging Face dataset)"),
    "train-value": ("nbqa_builder.commands.train_value", "train a value model on value targets (extra [train])"),
    "train-sft": ("nbqa_builder.commands.train_sft", "fine-tune a policy on a messages export with TRL (extra [train])"),
}


class UserError(Exception):
    """An error the user can fix; printed on one line, exit code 2, no traceback."""


def _verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=default,
                       help="say what each stage does (-vv: and each part)")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="print only errors and the command's last line; no progress")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command that argv names is imported.

    Importing only the named command keeps one broken or unfinished command from breaking the
    others; with argv None every command module is imported (and checked).
    """
    from nbqa_builder import __version__

    parser = argparse.ArgumentParser(prog="python -m nbqa_builder", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nbqa_builder {__version__}")
    _verbosity(parser, 0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    named = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        _verbosity(command_parser, argparse.SUPPRESS)  # after the command too; not resetting the one before it
        command_parser.set_defaults(_module=module_name)
        if argv is None or name == named:
            # add_arguments is cheap: command modules import their heavy dependencies inside main()
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nbqa_builder.recipe import RecipeError

    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO if args.verbose == 1 else logging.DEBUG,
                            format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return importlib.import_module(args._module).main(args) or 0
    except (UserError, RecipeError) as exc:
        for line in str(exc).splitlines() or [""]:  # a recipe with several problems: one line each
            print(f"error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head` closed our output: not an error of ours
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
