"""How the warm worker process is started: inside bubblewrap, or as a plain process.

`bwrap`: a new mount, pid, network, IPC and UTS namespace. The file system holds only /usr (and
the /lib symlinks), a few files of /etc that the dynamic loader and fonts need, the Python
installation and its site-packages (read-only), the worker script (read-only), the job folder at
/work (read-write) and fresh tmpfs scratch at /tmp. The home folder, the repository, the project
checkout and every other notebook's files are simply not there. No network: only a loopback of
the sandbox's own. Run as root, bwrap skips the user namespace (it would map the sandbox user to
root, for which the kernel ignores the process limit) and the worker switches to an unprivileged
uid before importing anything; run as a normal user, a user namespace is used.

`process`: the worker runs as a child process with the same limits and a clean environment but
sees the machine as the user does. Only for notebooks you trust.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
from pathlib import Path, PurePosixPath

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
SANDBOX_WORK = "/work"  # where the job folder appears inside bwrap
SANDBOX_TMP = "/tmp"
BACKENDS = ("bwrap", "process")


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run on this machine; the message names the fix."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def require_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise SandboxUnavailable(f"unknown sandbox {backend!r} (choose bwrap or process)")
    if backend == "bwrap" and bwrap_path() is None:
        raise SandboxUnavailable(
            "sandbox 'bwrap' needs bubblewrap, which is not installed: run `apt-get install bubblewrap` "
            "(or choose sandbox: process for trusted notebooks only)"
        )


def sandbox_uid() -> int:
    # An unused uid per host process: the kernel counts processes per uid, so two workers on one
    # machine should not share the count.
    return 61000 + os.getpid() % 4000


def python_paths() -> list[str]:
    """The interpreter and its installed packages: all the worker needs to import."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, *site.getsitepackages()}
    user_site = site.getusersitepackages()
    if user_site and os.path.isdir(user_site):
        paths.add(user_site)
    resolved = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    # keep only the outermost folders
    return [p for p in resolved if not any(p != q and p.startswith(q + "/") for q in resolved)]


def _bind_with_parents(args: list[str], source: str, dest: str, option: str = "--ro-bind") -> None:
    # bwrap creates missing parents with the host's modes; a 0700 home would then hide the
    # interpreter from the unprivileged sandbox user
    parents = list(reversed(PurePosixPath(dest).parents))[1:]
    for parent in parents:
        args += ["--perms", "0755", "--dir", str(parent)]
    args += [option, source, dest]


def bwrap_command(worker_args: list[str], job_dir: str, env: dict[str, str]) -> list[str]:
    args = [bwrap_path() or "bwrap", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # only to drop to the uid
    else:
        args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        target = Path("/") / name
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    for path in python_paths():
        _bind_with_parents(args, path, path)
    _bind_with_parents(args, str(WORKER_SCRIPT), "/opt/nbqa/worker.py")
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
    # scratch lives in memory and is capped: a notebook cannot fill the host's disk through it
    args += ["--perms", "1777", "--size", str(1 << 30), "--tmpfs", SANDBOX_TMP]
    args += ["--bind", job_dir, SANDBOX_WORK, "--chdir", SANDBOX_WORK, "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args + [sys.executable, "-B", "/opt/nbqa/worker.py", *worker_args]


def process_command(worker_args: list[str]) -> list[str]:
    return [sys.executable, "-B", str(WORKER_SCRIPT), *worker_args]
