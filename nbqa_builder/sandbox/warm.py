"""The base of every step that runs code in warm sandbox workers (execute and verify in
sandbox/step.py, solve in solve/step.py): the sandbox settings a recipe gives such a step, its two
warm workers, and the repeated runs that show a notebook deterministic.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from nbqa_builder.sandbox.backends import SandboxUnavailable, require_backend
from nbqa_builder.sandbox.limits import Limits
from nbqa_builder.sandbox.runner import NotebookRun, WarmWorker
from nbqa_builder.step import Step, StepConfig


class SandboxStepConfig(StepConfig):
    # may change between a run and its resume (e.g. after a cgroup could not be made)
    not_decisive: ClassVar[frozenset[str]] = frozenset({"memory_control"})

    # bwrap for crawled code (no network, nothing of the host visible); process only for
    # notebooks you trust: it applies the limits but hides nothing
    sandbox: Literal["bwrap", "process"] = "bwrap"
    timeout_s: float = Field(120, gt=0)  # per cell; the paper's search allowed 180 s per step
    total_timeout_s: float = Field(600, gt=0)  # per notebook (or task): bounds a run of slow cells
    memory_mb: int = Field(4096, gt=0)  # a typical laptop's share; larger work is not "interactive"
    max_output_bytes: int = Field(10_000_000, gt=0)  # per cell; stored notebooks rarely exceed 1 MB
    # per notebook: its outputs are stored in the part files; the demo's validate keeps
    # notebooks up to 20 MB, so more than that is not the notebook's own
    max_total_output_bytes: int = Field(20_000_000, gt=0)
    max_processes: int = Field(64, gt=0)  # processes and threads; stops fork bombs
    max_file_mb: int = Field(1024, gt=0)  # any one file the notebook writes
    # how the memory of a notebook's whole process tree is bounded: auto = a cgroup v2 per notebook
    # where the machine allows it, else the watch of the notebook's init; watchdog = always the watch
    memory_control: Literal["auto", "watchdog"] = "auto"
    tmp_mb: int = Field(1024, gt=0)  # the notebook's /tmp, in memory (bwrap)
    shm_mb: int = Field(256, gt=0)  # its /dev/shm, in memory (bwrap)
    # 2: a second run tells whether the results are deterministic; it runs in another warm
    # worker (another hash seed, another memory layout)
    runs: int = Field(2, ge=1, le=5)

    @field_validator("sandbox")
    @classmethod
    def _backend_is_installed(cls, sandbox: str) -> str:
        # checked when the recipe is read, not hours later when the first notebook runs
        try:
            require_backend(sandbox)
        except SandboxUnavailable as exc:
            raise ValueError(str(exc)) from None
        return sandbox

    def limits(self) -> Limits:
        return Limits(
            timeout_s=self.timeout_s,
            total_timeout_s=self.total_timeout_s,
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            max_output_bytes=self.max_output_bytes,
            max_total_output_bytes=self.max_total_output_bytes,
            max_file_mb=self.max_file_mb,
            tmp_mb=self.tmp_mb,
            shm_mb=self.shm_mb,
        )


class SandboxStep(Step):
    """The base of the steps that run notebook code in the sandbox (execute, verify, solve): their
    warm workers, and the repeated runs that show a notebook deterministic."""

    Config = SandboxStepConfig
    config: SandboxStepConfig

    _workers: tuple[WarmWorker, ...] = ()

    def worker(self, index: int = 0) -> WarmWorker:
        """Warm worker 0 or 1; they differ in hash seed (and, as separate processes, in layout).

        Both start together when the step runs twice: the second warms up during the first run.
        """
        wanted = max(index + 1, min(self.config.runs, 2))
        while len(self._workers) < wanted:
            other = self._workers[0].hash_seed if self._workers else None
            seed = None if other is None else other % (2**32 - 2) + 1
            self._workers += (
                WarmWorker(self.config.sandbox, self.config.limits(), hash_seed=seed, memory_control=self.config.memory_control),
            )
        return self._workers[index]

    def run_repeatedly(self, cells: list[str], files: dict[str, str], cwd: str) -> list[NotebookRun]:
        """Up to `runs` runs, alternating between the two workers; a failed run ends the series
        (no later run can make the result executable or deterministic)."""
        runs: list[NotebookRun] = []
        for index in range(self.config.runs):
            runs.append(self.worker(index % 2).run_notebook(cells, files, cwd))
            if not runs[-1].executable:
                break
        return runs

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers = ()

    def __getstate__(self) -> dict[str, Any]:
        # a step may be sent to executor processes; each starts its own workers there
        state = dict(self.__dict__)
        state.pop("_workers", None)
        return state
