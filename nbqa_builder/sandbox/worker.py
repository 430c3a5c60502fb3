"""The program that runs inside the sandbox: a warm worker and the notebook sessions it forks.

Standalone on purpose: it imports only the standard library and the analysis stack, never
`nbqa_builder`, because the project checkout is not visible inside the sandbox.

Every process talks to the host over its own AF_UNIX SOCK_SEQPACKET socket carrying JSON messages
(never pickle: the host treats everything that comes back as untrusted data). A message longer
than one packet is cut into chunks: the first byte of each packet is b"M" (more follows) or b"E".

- The warm worker imports pandas, numpy, scikit-learn, matplotlib and IPython once, builds one
  pristine IPython shell, then only forks; it never runs notebook code.
- `{"op": "fork"}` to any process (worker or session) creates a new session: a copy of the
  sender's state with its own socket, whose host end comes back to the host with SCM_RIGHTS. A
  session forked from the worker starts a notebook (clean shell, limits applied, cwd set); a
  session forked from a session continues that notebook's live state (search branches).
- `{"op": "run", "code": ...}` to a session runs one cell and answers with nbformat outputs.
- `{"op": "cleanup"}` to the worker kills every other process of the job and wipes the scratch
  folders, so nothing of one job survives into the next.
"""

from __future__ import annotations

import array
import base64
import ctypes
import json
import os
import resource
import signal
import socket
import sys
import time

CHUNK = 60_000  # bytes per packet, well under the default socket buffer


class OutputLimitExceeded(Exception):
    """Raised inside a cell when it writes more output than the limit allows."""


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
    # the same uid: notebook code cannot tamper with the warm worker.
    ctypes.CDLL(None, use_errno=True).prctl(4, int(flag), 0, 0, 0)  # PR_SET_DUMPABLE


def set_child_subreaper():
    # orphaned processes of a job are re-parented to the worker, so cleanup finds them all
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def jsonable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Capture:
    """The outputs of the running cell, in nbformat v4 form, with a byte budget."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.outputs = []
        self.size = 0
        self.exceeded = False

    def reset(self):
        self.outputs, self.size, self.exceeded = [], 0, False

    def _charge(self, nbytes):
        self.size += nbytes
        if self.max_bytes and self.size > self.max_bytes:
            self.exceeded = True
            raise OutputLimitExceeded(f"the cell wrote more than {self.max_bytes} bytes of output")

    def stream(self, name, text):
        if self.exceeded:
            raise OutputLimitExceeded("output limit already exceeded")
        self._charge(len(text))
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def rich(self, output_type, data, metadata, **extra):
        data = jsonable(data)
        self._charge(sum(len(str(v)) for v in data.values()))
        self.outputs.append({"output_type": output_type, "data": data, "metadata": jsonable(metadata or {}), **extra})


class CaptureStream:
    """sys.stdout / sys.stderr of a session."""

    def __init__(self, capture, name):
        self.capture, self.name = capture, name
        self.encoding = "utf-8"

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self.capture.stream(self.name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("captured stream has no file descriptor")


def build_shell(capture):
    """One IPython shell whose displays, results and tracebacks land in `capture`."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class CapturingDisplayHook(DisplayHook):
        def start_displayhook(self):
            pass

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            capture.rich("execute_result", format_dict, md_dict, execution_count=self.shell.execution_count)

        def finish_displayhook(self):
            pass

    class CapturingDisplayPublisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            capture.rich("display_data", data, metadata)

        def clear_output(self, wait=False):
            capture.outputs.clear()

    class NotebookShell(InteractiveShell):
        def enable_gui(self, gui=None):
            pass  # no event loop: figures go through the inline backend

        def _showtraceback(self, etype, evalue, stb):
            capture.outputs.append(
                {"output_type": "error", "ename": etype.__name__, "evalue": str(evalue), "traceback": list(stb)}
            )

    shell = NotebookShell.instance(
        displayhook_class=CapturingDisplayHook,
        display_pub_class=CapturingDisplayPublisher,
        colors="NoColor",
        history_length=0,
        autocall=0,
    )
    shell.history_manager.enabled = False
    shell.enable_matplotlib("inline")  # figures shown at the end of each cell, as in Jupyter
    return shell


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


def reseed_random():
    # forked children share the worker's random state; without this, two runs would agree by
    # accident and the determinism check would be worthless
    import random

    random.seed()
    try:
        import numpy

        numpy.random.seed()
    except ImportError:
        pass


class Process:
    """The warm worker or a session: serve requests from the host until it goes away."""

    def __init__(self, sock, shell, capture, config, is_worker):
        self.sock, self.shell, self.capture, self.config = sock, shell, capture, config
        self.is_worker = is_worker
        self.pid = os.getpid()

    def serve(self):
        while True:
            if os.getpid() != self.pid:
                # a copy made by os.fork() in notebook code came back here: it must not answer
                # (or steal) requests meant for the session
                os._exit(0)
            request = receive(self.sock)
            if request is None:
                os._exit(0)
            op = request.get("op")
            if op == "run" and not self.is_worker:
                result = self.run_cell(request["code"])
                if os.getpid() == self.pid:
                    send(self.sock, result)
            elif op == "fork":
                self.fork(request)
            elif op == "cleanup" and self.is_worker:
                self.cleanup()
                send(self.sock, {"op": "clean"})
            else:
                send(self.sock, {"op": "refused", "reason": f"unknown op {op!r}"})

    def run_cell(self, code):
        self.capture.reset()
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

    def fork(self, request):
        host_end, session_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # the host learns each session's pid from the kernel (translated to its own namespace)
        host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        middle = os.fork()
        if middle == 0:
            # double fork: the session is re-parented to the worker (a subreaper), which reaps it
            if os.fork() == 0:
                try:
                    host_end.close()
                    self.sock.close()
                    self.become_session(session_end, request)
                except BaseException:
                    os._exit(70)
            os._exit(0)
        os.waitpid(middle, 0)
        session_end.close()
        send(self.sock, {"op": "forked"}, fds=[host_end.fileno()])
        host_end.close()
        self.reap()

    def become_session(self, sock, request):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        set_dumpable(True)  # the session is the job's own code; only the worker is protected
        if self.is_worker:
            os.chdir(request["cwd"])
            self.shell.user_ns["__file__"] = os.path.join(request["cwd"], "notebook.ipynb")
            apply_limits(request.get("limits") or {})
            self.capture.max_bytes = (request.get("limits") or {}).get("max_output_bytes") or 0
        reseed_random()
        session = Process(sock, self.shell, self.capture, self.config, is_worker=False)
        send(sock, {"op": "hello", "pid": os.getpid()})
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
                pids = descendants(os.getpid())
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


def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


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
    if config.get("uid") is not None:
        # root in a sandbox without a user namespace: become an unprivileged uid first, so that
        # the process limit applies and no capability is left
        os.setgroups([])
        os.setresgid(config["gid"], config["gid"], config["gid"])
        os.setresuid(config["uid"], config["uid"], config["uid"])
    set_dumpable(False)
    set_child_subreaper()
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
    Process(sock, shell, capture, config, is_worker=True).serve()


if __name__ == "__main__":
    main()
