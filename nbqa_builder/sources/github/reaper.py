"""Git processes that end with the crawler, however it ends (SIGKILL included).

A git fetch is several processes (git, git-remote-http, index-pack), and a signal the kernel
sends when a parent dies (PR_SET_PDEATHSIG) reaches only the first of them. So each networked git
command runs in a process group of its own, and one small watchdog process, started with the
crawl, holds the list of those groups: the crawler adds a group when its git starts and takes it
off when it has ended. The watchdog reads that list from a pipe whose other end only the crawler
holds, so the end of the pipe is the end of the crawler: the watchdog then kills every group still
listed, and exits. It lives in a process group of its own too, so that a kill of the crawler's
group (a terminal's Ctrl-C, a job scheduler) does not take it before it did its work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

# the watchdog's whole program: "+PGID" / "-PGID" lines, then at end of input, kill what is left
_WATCHDOG = """
import os, signal, sys
groups = set()
for line in sys.stdin.buffer:
    (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


class GitReaper:
    """The watchdog process, and the process groups of the git commands running now."""

    def __init__(self) -> None:
        # -I -S: no site packages, no current folder: a bare interpreter starts in milliseconds; an
        # empty environment: the tokens stay with the crawler
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG], env={},
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0,
        )
        assert self.process.stdin is not None
        self._pipe = self.process.stdin.fileno()
        self._lock = threading.Lock()

    def watch(self, group: int) -> None:
        """Kill process group `group` when the crawler ends before `release(group)`."""
        self._send(f"+{group}\n")

    def release(self, group: int) -> None:
        self._send(f"-{group}\n")

    def close(self) -> None:
        """The crawl is over and its git processes ended: the watchdog exits, killing nothing."""
        with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.close()
        self.process.wait()

    def _send(self, line: str) -> None:
        # a line shorter than PIPE_BUF is written whole; the lock keeps it from racing `close`
        with self._lock:
            if not self.process.stdin or self.process.stdin.closed:
                return
            try:
                os.write(self._pipe, line.encode())
            except BrokenPipeError:
                pass  # the watchdog is gone (killed by hand); git then ends as it did before


def kill_group(process: subprocess.Popen) -> None:
    """Kill a git command started in a process group of its own, with the helpers it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # ended already
    process.wait()
