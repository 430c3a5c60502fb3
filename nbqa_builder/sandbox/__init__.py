"""Run untrusted notebook code: sandbox backends, limits, a warm forking runner, forkable sessions.

Design
------
One `WarmWorker` (runner.py) is one sandboxed process (worker.py) that imports pandas, numpy,
scikit-learn, matplotlib (Agg, shown inline as in Jupyter) and IPython once, builds one pristine
IPython shell, and from then on only forks. A job (one notebook, or one task and all its search
branches) is a forked child: a `Session` that runs cells and returns nbformat outputs
(`run_cell(code) -> CellRun`), and that can itself be forked (`fork() -> Session`) to branch a live
notebook state without re-running its cells. Start-up (~2 s) is paid once per worker, not per
notebook; a new job costs a fork and a few messages (tens of ms).

Why one long-lived sandbox per worker is still per-notebook isolation (backend `bwrap`):
- The sandbox shows no network, no home folder, no repository, no project checkout and no host
  secrets at all (see backends.py), so what a notebook could leak is only what it was given.
- Jobs in one worker run one after another. Before a job starts, the previous one is gone: every
  process of the sandbox except its init and the warm worker is killed (kill(-1) in the sandbox's
  own pid namespace), its scratch (/tmp, /dev/shm, in-memory) is wiped, and the job folder, the
  only place a notebook's files are put, is emptied by the host. So a job never sees another
  notebook's files or processes.
- The warm worker never runs notebook code, and is non-dumpable, so same-uid notebook code cannot
  ptrace it or write its memory; the worker's Python files are read-only. A notebook can kill it:
  the job then ends with status `died`, and a fresh worker starts warming at once.
- Limits are kernel-enforced on each session (setrlimit: address space, processes and threads,
  file size, CPU seconds) plus host watchdogs (per-cell and per-job wall time, bytes sent back).
  As root, the sandbox runs under its own unprivileged uid (no user namespace, which would map it
  to root and exempt it from the process limit); as a normal user, in a user namespace.
- The environment is built from an allowlist (limits.py): tokens and keys never get in.
- Replies are untrusted data: JSON only, size-capped, accepted only from the session's own pid
  (the kernel stamps each packet with its sender), with deadlines after which the session is
  killed through a pidfd.

Backend `process` has the same runner and limits but no namespaces: trusted notebooks only (and,
run as root, the process limit is not enforced by the kernel).
"""

from nbqa_builder.sandbox.backends import BACKENDS, SandboxUnavailable
from nbqa_builder.sandbox.limits import Limits
from nbqa_builder.sandbox.runner import CellRun, NotebookRun, SandboxError, Session, WarmWorker

__all__ = [
    "BACKENDS",
    "CellRun",
    "Limits",
    "NotebookRun",
    "SandboxError",
    "SandboxUnavailable",
    "Session",
    "WarmWorker",
]
