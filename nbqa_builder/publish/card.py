"""The dataset card: `dataset_card.md` filled in with the run's configs, funnel and recipe."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from nbqa_builder import __version__
from nbqa_builder.recipe import Recipe

# config -> the data folders its YAML entry lists
CONFIG_FOLDERS = {
    "all": ["interactive", "sft"],
    "interactive": ["interactive"],
    "sft": ["sft"],
    "visualization": ["visualization"],
    "files": ["files"],
}


def configs_yaml(shard_paths: dict[str, list[Path]]) -> str:
    """The card's `configs:` list: every config that has rows, `all` the default."""
    entries = []
    for name, folders in CONFIG_FOLDERS.items():
        folders = [f for f in folders if shard_paths.get(f)]
        if not folders:
            continue
        entry: dict[str, Any] = {"config_name": name,
                                 "data_files": [{"split": "train", "path": [f"data/{f}/*.parquet" for f in folders]}]}
        if name == "all":
            entry["default"] = True
        entries.append(entry)
    return yaml.safe_dump(entries, sort_keys=False).rstrip()


def render_card(recipe: Recipe, stats: dict[str, Any], shard_paths: dict[str, list[Path]]) -> str:
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
        concepts=", ".join(f"{k} ({v})" for k, v in stats["tasks"]["concepts"].items()) or "none",
        difficulty=", ".join(f"{k} ({v})" for k, v in stats["tasks"]["difficulty"].items()) or "none",
        licenses=", ".join(f"{k} ({v})" for k, v in stats["licenses"].items()) or "none",
        recipe_yaml=yaml.safe_dump(recipe_data, sort_keys=False).rstrip(),
    )
