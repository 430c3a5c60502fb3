"""Running a recipe: source -> stages of steps -> dataset, stats and rejects.

The pipeline plans a run: it lists the source's notebooks, cuts them into parts (fixed in
`_work/plan.json` on the first run) and the recipe's steps into stages (stages.py, which also
describes `_work/`). The executor the recipe's `executor.kind` names (executors/) carries it out:
it runs every part of every stage, each global step's reduce, and the writer.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nbqa_builder.executors import executor_class
from nbqa_builder.recipe import Recipe
from nbqa_builder.sources.local import Repository, find_repositories, list_notebooks
from nbqa_builder.stages import atomic_write, plan_stages, recipe_fingerprint

class PlanMismatch(Exception):
    """The output folder holds a run of a different recipe (or of an older nbqa_builder)."""


def split_parts(items: list, files: list[str | Path], max_items: int, max_bytes: int) -> list[list]:
    """Consecutive parts of at most `max_items` items and `max_bytes` bytes of files (a file larger
    than `max_bytes` gets a part of its own)."""
    parts: list[list] = []
    current: list = []
    current_bytes = 0
    for item, file in zip(items, files):
        try:
            size = os.stat(file).st_size
        except OSError:
            size = 0  # the reader records the error
        if current and (len(current) >= max_items or current_bytes + size > max_bytes):
            parts.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        parts.append(current)
    return parts


class Pipeline:
    """A recipe's run: its folders, stages and plan of parts (what an executor is given, as
    executors.base.PlannedRun), and `run`, which hands it to the executor."""

    def __init__(self, recipe: Recipe, progress: bool = True) -> None:
        self.recipe = recipe
        self.output = Path(recipe.output)
        self.work = self.output / "_work"
        self.progress = progress
        self.stages = plan_stages(recipe)
        self.parts_run = 0  # parts the last `run` computed (0: an earlier run had done them all)

    def run(self, restart: bool = False) -> dict[str, Any]:
        """Carry out the run with the executor the recipe's `executor.kind` names; its stats."""
        return executor_class(self.recipe.executor.kind)(self).run(restart)

    def plan(self) -> tuple[list[Repository], list[list[tuple[int, str]]]]:
        plan_file = self.work / "plan.json"
        fingerprint = recipe_fingerprint(self.recipe)
        if plan_file.exists():
            plan = json.loads(plan_file.read_text())
            if plan["recipe"] != fingerprint:
                raise PlanMismatch(
                    f"{self.output} holds a run of a different recipe (or of an older nbqa_builder); "
                    "use another output folder or --restart"
                )
            return [Repository(**r) for r in plan["repositories"]], plan["parts"]
        repositories, parts = self.list_parts(self.source_root())
        self.work.mkdir(parents=True, exist_ok=True)
        plan = {"recipe": fingerprint, "repositories": [asdict(r) for r in repositories], "parts": parts}
        atomic_write(plan_file, json.dumps(plan).encode())
        return repositories, [[tuple(p) for p in part] for part in parts]

    def list_parts(self, root: Path) -> tuple[list[Repository], list[list[tuple[int, str]]]]:
        """The repositories under `root` and the parts of their notebooks (the source's `limit`
        applied); nothing is written."""
        source = self.recipe.source
        repositories = find_repositories(root, "folders" if source.kind == "github" else source.layout)
        include = ["**/*" + ext for ext in source.notebook_extensions] if source.kind == "github" else source.include
        paths = [(i, path) for i, repo in enumerate(repositories) for path in list_notebooks(repo, include)]
        limit = getattr(source, "limit", None)
        if limit is not None and len(paths) > limit:
            paths = sorted(random.Random(source.seed).sample(paths, limit)) if source.sample else paths[:limit]
        parts = split_parts(paths, [os.path.join(repositories[i].directory, path) for i, path in paths],
                            self.recipe.executor.part_size, self.recipe.executor.part_max_bytes)
        return repositories, parts

    def done_parts(self) -> dict[int, int] | None:
        """Finished parts per stage, when the output holds a run of this recipe; None when it
        holds none (or one of another recipe)."""
        plan_file = self.work / "plan.json"
        try:
            if json.loads(plan_file.read_text())["recipe"] != recipe_fingerprint(self.recipe):
                return None
        except (OSError, ValueError, KeyError):
            return None
        return {stage.index: len(list((self.work / f"stage-{stage.index}").glob("part-*.json")))
                for stage in self.stages}

    def source_root(self) -> Path:
        """Where the repositories lie: the local folder, or the GitHub crawl's mirror (crawled now)."""
        if self.recipe.source.kind == "github":
            from nbqa_builder.sources.github import crawl

            return crawl(self.recipe.source, self.output, progress=self.progress)
        return self.local_root()

    def local_root(self) -> Path:
        """A local source's folder; FileNotFoundError naming it resolved when it is not there."""
        root = Path(self.recipe.source.path)
        written = self.recipe.written_as("source.path")
        if not root.is_dir() and written is not None:
            raise FileNotFoundError(f"source folder {root.absolute()} does not exist (source.path {written!r} in "
                                    f"{self.recipe.path} is relative to the recipe's folder)")
        return root
