"""A small dataset folder in the published layout, written with the project's own schemas."""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa
import pyarrow.parquet as pq

from nbqa_builder.records import FILE_SCHEMA, Answer, DataFile, Task, TaskFile, tasks_to_table


def make_task(
    task_id: str,
    answers: list[tuple[str, str]],
    concepts: tuple[str, ...] = ("Summary Statistics",),
    difficulty: str = "easy",
    files: dict[str, bytes] | None = None,
) -> Task:
    """A task whose label is rendered from `answers`; `files` maps the path the code reads to bytes."""
    label = " ".join(f"@{n}[{v}]" for n, v in answers)
    files = files or {}
    return Task(
        task=f"question of {task_id}",
        file_names=[os.path.basename(p) for p in files],
        concepts=list(concepts),
        difficulty=difficulty,
        constraints="round to two decimals",
        format=" ".join(f"@{n}[value]" for n, _ in answers),
        answer=label,
        label=label,
        solution=[],
        github_repo="owner/repo",
        ipynb_name="analysis.ipynb",
        id=task_id,
        answers=[Answer(n, v) for n, v in answers],
        data_files=[TaskFile(p, hashlib.sha256(b).hexdigest(), len(b)) for p, b in files.items()],
    )


def write_dataset(root: str, configs: dict[str, list[Task]], files: dict[str, bytes] | None = None) -> str:
    """`root/data/<config>/train-00000-of-00001.parquet` per config, and the `files` config."""
    for config, tasks in configs.items():
        os.makedirs(os.path.join(root, "data", config), exist_ok=True)
        pq.write_table(tasks_to_table(tasks), os.path.join(root, "data", config, "train-00000-of-00001.parquet"))
    if files is not None:
        by_sha: dict[str, DataFile] = {}
        for path, content in files.items():
            sha = hashlib.sha256(content).hexdigest()
            by_sha.setdefault(sha, DataFile(sha, len(content), content)).paths.append(path)
        rows = [f.__dict__ for f in by_sha.values()]
        os.makedirs(os.path.join(root, "data", "files"), exist_ok=True)
        pq.write_table(
            pa.Table.from_pylist(rows, schema=FILE_SCHEMA), os.path.join(root, "data", "files", "train-00000.parquet")
        )
    return root
