"""The `solve` step: a blind solver re-solves each task from its text and files alone
(solve/solver.py), and the task records whether it reached the label.

Each kept task that has a label and is not a chart gets `solver_agrees`: True when the solver's
`Formatted answer:` matches the label under the strict scorer; False when it answered otherwise,
or gave no answer within `max_steps` (a parse failure, too many failed cells, a time-out); None
when it was not checked (a chart, no label, a data file missing, a request that could not be
answered, a refusal). `solver_answer` holds its answer. Nothing is dropped: with
`interactive_requires_agreement` the writer puts a task in `interactive` only when the solver
agreed. Per notebook, `checks["solve"]` says how each task's solve ended.

Any OpenAI-compatible endpoint; with `llm: {mode: batch}` every step is batched: round k sends
step k of every task still being solved in one batch, and each task's earlier cells are run again
to rebuild its state before step k (k rounds cost 1 + 2 + ... + k cell runs).
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any, ClassVar

from pydantic import Field, model_validator

from nbqa_builder.llm import (
    OPENAI_BASE_URL, BatchSettings, ChatClient, EndpointSettings, LLMRequestFailed, LLMRunMustStop, NeedsReply, Price,
    llm_dir, run_in_rounds,
)
from nbqa_builder.records import Notebook, Task
from nbqa_builder.sandbox.warm import SandboxStep, SandboxStepConfig
from nbqa_builder.solve.solver import STAGE, BlindSolver, Outcome, SolveMemory
from nbqa_builder.step import StopRun, count


class SolveConfig(SandboxStepConfig):
    """The sandbox settings (per cell `timeout_s`, memory...), and the solver's model and endpoint."""

    not_decisive: ClassVar[frozenset[str]] = SandboxStepConfig.not_decisive | frozenset(
        {"max_cost", "request_timeout_s", "max_attempts", "max_wait_s", "prices", "llm"})

    runs: int = Field(1, ge=1, le=1)  # the solver runs each task once
    # the solver: any chat model at any OpenAI-compatible endpoint; a model other than the
    # extractor's makes the check independent of the model that wrote the task
    model: str = Field(min_length=1)
    temperature: float = Field(0.0, ge=0, le=2)  # 0: the same task gives the same solve
    max_tokens: int = Field(2048, ge=1)  # one thought and one cell per reply
    base_url: str = OPENAI_BASE_URL  # or any OpenAI-compatible server: http://localhost:8000/v1
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # the variable's NAME
    request_timeout_s: float = Field(120, gt=0)  # per request
    max_attempts: int = Field(6, ge=1, le=20)  # per request, on 429, 5xx and time-outs
    max_wait_s: float = Field(60, gt=0)  # longest pause between attempts
    prices: dict[str, Price] = {}  # USD per million tokens; needed for the model when max_cost is set
    # stop cleanly (resumable) once the solver has spent this much in every run into this output, in USD
    max_cost: float | None = Field(None, gt=0)
    llm: BatchSettings = BatchSettings()  # sync requests, or the Batch API
    # replies per task: DABench tasks take 2 to 5 steps; JUPITER's search allows 10
    max_steps: int = Field(8, ge=1, le=30)
    max_errors: int = Field(3, ge=0)  # more failed cells in a row end the solve (as in the search)
    preview_rows: int = Field(5, ge=0, le=50)  # the head of each table the solver is shown
    preview_chars: int = Field(2000, ge=200)  # per file: a table's head, not the data
    # put a task in `interactive` only when the solver reached its label
    interactive_requires_agreement: bool = False

    @model_validator(mode="after")
    def _fits(self) -> "SolveConfig":
        if self.max_cost is not None and self.model not in self.prices:
            raise ValueError(f"max_cost needs a price for {self.model}; add it to prices")
        outside = sorted(set(self.llm.stages or ()) - {STAGE})
        if outside:
            raise ValueError(f"llm.stages: {', '.join(outside)} is not a stage of solve (solve)")
        return self

    def endpoint(self) -> EndpointSettings:
        return EndpointSettings(base_url=self.base_url, api_key_env=self.api_key_env, timeout_s=self.request_timeout_s,
                                max_attempts=self.max_attempts, max_wait_s=self.max_wait_s, prices=self.prices,
                                max_cost=self.max_cost, llm=self.llm)


class SolveStep(SandboxStep):
    name = "solve"
    Config = SolveConfig
    config: SolveConfig
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps", "redact", "extract")

    def __init__(self, config: SolveConfig | None = None, **context: Any) -> None:
        super().__init__(config, **context)
        self._client: ChatClient | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_client"] = None
        return state

    def client(self) -> ChatClient:
        if self._client is None:
            output = self.context.get("output")
            if not output:
                raise ValueError("the solve step keeps its cache and spend ledger in the run's output folder; none was given")
            self._client = ChatClient(self.config.endpoint(), llm_dir(output), (STAGE,))
        return self._client

    def concurrency(self) -> int:
        # batch mode: the whole part in one call, so that its tasks share each round's batch
        return self.config.llm.max_requests if self.config.llm.mode == "batch" else 1

    def __call__(self, batch: list[Notebook]) -> list[Notebook]:
        jobs: list[tuple[Notebook, Task, dict[str, str]]] = []
        for notebook in batch:
            if not notebook.kept:
                continue
            for task in notebook.tasks:
                if task.drop_reason is not None:
                    continue
                task.solver_agrees = task.solver_answer = None
                files = task_files(notebook, task)
                why_not = ("a chart" if task.is_visualization else "no label" if not task.label.strip()
                           else "a data file is missing" if files is None or not task.deps_complete else None)
                if why_not:
                    self._record(notebook, task, Outcome(None, None, f"not_checked: {why_not}", 0))
                else:
                    jobs.append((notebook, task, files))
        if not jobs:
            return batch
        client = self.client()
        solver = BlindSolver(client, self.config.model, self.config.temperature, self.config.max_tokens,
                             self.config.max_steps, self.config.max_errors, self.config.timeout_s,
                             self.config.preview_rows, self.config.preview_chars)
        memories: dict[int, SolveMemory] = {}

        def attempt(job: tuple[Notebook, Task, dict[str, str]]) -> None:
            notebook, task, files = job
            saved = copy.deepcopy(notebook.checks.get("metrics", {}).get(self.name))
            try:
                outcome = solver.solve(self.worker(0), task, files, posixpath.dirname(notebook.path),
                                       memories.setdefault(id(task), SolveMemory()),
                                       lambda completion: self._count(notebook, completion))
            except NeedsReply:
                metrics = notebook.checks.setdefault("metrics", {})
                if saved is None:
                    metrics.pop(self.name, None)
                else:
                    metrics[self.name] = saved
                raise
            except LLMRequestFailed as exc:
                outcome = Outcome(None, None, f"{exc.reason}: {exc.detail[:300]}", 0)
            self._record(notebook, task, outcome)

        try:
            run_in_rounds(client, jobs, attempt)
        except LLMRunMustStop as exc:
            raise StopRun(str(exc)) from None
        return batch

    def _count(self, notebook: Notebook, completion: Any) -> None:
        count(notebook, self.name, "prompt_tokens", completion.prompt_tokens)
        count(notebook, self.name, "completion_tokens", completion.completion_tokens)
        count(notebook, self.name, "cost_usd", completion.cost)
        count(notebook, self.name, "cache_hits" if completion.cached else "requests_sent")
        if completion.batch and not completion.cached:
            count(notebook, self.name, "batch_requests")

    def _record(self, notebook: Notebook, task: Task, outcome: Outcome) -> None:
        task.solver_agrees, task.solver_answer = outcome.agrees, outcome.answer
        notebook.checks.setdefault(self.name, {})[task.id] = {"end": outcome.end, "steps": outcome.steps,
                                                               "agrees": outcome.agrees}
        verdict = {True: "agree", False: "disagree", None: "not_checked"}[outcome.agrees]
        count(notebook, self.name, f"tasks_{verdict}")


def task_files(notebook: Notebook, task: Task) -> dict[str, str] | None:
    """Job-root path -> file on this machine for each of the task's data files, placed where its
    paths (relative to the notebook's folder) point, as `verify` places them; None when one is
    missing."""
    sources = {ref.sha256: ref.source(notebook.repo_dir) for ref in notebook.data_refs
               if ref.on_disk}
    if any(f.sha256 not in sources or not sources[f.sha256].is_file() for f in task.data_files):
        return None
    cwd = posixpath.dirname(notebook.path)
    placed = {posixpath.normpath(posixpath.join(cwd, f.path)): str(sources[f.sha256]) for f in task.data_files}
    if any(path == ".." or path.startswith("../") for path in placed):
        return None  # a path that leaves the job folder: the sandbox would refuse it
    return placed
