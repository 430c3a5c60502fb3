"""The local executor: parts of work mapped over a process pool.

One pool serves every stage of a run (starting a Python process and importing the steps costs
about a second). Each worker builds a stage's steps once, the first time it gets a part of that
stage, and reuses them for every later part (a step may hold a warm resource, such as a sandbox
worker); steps are closed when the process exits. With `workers: 1` everything runs in the calling
process, which is easiest to debug.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable

from nbqa_builder.step import Step

StepsFactory = Callable[[], list[Step]]


def _close_steps(steps: list[Step]) -> None:
    for step in steps:
        close = getattr(step, "close", None)
        if close:
            close()


class _StepCache:
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


_worker_cache: _StepCache | None = None  # set in each worker process by _init_worker


def _init_worker(preload: tuple[str, ...] = ()) -> None:
    global _worker_cache
    _worker_cache = _StepCache()
    atexit.register(_worker_cache.close)
    for module in preload:
        importlib.import_module(module)


def _ready() -> None:
    """A task that only makes the pool start a process."""


def _call_in_worker(fn: Callable[[list[Step], Any], Any], item: Any, key: Any, build_steps: StepsFactory) -> Any:
    assert _worker_cache is not None, "worker was not initialised"
    return fn(_worker_cache.get(key, build_steps), item)


class LocalExecutor:
    """`with LocalExecutor(workers) as executor: executor.map(...)`, once per stage."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._inline = _StepCache()

    def __enter__(self) -> "LocalExecutor":
        return self

    def start(self, preload: Iterable[str] = ()) -> None:
        """Start the worker processes now, importing `preload` modules in each: a process takes
        about half a second to be ready, time the caller can spend on something else."""
        if self.workers <= 1 or self._pool is not None:
            return
        # spawn, not fork: the parent may hold threads (progress bars, HTTP pools) that fork would copy
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                         initargs=(tuple(preload),))
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
