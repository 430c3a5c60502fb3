"""The dataset card: `dataset_card.md` filled in with the run's configs, funnel and recipe."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from nbqa_builder import __version__
from nbqa_builder.notebooks.parse import TRUNCATION_MARKER
from nbqa_builder.publish.columns import file_columns, task_columns
from nbqa_builder.publish.load import CONFIG_FOLDERS
from nbqa_builder.recipe import Recipe

# The paper: JUPITER, Li et al., AAAI 2026 (arXiv 2509.09245, 2025). One year, in the text and the BibTeX.
CITATION_YEAR = 2026
LICENSES_FILE = "LICENSES.md"  # the card's license_link when the sources' licenses differ
# SPDX ids the Hub knows as license ids (lowercased); any other license, or a mix, is `other`
HUB_LICENSES = frozenset((
    "mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "isc", "unlicense", "0bsd", "cc0-1.0", "cc-by-4.0",
    "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "mpl-2.0", "bsl-1.0", "gpl-2.0", "gpl-3.0", "lgpl-3.0",
    "agpl-3.0", "zlib",
))
# the Hub's size categories, by number of rows
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]


def configs_yaml(shard_paths: dict[str, list[Path]]) -> str:
    """The card's `configs:` list: every config, `all` the default (one without rows has a shard
    that holds its schema and no rows).

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


def license_yaml(licenses: dict[str, int]) -> str:
    """`license:` of the card's header: the sources' license when they share one the Hub knows,
    else `other`, with a name and the file that lists each repository's license."""
    known = {name.lower() for name in licenses}
    if len(known) == 1 and known <= HUB_LICENSES:
        return f"license: {known.pop()}"
    return f"license: other\nlicense_name: mixed-source-licenses\nlicense_link: {LICENSES_FILE}"


def licenses_file(repositories: dict[str, str | None]) -> str:
    """LICENSES.md: each source repository and the license its rows carry."""
    lines = ["# Licenses of the source repositories", "",
             "Each task keeps the license of the repository its notebook comes from (the `license` column).", "",
             "| repository | license |", "|---|---|"]
    lines += [f"| {repo} | {license or 'unknown'} |" for repo, license in sorted(repositories.items())]
    return "\n".join(lines) + "\n"


def size_category(rows: int) -> str:
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>100M")


def _count_table(counts: dict[str, Any], what: str, total: int | None = None, of: str = "") -> str:
    """Counts with their share of `total` (default: the counts' sum), e.g. concepts over tasks:
    a task can have several concepts, so their shares do not add up to 100 %."""
    if not counts:
        return f"No {what}."
    total = total or sum(counts.values()) or 1
    rows = [f"| {what} | count | share{of} |", "|---|---|---|"]
    rows += [f"| {key} | {n} | {100 * n / total:.1f} % |" for key, n in counts.items()]
    return "\n".join(rows)


def render_card(recipe: Recipe, stats: dict[str, Any], shard_paths: dict[str, list[Path]],
                chart: str | None = None) -> str:
    template = Template(resources.files("nbqa_builder.publish").joinpath("dataset_card.md").read_text(encoding="utf-8"))
    by_config = stats["tasks"]["by_config"]
    tasks = stats["tasks"]["written"]
    funnel = "\n".join(
        f"| {s['step']} | {s['in']} | {s['dropped']} | {s['out']} | "
        + (", ".join(f"{reason}: {n}" for reason, n in s["reasons"].items()) or "-") + " |"
        for s in stats["steps"]
    )
    recipe_data = recipe.as_written()  # paths as the recipe spells them, not this machine's
    return template.substitute(
        pretty_name=f"NbQA tasks: {recipe.name}",
        pretty_name_yaml=json.dumps(f"NbQA tasks: {recipe.name}"),
        license_yaml=license_yaml(stats["licenses"]),
        size_category=size_category(tasks),
        configs_yaml=configs_yaml(shard_paths),
        year=CITATION_YEAR,
        version=__version__,
        recipe_name=recipe.name,
        rows_interactive=by_config.get("interactive", 0),
        rows_sft=by_config.get("sft", 0),
        rows_all=by_config.get("interactive", 0) + by_config.get("sft", 0),
        rows_visualization=by_config.get("visualization", 0),
        rows_files=stats["files"]["count"],
        funnel_rows=funnel,
        chart=f"![The funnel and the tasks by concept]({chart})" if chart else "",
        concepts=_count_table(stats["tasks"]["concepts"], "concept", total=tasks, of=" of tasks"),
        task_columns=task_columns(),
        file_columns=file_columns(),
        marker=TRUNCATION_MARKER.strip().format(n="N"),
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
