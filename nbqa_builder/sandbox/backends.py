"""How the warm worker process is started: inside bubblewrap, or as a plain process.

`bwrap`: new mount, pid, network, IPC, UTS (and, for a normal user, user) namespaces. The file
system holds only /usr (and the /lib symlinks), a few files of /etc that the dynamic loader and
fonts need, the Python installation and its site-packages (read-only, at their own paths: bound
after the scratch mounts, so an interpreter under /tmp or /work stays visible), the worker's
scripts (read-only, in /.nbqa) and the host's folder of job folders (/.nbqa/jobs). The home
folder, the repository, the project checkout and every other file of the host are simply not
there. No network: only a loopback of the sandbox's own.

Each job then gets a world of its own inside (jobworld.py): fresh capped tmpfs on /tmp and
/dev/shm, its own folder on /work, its own IPC and pid namespaces and keyring, no privileges, a
seccomp filter. Setting that up needs a few capabilities in the warm worker, which never runs
notebook code: run as root, bwrap skips the user namespace (it would map the notebooks to root,
for which the kernel ignores the process limit), the worker keeps only CAP_SYS_ADMIN (namespaces
and mounts), CAP_SETUID/CAP_SETGID (to the job's unprivileged uid), CAP_SETPCAP (to empty the
bounding set) and CAP_KILL (to end the job); run as a normal user, a user namespace is used, with
nested ones disabled.

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
# the worker and the two modules of ours it imports
WORKER_FILES = (WORKER_SCRIPT, *(Path(__file__).with_name(name) for name in ("jobworld.py", "notebook_shell.py")))
SANDBOX_WORK = "/work"  # where a job's folder appears inside bwrap
SANDBOX_TMP = "/tmp"
SANDBOX_SHM = "/dev/shm"
SANDBOX_OWN = "/.nbqa"  # the worker's scripts
SANDBOX_JOBS = "/.nbqa/jobs"  # the host's job folders; a job sees only its own, at /work
JOB_MOUNTS = (SANDBOX_TMP, SANDBOX_SHM, SANDBOX_WORK)  # mounted afresh for every job
WORKER_SCRATCH_MB = 64
BACKENDS = ("bwrap", "process")
ROOT_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL")
USER_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETPCAP")  # in the sandbox's own user namespace


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


def under_job_mounts(paths: list[str]) -> list[str]:
    """The folders among `paths` that each job's fresh /tmp, /dev/shm or /work would cover."""
    return [p for p in paths if any(p.startswith(point + "/") for point in JOB_MOUNTS)]


def _bind_with_parents(args: list[str], source: str, dest: str, option: str = "--ro-bind") -> None:
    # bwrap creates missing parents with the host's modes; a 0700 home would then hide the
    # interpreter from the unprivileged sandbox user
    parents = list(reversed(PurePosixPath(dest).parents))[1:]
    for parent in parents:
        args += ["--perms", "0755", "--dir", str(parent)]
    args += [option, source, dest]


def bwrap_command(worker_args: list[str], jobs_dir: str, env: dict[str, str]) -> list[str]:
    args = [bwrap_path() or "bwrap", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        capabilities = ROOT_CAPABILITIES
    else:
        args += ["--unshare-all", "--unshare-user", "--disable-userns"]
        capabilities = USER_CAPABILITIES
    for capability in capabilities:
        args += ["--cap-add", capability]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        target = Path("/") / name
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # the worker's own scratch (its home: IPython's profile, matplotlib's cache), in memory and
    # small; each job gets fresh ones over these
    args += ["--perms", "1777", "--size", str(WORKER_SCRATCH_MB << 20), "--tmpfs", SANDBOX_TMP]
    args += ["--perms", "1777", "--size", str(1 << 20), "--tmpfs", SANDBOX_SHM]
    args += ["--perms", "0755", "--dir", SANDBOX_WORK, "--perms", "0755", "--dir", SANDBOX_OWN]
    for script in WORKER_FILES:
        args += ["--ro-bind", str(script), f"{SANDBOX_OWN}/{script.name}"]
    args += ["--bind", jobs_dir, SANDBOX_JOBS]
    # after the scratch mounts, so that an installation under /tmp or /work is not covered
    for path in python_paths():
        _bind_with_parents(args, path, path)
    args += ["--chdir", "/", "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args + [sys.executable, "-B", f"{SANDBOX_OWN}/{WORKER_SCRIPT.name}", *worker_args]
def process_command(worker_args: list[str]) -> list[str]:
    return [sys.executable, "-B", str(WORKER_SCRIPT), *worker_args]
