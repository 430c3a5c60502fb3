"""The extract step: notebooks in, tasks attached; a notebook that yields none is dropped.

Two backends: `heuristic` (offline, the default) and `openai` (any OpenAI-compatible endpoint:
score, extract, review; see extract/llm.py). The openai backend works on a batch's notebooks
concurrently, in threads, up to `max_concurrency`: the work is waiting on HTTP. With
`llm: {mode: batch}` a part's notebooks go through the stages together, in rounds: each round
sends every notebook's next request in one batch of the Batch API (llm/batch.py).
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from nbqa_builder.extract.heuristic import extract_tasks
from nbqa_builder.llm import LLMSettings
from nbqa_builder.records import Notebook
from nbqa_builder.step import Step, StepConfig, StopRun


class ExtractConfig(StepConfig, LLMSettings):
    # heuristic: offline, templated questions from scalar outputs; openai: an LLM through any
    # OpenAI-compatible endpoint (the settings below, from LLMSettings)
    backend: Literal["heuristic", "openai"] = "heuristic"
    # A notebook is one analysis; past ten tasks they repeat each other and skew the mix.
    max_tasks_per_notebook: int = Field(10, ge=1)
    # Answers longer than this are rarely checkable values (they are text dumps).
    max_value_chars: int = Field(60, ge=1)

    # cost and speed, not results: a run stopped at max_cost resumes with a larger one
    not_decisive: ClassVar[frozenset[str]] = frozenset(
        {"max_cost", "max_concurrency", "timeout_s", "max_attempts", "max_wait_s", "prices", "llm"})

    @model_validator(mode="after")
    def _settings_fit_the_backend(self) -> "ExtractConfig":
        llm_keys = set(LLMSettings.model_fields) & self.model_fields_set
        if self.backend == "heuristic" and llm_keys:
            raise ValueError(f"{', '.join(sorted(llm_keys))}: only for backend: openai")
        if self.backend == "openai":
            if self.extract is None:
                raise ValueError("backend: openai needs `extract: {model: ...}` (the model that writes the tasks)")
            outside = sorted(set(self.llm.stages or ()) - {"score", "extract", "review"})
            if outside:
                raise ValueError(f"llm.stages: {', '.join(outside)} is not a stage of extract (score, extract, review)")
            if self.max_cost is not None:
                unpriced = sorted({s.model for s in self.stages().values()} - set(self.prices))
                if unpriced:
                    raise ValueError(f"max_cost needs a price for every model; add {', '.join(unpriced)} to prices")
        return self


class ExtractStep(Step):
    name = "extract"
    Config = ExtractConfig
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps", "redact")

    def __init__(self, config: ExtractConfig | None = None, **context: Any) -> None:
        super().__init__(config, **context)
        self._extractor: Any = None  # LLMExtractor, built on first use (it imports the SDK)
        self._threads: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_extractor"], state["_threads"] = None, None  # live HTTP clients and threads stay behind
        return state

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    def extractor(self) -> Any:
        if self._extractor is None:
            from nbqa_builder.extract.llm import build_extractor

            self._extractor = build_extractor(self.config, self.context.get("output"),
                                              self.config.max_tasks_per_notebook, self.config.max_value_chars)
        return self._extractor

    def process(self, notebook: Notebook) -> str | None:
        if self.config.backend == "openai":
            from nbqa_builder.llm import LLMRunMustStop

            try:
                return self.extractor().extract(notebook)
            except LLMRunMustStop as exc:
                raise StopRun(str(exc)) from None
        output = self.context.get("output")
        notebook.tasks = extract_tasks(notebook, self.config.max_tasks_per_notebook, self.config.max_value_chars,
                                       Path(output, "_work", "inline") if output else None)
        kept = sum(1 for task in notebook.tasks if task.drop_reason is None)
        notebook.checks["extract"] = {"tasks": kept, "tasks_dropped": len(notebook.tasks) - kept}
        return None if kept else no_tasks_reason(notebook)

    def concurrency(self) -> int:
        if self.config.backend != "openai":
            return 1
        # batch mode: the whole part in one call, so that its notebooks share each round's batch
        return self.config.llm.max_requests if self.config.llm.mode == "batch" else self.config.max_concurrency

    def __call__(self, batch: list[Notebook]) -> list[Notebook]:
        batch = self._extract(batch)
        for notebook in batch:  # a notebook kept for `sft` only gives `sft` tasks, and says why
            if notebook.kept and notebook.not_interactive:
                for task in notebook.tasks:
                    task.not_interactive = notebook.not_interactive
        return batch

    def _extract(self, batch: list[Notebook]) -> list[Notebook]:
        if self.config.backend != "openai":
            return super().__call__(batch)
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.config.max_concurrency, thread_name_prefix="extract")
        kept = [n for n in batch if n.kept]
        if self.config.llm.mode == "batch":
            self._in_rounds(kept)
            return batch
        # every notebook finishes (or fails) before a StopRun leaves the batch: the part is then
        # not written, and the replies already received wait in the cache for the next run
        futures = [(notebook, self._threads.submit(self.process, notebook)) for notebook in kept]
        stop: StopRun | None = None
        for notebook, future in futures:
            try:
                reason = future.result()
            except StopRun as exc:
                stop = stop or exc
                continue
            if reason:
                notebook.drop(reason, self.name)
        if stop is not None:
            raise stop
        return batch

    def _in_rounds(self, kept: list[Notebook]) -> None:
        """Batch mode: every notebook runs its stages as far as the cache allows, the requests
        they wait for go in one batch, and so on (`run_in_rounds`); then the drops."""
        from nbqa_builder.llm import LLMRunMustStop, NeedsReply, run_in_rounds

        extractor = self.extractor()
        reasons: dict[str, str | None] = {}

        def attempt(notebook: Notebook) -> None:
            # what extract() writes on the notebook, put back when it stops to wait for a batch
            metrics = notebook.checks.get("metrics", {}).get(STEP_METRICS)
            saved = (copy.deepcopy(notebook.checks.get("extract")), copy.deepcopy(metrics), notebook.tasks)
            try:
                reasons[notebook.uid] = extractor.extract(notebook)
            except NeedsReply:
                _put_back(notebook, *saved)
                raise

        assert self._threads is not None
        try:
            run_in_rounds(extractor.client, kept, attempt, self._threads.map)
        except LLMRunMustStop as exc:
            raise StopRun(str(exc)) from None
        for notebook in kept:
            reason = reasons.get(notebook.uid)
            if reason:
                notebook.drop(reason, self.label)


STEP_METRICS = "extract"  # extract/llm.py counts under stats.json["metrics"]["extract"]


def _put_back(notebook: Notebook, check: Any, metrics: Any, tasks: list) -> None:
    for place, key, value in ((notebook.checks, "extract", check),
                              (notebook.checks.setdefault("metrics", {}), STEP_METRICS, metrics)):
        if value is None:
            place.pop(key, None)
        else:
            place[key] = value
    notebook.tasks = tasks


def no_tasks_reason(notebook: Notebook) -> str:
    """`no_tasks: 4 candidates (unrenderable_statistic 3, not_a_value 1)`: why the cells that show a
    value gave none (each candidate's reason is in `rejects/tasks.jsonl`)."""
    if not notebook.tasks:
        return "no_tasks: no cell that reads a data file shows a value"
    reasons = Counter((task.drop_reason or "").split(":")[0] for task in notebook.tasks)
    listed = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
    return f"no_tasks: {len(notebook.tasks)} candidates ({listed})"
