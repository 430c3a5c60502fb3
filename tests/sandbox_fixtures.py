"""What the tests of the sandbox expect to find in a job's world besides what notebooks leave."""

from __future__ import annotations

from pathlib import PurePosixPath

from nbqa_builder.sandbox.backends import python_paths, under_job_mounts


def interpreter_entries(mount: str) -> list[str]:
    """The names that binding the interpreter puts in a job's fresh `mount` (`/tmp`): a
    virtual environment made in /tmp, as users make them, is bound back at its own path there."""
    return sorted({PurePosixPath(path).relative_to(mount).parts[0]
                   for path in under_job_mounts(python_paths()) if path.startswith(mount + "/")})
