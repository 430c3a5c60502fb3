"""The local executor: parts of work mapped over a process pool.

Workers build the recipe's steps once per process (a step may hold a warm resource, such as a
sandbox worker) and reuse them for every part they are given; steps are closed when the process
exits. With `workers: 1` everything runs in the calling process, which is easiest to debug.
"""

from __future__ import annotations

import atexit
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable

from nbqa_builder.step import Step

# Per worker process: the steps of the recipe, built by `_init_worker`. The executor owns this,
# not the steps: it is the process's copy of the recipe, like datatrove's per-rank pipeline.
_worker_steps: list[Step] | None = None


def _close_steps(steps: list[Step]) -> None:
    for step in steps:
        close = getattr(step, "close", None)
        if close:
            close()


def _init_worker(build_steps: Callable[[], list[Step]]) -> None:
    global _worker_steps
    _worker_steps = build_steps()
    atexit.register(_close_steps, _worker_steps)


def _call_in_worker(fn: Callable[[list[Step], Any], Any], item: Any) -> Any:
    assert _worker_steps is not None, "worker was not initialised"
    return fn(_worker_steps, item)


def map_parts(
    fn: Callable[[list[Step], Any], Any],
    items: Iterable[Any],
    build_steps: Callable[[], list[Step]],
    workers: int,
    on_result: Callable[[Any], None],
) -> None:
    """Call `fn(steps, item)` for every item, in parallel, and `on_result` as each one finishes.

    At most `workers * 2` items are in flight, so a long list of parts does not pile up results.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        steps = build_steps()
        try:
            for item in items:
                on_result(fn(steps, item))
        finally:
            _close_steps(steps)
        return
    # spawn, not fork: the parent may hold threads (progress bars, HTTP pools) that fork would copy
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(build_steps,)) as pool:
        pending = set()
        queue = iter(items)
        for item in queue:
            pending.add(pool.submit(_call_in_worker, fn, item))
            if len(pending) >= workers * 2:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(future.result())
