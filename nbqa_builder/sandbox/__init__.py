"""Run untrusted notebook code: sandbox backends, limits, a warm forking runner, forkable sessions.

Design
------
One `WarmWorker` (runner.py) is one sandboxed process (worker.py) that imports pandas, numpy,
scikit-learn, matplotlib (Agg, shown inline as in Jupyter) and IPython once, builds one pristine
IPython shell, and from then on only forks. A job (one notebook, or one task and all its search
branches) is a forked child: a `Session` that runs cells and returns nbformat outputs
(`run_cell(code) -> CellRun`), and that can itself be forked (`fork() -> Session`) to branch a live
notebook state without re-running its cells. Start-up (~2 s) is paid once per worker, not per
notebook; a new job costs a fork and a few messages (tens of ms; bench/execute.py).

Why one long-lived sandbox per worker is still per-notebook isolation (backend `bwrap`):
- The sandbox shows no network, no home folder, no repository, no project checkout and no host
  secrets at all (see backends.py), so what a notebook could leak is only what it was given.
- Each job gets a fresh world of its own (jobworld.py; made ahead of the job, so a notebook
  waits only for its session's fork): the worker forks a keeper that enters new
  mount, IPC and pid namespaces and mounts a fresh capped tmpfs on /tmp and /dev/shm and the
  job's own folder on /work; the job's init (pid 1 of its pid namespace, with its own /proc)
  joins a fresh keyring, gives up every privilege, installs a seccomp filter (no nested user
  namespaces, no keyrings, no mounts, no tracing, no eBPF...) and forks the session. When the
  job ends, its namespaces and everything in them go: nothing of one notebook reaches the next.
- The warm worker never runs notebook code, is non-dumpable, and lives in a pid namespace the
  job cannot see, so a notebook cannot signal, trace or write it. Should it die anyway (the
  kernel's OOM killer), the job's cells end with status `sandbox_killed` and a fresh worker
  starts warming at once.
- Limits: per process, by the kernel (setrlimit: address space, processes and threads, file
  size, CPU seconds); per job, over its whole process tree: memory by a cgroup v2 where the
  machine offers one (cgroups.py), else by the job's init, which measures the memory of every
  process of the job and stops it past the limit (jobworld.JobMemoryWatch); /tmp and /dev/shm
  capped; and by the host: wall time per cell and per job, bytes of output per cell and per
  notebook. As root, jobs run under their own unprivileged uid (no user namespace, which would
  map them to root and exempt them from the process limit); as a normal user, in a user
  namespace.
- The environment is built from an allowlist (limits.py): tokens and keys never get in.
- Replies are untrusted data: JSON only, size-capped, accepted only from the session's own pid
  (the kernel stamps each packet with its sender), with deadlines after which the session is
  killed through a pidfd (channel.py).
- A sandbox that cannot start, or cannot set up a job's world, raises `SandboxError` naming the
  cause and the fix: an error of the run, never a notebook's verdict.

Backend `process` has the same runner and limits but no namespaces and no filter: trusted
notebooks only (and, run as root, the process limit is not enforced by the kernel).
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
