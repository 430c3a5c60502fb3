"""A file-system-backed stand-in for huggingface_hub.HfApi: each repository is a folder.

It implements the three calls a push makes, and applies commit operations the way the Hub does: all
of them or (when told to fail) none.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StoredFile:
    path: str
    blob_id: str
    size: int
    lfs: None = None


class FolderHub:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.private: dict[str, bool] = {}
        self.commits: list[list] = []
        self.fail_commits = 0  # the next n commits fail before anything is applied (a dropped connection)

    def folder(self, repo_id: str) -> Path:
        return self.root / repo_id

    def create_repo(self, repo_id: str, *, repo_type: str, private: bool = False, exist_ok: bool = False, **_):
        assert repo_type == "dataset"
        if self.folder(repo_id).exists() and not exist_ok:
            raise FileExistsError(repo_id)
        self.folder(repo_id).mkdir(parents=True, exist_ok=True)
        self.private.setdefault(repo_id, private)

    def list_repo_tree(self, repo_id: str, *, repo_type: str, recursive: bool = False, **_):
        base = self.folder(repo_id)
        for path in sorted(base.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
                yield StoredFile(path.relative_to(base).as_posix(), blob, len(data))

    def create_commit(self, repo_id: str, operations, *, commit_message: str, repo_type: str, **_):
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        operations = list(operations)
        if self.fail_commits:
            self.fail_commits -= 1
            raise ConnectionError("connection reset by peer")
        base = self.folder(repo_id)
        for op in operations:
            target = base / op.path_in_repo
            if isinstance(op, CommitOperationAdd):
                target.parent.mkdir(parents=True, exist_ok=True)
                source = op.path_or_fileobj
                if isinstance(source, (str, Path)):
                    shutil.copyfile(source, target)
                else:
                    target.write_bytes(source if isinstance(source, bytes) else source.read())
            elif isinstance(op, CommitOperationDelete):
                target.unlink()
                for parent in target.parents:  # git has no empty folders
                    if parent == base or any(parent.iterdir()):
                        break
                    parent.rmdir()
        self.commits.append(operations)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
