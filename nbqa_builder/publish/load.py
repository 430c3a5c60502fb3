"""Reading a published dataset back: its shards, its tasks, and a task's data files on disk.

    tasks = load_tasks("org/nbqa", "interactive")       # a Hub repository or a local folder
    cwd = materialize(tasks[0], "work")                 # the task's files, where its code reads them

Shared by the exporters and the evaluator, so every reader finds shards and checks file contents
the same way.
"""

from __future__ import annotations

import glob
import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

from nbqa_builder.records import Task, task_from_row

# config -> the data folders it reads (as the card's YAML lists them)
CONFIG_FOLDERS = {
    "all": ("interactive", "sft"),
    "interactive": ("interactive",),
    "sft": ("sft",),
    "visualization": ("visualization",),
    "files": ("files",),
}


class DatasetReadError(ValueError):
    """A dataset folder, shard or task that cannot be read as published; the message names it."""


def config_shard_paths(dataset_dir: str | os.PathLike, config: str, missing_ok: bool = False) -> list[str]:
    """The Parquet shards of one config, in order (`all`: those of `interactive` and `sft`, as the
    card's YAML lists them). None is an error that lists the configs found, unless `missing_ok`."""
    data_dir = os.path.join(os.fspath(dataset_dir), "data")

    def shards(folder: str) -> list[str]:
        return sorted(glob.glob(os.path.join(glob.escape(data_dir), glob.escape(folder), "*.parquet")))

    # a folder named after the config first (datasets written by other tools), then the card's folders
    paths = shards(config) or [p for folder in CONFIG_FOLDERS.get(config, ()) for p in shards(folder)]
    if not paths and not missing_ok:
        found = sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d))) if os.path.isdir(data_dir) else []
        raise DatasetReadError(f"{os.path.join(data_dir, config)}: no Parquet shards"
                               + (f" (configs found: {', '.join(found)})" if found else " (no data/ folder)"))
    return paths


def read_shard_rows(paths: Iterable[str], columns: Iterable[str] | None = None) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(shard, row number, row) for every row, with the columns asked for that the shards have."""
    import pyarrow.parquet as pq

    for path in paths:
        try:
            parquet = pq.ParquetFile(path)
            present = None if columns is None else [c for c in columns if c in parquet.schema_arrow.names]
            table = parquet.read(columns=present)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise DatasetReadError(f"{path}: not a readable Parquet file: {exc}") from None
        for row_no, row in enumerate(table.to_pylist()):
            yield path, row_no, row


def read_file_contents(dataset_dir: str | os.PathLike, wanted: set[str]) -> dict[str, bytes]:
    """sha256 -> bytes for the wanted files of the `files` config; each content is checked."""
    import pyarrow.parquet as pq

    contents: dict[str, bytes] = {}
    if not wanted:
        return contents
    for path in config_shard_paths(dataset_dir, "files", missing_ok=True):
        try:
            table = pq.read_table(path, columns=["sha256", "content"], filters=[("sha256", "in", sorted(wanted))])
        except Exception as exc:
            raise DatasetReadError(f"{path}: not a readable files shard: {exc}") from None
        for row in table.to_pylist():
            if hashlib.sha256(row["content"]).hexdigest() != row["sha256"]:
                raise DatasetReadError(f"{path}: content of file {row['sha256']} does not match its sha256")
            contents[row["sha256"]] = row["content"]
    return contents


@dataclass(eq=False)
class PublishedTask(Task):
    """A task read from a dataset, with the local folder its data files are read from."""

    dataset_dir: str = ""


def dataset_folder(repo_or_dir: str | os.PathLike) -> str:
    """A local dataset folder as it is, or a Hub repository downloaded (tasks and files only)."""
    if os.path.isdir(repo_or_dir):
        return os.fspath(repo_or_dir)
    repo_id = os.fspath(repo_or_dir)
    if repo_id.count("/") != 1:
        raise DatasetReadError(f"{repo_id}: neither a dataset folder nor a Hub repository ORG/NAME")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise DatasetReadError("reading from the Hub needs huggingface_hub: pip install 'nbqa_builder[hub]'") from None
    try:
        return snapshot_download(repo_id, repo_type="dataset", allow_patterns=["README.md", "data/**"])
    except Exception as exc:
        raise DatasetReadError(f"{repo_id}: cannot download ({type(exc).__name__}): {' '.join(str(exc).split())[:200]}") from None


def load_tasks(repo_or_dir: str | os.PathLike, config: str = "all") -> list[PublishedTask]:
    """The tasks of one config (`all`, `interactive`, `sft`, `visualization`)."""
    if config == "files":
        raise DatasetReadError("`files` holds data files, not tasks; materialize(task, directory) writes a task's files")
    folder = dataset_folder(repo_or_dir)
    tasks = []
    for path, row_no, row in read_shard_rows(config_shard_paths(folder, config)):
        if "id" not in row or "solution" not in row:
            raise DatasetReadError(f"{path}: row {row_no}: not a task row")
        task = task_from_row(row)
        tasks.append(PublishedTask(**{**task.__dict__, "dataset_dir": folder}))
    return tasks


def working_layout(task: Task) -> tuple[PurePosixPath, dict[str, PurePosixPath]]:
    """(working directory, data file path as written -> place), all relative to a materialize folder.

    A task's data file paths are relative to its notebook's folder and may climb out of it
    (`../data/sales.csv`). The working directory is the notebook's folder inside its repository
    (`notebooks/`), so the files land where they were in the repository (`data/sales.csv`); a path
    that climbs higher than the repository root gets as many `_up` folders above the working
    directory as it needs, so every file stays inside the materialize folder.
    """
    notebook_dir = [part for part in PurePosixPath((task.ipynb_name or "").replace("\\", "/")).parent.parts
                    if part not in ("", ".", "..", "/")]
    written = {}
    climb = 0
    for data_file in task.data_files:
        path = data_file.path.replace("\\", "/")
        if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
            raise DatasetReadError(f"task {task.id}: data file {data_file.path!r} is an absolute path; it cannot be placed")
        normal = posixpath.normpath(path)
        ups = 0
        for part in normal.split("/"):
            if part != "..":
                break
            ups += 1
        climb = max(climb, ups)
        written[data_file.path] = normal
    padding = ["_up"] * max(0, climb - len(notebook_dir))
    cwd = PurePosixPath(*padding, *notebook_dir) if padding or notebook_dir else PurePosixPath(".")
    places = {}
    for original, normal in written.items():
        place = PurePosixPath(posixpath.normpath(posixpath.join(cwd.as_posix(), normal)))
        if place.parts and place.parts[0] == "..":  # cannot happen with the padding; checked because it writes files
            raise DatasetReadError(f"task {task.id}: data file {original!r} would be written outside the folder")
        places[original] = place
    return cwd, places


def materialize(task: Task | dict[str, Any], directory: str | os.PathLike, dataset: str | os.PathLike | None = None) -> Path:
    """Write a task's data files into `directory` where its code reads them; returns the folder to
    run the code in. `dataset` is the dataset folder or repository (default: where `load_tasks`
    read the task from)."""
    if isinstance(task, dict):
        task = task_from_row(task)
    source = dataset if dataset is not None else getattr(task, "dataset_dir", "")
    if not source:
        raise DatasetReadError(f"task {task.id}: say which dataset its files are in: materialize(task, directory, dataset=...)")
    cwd, places = working_layout(task)
    contents = read_file_contents(dataset_folder(source), {f.sha256 for f in task.data_files})
    root = Path(directory)
    for data_file in task.data_files:
        if data_file.sha256 not in contents:
            raise DatasetReadError(f"task {task.id}: data file {data_file.path!r} ({data_file.sha256[:12]}) is not in the files config")
        target = root / places[data_file.path]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(contents[data_file.sha256])
    (root / cwd).mkdir(parents=True, exist_ok=True)
    return root / cwd
