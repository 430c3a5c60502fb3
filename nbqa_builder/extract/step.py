"""The extract step: notebooks in, tasks attached; a notebook that yields none is dropped."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nbqa_builder.extract.heuristic import extract_tasks
from nbqa_builder.records import Notebook
from nbqa_builder.step import Step, StepConfig


class ExtractConfig(StepConfig):
    # heuristic: offline, templated questions from scalar outputs
    backend: Literal["heuristic"] = "heuristic"
    # A notebook is one analysis; past ten tasks they repeat each other and skew the mix.
    max_tasks_per_notebook: int = Field(10, ge=1)
    # Answers longer than this are rarely checkable values (they are text dumps).
    max_value_chars: int = Field(60, ge=1)


class ExtractStep(Step):
    name = "extract"
    Config = ExtractConfig
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps")

    def process(self, notebook: Notebook) -> str | None:
        notebook.tasks = extract_tasks(notebook, self.config.max_tasks_per_notebook, self.config.max_value_chars)
        notebook.checks["extract"] = {"tasks": len(notebook.tasks)}
        return None if notebook.tasks else "no_tasks"
