"""Shared by the extractor's tests: a repository of executed notebooks taken through validate,
deps, the heuristic extractor and verify, and the checks every task's answer is held to."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbqa_builder.answers import roundings_in_format
from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.grounding import same_value
from nbqa_builder.extract.step import ExtractConfig, ExtractStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.records import Notebook, Task
from nbqa_builder.sandbox.step import SandboxStepConfig, VerifyStep
from nbqa_builder.sources.local import describe_repository, read_notebook


def extracted_and_verified(repo: Path) -> dict[str, Notebook]:
    """Every notebook of `repo`, by path, with its tasks extracted and verified."""
    description = describe_repository(repo)
    notebooks = [read_notebook(description, str(p.relative_to(repo)), 10**8) for p in sorted(repo.rglob("*.ipynb"))]
    steps = [ValidateStep(), DepsStep(), ExtractStep(ExtractConfig(max_tasks_per_notebook=30)),
             VerifyStep(SandboxStepConfig(sandbox="process", timeout_s=60))]
    try:
        for step in steps:
            notebooks = step(notebooks)
    finally:
        steps[-1].close()
    return {nb.path: nb for nb in notebooks}


def kept(notebook: Notebook) -> list[Task]:
    return [t for t in notebook.tasks if t.drop_reason is None]


def equals_truth(task: Task, name: str, truth) -> bool:
    """Whether the answer `name` is `truth` as the task's format rounds it."""
    value = next(a.value for a in task.answers if a.name == name)
    rounding = roundings_in_format(task.format, [name])[name]
    if isinstance(truth, (bool, np.bool_)):
        shown = str(bool(truth))
    elif isinstance(truth, (float, np.floating)):
        shown = repr(float(truth))
    else:
        shown = str(truth)
    return same_value(value, shown, rounding)
