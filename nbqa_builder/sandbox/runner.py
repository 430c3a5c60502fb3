"""Host side of the runner: a warm worker, the jobs it runs, and forkable notebook sessions.

    with WarmWorker(backend="bwrap", limits=Limits(timeout_s=5)) as worker:
        run = worker.run_notebook(["import pandas as pd", "1 + 1"], files={}, cwd="")
        with worker.job(files, cwd="notebooks") as session:   # a live notebook state
            session.run_cell("x = 41")
            branch = session.fork()                           # a copy of that state
            branch.run_cell("x + 1").outputs

Two kinds of failure, kept apart:
- the notebook's: a cell's status (error, timeout, output_limit, memory_limit, died, and
  sandbox_killed when the notebook took the warm worker down with it: the worker is restarted
  and the next job runs as usual);
- the sandbox's: `SandboxError`, whose message names the cause and the fix. A sandbox that cannot
  start or cannot set up a job's world is an error of the run, never a notebook's verdict.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import nbqa_builder.sandbox.backends as backends
from nbqa_builder.sandbox.cgroups import JobCgroup, JobCgroups
from nbqa_builder.sandbox.channel import DIED, ERROR, NOT_RUN, OK, OUTPUT_LIMIT, TIMEOUT, Channel, Dead
from nbqa_builder.sandbox.limits import Limits, sandbox_environment

START_TIMEOUT_S = 120.0  # importing the analysis stack on a loaded 2-core machine
CONTROL_TIMEOUT_S = 30.0  # fork and cleanup requests
MEMORY_LIMIT, SANDBOX_KILLED = "memory_limit", "sandbox_killed"
__all__ = ["DIED", "ERROR", "MEMORY_LIMIT", "NOT_RUN", "OK", "OUTPUT_LIMIT", "SANDBOX_KILLED", "TIMEOUT"]


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the notebook); the message names the cause and the fix."""


# What a failure's text says -> how to fix it (the first match wins).
_FIXES = (
    (("No permissions to create", "setting up uid map", "Creating new namespace failed", "unshare",
      "Operation not permitted"),
     "this machine does not let bubblewrap make namespaces: run as root, or allow unprivileged user "
     "namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; on Ubuntu "
     "24.04 kernel.apparmor_restrict_unprivileged_userns=0; in Docker, a seccomp profile that allows "
     "them), or choose `sandbox: process` for trusted notebooks only"),
    (("ModuleNotFoundError", "ImportError"),
     "install the analysis stack for this interpreter: pip install -e '.[exec]'"),
    (("execvp", "No such file or directory"),
     "the interpreter or a folder it needs is not visible inside the sandbox; run "
     "`python -m nbqa_builder exec NOTEBOOK --sandbox bwrap` to see bubblewrap's whole message"),
)  # fmt: skip
_DEFAULT_FIX = "run `python -m nbqa_builder exec NOTEBOOK --sandbox bwrap` to see the whole message, or choose `sandbox: process` for trusted notebooks only"


def _with_fix(what: str, cause: str) -> SandboxError:
    cause = " ".join(cause.split())[-600:] or "no message"
    fix = next((fix for needles, fix in _FIXES if any(n in cause for n in needles)), _DEFAULT_FIX)
    return SandboxError(f"{what}: {cause}; fix: {fix}")


@dataclass
class CellRun:
    status: str  # ok | error | timeout | output_limit | memory_limit | died | sandbox_killed | not_run
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    time_s: float = 0.0
    message: str = ""  # the host's reason for timeout, output_limit, died, not_run...
    inside_s: float = 0.0  # time spent running the cell, as measured inside the sandbox


@dataclass
class NotebookRun:
    cells: list[CellRun]
    start_s: float = 0.0  # from the worker's receipt of the job to the session's hello, inside
    isolation_s: float = 0.0  # namespaces, mounts, privileges and filter, set up ahead of the job

    @property
    def executable(self) -> bool:
        """Ran to the end without an error."""
        return all(cell.status == OK for cell in self.cells)

    @property
    def status(self) -> str:
        return next((cell.status for cell in self.cells if cell.status != OK), OK)


class _Job:
    """What the sessions of one job share: its folder, its limits' state, why it was stopped."""

    def __init__(self, worker: "WarmWorker", folder: Path) -> None:
        self.worker, self.folder = worker, folder
        self.status_fd: int | None = None  # read end of the init's status pipe
        self.cgroup: JobCgroup | None = None
        self.output_left = worker.limits.max_total_output_bytes
        self.started = False  # its first session is running

    def why_stopped(self, fallback: Dead) -> tuple[str, str]:
        """The status and message of a session that died: the job's limits, the worker, or itself."""
        if self.status_fd is not None:
            try:
                report = json.loads(os.read(self.status_fd, 4096).splitlines()[0])
                return MEMORY_LIMIT, str(report["message"])
            except (OSError, ValueError, IndexError, KeyError, TypeError):
                pass
        if self.cgroup is not None and self.cgroup.oom_killed():
            limit_mb = self.worker._job_memory_bytes() >> 20
            return MEMORY_LIMIT, f"the notebook's processes used more than {limit_mb} MB together (with /tmp and /dev/shm)"
        # the worker's own exit may be told a moment after its jobs' (they die of its death)
        if self.worker.worker_gone(wait_s=0.25):
            return SANDBOX_KILLED, "the warm worker died during the notebook, killed by it or by the system (a new one is started)"
        return fallback.status, fallback.message

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.status_fd is not None:
            os.close(self.status_fd)
            self.status_fd = None
        _remove_tree(self.folder)


class Session:
    """A live notebook state inside the sandbox: run cells in it, or fork it."""

    def __init__(self, job: _Job, channel: Channel, pid: int) -> None:
        self.job, self.channel, self.pid = job, channel, pid
        self.pidfd: int | None = None
        try:  # a pidfd cannot hit a recycled pid when we kill the session later
            self.pidfd = os.pidfd_open(pid)
        except OSError:
            pass
        self.dead: str | None = None
        self.start_s = self.isolation_s = 0.0  # see NotebookRun

    def run_cell(self, code: str, timeout_s: float | None = None) -> CellRun:
        if self.dead:
            return CellRun(NOT_RUN, message=f"the session is no longer running: {self.dead}")
        limits = self.job.worker.limits
        timeout_s = limits.timeout_s if timeout_s is None else timeout_s
        budget = min(limits.max_output_bytes, self.job.output_left)
        too_much = (
            f"the notebook wrote more than {limits.max_total_output_bytes} bytes of output in all"
            if budget < limits.max_output_bytes else ""
        )
        if budget <= 0:
            return CellRun(OUTPUT_LIMIT, message=too_much)
        started = time.monotonic()
        try:
            self.channel.send({"op": "run", "code": code, "max_output_bytes": budget})
            reply, fds, _ = self.channel.receive(started + timeout_s)
            for fd in fds:
                os.close(fd)
        except Dead as dead:
            self.kill(dead.message)
            status, message = (dead.status, dead.message) if dead.status != DIED else self.job.why_stopped(dead)
            if dead.status == TIMEOUT:
                message = f"cell ran longer than {timeout_s:g} s"
            return CellRun(status, time_s=time.monotonic() - started, message=message)
        self.job.output_left -= self.channel.last_size
        status = reply.get("status")
        if reply.get("op") != "result" or status not in (OK, ERROR, OUTPUT_LIMIT):
            self.kill("unexpected reply")
            return CellRun(DIED, message="the session sent an unexpected reply")
        outputs = [o for o in reply.get("outputs") or [] if isinstance(o, dict)]
        count = reply.get("execution_count")
        inside = reply.get("time_s")
        return CellRun(
            status, outputs, count if isinstance(count, int) else None, time.monotonic() - started,
            message=too_much if status == OUTPUT_LIMIT else "",
            inside_s=float(inside) if isinstance(inside, (int, float)) else 0.0,
        )

    def fork(self, own_files: bool = False) -> "Session":
        """A new session holding a copy of this one's state: its variables and imports, and with
        `own_files` a copy of its folder too (else the folder stays shared)."""
        if self.dead:
            raise SandboxError(f"cannot fork a session that is no longer running: {self.dead}")
        try:
            session, _ = self.job.worker._fork_from(self.channel, {"op": "fork", "own_files": own_files}, self.job)
        except Dead as dead:
            raise SandboxError(f"fork failed: {dead.message}") from None
        return session

    def kill(self, reason: str = "closed") -> None:
        if self.dead is None:
            self.dead = reason
            if self.pidfd is not None:
                try:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                except OSError:
                    pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.channel.close()

    close = kill


class WarmWorker:
    """One sandboxed process with the analysis stack imported, serving one job at a time.

    Start-up happens in the constructor and overlaps whatever the caller does next; a worker that
    a notebook killed is replaced at once, ahead of the next job. `hash_seed` is the workers'
    PYTHONHASHSEED (random by default); `memory_control` "auto" uses a cgroup v2 per job where
    the machine allows it, "watchdog" always the job init's watch (jobworld.JobMemoryWatch).
    """

    def __init__(self, backend: str = "bwrap", limits: Limits | None = None, hash_seed: int | None = None,
                 memory_control: str = "auto") -> None:
        backends.require_backend(backend)
        self.backend = backend
        self.limits = limits or Limits()
        self.hash_seed = hash_seed if hash_seed is not None else 1 + secrets.randbelow(2**32 - 2)
        self.cgroups, self.memory_control = (None, "watchdog (asked for)")
        if memory_control == "auto":
            self.cgroups, how = JobCgroups.find()
            self.memory_control = how if self.cgroups else f"watchdog ({how})"
        # jobs/ (one folder per job), home/ and tmp/ (the process backend's worker home and scratch)
        self.root = Path(tempfile.mkdtemp(prefix="nbqa-sandbox-"))
        self.jobs_dir = self.root / "jobs"
        for folder in ("jobs", "home", "tmp"):
            (self.root / folder).mkdir()
        self.uid = backends.sandbox_uid() if backend == "bwrap" and os.geteuid() == 0 else None
        self.process: subprocess.Popen | None = None
        self.channel: Channel | None = None
        self.worker_pidfd: int | None = None
        self.stderr: Any = None  # the worker's, for the message when it does not start
        self.ready = False
        self._jobs_started = 0
        self._job: _Job | None = None
        self._next_folder = self._new_job_folder()  # the worker makes its world ahead
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _stop, self.__dict__)
        self.start()

    def work_root(self, folder: Path) -> str:
        """Where a job's folder appears to the notebook."""
        return backends.SANDBOX_WORK if self.backend == "bwrap" else str(folder)

    def start(self) -> None:
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        bwrap = self.backend == "bwrap"
        config = {
            "uid": self.uid,  # the jobs' uid when run as root
            "isolate": bwrap,
            "own_pid_namespace": bwrap,
            "jobs": backends.SANDBOX_JOBS if bwrap else str(self.jobs_dir),
            "work": backends.SANDBOX_WORK,
            "tmp": backends.SANDBOX_TMP,
            "shm": backends.SANDBOX_SHM,
            "rebinds": backends.under_job_mounts(backends.python_paths()) if bwrap else [],
            "wipe": [] if bwrap else [str(self.root / "tmp")],
            "host_pid": None if bwrap else os.getpid(),
            "tmp_mb": self.limits.tmp_mb,
            "shm_mb": self.limits.shm_mb,
            "first_job": self._next_folder.name,
        }
        # the worker's home is its own scratch, never a job's folder
        home, tmp = (backends.SANDBOX_TMP,) * 2 if bwrap else (str(self.root / "home"), str(self.root / "tmp"))
        env = sandbox_environment(home=home, tmp=tmp, hash_seed=self.hash_seed)
        worker_args = [str(worker_end.fileno()), json.dumps(config)]
        if bwrap:
            command = backends.bwrap_command(worker_args, str(self.jobs_dir), env)
        else:
            command = backends.process_command(worker_args)
        if self.stderr is not None:
            self.stderr.close()
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            command, env=env, cwd=self.root, pass_fds=[worker_end.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True,
        )
        worker_end.close()
        self.channel = Channel(host_end, max_message_bytes=1_000_000)
        self.ready = False

    def _wait_ready(self) -> None:
        if self.ready:
            return
        assert self.channel is not None
        try:
            message, _, pid = self.channel.receive(time.monotonic() + START_TIMEOUT_S)
        except Dead as dead:
            self.stderr.seek(0)
            tail = self.stderr.read()[-4000:].decode(errors="replace").strip()
            self._stop_process()
            raise _with_fix(f"the {self.backend} sandbox could not start ({dead.message})", tail) from None
        if message.get("op") != "ready":
            raise SandboxError(f"the {self.backend} worker sent {message.get('op')!r} instead of ready")
        self.channel.pid = pid
        try:
            self.worker_pidfd = os.pidfd_open(pid)
        except OSError:
            self.worker_pidfd = None
        self.ready = True

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def worker_gone(self, wait_s: float = 0.0) -> bool:
        """Has the warm worker itself died (not only a session)? Waits up to `wait_s` to know."""
        if self.worker_pidfd is not None:
            return bool(select.select([self.worker_pidfd], [], [], wait_s)[0])
        time.sleep(wait_s)
        return not self._alive()

    def _fork_from(self, channel: Channel, request: dict[str, Any], job: _Job) -> tuple[Session, int | None]:
        """A new session of `job`, and for a new job the read end of its init's status pipe.

        Raises Dead when the process asked is gone, SandboxError when it refuses.
        """
        channel.send(request)
        reply, fds, _ = channel.receive(time.monotonic() + CONTROL_TIMEOUT_S)
        if reply.get("op") != "forked" or not fds:
            for fd in fds:
                os.close(fd)
            raise _with_fix(f"the {self.backend} sandbox could not start a notebook", str(reply.get("reason") or reply.get("op")))
        status_fd = fds[1] if len(fds) > 1 else None
        if status_fd is not None:
            os.set_blocking(status_fd, False)  # read only once the job has stopped
        session_channel = Channel(socket.socket(fileno=fds[0]), self._max_message_bytes())
        try:
            hello, _, pid = session_channel.receive(time.monotonic() + CONTROL_TIMEOUT_S)
        except Dead as dead:
            session_channel.close()
            if status_fd is not None:
                os.close(status_fd)
            raise SandboxError(f"a new notebook session did not start ({dead.message}); fix: {_DEFAULT_FIX}") from None
        if hello.get("op") != "hello" or pid <= 0:
            session_channel.close()
            if status_fd is not None:
                os.close(status_fd)
            raise _with_fix("a new notebook session did not start", str(hello.get("reason") or "it did not introduce itself"))
        session_channel.pid = pid
        session = Session(job, session_channel, pid)
        session.start_s = float(hello.get("start_s") or 0.0)
        session.isolation_s = float(hello.get("isolation_s") or 0.0)
        self._sessions.add(session)
        return session, status_fd

    def _start_session(self, job: _Job, cwd: PurePosixPath) -> Session:
        request = {
            "op": "fork",
            "job": job.folder.name,
            "cwd": str(PurePosixPath(self.work_root(job.folder), cwd)),
            "home": self.work_root(job.folder),
            "limits": self.limits.for_session(),
            "watch_memory": self.cgroups is None,
        }
        for attempt in range(2):
            if not self._alive():
                self.start()
            self._wait_ready()
            assert self.channel is not None
            try:
                session, job.status_fd = self._fork_from(self.channel, request, job)
                job.started = True
                break
            except Dead as dead:  # the worker died since the last job: once more with a new one
                self._stop_process()
                if attempt:
                    raise SandboxError(f"the {self.backend} worker stopped answering ({dead.message}); fix: {_DEFAULT_FIX}") from None
        if self.cgroups is not None:
            try:
                job.cgroup = self.cgroups.create(job.folder.name, self._job_memory_bytes(), self.limits.max_processes)
                for pid in (_parent_pid(session.pid), session.pid):  # the init; nothing of the notebook has run yet
                    job.cgroup.add(pid)
            except OSError as exc:
                raise SandboxError(
                    f"cannot give a notebook its cgroup under {self.cgroups.parent} ({exc}); fix: make that "
                    "cgroup writable for this user, or set `memory_control: watchdog` in the step"
                ) from None
        return session

    def _job_memory_bytes(self) -> int:
        # the in-memory /tmp and /dev/shm are charged to the job's cgroup too
        extra = self.limits.tmp_mb + self.limits.shm_mb if self.backend == "bwrap" else 0
        return (self.limits.memory_mb + extra) << 20

    def _max_message_bytes(self) -> int:
        # the cell's output budget, plus room for JSON quoting and base64 images
        return 2 * self.limits.max_output_bytes + 1_000_000

    @contextmanager
    def job(self, files: dict[str, str | Path], cwd: str) -> Iterator[Session]:
        """A fresh notebook session whose working folder holds only `files`.

        `files` maps paths relative to the job root (POSIX, no `..` escaping it) to files on this
        machine; `cwd` is the notebook's folder relative to the same root.
        """
        cwd_path = _inside(cwd or ".")
        job = self._job = _Job(self, self._next_folder)
        try:
            self._fill_job_folder(job.folder, files, cwd_path)
            session = self._start_session(job, cwd_path)
        except BaseException:
            self._end_job()
            raise
        try:
            yield session
        finally:
            self._end_job()

    def _new_job_folder(self) -> Path:
        """The next job's folder, made now: the worker binds it into the world it makes ahead."""
        self._jobs_started += 1
        folder = self.jobs_dir / f"job-{self._jobs_started}"
        folder.mkdir(mode=0o755)
        if self.uid is not None:
            os.chown(folder, self.uid, self.uid)
        if self.backend == "bwrap":
            # where the job's mounts bind an installation under /work again (not the notebook's)
            for path in backends.under_job_mounts(backends.python_paths()):
                if path.startswith(backends.SANDBOX_WORK + "/"):
                    Path(folder, path[len(backends.SANDBOX_WORK) + 1:]).mkdir(mode=0o755, parents=True, exist_ok=True)
        return folder

    def _fill_job_folder(self, folder: Path, files: dict[str, str | Path], cwd: PurePosixPath) -> None:
        for relative, source in files.items():
            target = Path(folder, _inside(relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        Path(folder, cwd).mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            for parent, dirs, names in os.walk(folder):
                for name in [parent, *(os.path.join(parent, n) for n in dirs + names)]:
                    os.chown(name, self.uid, self.uid, follow_symlinks=False)

    def run_notebook(self, cells: list[str], files: dict[str, str | Path], cwd: str) -> NotebookRun:
        """Run cells in order in a fresh job; after a failure the rest are `not_run`."""
        runs: list[CellRun] = []
        deadline = time.monotonic() + self.limits.total_timeout_s
        with self.job(files, cwd) as session:
            for code in cells:
                left = deadline - time.monotonic()
                if runs and runs[-1].status != OK:
                    runs.append(CellRun(NOT_RUN, message="an earlier cell failed"))
                elif left <= 0:
                    runs.append(CellRun(NOT_RUN, message=f"the notebook ran longer than {self.limits.total_timeout_s:g} s"))
                else:
                    run = session.run_cell(code, min(self.limits.timeout_s, left))
                    if run.status == TIMEOUT and left < self.limits.timeout_s:
                        run.message = f"the notebook ran longer than {self.limits.total_timeout_s:g} s"
                    runs.append(run)
        return NotebookRun(runs, start_s=session.start_s, isolation_s=session.isolation_s)

    def _end_job(self) -> None:
        for session in list(self._sessions):
            session.kill()
        job, self._job = self._job, None
        if job is not None and job.cgroup is not None:
            job.cgroup.kill()
        if job is None or not job.started:  # nothing ran: the folder serves the next job, emptied
            if job is not None:
                _empty_folder(job.folder)
            return
        self._next_folder = self._new_job_folder()
        if self._alive() and self.ready and self.channel is not None:
            try:
                self.channel.send({"op": "cleanup", "next_job": self._next_folder.name})
                self.channel.receive(time.monotonic() + CONTROL_TIMEOUT_S)
            except Dead:
                self._stop_process()
        else:
            self._stop_process()
        job.close()  # its processes are gone
        if not self._alive():
            self.start()  # a notebook killed the worker: warm up the next one now

    def _stop_process(self) -> None:
        _stop_process(self.process)
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.worker_pidfd is not None:
            os.close(self.worker_pidfd)
            self.worker_pidfd = None
        self.ready = False

    def close(self) -> None:
        for session in list(self._sessions):
            session.kill()
        self._finalizer()

    def __enter__(self) -> "WarmWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def _stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the worker and, without bwrap, its children
        except OSError:
            process.kill()
        process.wait()


def _stop(state: dict[str, Any]) -> None:
    """Kill the worker and remove its folders; runs once, from close(), gc or atexit."""
    if state.get("_job") is not None:
        state["_job"].close()
    _stop_process(state.get("process"))
    if state.get("channel") is not None:
        state["channel"].close()
    if state.get("worker_pidfd") is not None:
        os.close(state["worker_pidfd"])
    if state.get("root"):
        _remove_tree(state["root"])


def _inside(relative: str) -> PurePosixPath:
    """`relative` normalised, refusing absolute paths and `..` that leave the job root."""
    path = PurePosixPath(os.path.normpath(relative))
    if path.is_absolute() or (path.parts and path.parts[0] == ".."):
        raise ValueError(f"path {relative!r} leaves the job folder")
    return path


def _empty_folder(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            _remove_tree(entry)
        else:
            entry.unlink()


def _remove_tree(folder: str | Path) -> None:
    """Remove a folder a notebook wrote in, even where it left folders without write permission.

    Only what lies inside `folder` is made writable again, never the folder that holds it: a
    `folder` already gone must not turn `/tmp` into a folder of root's alone.
    """
    root = os.path.abspath(folder)

    def writable_again(function, path, _exc_info):
        try:
            parent = os.path.dirname(os.path.abspath(path))
            if os.path.commonpath([root, parent]) == root:
                os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass

    shutil.rmtree(folder, onerror=writable_again)
