"""A fresh world for each notebook: what the forked job processes do inside the sandbox.

Standalone, like worker.py (which imports it inside the sandbox): standard library only.

For each job the warm worker forks a keeper, which forks the job's init, which forks the session
(the keeper and the init ahead of the job, while the host does other work; worker.py):

- keeper: new mount, IPC and pid namespaces; a fresh tmpfs, each capped, on /tmp and /dev/shm;
  the job's own folder on /work; the folder of job folders hidden. The Python installation keeps
  its own paths even where it lives under /tmp or /work (bound again over the fresh mounts).
  Then it forks the init and exits.
- init: pid 1 of the job's pid namespace, so every process of the job (orphans included) is its
  descendant and dies with it. It mounts the job's own /proc, joins a fresh session keyring,
  gives up every privilege (uid, capabilities, bounding set), installs the seccomp filter, forks
  the session and then reaps; where no cgroup bounds the job, it also watches the memory of the
  whole job (`JobMemoryWatch`).
- session: the notebook (worker.py).

The `process` backend uses only the init and its watch (no namespaces, no filter): trusted code.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import struct
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.syscall.restype = ctypes.c_long

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_CHILD_SUBREAPER = 38, 47, 4, 36
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
KEYCTL_JOIN_SESSION_KEYRING = 1


class Arch:
    """Syscall numbers this module needs, per machine (the seccomp filter is arch-specific)."""

    def __init__(self, audit_arch, numbers, x32_bit=None):
        self.audit_arch, self.numbers, self.x32_bit = audit_arch, numbers, x32_bit


_SHARED_NUMBERS = {  # the same on every architecture since Linux 5.1
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
    "mount_setattr": 442,
}  # fmt: skip
ARCHES = {
    "x86_64": Arch(0xC000003E, {
        "clone": 56, "ptrace": 101, "syslog": 103, "capset": 126, "pivot_root": 155, "chroot": 161,
        "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
        "sethostname": 170, "setdomainname": 171, "init_module": 175, "delete_module": 176,
        "quotactl": 179, "lookup_dcookie": 212, "kexec_load": 246, "add_key": 248, "request_key": 249,
        "keyctl": 250, "unshare": 272, "perf_event_open": 298, "name_to_handle_at": 303,
        "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
        "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, **_SHARED_NUMBERS,
    }, x32_bit=0x40000000),
    "aarch64": Arch(0xC00000B7, {
        "clone": 220, "ptrace": 117, "syslog": 116, "capset": 91, "pivot_root": 41, "chroot": 51,
        "acct": 89, "mount": 40, "umount2": 39, "swapon": 224, "swapoff": 225, "reboot": 142,
        "sethostname": 161, "setdomainname": 162, "init_module": 105, "delete_module": 106,
        "quotactl": 60, "lookup_dcookie": 18, "kexec_load": 104, "add_key": 217, "request_key": 218,
        "keyctl": 219, "unshare": 97, "perf_event_open": 241, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271,
        "finit_module": 273, "kexec_file_load": 294, "bpf": 280, "userfaultfd": 282, **_SHARED_NUMBERS,
    }),
}  # fmt: skip

# What notebook code may not call, as in Docker's default profile: the kernel's keyrings (not
# namespaced: a key would outlive the job), namespaces and mounts (nested user namespaces
# included), tracing and other processes' memory, kernel modules, eBPF, perf, io_uring (which
# bypasses the filter), and the rest of the system administration calls.
DENIED_CALLS = (
    "add_key", "request_key", "keyctl", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "ptrace",
    "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "lookup_dcookie",
    "name_to_handle_at", "open_by_handle_at", "sethostname", "setdomainname",
)  # fmt: skip
# clone() with any of these flags makes a namespace; clone3 gets ENOSYS, so glibc falls back to clone
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


class IsolationError(RuntimeError):
    """The job's world could not be set up: the sandbox is broken, not the notebook."""


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(errno)}")


def prctl(option, value=0):
    _check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _mount(source, target, fstype, flags, data=None):
    _check(
        libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                   flags, data.encode() if data else None),
        f"mount {target}",
    )


# ---------------------------------------------------------------------------------------------
# keeper


def enter_job_namespaces(job_folder, work, scratch_mib, rebinds, hidden):
    """New mount, IPC and pid namespaces (the pid one for the keeper's children) and the job's mounts.

    `scratch_mib` maps each scratch mount point (/tmp, /dev/shm) to its size cap; `work` gets the
    job's folder; `rebinds` are folders of the Python installation under these mount points, bound
    again at their own paths on top (their parent folders in `work` are made by the host);
    `hidden` (the folder of job folders) gets an empty read-only tmpfs.
    """
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of the job reaches the worker's mounts
    # reach the installation's folders through descriptors opened before they are covered
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in rebinds]
    for point, mib in scratch_mib.items():
        _mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(mib)}m,mode=1777")
    _mount(job_folder, work, None, MS_BIND)
    _mount("tmpfs", hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755")
    for path, fd in kept:
        os.makedirs(path, 0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)  # read-only, as it was bound
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# init


def mount_own_proc():
    """The job's /proc shows only the job's processes (called by its pid 1)."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def join_fresh_keyring():
    # a new, empty session keyring instead of the one inherited from the host (the filter then
    # refuses the keyring calls altogether)
    arch = machine_arch()
    libc.syscall(ctypes.c_long(arch.numbers["keyctl"]), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), None)


def drop_privileges(uid):
    """No capability in any set (bounding and ambient included), and `uid` if given (as root)."""
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(last_cap + 1):
        prctl(PR_CAPBSET_DROP, cap)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    # capset(version 3, this process): effective, permitted and inheritable all empty
    header = struct.pack("Ii", 0x20080522, 0)
    data = bytes(24)
    arch = machine_arch()
    _check(libc.syscall(ctypes.c_long(arch.numbers["capset"]), header, data), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def machine_arch():
    arch = ARCHES.get(platform.machine())
    if arch is None:
        raise IsolationError(f"no seccomp filter for {platform.machine()} (known: {', '.join(ARCHES)})")
    return arch


def seccomp_program(arch):
    """The classic-BPF filter: other architectures killed, DENIED_CALLS fail with EPERM."""
    def op(code, k, jt=0, jf=0):
        return struct.pack("HBBI", code, jt, jf, k)

    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill, errno = 0x7FFF0000, 0x80000000, 0x00050000
    eperm, enosys = errno | 1, errno | 38
    program = [op(load, 4), op(jeq, arch.audit_arch, 1, 0), op(ret, kill), op(load, 0)]
    if arch.x32_bit:  # x32 numbers would pass the checks below under other names
        program += [op(jge, arch.x32_bit, 0, 1), op(ret, eperm)]
    for name in DENIED_CALLS:
        program += [op(jeq, arch.numbers[name], 0, 1), op(ret, eperm)]
    program += [op(jeq, arch.numbers["clone3"], 0, 1), op(ret, enosys)]
    # clone(flags, ...): the low half of the first argument holds the flags
    program += [op(jeq, arch.numbers["clone"], 0, 3), op(load, 16), op(jset, CLONE_NAMESPACE_FLAGS, 0, 1), op(ret, eperm)]
    program.append(op(ret, allow))
    return b"".join(program)


def install_seccomp():
    program = seccomp_program(machine_arch())
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def die_with_parent(parent_pid):
    """SIGKILL when the parent goes; if it has already gone, now."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


# ---------------------------------------------------------------------------------------------
# the init's watch over the job's memory (where no cgroup bounds it)


def descendants(root):
    """Every process below `root`: from /proc/<pid>/task/<tid>/children where the kernel has
    them (CONFIG_PROC_CHILDREN), else from every process's parent in /proc/<pid>/stat."""
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        return _descendants_by_parent(root)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def _descendants_by_parent(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kib_fields(path, names):
    values = {}
    try:
        with open(path) as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name in names:
                    values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return values


class JobMemoryWatch:
    """The memory of a whole job, measured from its init, for machines without a usable cgroup v2.

    used = the proportional share (Pss) of the anonymous and shared-memory pages mapped by the
    job's processes, plus the memfd files they hold and the SysV segments no one has attached
    (neither shows in any Pss), minus the warm worker's own anonymous memory, of which the job's
    processes map a share. So a job is never stopped below its limit, and is stopped at most that
    share (~150 MB) above it, within `interval_s`. /tmp and /dev/shm have caps of their own.
    Pss costs milliseconds to read for a large process; the resident size (an upper bound of it)
    costs microseconds, so Pss is read only when that bound is over the limit.
    """

    interval_s = 0.1

    def __init__(self, limit_bytes):
        self.limit_bytes = limit_bytes
        own = _kib_fields("/proc/self/status", ("RssAnon", "RssShmem"))
        self.worker_share = sum(own.values())  # the init is a fresh copy of the worker

    def over_limit(self, pids):
        """The job's memory when it is over the limit, else None."""
        extra = held_memfd_bytes(pids) + unattached_sysv_bytes() - self.worker_share
        bound = extra + sum(sum(_kib_fields(f"/proc/{pid}/status", ("RssAnon", "RssShmem")).values()) for pid in pids)
        if bound <= self.limit_bytes:
            return None
        used = extra + sum(proportional_bytes(pid) for pid in pids)
        return used if used > self.limit_bytes else None


def proportional_bytes(pid):
    rollup = _kib_fields(f"/proc/{pid}/smaps_rollup", ("Pss_Anon", "Pss_Shmem", "Pss"))
    if "Pss_Anon" in rollup:
        return rollup["Pss_Anon"] + rollup.get("Pss_Shmem", 0)
    return rollup.get("Pss", 0)  # kernels before 5.10 split Pss no further


def held_memfd_bytes(pids):
    """Bytes of the memfd files the processes hold open (each file once)."""
    sizes = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                    info = os.stat(f"/proc/{pid}/fd/{fd}")
                    sizes[info.st_ino] = info.st_blocks * 512
            except OSError:
                continue
    return sum(sizes.values())


def unattached_sysv_bytes():
    """Resident bytes of SysV segments of this IPC namespace that no process has attached."""
    try:
        with open("/proc/sysvipc/shm") as handle:
            header = handle.readline().split()
            rows = [line.split() for line in handle]
    except OSError:
        return 0
    if "nattch" not in header or "rss" not in header:
        return 0
    nattch, rss = header.index("nattch"), header.index("rss")
    return sum(int(row[rss]) for row in rows if len(row) > rss and row[nattch] == "0")


def keep_job(watch, status_fd, own_pid_namespace):
    """The init's loop: reap every process of the job, and stop the job if `watch` says so.

    Returns (exits) when no process of the job is left.
    """
    me = os.getpid()
    while True:
        try:
            while os.waitpid(-1, 0 if watch is None else os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if watch is None:
            continue
        # pid 1 of its own namespace sees exactly the job in its /proc
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me] if own_pid_namespace else descendants(me)
        used = watch.over_limit(pids)
        if used is not None:
            report = {
                "status": "memory_limit",
                "message": f"the notebook's processes used {used >> 20} MB together, "
                f"more than its {watch.limit_bytes >> 20} MB",
            }
            try:
                os.write(status_fd, json.dumps(report).encode() + b"\n")
            except OSError:
                pass
            if own_pid_namespace:
                os.kill(-1, signal.SIGKILL)  # pid 1: every other process of the job
            else:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        time.sleep(watch.interval_s)
