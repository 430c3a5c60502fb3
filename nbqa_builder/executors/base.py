"""What the pipeline and an executor know of each other.

The pipeline (pipeline.py) plans a run; an executor carries it out: every stage's parts
(`stages.run_part`), each global step's reduce, then the writer. The pipeline knows an executor
only as an `Executor`, picked by the recipe's `executor.kind` (executors/__init__.py); an executor
knows the pipeline only as a `PlannedRun`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nbqa_builder.recipe import Recipe
from nbqa_builder.sources.local import Repository
from nbqa_builder.stages import Stage


class PlannedRun(Protocol):
    """A recipe's run as the pipeline planned it (pipeline.Pipeline)."""

    recipe: Recipe
    output: Path  # the run's folder: dataset/, stats.json, rejects/
    work: Path  # <output>/_work: the parts and their summaries (stages.py)
    progress: bool  # show progress bars
    stages: list[Stage]
    parts_run: int  # set by the executor: parts this run computed (0: an earlier run had done them all)

    def plan(self) -> tuple[list[Repository], list[list[tuple[int, str]]]]:
        """The repositories and each part's (repository index, notebook path): read from
        `_work/plan.json`, or listed from the source and written there on the first run."""
        ...


class Executor(Protocol):
    """Carries out a planned run: `executor_class(kind)(pipeline).run(restart)`."""

    def __init__(self, pipeline: PlannedRun) -> None: ...

    def run(self, restart: bool = False) -> dict[str, Any]:
        """Run every stage's parts not done yet (all of them again after `restart`, which removes
        `_work/`), each global step's reduce, and the writer; the run's stats (stats.json)."""
        ...
