"""The step contract: a step takes a batch of notebooks and returns it.

Two kinds of step:

- `Step`: per record. Subclasses implement `process(notebook)`, which returns None to keep the
  notebook or a short reason string to drop it: `reason`, or `reason: detail` where the detail
  names what matched (a module, a file, a URL). The base does the bookkeeping: already dropped
  notebooks pass through untouched, drops are stamped with the step name and carry the detail
  apart (stats count the bare reason).
- `GlobalStep`: needs the whole corpus (dedup). It runs in two phases so that the same code can run
  on a cluster: `map(batch)` returns small, picklable keys per kept notebook (computed part by part),
  `reduce(keys)` sees all keys and returns `{uid: reason}` for the notebooks to drop.

Steps hold only their configuration: no hidden global state, so a batch can be processed in any
worker process. A step's settings are a pydantic model, `Config`, with a commented default each.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

from pydantic import BaseModel, ConfigDict

from nbqa_builder.records import Notebook


class StopRun(Exception):
    """Raised by a step to end the run cleanly (a budget is spent); finished parts stay done,
    and running the recipe again continues from there."""


def count(notebook: Notebook, step: str, key: str, value: float = 1) -> None:
    """Add to a run-wide counter (tokens, cost, requests...) that lands in stats.json["metrics"]."""
    metrics = notebook.checks.setdefault("metrics", {}).setdefault(step, {})
    metrics[key] = metrics.get(key, 0) + value


def merge_metrics(into: dict[str, dict[str, float]], metrics: dict[str, dict[str, float]]) -> None:
    """Add counters made by `count` (step -> key -> value) into `into`."""
    for step, counters in metrics.items():
        totals = into.setdefault(step, {})
        for key, value in counters.items():
            totals[key] = totals.get(key, 0) + value


class StepConfig(BaseModel):
    """Base of every step's settings: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Step:
    name: ClassVar[str]
    Config: ClassVar[type[StepConfig]] = StepConfig
    # steps that must come earlier in a recipe (checked when the recipe is read)
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: StepConfig | None = None, label: str | None = None, **context: Any) -> None:
        self.config = config if config is not None else self.Config()
        # how drops are stamped and counted: the name, or `filter#2` for a second filter step
        self.label = label or self.name
        # run-level settings, read-only: `output` (the recipe's output folder) when run by a pipeline
        self.context = context

    @classmethod
    def required_steps(cls, config: StepConfig) -> tuple[str, ...]:
        """Steps that must come earlier in a recipe with these settings."""
        return cls.requires

    def concurrency(self) -> int:
        """How many notebooks the step works on at once (1: one after another). The pipeline
        hands it batches at least this large."""
        return 1

    def process(self, notebook: Notebook) -> str | None:
        raise NotImplementedError

    def __call__(self, batch: list[Notebook]) -> list[Notebook]:
        for notebook in batch:
            if notebook.kept:
                reason = self.process(notebook)
                if reason:
                    bare, _, detail = reason.partition(": ")
                    notebook.drop(bare, self.label, detail or None)
        return batch


class GlobalStep(Step):
    """A step over the whole corpus, split into map (per part) and reduce (once)."""

    def map(self, batch: list[Notebook]) -> list[Any]:
        raise NotImplementedError

    def reduce(self, keys: Iterable[Any]) -> dict[str, str]:
        """All map keys in, `{notebook.uid: drop reason}` out."""
        raise NotImplementedError

    def __call__(self, batch: list[Notebook]) -> list[Notebook]:
        """Run both phases on one batch (for tests and single-part runs)."""
        drops = self.reduce(self.map(batch))
        for notebook in batch:
            if notebook.kept and notebook.uid in drops:
                notebook.drop(drops[notebook.uid], self.label)
        return batch
