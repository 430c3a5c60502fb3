"""Resource limits of a sandboxed job and the environment handed to it.

The limits are enforced twice: inside the sandbox by the kernel (setrlimit on each notebook
session: address space, processes, file size, CPU seconds) and outside by the host (wall-clock
watchdogs per cell and per job, a cap on the bytes a session may send back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 120.0  # wall time of one cell; the paper's search used 180 s per execution
    total_timeout_s: float = 600.0  # wall time of a whole notebook or task
    memory_mb: int = 4096  # address space a session may add on top of the warm worker's
    max_processes: int = 64  # processes and threads of the sandbox user (stops fork bombs)
    max_output_bytes: int = 10_000_000  # bytes of output per cell (text and images)
    max_file_mb: int = 1024  # size of any one file the notebook writes

    def for_session(self) -> dict:
        """What the in-sandbox worker applies with setrlimit."""
        limits = asdict(self)
        # CPU seconds as a backstop to the host's wall-clock watchdog
        limits["cpu_s"] = int(self.total_timeout_s) + 5
        return limits


# Only these variables reach the sandbox: built from scratch, never copied from os.environ, so
# tokens and keys of the host (GITHUB_TOKEN, OPENAI_API_KEY, HF_TOKEN, ...) never get in.
def sandbox_environment(home: str, tmp: str) -> dict[str, str]:
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
        "PYTHONHASHSEED": "0",
    }
