"""Host side of the runner: a warm worker, the jobs it runs, and forkable notebook sessions.

    with WarmWorker(backend="bwrap", limits=Limits(timeout_s=5)) as worker:
        run = worker.run_notebook(["import pandas as pd", "1 + 1"], files={}, cwd="")
        with worker.job(files, cwd="notebooks") as session:   # a live notebook state
            session.run_cell("x = 41")
            branch = session.fork()                           # a copy of that state
            branch.run_cell("x + 1").outputs

Nothing that comes back from the sandbox is trusted: messages are JSON (never pickle), bounded in
size, accepted only from the session's own pid (the kernel tells us the sender of each packet),
and every wait has a deadline after which the session is killed.
"""

from __future__ import annotations

import array
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from nbqa_builder.sandbox import backends
from nbqa_builder.sandbox.limits import Limits, sandbox_environment

CHUNK = 60_000  # as in worker.py
START_TIMEOUT_S = 120.0  # importing the analysis stack on a loaded 2-core machine
CONTROL_TIMEOUT_S = 30.0  # fork and cleanup requests

OK, ERROR, TIMEOUT, OUTPUT_LIMIT, DIED, NOT_RUN = "ok", "error", "timeout", "output_limit", "died", "not_run"


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the notebook): it could not start or stopped answering."""


class _Dead(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class CellRun:
    status: str  # ok | error | timeout | output_limit | died | not_run
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    time_s: float = 0.0
    message: str = ""  # the host's reason for timeout, output_limit, died, not_run
    inside_s: float = 0.0  # time spent running the cell, as measured inside the sandbox


@dataclass
class NotebookRun:
    cells: list[CellRun]

    @property
    def executable(self) -> bool:
        """Ran to the end without an error."""
        return all(cell.status == OK for cell in self.cells)

    @property
    def status(self) -> str:
        return next((cell.status for cell in self.cells if cell.status != OK), OK)


class _Channel:
    """The host end of one process's socket."""

    def __init__(self, sock: socket.socket, max_message_bytes: int) -> None:
        self.sock = sock
        self.max_message_bytes = max_message_bytes
        self.pid: int | None = None  # the only sender we listen to, once known
        self._buffers: dict[int, bytes] = {}

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        try:
            for index, piece in enumerate(pieces):
                self.sock.sendmsg([(b"E" if index == len(pieces) - 1 else b"M") + piece])
        except OSError as exc:
            raise _Dead(DIED, f"the sandbox process is gone ({exc.strerror})") from None

    def receive(self, deadline: float) -> tuple[dict[str, Any], list[int], int]:
        """(message, passed fds, sender pid); raises _Dead on timeout, EOF or oversize."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        fd_space = socket.CMSG_SPACE(4 * 4)
        cred_space = socket.CMSG_SPACE(struct.calcsize("iII"))
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise _Dead(TIMEOUT, "no answer before the time limit")
            packet, ancillary, _, _ = self.sock.recvmsg(CHUNK + 1, fd_space + cred_space)
            if not packet:
                raise _Dead(DIED, "the sandbox process ended (killed or crashed)")
            pid, fds = -1, []
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", data[: struct.calcsize("iII")])[0]
                elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
            if self.pid is not None and pid != self.pid:
                for fd in fds:  # from a process that is not the session (e.g. its own fork)
                    os.close(fd)
                continue
            buffer = self._buffers.get(pid, b"") + packet[1:]
            if len(buffer) > self.max_message_bytes:
                raise _Dead(OUTPUT_LIMIT, f"more than {self.max_message_bytes} bytes of output came back")
            if packet[:1] != b"E":
                self._buffers[pid] = buffer
                continue
            self._buffers.pop(pid, None)
            try:
                message = json.loads(buffer)
            except ValueError:
                raise _Dead(DIED, "the sandbox sent a malformed message") from None
            if not isinstance(message, dict):
                raise _Dead(DIED, "the sandbox sent a malformed message")
            return message, fds, pid

    def close(self) -> None:
        self.sock.close()


class Session:
    """A live notebook state inside the sandbox: run cells in it, or fork it."""

    def __init__(self, worker: "WarmWorker", channel: _Channel, pid: int) -> None:
        self.worker, self.channel, self.pid = worker, channel, pid
        self.pidfd: int | None = None
        try:  # a pidfd cannot hit a recycled pid when we kill the session later
            self.pidfd = os.pidfd_open(pid)
        except OSError:
            pass
        self.dead: str | None = None

    def run_cell(self, code: str, timeout_s: float | None = None) -> CellRun:
        if self.dead:
            return CellRun(NOT_RUN, message=f"the session is no longer running: {self.dead}")
        timeout_s = self.worker.limits.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        try:
            self.channel.send({"op": "run", "code": code})
            reply, fds, _ = self.channel.receive(started + timeout_s)
            for fd in fds:
                os.close(fd)
        except _Dead as dead:
            self.kill(dead.message)
            message = f"cell ran longer than {timeout_s:g} s" if dead.status == TIMEOUT else dead.message
            return CellRun(dead.status, time_s=time.monotonic() - started, message=message)
        status = reply.get("status")
        if reply.get("op") != "result" or status not in (OK, ERROR, OUTPUT_LIMIT):
            self.kill("unexpected reply")
            return CellRun(DIED, message="the session sent an unexpected reply")
        outputs = [o for o in reply.get("outputs") or [] if isinstance(o, dict)]
        count = reply.get("execution_count")
        inside = reply.get("time_s")
        return CellRun(
            status, outputs, count if isinstance(count, int) else None, time.monotonic() - started,
            inside_s=float(inside) if isinstance(inside, (int, float)) else 0.0,
        )

    def fork(self) -> "Session":
        """A new session holding a copy of this one's state (variables, imports, files stay shared)."""
        if self.dead:
            raise SandboxError(f"cannot fork a session that is no longer running: {self.dead}")
        return self.worker._fork_from(self.channel, {"op": "fork"})

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
    a notebook killed is replaced at once, ahead of the next job.
    """

    def __init__(self, backend: str = "bwrap", limits: Limits | None = None) -> None:
        backends.require_backend(backend)
        self.backend = backend
        self.limits = limits or Limits()
        self.job_dir = tempfile.mkdtemp(prefix="nbqa-job-")
        self.tmp_dir = tempfile.mkdtemp(prefix="nbqa-tmp-")  # scratch of the process backend
        self.uid = backends.sandbox_uid() if backend == "bwrap" and os.geteuid() == 0 else None
        self.process: subprocess.Popen | None = None
        self.channel: _Channel | None = None
        self.ready = False
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _stop, self.__dict__)
        self.start()

    @property
    def work_root(self) -> str:
        """Where the job folder appears to the notebook."""
        return backends.SANDBOX_WORK if self.backend == "bwrap" else self.job_dir

    def start(self) -> None:
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        tmp = backends.SANDBOX_TMP if self.backend == "bwrap" else self.tmp_dir
        env = sandbox_environment(home=self.work_root, tmp=tmp)
        config = {
            "uid": self.uid,
            "gid": self.uid,
            "own_pid_namespace": self.backend == "bwrap",
            "wipe": ["/tmp", "/dev/shm"] if self.backend == "bwrap" else [self.tmp_dir],
        }
        worker_args = [str(worker_end.fileno()), json.dumps(config)]
        if self.backend == "bwrap":
            command = backends.bwrap_command(worker_args, self.job_dir, env)
        else:
            command = backends.process_command(worker_args)
        self._prepare_job_dir()
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            command, env=env, cwd=self.job_dir, pass_fds=[worker_end.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True,
        )
        worker_end.close()
        self.channel = _Channel(host_end, max_message_bytes=1_000_000)
        self.ready = False

    def _wait_ready(self) -> None:
        if self.ready:
            return
        assert self.channel is not None
        try:
            message, _, pid = self.channel.receive(time.monotonic() + START_TIMEOUT_S)
        except _Dead as dead:
            self.stderr.seek(0)
            tail = self.stderr.read()[-2000:].decode(errors="replace").strip()
            raise SandboxError(f"the {self.backend} worker did not start ({dead.message}): {tail}") from None
        if message.get("op") != "ready":
            raise SandboxError(f"the {self.backend} worker sent {message.get('op')!r} instead of ready")
        self.channel.pid = pid
        self.ready = True

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _fork_from(self, channel: _Channel, request: dict[str, Any]) -> Session:
        try:
            channel.send(request)
            reply, fds, _ = channel.receive(time.monotonic() + CONTROL_TIMEOUT_S)
            if reply.get("op") != "forked" or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                raise SandboxError(f"fork failed: {reply.get('reason') or reply.get('op')}")
            session_channel = _Channel(socket.socket(fileno=fds[0]), self._max_message_bytes())
            hello, _, pid = session_channel.receive(time.monotonic() + CONTROL_TIMEOUT_S)
        except _Dead as dead:
            raise SandboxError(f"fork failed: {dead.message}") from None
        if hello.get("op") != "hello" or pid <= 0:
            raise SandboxError("fork failed: the new session did not introduce itself")
        session_channel.pid = pid
        session = Session(self, session_channel, pid)
        self._sessions.add(session)
        return session

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
        for relative, source in files.items():
            target = Path(self.job_dir, _inside(relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        Path(self.job_dir, cwd_path).mkdir(parents=True, exist_ok=True)
        self._prepare_job_dir()
        if not self._alive():
            self.start()
        try:
            self._wait_ready()
            request = {"op": "fork", "cwd": str(PurePosixPath(self.work_root, cwd_path)), "limits": self.limits.for_session()}
            assert self.channel is not None
            session = self._fork_from(self.channel, request)
        except SandboxError:
            self._end_job()
            raise
        try:
            yield session
        finally:
            self._end_job()

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
        return NotebookRun(runs)

    def _end_job(self) -> None:
        for session in list(self._sessions):
            session.kill()
        if self._alive() and self.ready and self.channel is not None:
            try:
                self.channel.send({"op": "cleanup"})
                self.channel.receive(time.monotonic() + CONTROL_TIMEOUT_S)
            except _Dead:
                self._stop_process()
        else:
            self._stop_process()
        _wipe(self.job_dir)
        if not self._alive():
            self.start()  # a notebook killed the worker: warm up the next one now

    def _prepare_job_dir(self) -> None:
        if self.uid is not None:
            for folder, dirs, names in os.walk(self.job_dir):
                for name in [folder, *(os.path.join(folder, n) for n in dirs + names)]:
                    os.chown(name, self.uid, self.uid, follow_symlinks=False)

    def _stop_process(self) -> None:
        _stop_process(self.process)
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.ready = False

    def close(self) -> None:
        for session in list(self._sessions):
            session.kill()
        self._finalizer()

    def __enter__(self) -> "WarmWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the worker and, without bwrap, its children
        except OSError:
            process.kill()
        process.wait()


def _stop(state: dict[str, Any]) -> None:
    """Kill the worker and remove its folders; runs once, from close(), gc or atexit."""
    _stop_process(state.get("process"))
    if state.get("channel") is not None:
        state["channel"].close()
    for folder in (state.get("job_dir"), state.get("tmp_dir")):
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def _inside(relative: str) -> PurePosixPath:
    """`relative` normalised, refusing absolute paths and `..` that leave the job root."""
    path = PurePosixPath(os.path.normpath(relative))
    if path.is_absolute() or (path.parts and path.parts[0] == ".."):
        raise ValueError(f"path {relative!r} leaves the job folder")
    return path


def _wipe(folder: str) -> None:
    for entry in Path(folder).iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
