"""`stats OUT`: print the funnel of a finished run from OUT/stats.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="a run's output folder (holds stats.json)")
    parser.add_argument("--json", action="store_true", help="print stats.json as it is")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError

    path = Path(args.output) / "stats.json"
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: has the run finished?") from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"{'step':<12} {'in':>8} {'dropped':>8} {'out':>8}  reasons")
    for step in stats["steps"]:
        reasons = ", ".join(f"{r}={n}" for r, n in step["reasons"].items())
        print(f"{step['step']:<12} {step['in']:>8} {step['dropped']:>8} {step['out']:>8}  {reasons}")
    tasks = stats.get("tasks", {})
    print(f"tasks: {tasks.get('written', 0)} " + " ".join(f"{k}={v}" for k, v in tasks.get("by_config", {}).items()))
    if tasks.get("kinds"):
        print("tasks by kind: " + ", ".join(f"{k}={v}" for k, v in tasks["kinds"].items()))
    if tasks.get("dropped"):
        print("tasks dropped: " + ", ".join(f"{k}={v}" for k, v in tasks["dropped"].items()))
    for notebooks in ("input", "kept"):
        hundred = tasks.get(f"per_100_{notebooks}_notebooks")
        if hundred:
            print(f"per 100 {notebooks} notebooks: tasks={hundred['tasks']} interactive={hundred['interactive']} "
                  f"sft={hundred.get('sft', 0)}")
    rerun = rerun_line(stats)
    if rerun:
        print(rerun)
    return 0


def largest_drops(stats: dict[str, Any], n: int = 3) -> list[str]:
    """The n largest (step, reason) counts of the funnel: `filter#2 teaching_dataset 2`."""
    counts = [(count, step["step"], reason) for step in stats["steps"] for reason, count in step["reasons"].items()]
    counts.sort(key=lambda item: -item[0])
    return [f"{step} {reason} {count}" for count, step, reason in counts[:n]]


def rerun_line(stats: dict[str, Any]) -> str | None:
    """Of the kept notebooks (those in the dataset), how many re-ran offline to their end and how
    many are `sft` only, by cause; None when the recipe has no execute step."""
    executed = [step for step in stats["steps"] if step["step"].split("#")[0] == "execute"]
    tiers = stats["notebooks"].get("tiers")
    if not executed or tiers is None:
        return None
    kept = stats["notebooks"]["kept"]
    share = f" ({100 * tiers['reran_to_end'] / kept:.0f}%)" if kept else ""
    causes = ", ".join(f"{cause} {n}" for cause, n in tiers["sft_only_by_cause"].items())
    return (f"re-ran offline to their end: {tiers['reran_to_end']} of the {kept} kept notebooks{share}; "
            f"sft only: {tiers['sft_only']}" + (f" ({causes})" if causes else ""))
