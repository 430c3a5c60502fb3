"""A cgroup v2 per job: the memory and the process count of a notebook's whole process tree.

Where the machine offers cgroup v2 with the memory and pids controllers, and this process may
create cgroups next to its own (root on most hosts, or a user with a delegated subtree), each job
gets a cgroup of its own: memory.max with no swap, pids.max, and memory.oom.group, so that running
out of memory stops the whole job. Elsewhere (cgroup v1 machines, containers with a read-only
cgroupfs) `JobCgroups.find` says why not, and the job's init watches the memory of the job's
processes instead (jobworld.JobMemoryWatch).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _cgroup2_mount() -> Path | None:
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split()
                separator = fields.index("-")
                if fields[separator + 1] == "cgroup2":
                    return Path(fields[4])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _own_cgroup() -> str | None:
    try:
        with open("/proc/self/cgroup") as handle:
            for line in handle:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


class JobCgroup:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def oom_killed(self) -> bool:
        try:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
        except (OSError, ValueError):
            return False
        return int(events.get("oom_kill", 0)) > 0 or int(events.get("oom_group_kill", 0)) > 0

    def kill(self) -> None:
        try:
            (self.path / "cgroup.kill").write_text("1")  # Linux 5.14+
            return
        except OSError:
            pass
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for _ in range(200):  # the killed processes leave the cgroup within milliseconds
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.005)


class JobCgroups:
    """Where this process makes its jobs' cgroups."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent

    @classmethod
    def find(cls) -> tuple[JobCgroups | None, str]:
        """(cgroups, how) where usable, else (None, why not)."""
        mount, own = _cgroup2_mount(), _own_cgroup()
        if mount is None or own is None:
            return None, "no cgroup v2 hierarchy"
        own_dir = mount / own.lstrip("/")
        # next to our own cgroup: a cgroup with processes may not hand controllers to children
        parent = own_dir if own == "/" else own_dir.parent
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError as exc:
            return None, f"cannot read {parent}/cgroup.subtree_control ({exc.strerror})"
        if not {"memory", "pids"} <= set(enabled):
            return None, f"the memory and pids controllers are not enabled under {parent}"
        probe = cls(parent)
        try:
            cgroup = probe.create(f"probe-{os.getpid()}", memory_bytes=1 << 30, max_processes=64)
        except OSError as exc:
            return None, f"cannot make a cgroup under {parent} ({exc.strerror})"
        cgroup.remove()
        return probe, f"cgroup v2 under {parent}"

    def create(self, name: str, memory_bytes: int, max_processes: int) -> JobCgroup:
        path = self.parent / f"nbqa-{os.getpid()}-{name}"
        path.mkdir()
        cgroup = JobCgroup(path)
        try:
            (path / "memory.max").write_text(str(memory_bytes))
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
            (path / "memory.oom.group").write_text("1")
            (path / "pids.max").write_text(str(max_processes))
        except OSError:
            cgroup.remove()
            raise
        return cgroup
