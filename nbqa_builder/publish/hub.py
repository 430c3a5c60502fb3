"""Publishing a built dataset folder to a Hugging Face Hub dataset repository.

One push is one commit: the files that differ from the repository (by content hash), and a delete
for every published file the new build no longer has (a stale `train-00003-of-00004.parquet` after
a rebuild into three shards). Readers see the old version or the new one, never a mix.

Resuming an interrupted push: run it again. The commit is atomic, so an interrupted one left the
repository as it was; the diff is recomputed against the repository's file list, so files already
there with the same content are not sent again; and the Hub stores uploaded blobs by content
(LFS/Xet), so the large files a failed attempt had already sent are recognised and skipped by
huggingface_hub. We chose this over `upload_large_folder` (resumable, but many commits and no
deletes: a half-published dataset with stale shards would be visible) and over per-shard commits
with a state file (the same visibility problem, and one more file to keep right).

The client is any object with HfApi's `create_repo`, `list_repo_tree` and `create_commit`; by
default `huggingface_hub.HfApi(token=$HF_TOKEN)`. The token is never printed or logged here.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbqa_builder.publish.card import LICENSES_FILE
from nbqa_builder.publish.chart import CHART_NAME

log = logging.getLogger(__name__)

# What a build writes at the top of the dataset folder; with everything under data/ these are the
# repository paths a push owns (other files in the repository, e.g. .gitattributes, are left alone).
BUILD_FILES = ("README.md", "stats.json", CHART_NAME, LICENSES_FILE)


class PushError(Exception):
    """A push that could not be done; the message is one line, for the user, without the token."""


@dataclass
class PushReport:
    repo_id: str
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0


def owned_by_build(path: str) -> bool:
    return path.startswith("data/") or path in BUILD_FILES


def local_files(folder: Path) -> dict[str, Path]:
    """Repository path -> file, for every file a build wrote (no hidden files or folders)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in relative.split("/")) and owned_by_build(relative):
            files[relative] = path
    return files


def _hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file: the Hub reports the first for LFS files, the second otherwise."""
    sha256, blob = hashlib.sha256(), hashlib.sha1()
    blob.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def _same_content(remote: Any, path: Path) -> bool:
    sha256, blob_id = _hashes(path)
    lfs = getattr(remote, "lfs", None)
    remote_sha256 = getattr(lfs, "sha256", None) if lfs is not None else None
    if remote_sha256 is not None:
        return remote_sha256 == sha256
    return getattr(remote, "blob_id", None) == blob_id


def default_client() -> Any:
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise PushError("pushing needs huggingface_hub: pip install 'nbqa_builder[hub]'") from None
    # None lets huggingface_hub fall back to a token saved by `hf auth login`
    return HfApi(token=os.environ.get("HF_TOKEN") or None)


def push_dataset(folder: str | Path, repo_id: str, private: bool = False, client: Any = None,
                 commit_message: str | None = None) -> PushReport:
    """Make the dataset repository `repo_id` hold exactly the build in `folder` (see module doc)."""
    folder = Path(folder)
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise PushError(f"{folder}: not a built dataset (no README.md and data/); run the recipe first")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PushError(f"{repo_id!r}: a repository is named ORG/NAME")
    try:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    except ImportError:
        raise PushError("pushing needs huggingface_hub: pip install 'nbqa_builder[hub]'") from None
    client = client if client is not None else default_client()
    report = PushReport(repo_id)
    try:
        client.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        remote = {item.path: item for item in client.list_repo_tree(repo_id, repo_type="dataset", recursive=True)
                  if not hasattr(item, "tree_id")}  # folders have a tree_id, files a blob_id
        local = local_files(folder)
        operations: list[Any] = []
        for path, file in local.items():
            if path in remote and _same_content(remote[path], file):
                report.unchanged += 1
                continue
            operations.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(file)))
            report.uploaded.append(path)
        for path in sorted(remote):
            if owned_by_build(path) and path not in local:
                operations.append(CommitOperationDelete(path_in_repo=path))
                report.deleted.append(path)
        if operations:
            log.info("pushing %s: %d files to upload, %d to delete", repo_id, len(report.uploaded), len(report.deleted))
            client.create_commit(repo_id, operations=operations, repo_type="dataset",
                                 commit_message=commit_message or f"nbqa_builder: {len(report.uploaded)} files, "
                                 f"{len(report.deleted)} removed")
    except PushError:
        raise
    except Exception as exc:  # HTTP, network, offline mode, permissions: all end the push the same way
        raise PushError(f"push to {repo_id} failed ({type(exc).__name__}): {_one_line(exc)}; "
                        "run the same command again to resume") from None
    return report


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    token = os.environ.get("HF_TOKEN")
    if token:  # never echo it, even if a library put it in a message
        text = text.replace(token, "<HF_TOKEN>")
    return text[:300]
