"""The local executor (`executor.kind: local`): a run's parts mapped over a process pool.

`LocalExecutor` runs each stage's parts on a `WorkerPool` and each global step's reduce in the
calling process, then writes the outputs. One pool serves every stage of a run (starting a Python
process and importing the steps costs about a second). Each worker builds a stage's steps once, the first time it gets a part of that
stage, and reuses them for every later part (a step may hold a warm resource, such as a sandbox
worker); steps are closed when the process exits. With `workers: 1` everything runs in the calling
process, which is easiest to debug.

The worker processes die with the run: each asks the kernel for SIGKILL when its parent goes
(PR_SET_PDEATHSIG), so a run killed with SIGKILL leaves no worker behind writing parts, and their
sandboxes (bwrap --die-with-parent; the process backend's own death signal) go with them.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import importlib
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from typing import Any, Callable, Iterable

from nbqa_builder.executors.base import PlannedRun
from nbqa_builder.llm.store import adopt_work_layout, retry_failed_requests
from nbqa_builder.progress import ProgressChannel, progress_bar
from nbqa_builder.recipe import step_class
from nbqa_builder.sources.local import Repository
from nbqa_builder.stages import PartJob, Stage, atomic_write, build_stage_steps, run_part
from nbqa_builder.step import GlobalStep, Step

# the run's log: `-v` shows each stage's parts under the pipeline's name, whichever module runs them
# (`nbqa_builder.pipeline: stage 0 (validate > ...): 4 of 4 parts to run`)
log = logging.getLogger("nbqa_builder.pipeline")

StepsFactory = Callable[[], list[Step]]


def _close_steps(steps: list[Step]) -> None:
    for step in steps:
        close = getattr(step, "close", None)
        if close:
            close()


class StepCache:
    """A process's steps, by stage key: the process's own copy of the recipe, not the steps'."""

    def __init__(self) -> None:
        self.steps: dict[Any, list[Step]] = {}

    def get(self, key: Any, build_steps: StepsFactory) -> list[Step]:
        if key not in self.steps:
            self.steps[key] = build_steps()
        return self.steps[key]

    def close(self) -> None:
        for steps in self.steps.values():
            _close_steps(steps)
        self.steps.clear()


_worker_cache: StepCache | None = None  # set in each worker process by _init_worker


# glibc's mallopt parameters, and the values a worker sets
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_ALLOCATOR_SETTINGS = {_M_MMAP_THRESHOLD: 64 << 20, _M_TRIM_THRESHOLD: 256 << 20, _M_TOP_PAD: 64 << 20}


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory a worker frees, up to 256 MiB, for the next notebook.

    A worker parses one notebook after another, and each one allocates and frees a few MB (the
    file's bytes, long output strings). By default glibc hands freed memory back to the kernel
    at once and asks for it again for the next notebook: the page faults cost about 5% of a
    run (bench/pipeline.py: 3.1 s of system time against 2.2 s with these settings). Allocations of
    64 MiB or more still get memory of their own, returned when freed. Elsewhere than glibc
    (macOS, musl) nothing is set; returns whether the settings were taken.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all(mallopt(parameter, value) == 1 for parameter, value in _ALLOCATOR_SETTINGS.items())


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the run's process ends (Linux); if it has ended already, now."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_worker(preload: tuple[str, ...] = (), parent_pid: int | None = None) -> None:
    global _worker_cache
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    keep_freed_memory()
    _worker_cache = StepCache()
    atexit.register(_worker_cache.close)
    for module in preload:
        importlib.import_module(module)


def _ready() -> None:
    """A task that only makes the pool start a process."""


def _call_in_worker(fn: Callable[[list[Step], Any], Any], item: Any, key: Any, build_steps: StepsFactory) -> Any:
    assert _worker_cache is not None, "worker was not initialised"
    return fn(_worker_cache.get(key, build_steps), item)


class WorkerPool:
    """`with WorkerPool(workers) as pool: pool.map(...)`, once per stage."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._inline = StepCache()

    def __enter__(self) -> "WorkerPool":
        return self

    def start(self, preload: Iterable[str] = ()) -> None:
        """Start the worker processes now, importing `preload` modules in each: a process takes
        about half a second to be ready, time the caller can spend on something else."""
        if self.workers <= 1 or self._pool is not None:
            return
        # spawn, not fork: the parent may hold threads (progress bars, HTTP pools) that fork would copy.
        # The processes are spawned by this thread (the kernel's death signal follows the thread).
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                         initargs=(tuple(preload), os.getpid()))
        for _ in range(self.workers):  # the pool starts one process per task it is waiting on
            self._pool.submit(_ready)

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._inline.close()

    def map(
        self,
        fn: Callable[[list[Step], Any], Any],
        items: Iterable[Any],
        key: Any,
        build_steps: StepsFactory,
        on_result: Callable[[Any], None],
    ) -> None:
        """Call `fn(steps, item)` for every item, in parallel, and `on_result` as each finishes.

        At most `workers * 2` items are in flight, so a long list of parts does not pile up results.
        """
        items = list(items)
        if self.workers <= 1:
            for item in items:
                on_result(fn(self._inline.get(key, build_steps), item))
            return
        self.start()
        pending: set = set()
        for item in items:
            pending.add(self._pool.submit(_call_in_worker, fn, item, key, build_steps))
            if len(pending) >= self.workers * 2:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(future.result())


# ---------------------------------------------------------------------------------------------
# The run


class LocalExecutor:
    """Runs a planned run on this machine: `LocalExecutor(pipeline).run(restart)`."""

    def __init__(self, pipeline: PlannedRun) -> None:
        self.pipeline = pipeline

    def run(self, restart: bool = False) -> dict[str, Any]:
        pipeline, recipe = self.pipeline, self.pipeline.recipe
        started = time.time()
        # the LLM replies and spend of earlier runs live in <output>/_llm/, which --restart keeps
        # (those of runs made before it existed are moved there from _work/ first)
        adopt_work_layout(pipeline.output)
        if restart:
            retry_failed_requests(pipeline.output)  # (an outage's failures are not held against a new run)
        if restart and pipeline.work.exists():
            shutil.rmtree(pipeline.work)
        pipeline.parts_run = 0
        channel = ProgressChannel(recipe.executor.workers) if pipeline.progress else None
        try:
            with WorkerPool(recipe.executor.workers) as pool:
                # the workers import the steps while the notebooks are listed
                modules = {step_class(name).__module__ for name, _ in recipe.step_configs()}
                pool.start(preload=[run_part.__module__, *sorted(modules)])
                repositories, parts = pipeline.plan()
                total = sum(len(p) for p in parts)
                for stage in pipeline.stages:
                    self.run_stage(pool, stage, repositories, parts, total, channel)
                    if stage.global_step is not None:
                        self.reduce(stage, len(parts))
        finally:
            if channel is not None:
                channel.shutdown()
        from nbqa_builder.publish.writer import write_outputs

        return write_outputs(recipe, pipeline.stages, pipeline.work, len(parts), elapsed_s=time.time() - started)

    def run_stage(self, pool: WorkerPool, stage: Stage, repositories: list[Repository], parts: list,
                  total: int, channel: ProgressChannel | None = None) -> None:
        pipeline = self.pipeline
        out = pipeline.work / f"stage-{stage.index}"
        out.mkdir(parents=True, exist_ok=True)
        todo = [i for i in range(len(parts)) if not (out / f"part-{i:05d}.json").exists()]
        log.info("stage %d (%s): %d of %d parts to run", stage.index, stage.label, len(todo), len(parts))
        if not todo:
            return
        pipeline.parts_run += len(todo)
        done_already = sum(len(parts[i]) for i in range(len(parts)) if i not in set(todo))
        bar = progress_bar(total, done_already, f"stage {stage.index}: {stage.label}", enabled=channel is not None)
        sink, drain = channel.sink_for(bar) if channel is not None else (None, None)
        repo_dicts = [asdict(r) for r in repositories]
        jobs = [
            PartJob(pipeline.recipe, stage, i, str(pipeline.work),
                    repositories=repo_dicts if stage.index == 0 else None,
                    paths=parts[i] if stage.index == 0 else None, progress=sink)
            for i in todo
        ]

        def on_result(summary: dict[str, Any]) -> None:
            log.debug("stage %d part %d: %d notebooks, %d kept", stage.index, summary["part"], summary["notebooks"],
                      summary["kept"])

        try:
            pool.map(run_part, jobs, stage.index, functools.partial(build_stage_steps, pipeline.recipe, stage),
                     on_result)
        finally:
            if channel is not None:
                channel.close(sink, drain)
            bar.close()

    def reduce(self, stage: Stage, n_parts: int) -> None:
        work = self.pipeline.work
        out = work / f"stage-{stage.index}" / "reduce.json"
        if out.exists():
            return
        step = build_stage_steps(self.pipeline.recipe, stage)[-1]
        assert isinstance(step, GlobalStep)

        def keys():
            for part in range(n_parts):
                with open(work / f"stage-{stage.index}" / f"part-{part:05d}.keys.pkl", "rb") as handle:
                    yield from pickle.load(handle)

        drops = step.reduce(keys())
        atomic_write(out, json.dumps({"step": step.label, "drops": drops}, sort_keys=True).encode())
