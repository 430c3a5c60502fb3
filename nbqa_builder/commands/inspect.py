"""`inspect NOTEBOOK`: every check of the pipeline for one notebook, and the verdict."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nbqa_builder.commands.repository_notebook import REPO_HELP, read_in_repository, repository_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="path to a .ipynb file")
    parser.add_argument("--repo", help=REPO_HELP)
    parser.add_argument("--recipe", help="take the validate/deps/filter settings from this recipe")
    parser.add_argument("--json", action="store_true", help="print JSON")


def merged_filter_config(filters: list[Any]) -> Any:
    """One filter config for every filter step of a recipe, so that `inspect` judges a notebook
    by all the rules `run` applies (a recipe's cheap rules before `deps`, its data rules after),
    each step's settings as the recipe gives them; no filter step: every rule, as shipped."""
    from nbqa_builder.filters.step import FilterConfig

    settings: dict[str, Any] = {}
    rules: list[str] | None = []
    for config in filters:
        settings.update(config.model_dump(exclude_unset=True, exclude={"rules"}))
        rules = None if rules is None or config.rules is None else rules + list(config.rules)
    if not filters:
        rules = None
    return FilterConfig(**settings, rules=rules, all_verdicts=True)


def inspect_notebook(path: Path, repo_dir: Path, configs: dict[str, Any],
                     tiers: tuple[str, ...] = ("interactive", "sft"), filters: list[Any] = ()) -> dict[str, Any]:
    from nbqa_builder.filters.step import FilterStep

    notebook = read_in_repository(path, repo_dir, configs)
    FilterStep(merged_filter_config(list(filters)), tiers=tiers)([notebook])
    code = notebook.code_cells
    counts = [c.execution_count for c in code if c.execution_count is not None]
    return {
        "path": str(path),
        "repo": notebook.repo,
        "commit": notebook.commit,
        "license": notebook.license,
        "valid": notebook.dropped_by != "validate",
        "validate": notebook.checks.get("validate"),
        "nbformat": notebook.nbformat,
        "kernel": notebook.kernel,
        "code_cells": len(code),
        "unexecuted_code_cells": sum(1 for c in code if c.source.strip() and c.execution_count is None),
        "in_order": all(b > a for a, b in zip(counts, counts[1:])),
        "error_outputs": sum(1 for c in code for o in c.outputs if o.get("output_type") == "error"),
        "data_files": [
            {"as_written": r.as_written, "call": r.call, "cell": r.cell, "status": r.status,
             "resolved": r.resolved, "size": r.size, "rows": r.rows}
            for r in notebook.data_refs
        ],
        "deps": notebook.checks.get("deps"),
        "rules": notebook.checks.get("filter"),
        "verdict": "keep" if notebook.kept else "drop",
        "drop_reason": notebook.drop_reason,
        "drop_detail": notebook.drop_detail,
        "dropped_by": notebook.dropped_by,
        # the tier its tasks may reach (NBQA.md, "The two tiers"): `sft` when something stops a
        # re-run offline (the reason names it); `interactive` when nothing the rules see does, the
        # execute step having the last word (a failed re-run goes to `sft`); null when dropped
        "tier": None if not notebook.kept else "sft" if notebook.not_interactive else "interactive",
        "tier_reason": notebook.not_interactive,
    }


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.recipe import load_recipe

    path = Path(args.notebook)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    recipe = load_recipe(args.recipe) if args.recipe else None
    repo_dir = repository_folder(path, args.repo, recipe)
    configs: dict[str, Any] = {name: config for name, config in recipe.step_configs()} if recipe else {}
    filters = [config for name, config in recipe.step_configs() if name == "filter"] if recipe else []
    report = inspect_notebook(path, repo_dir, configs, tuple(recipe.tiers) if recipe else ("interactive", "sft"),
                              filters)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    for key, value in report.items():
        if key == "data_files":
            print("data_files:")
            for ref in value:
                print(f"  - {ref['as_written']!r} ({ref['call']}, cell {ref['cell']}): {ref['status']}"
                      + (f" -> {ref['resolved']}" if ref["resolved"] else ""))
        elif key == "rules":
            print("rules:")
            for rule, reason in (value or {}).items():
                print(f"  {rule}: {reason or 'pass'}")
        else:
            print(f"{key}: {value}")
    return 0
