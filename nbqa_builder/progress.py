"""Progress of a run: notebooks done per stage, as they finish, on a terminal or in a log.

Workers count the notebooks they finish and send the counts to the driver (at most every
`REPORT_INTERVAL_S`, so that a fast stage does not spend its time on messages); the driver moves
one bar per stage. On a terminal the bar is tqdm's; elsewhere (a log, CI, a pipe) `\\r` updates
would pile up in the file, so plain lines are printed instead, one every `LINE_INTERVAL_S` and
one when the stage ends.
"""

from __future__ import annotations

import multiprocessing
import queue
import re
import sys
import threading
import time
from typing import Any, Protocol, TextIO

from tqdm import tqdm

REPORT_INTERVAL_S = 0.2  # a worker sends its count at most this often
LINE_INTERVAL_S = 10.0  # plain lines: one this often, a few hundred in a day-long run


class Bar(Protocol):
    def update(self, n: int) -> Any: ...

    def close(self) -> None: ...


class ProgressLines:
    """What tqdm shows, as plain lines: `stage 1: execute > extract: 40/120 notebooks (33%), 2.1 nb/s`.

    It answers the tqdm calls the pipeline and the crawler make (update, close, set_description,
    set_postfix_str, refresh, a `total` that grows)."""

    def __init__(self, total: int, initial: int, desc: str, stream: TextIO | None = None,
                 unit: str = "nb", items: str = "notebooks") -> None:
        self.total, self.done, self.desc = total, initial, desc
        self.unit, self.items, self.postfix = unit, items, ""
        self.stream = stream or sys.stderr
        self.started = self.last = time.monotonic()
        self.initial = initial
        self._line()

    def update(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self.last >= LINE_INTERVAL_S:
            self._line()

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """A new kind of status (`waiting 30s: core limit`) is a line at once; changed counts wait."""
        changed = re.sub(r"\d+", "", text) != re.sub(r"\d+", "", self.postfix)
        self.postfix = text
        if changed and refresh:
            self._line()

    def refresh(self) -> None:
        pass  # a line every LINE_INTERVAL_S, not on demand

    def close(self) -> None:
        self._line()

    def _line(self) -> None:
        self.last = time.monotonic()
        elapsed = self.last - self.started
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        postfix = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.done}/{self.total} {self.items}{share}, {elapsed:.1f} s, {rate:.1f} {self.unit}/s"
              f"{postfix}", file=self.stream, flush=True)


def progress_bar(total: int, initial: int, desc: str, enabled: bool, unit: str = "nb",
                 items: str = "notebooks") -> Any:
    """tqdm on a terminal, plain lines elsewhere, nothing when disabled."""
    if sys.stderr.isatty() or not enabled:
        return tqdm(total=total, initial=initial, unit=unit, desc=desc, mininterval=0.5, dynamic_ncols=True,
                    disable=not enabled)
    return ProgressLines(total, initial, desc, unit=unit, items=items)


class Reporter:
    """A worker's count of finished notebooks, sent to `sink` (anything with `put`) in batches."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.pending = 0
        self.last = time.monotonic()

    def add(self, n: int) -> None:
        if self.sink is None:
            return
        self.pending += n
        if time.monotonic() - self.last >= REPORT_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.pending:
            self.sink.put(self.pending)
            self.pending = 0
        self.last = time.monotonic()


class _Direct:
    """The sink of a run in one process: counts go straight to the bar."""

    def __init__(self, bar: Bar) -> None:
        self.bar = bar

    def put(self, n: int) -> None:
        self.bar.update(n)


class ProgressChannel:
    """Where workers send their counts, and a thread that moves the bar with them.

    A run in one process needs neither; a run on worker processes shares a queue through a
    manager (a queue passed to a pool's tasks must be a manager's), started on the first stage.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._manager: Any = None

    def sink_for(self, bar: Bar) -> tuple[Any, threading.Thread | None]:
        """A picklable sink for the stage's jobs, and the thread draining it into `bar` (to `close`)."""
        if self.workers <= 1:
            return _Direct(bar), None
        if self._manager is None:
            self._manager = multiprocessing.get_context("spawn").Manager()
        counts = self._manager.Queue()
        thread = threading.Thread(target=_drain, args=(counts, bar), daemon=True)
        thread.start()
        return counts, thread

    @staticmethod
    def close(sink: Any, thread: threading.Thread | None) -> None:
        if thread is not None:
            sink.put(None)
            thread.join()

    def shutdown(self) -> None:
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None


def _drain(counts: Any, bar: Bar) -> None:
    while True:
        try:
            n = counts.get(timeout=1.0)
        except queue.Empty:
            continue
        except (EOFError, OSError):  # the manager is gone: the run is ending
            return
        if n is None:
            return
        bar.update(n)
