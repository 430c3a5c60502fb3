"""The program that runs inside the sandbox: a warm worker and the notebook sessions it forks.

Standalone on purpose: it imports only the standard library, the analysis stack and its two
siblings (jobworld.py: each job's world; notebook_shell.py: the shell and its outputs), never
`nbqa_builder`, because the project checkout is not visible inside the sandbox.

Every process talks to the host over its own AF_UNIX SOCK_SEQPACKET socket carrying JSON messages
(never pickle: the host treats everything that comes back as untrusted data). A message longer
than one packet is cut into chunks: the first byte of each packet is b"M" (more follows) or b"E".

- The warm worker imports pandas, numpy, scikit-learn, matplotlib and IPython once, builds one
  pristine IPython shell, then only forks; it never runs notebook code.
- Each job's world (a keeper, then the job's init: jobworld.py) is made ahead, as soon as the
  worker is ready or the previous job is cleaned up, for the job folder the host named; its init
  waits for the job's request. `{"op": "fork", "job": ...}` to the worker hands it the request,
  and the init forks the job's first session. The host gets the session's socket and the read
  end of the init's status pipe (why the init stopped the job, e.g. its memory) with SCM_RIGHTS.
  The session starts a notebook: clean shell, limits applied, cwd set.
- `{"op": "fork"}` to a session creates a new session in the same job holding a copy of its live
  state (search branches); the host gets its socket.
- `{"op": "run", "code": ...}` to a session runs one cell and answers with nbformat outputs.
- `{"op": "cleanup", "next_job": ...}` to the worker kills every other process of the job, wipes
  the scratch folders of the `process` backend (under bwrap they vanish with the job's mount
  namespace), answers, then makes the next job's world.
"""

from __future__ import annotations

import array
import json
import os
import resource
import signal
import socket
import sys
import time

import jobworld
from notebook_shell import Capture, CaptureStream, build_shell

CHUNK = 60_000  # bytes per packet, well under the default socket buffer


def send(sock, message, fds=()):
    data = json.dumps(message).encode()
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        ancillary = []
        if last and fds:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        sock.sendmsg([(b"E" if last else b"M") + piece], ancillary)


def receive(sock):
    """One whole message from the host, or None when the host has gone."""
    buffer = b""
    while True:
        packet = sock.recv(CHUNK + 1)
        if not packet:
            return None
        buffer += packet[1:]
        if packet[:1] == b"E":
            return json.loads(buffer)


def set_dumpable(flag):
    # A non-dumpable process cannot be ptraced, nor its /proc/<pid>/mem opened, by processes of
    # the same uid: notebook code cannot tamper with the warm worker or the job's init.
    jobworld.prctl(jobworld.PR_SET_DUMPABLE, int(flag))


def apply_limits(limits):
    """Kernel-enforced limits for a new notebook session (the host adds wall-clock watchdogs)."""

    def cap(kind, value):
        if value:
            resource.setrlimit(kind, (int(value), int(value)))

    if limits.get("memory_mb"):
        # address space the notebook may add on top of the warm worker's own
        with open("/proc/self/status") as status:
            vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        cap(resource.RLIMIT_AS, vm_kb * 1024 + limits["memory_mb"] * 2**20)
    cap(resource.RLIMIT_NPROC, limits.get("max_processes"))
    cap(resource.RLIMIT_FSIZE, (limits.get("max_file_mb") or 0) * 2**20)
    cap(resource.RLIMIT_CPU, limits.get("cpu_s"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # a too-large write fails with EFBIG (a clear error in the cell) instead of killing the process
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def unsettle_run():
    """What must not decide a result differs from one run to the next.

    Forked children share the worker's random state and heap layout; without this, two runs
    would agree by accident (random numbers, id(), reprs with addresses) and the determinism
    check would be worthless. The hash seed differs between the host's two warm workers.
    """
    import random

    random.seed()
    try:
        import numpy

        numpy.random.seed()
    except ImportError:
        pass
    # objects of every small size, a random number of each, shift where the notebook's land
    return [bytes(random.randrange(1, 512)) for _ in range(random.randrange(1, 4096))] + [
        object() for _ in range(random.randrange(1, 4096))
    ]


class Process:
    """The warm worker or a session: serve requests from the host until it goes away."""

    def __init__(self, sock, shell, capture, config, is_worker):
        self.sock, self.shell, self.capture, self.config = sock, shell, capture, config
        self.is_worker = is_worker
        self.pid = os.getpid()
        self.prepared = None  # (job name, host end, status read end, go write end) made ahead
        self.prepared_error = ""
        self.job_root = self.files_root = None  # a session's job folder, and the copy it works in
        self.branches = set()  # pids of the branches forked from this session

    def serve(self):
        while True:
            if os.getpid() != self.pid:
                # a copy made by os.fork() in notebook code came back here: it must not answer
                # (or steal) requests meant for the session
                os._exit(0)
            request = receive(self.sock)
            if request is None:
                os._exit(0)
            self.reap_branches()
            op = request.get("op")
            if op == "run" and not self.is_worker:
                result = self.run_cell(request["code"], request.get("max_output_bytes"))
                if os.getpid() == self.pid:
                    send(self.sock, result)
            elif op == "fork" and self.is_worker:
                self.start_job(request)
            elif op == "fork":
                self.fork_branch(bool(request.get("own_files")))
            elif op == "cleanup" and self.is_worker:
                self.discard_prepared()
                self.cleanup()
                send(self.sock, {"op": "clean"})
                if request.get("next_job"):
                    self.prepare_job(request["next_job"])
            else:
                send(self.sock, {"op": "refused", "reason": f"unknown op {op!r}"})

    def run_cell(self, code, max_output_bytes=None):
        self.capture.reset()
        if max_output_bytes is not None:  # what is left of the notebook's budget, if that is less
            self.capture.max_bytes = max_output_bytes
        started = time.perf_counter()
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = CaptureStream(self.capture, "stdout")
        sys.stderr = CaptureStream(self.capture, "stderr")
        try:
            result = self.shell.run_cell(code, store_history=True)
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        if self.capture.exceeded:
            status = "output_limit"
            # the outputs up to the limit are kept; the last one may be the error it caused
        elif result.error_before_exec or result.error_in_exec:
            status = "error"
        else:
            status = "ok"
        return {
            "op": "result",
            "status": status,
            "outputs": self.capture.outputs,
            "execution_count": self.shell.execution_count - 1,
            "time_s": time.perf_counter() - started,
        }

    def prepare_job(self, name):
        """Make job `name`'s world now (keeper, then init; see jobworld.py), ahead of its request,
        so that a notebook waits only for its session's fork. The init waits on `go`."""
        self.discard_prepared()
        host_end, session_end = socketpair()
        status_read, status_write = os.pipe()  # init -> host: why it stopped the job
        error_read, error_write = os.pipe()  # keeper and init -> worker: why the world could not be made
        go_read, go_write = os.pipe()  # worker -> init: the job's request
        world = {"job": name, "session_end": session_end, "status_write": status_write,
                 "error_write": error_write, "go_read": go_read, "isolation_s": 0.0}
        worker_pid = os.getpid()
        child = os.fork()
        if child == 0:
            try:
                host_end.close()
                self.sock.close()
                for fd in (status_read, error_read, go_write):
                    os.close(fd)
                if self.config.get("isolate"):
                    self.become_keeper(world)
                else:  # the process backend: no namespaces, the worker is the init's parent
                    self.become_init(world, parent_pid=worker_pid)
            except BaseException as exc:  # noqa: BLE001 - reported to the host, whatever it is
                report_failure(error_write, exc)
            os._exit(70)
        for fd in (status_write, error_write, go_read):
            os.close(fd)
        session_end.close()
        with os.fdopen(error_read, "rb") as errors:
            error = errors.read().decode(errors="replace")  # EOF once the init is set up (or gone)
        code = os.waitpid(child, 0)[1] if self.config.get("isolate") else 0  # the keeper exits at once
        if error or code:
            host_end.close()
            os.close(status_read)
            os.close(go_write)
            self.prepared_error = error or f"the job's keeper failed (status {code})"
        else:
            self.prepared = (name, host_end, status_read, go_write)
        self.reap()

    def discard_prepared(self):
        if self.prepared is not None:
            _, host_end, status_read, go_write = self.prepared
            host_end.close()
            os.close(status_read)
            os.close(go_write)  # the init reads nothing and exits, and its world goes with it
        self.prepared, self.prepared_error = None, ""

    def start_job(self, request):
        request["received"] = time.perf_counter()
        for _ in range(2):  # a world made for another job, or whose init is gone, is made again
            if self.prepared is None or self.prepared[0] != request["job"]:
                self.prepare_job(request["job"])
            if self.prepared is None:
                send(self.sock, {"op": "refused", "reason": self.prepared_error})
                return
            _, host_end, status_read, go_write = self.prepared
            try:
                os.write(go_write, json.dumps(request).encode())
                break
            except OSError:
                self.discard_prepared()
        else:
            send(self.sock, {"op": "refused", "reason": "the job's init ended before its request"})
            return
        self.prepared = None
        os.close(go_write)
        send(self.sock, {"op": "forked"}, fds=[host_end.fileno(), status_read])
        host_end.close()
        os.close(status_read)
        self.reap()

    def become_keeper(self, world):
        config = self.config
        started = time.perf_counter()
        jobworld.enter_job_namespaces(
            job_folder=f"{config['jobs']}/{world['job']}",
            work=config["work"],
            scratch_mib={config["tmp"]: config["tmp_mb"], config["shm"]: config["shm_mb"]},
            rebinds=config.get("rebinds") or [],
            hidden=config["jobs"],
        )
        world["isolation_s"] += time.perf_counter() - started
        if os.fork() == 0:
            try:
                self.become_init(world, parent_pid=None)
            except BaseException as exc:  # noqa: BLE001
                report_failure(world["error_write"], exc)
            os._exit(70)
        os._exit(0)  # the init is re-parented to the worker, which reaps it

    def become_init(self, world, parent_pid):
        config = self.config
        started = time.perf_counter()
        set_dumpable(False)
        # Python's own SIGINT handler would let the job interrupt its init; without a handler,
        # pid 1 ignores every signal sent from inside its namespace
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if config.get("isolate"):
            jobworld.mount_own_proc()
            jobworld.join_fresh_keyring()
            jobworld.drop_privileges(config.get("uid"))
            jobworld.install_seccomp()
        else:
            jobworld.die_with_parent(parent_pid)
            jobworld.prctl(jobworld.PR_SET_CHILD_SUBREAPER, 1)  # orphans of the job come back here
        world["isolation_s"] += time.perf_counter() - started
        os.close(world["error_write"])  # set up: the worker's read end sees EOF
        with os.fdopen(world["go_read"], "rb") as go:
            text = go.read()
        if not text:
            os._exit(0)  # discarded before any request
        request = json.loads(text)
        limit_mb = (request.get("limits") or {}).get("memory_mb")
        watch = jobworld.JobMemoryWatch(limit_mb << 20) if request.get("watch_memory") and limit_mb else None
        init_pid = os.getpid()
        session = os.fork()
        if session == 0:
            try:
                os.close(world["status_write"])
                self.become_session(world["session_end"], request, world, init_pid)
            finally:
                os._exit(70)
        world["session_end"].close()
        jobworld.keep_job(watch, world["status_write"], own_pid_namespace=bool(config.get("isolate")))

    def fork_branch(self, own_files):
        """A branch of this session: a child process (one fork: the copy of a large state is the
        cost of a branch). This session reaps its branches that ended (`reap_branches`); those still
        running when it ends are re-parented to the job's init, which reaps them."""
        host_end, session_end = socketpair()
        branch = os.fork()
        if branch == 0:
            try:
                host_end.close()
                self.sock.close()
                self.become_session(session_end, None, None, None, parent=self, own_files=own_files)
            except BaseException:
                os._exit(70)
        self.branches.add(branch)
        session_end.close()
        send(self.sock, {"op": "forked"}, fds=[host_end.fileno()])
        host_end.close()

    def reap_branches(self):
        for pid in list(self.branches):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0]
            except ChildProcessError:  # reaped already (by notebook code waiting on any child)
                done = pid
            if done:
                self.branches.discard(pid)

    def become_session(self, sock, request, world, init_pid, parent=None, own_files=False):
        """A new session: the job's first (from the init: a fresh notebook) or a branch of one.

        A branch with `own_files` works in its own copy of its parent's files, so that what one
        branch writes, its siblings never read."""
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        set_dumpable(True)  # the session is the job's own code; its init may read its memory use
        hello = {"op": "hello", "pid": os.getpid()}
        files_root = request["home"] if request is not None else parent.files_root
        if own_files:
            try:
                files_root = own_copy_of_files(files_root, parent.job_root, self.config.get("rebinds") or [])
            except Exception as exc:  # noqa: BLE001 - the host says it as a sandbox failure
                send(sock, {"op": "failed", "reason": f"copying the branch's files: {type(exc).__name__}: {exc}"})
                os._exit(70)
        if request is not None:
            try:
                if not self.config.get("isolate"):
                    jobworld.die_with_parent(init_pid)
                limits = request.get("limits") or {}
                os.chdir(request["cwd"])
                os.environ["HOME"] = request["home"]
                self.shell.user_ns["__file__"] = os.path.join(request["cwd"], "notebook.ipynb")
                apply_limits(limits)
                self.capture.max_bytes = limits.get("max_output_bytes") or 0
            except Exception as exc:  # noqa: BLE001 - the host says it as a sandbox failure
                send(sock, {"op": "failed", "reason": f"{type(exc).__name__}: {exc}"})
                os._exit(70)
            hello["start_s"] = time.perf_counter() - request["received"]
            hello["isolation_s"] = world["isolation_s"]
        session = Process(sock, self.shell, self.capture, self.config, is_worker=False)
        session.job_root = request["home"] if request is not None else parent.job_root
        session.files_root = files_root
        session.ballast = unsettle_run()  # kept alive: the heap stays shifted
        send(sock, hello)
        session.serve()

    def reap(self):
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    def cleanup(self):
        """Kill every other process of the job and wipe the scratch folders."""
        if self.config.get("own_pid_namespace"):
            # everything in this pid namespace except init and the worker belongs to the job
            for _ in range(50):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
                self.reap()
                time.sleep(0.005)
        else:
            for _ in range(50):
                pids = jobworld.descendants(os.getpid())
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.reap()
        self.reap()
        for folder in self.config.get("wipe", []):
            wipe(folder)


BRANCHES = ".nbqa-branches"  # under the job folder: one copy of the files per branch that asked


def own_copy_of_files(files_root, job_root, rebinds=()):
    """Copy the files the session sees (`files_root`: the job folder, or its parent branch's copy)
    to a new folder under the job folder, and move into the same place within the copy.

    Plain copies, not hard links: a notebook that rewrites a data file in place (open(..., "w")
    truncates the same inode) must not change it for its siblings. The Python installation's
    folders that the job binds back inside its folder (`rebinds`: a venv under /work) are not the
    notebook's files and are not copied: each branch once copied the whole installation (a minute
    per expansion with a large one, or no session start at all)."""
    import shutil

    copy = os.path.join(job_root, BRANCHES, str(os.getpid()))
    skip = {os.path.join(job_root, BRANCHES), *rebinds}

    def not_copied(folder, names):
        return [name for name in names if os.path.join(folder, name) in skip]

    shutil.copytree(files_root, copy, symlinks=True, ignore=not_copied)
    where = os.path.relpath(os.getcwd(), files_root)
    if where == "." or not where.startswith(".."):
        os.chdir(os.path.join(copy, where))
    return copy


def report_failure(fd, exc):
    try:
        os.write(fd, f"{type(exc).__name__}: {exc}".encode()[:2000])
    except OSError:
        pass


def socketpair():
    host_end, session_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # the host learns each session's pid from the kernel (translated to its own namespace)
    host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return host_end, session_end


def wipe(folder):
    import shutil

    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        path = os.path.join(folder, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def main():
    fd, config = int(sys.argv[1]), json.loads(sys.argv[2])
    if config.get("host_pid"):
        jobworld.die_with_parent(config["host_pid"])  # the process backend: no bwrap to do it
    set_dumpable(False)
    # orphaned processes of a job are re-parented to the worker, so cleanup finds them all
    jobworld.prctl(jobworld.PR_SET_CHILD_SUBREAPER, 1)
    sock = socket.socket(fileno=fd)
    os.environ.setdefault("MPLBACKEND", "agg")
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import sklearn  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    capture = Capture(0)
    shell = build_shell(capture)
    # C-level writes (subprocesses, extensions) must not reach the host's terminal
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    send(sock, {"op": "ready", "pid": os.getpid()})
    worker = Process(sock, shell, capture, config, is_worker=True)
    worker.prepare_job(config["first_job"])
    worker.serve()


if __name__ == "__main__":
    main()
