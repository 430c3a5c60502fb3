"""The dataset card: `dataset_card.md` filled in with the run's configs, funnel and recipe."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from nbqa_builder import __version__
from nbqa_builder.publish.load import CONFIG_FOLDERS
from nbqa_builder.recipe import Recipe



def configs_yaml(shard_paths: dict[str, list[Path]]) -> str:
    """The card's `configs:` list: every config that has rows, `all` the default.

    Each config lists its shard files by name, not by a glob: `datasets` caches a local folder by
    its card's configs, and the names carry their content's hash (publish/shards.py), so a
    rebuilt folder is read anew."""
    entries = []
    for name, folders in CONFIG_FOLDERS.items():
        folders = [f for f in folders if shard_paths.get(f)]
        if not folders:
            continue
        paths = [f"data/{f}/{p.name}" for f in folders for p in shard_paths[f]]
        entry: dict[str, Any] = {"config_name": name, "data_files": [{"split": "train", "path": paths}]}
        if name == "all":
            entry["default"] = True
        entries.append(entry)
    return yaml.safe_dump(entries, sort_keys=False).rstrip()


def _count_table(counts: dict[str, Any], what: str) -> str:
    if not counts:
        return f"No {what}."
    total = sum(counts.values()) or 1
    rows = [f"| {what} | count | share |", "|---|---|---|"]
    rows += [f"| {key} | {n} | {100 * n / total:.1f} % |" for key, n in counts.items()]
    return "\n".join(rows)


def render_card(recipe: Recipe, stats: dict[str, Any], shard_paths: dict[str, list[Path]],
                chart: str | None = None) -> str:
    template = Template(resources.files("nbqa_builder.publish").joinpath("dataset_card.md").read_text(encoding="utf-8"))
    by_config = stats["tasks"]["by_config"]
    funnel = "\n".join(
        f"| {s['step']} | {s['in']} | {s['dropped']} | {s['out']} | "
        + (", ".join(f"{reason}: {n}" for reason, n in s["reasons"].items()) or "-") + " |"
        for s in stats["steps"]
    )
    recipe_data = recipe.model_dump(exclude={"path"}, exclude_none=True)
    return template.substitute(
        pretty_name=f"NbQA tasks: {recipe.name}",
        pretty_name_yaml=json.dumps(f"NbQA tasks: {recipe.name}"),
        configs_yaml=configs_yaml(shard_paths),
        version=__version__,
        recipe_name=recipe.name,
        rows_interactive=by_config.get("interactive", 0),
        rows_sft=by_config.get("sft", 0),
        rows_all=by_config.get("interactive", 0) + by_config.get("sft", 0),
        rows_visualization=by_config.get("visualization", 0),
        rows_files=stats["files"]["count"],
        funnel_rows=funnel,
        chart=f"![The funnel and the tasks by concept]({chart})" if chart else "",
        concepts=_count_table(stats["tasks"]["concepts"], "concept"),
        difficulty=_count_table(stats["tasks"]["difficulty"], "difficulty"),
        kinds=_count_table(stats["tasks"].get("kinds", {}), "kind"),
        licenses=_count_table(stats["licenses"], "license"),
        redacted=_redaction_line(stats.get("redaction", {})),
        solver=_solver_line(stats["tasks"].get("solver")),
        truncated=stats["tasks"].get("outputs_truncated", 0),
        recipe_yaml=yaml.safe_dump(recipe_data, sort_keys=False).rstrip(),
    )


def _redaction_line(redaction: dict[str, Any]) -> str:
    """How many credentials were replaced, by kind and by place, never what they were."""
    total = redaction.get("total", 0)
    kinds = ", ".join(f"{kind}: {n}" for kind, n in redaction.get("by_kind", {}).items())
    places = ", ".join(f"{place}: {n}" for place, n in redaction.get("by_place", {}).items())
    text = f"{total} ({kinds}; in {places})" if total else "none found"
    return (f"Credentials replaced by `<REDACTED:kind>`: {text}. "
            f"Notebooks dropped for reading a credential file: {redaction.get('credential_files', 0)}.")


def _solver_line(solver: dict[str, Any] | None) -> str:
    """The share of tasks a blind solver (the `solve` step) answered right from text and files alone."""
    if not solver:
        return "- No blind solver ran in this build (`solver_agrees` is empty)."
    checked = solver["agree"] + solver["disagree"]
    share = f"{100 * solver['agree'] / checked:.1f} %" if checked else "no task checked"
    line = (f"- Blind solver: `{solver['model']}`, shown only each task's text, constraints, format and files "
            f"(never the notebook), reached the label (strict scorer) on {solver['agree']} of {checked} tasks "
            f"checked ({share}); {solver['not_checked']} not checked (`solver_agrees`, `solver_answer`).")
    if solver.get("interactive_requires_agreement"):
        line += " `interactive` holds only tasks it solved."
    return line
