"""`validate RECIPE`: check a recipe without running it."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.recipe import load_recipe, untrusted_process_sandboxes

    recipe = load_recipe(args.recipe)
    for warning in untrusted_process_sandboxes(recipe):  # `run` refuses these
        print(f"warning: {args.recipe}: {warning}", file=sys.stderr)
    steps = ", ".join(name for name, _ in recipe.step_configs())
    print(f"{args.recipe}: ok ({recipe.source.kind} source, steps: {steps}, output: {recipe.output})")
    return 0
