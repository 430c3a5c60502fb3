"""The local executor: parts of work mapped over a process pool.

One pool serves every stage of a run (starting a Python process and importing the steps costs
about a second). Each worker builds a stage's steps once, the first time it gets a part of that
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
import importlib
import multiprocessing
import os
import signal
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


# glibc's mallopt parameters, and the values a worker sets
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_ALLOCATOR_SETTINGS = {_M_MMAP_THRESHOLD: 64 << 20, _M_TRIM_THRESHOLD: 256 << 20, _M_TOP_PAD: 64 << 20}


def _keep_freed_memory() -> bool:
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
    _keep_freed_memory()
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
