"""Resource limits of a sandboxed job and the environment handed to it.

The limits are enforced at three levels: on each process of a notebook by the kernel (setrlimit:
address space, processes, file size, CPU seconds), on the notebook's whole process tree (memory:
a cgroup v2 where the machine offers one, else the job's init watches it; the capped tmpfs of
/tmp and /dev/shm), and outside by the host (wall-clock watchdogs per cell and per job, caps on
the bytes a cell and a whole notebook may send back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 120.0  # wall time of one cell; the paper's search used 180 s per execution
    total_timeout_s: float = 600.0  # wall time of a whole notebook or task
    memory_mb: int = 4096  # memory of all the notebook's processes together (and of each one)
    max_processes: int = 64  # processes and threads of the sandbox user (stops fork bombs)
    max_output_bytes: int = 10_000_000  # bytes of output per cell (text and images)
    # bytes of output of a whole notebook: the demo's validate keeps notebooks up to 20 MB, so
    # more than that is not the notebook's own; it bounds a part file at part_size x 20 MB
    max_total_output_bytes: int = 20_000_000
    max_file_mb: int = 1024  # size of any one file the notebook writes
    tmp_mb: int = 1024  # the notebook's /tmp, in memory (bwrap)
    shm_mb: int = 256  # its /dev/shm (bwrap); joblib falls back to /tmp when it is full

    def for_session(self) -> dict:
        """What the in-sandbox worker applies with setrlimit."""
        limits = asdict(self)
        # CPU seconds as a backstop to the host's wall-clock watchdog
        limits["cpu_s"] = int(self.total_timeout_s) + 5
        return limits


# Only these variables reach the sandbox: built from scratch, never copied from os.environ, so
# tokens and keys of the host (GITHUB_TOKEN, OPENAI_API_KEY, HF_TOKEN, ...) never get in.
def sandbox_environment(home: str, tmp: str, hash_seed: int) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "MPLBACKEND": "agg",
        "MPLCONFIGDIR": f"{tmp}/matplotlib",
        # one thread per BLAS: fewer processes counted, and sums in a stable order
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # fixed per warm worker, and different between the two that the determinism runs use
        "PYTHONHASHSEED": str(hash_seed),
    }
