"""The crawl's mirror on disk: one folder per repository, the files chosen from a tree, written whole or not at all.

`<output>/_work/crawl/mirror/<owner>__<name>/<path>`, with the provenance file `.nbqa-repo.json`
(repo, commit, license, url) in each repository folder, as the local source reads it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from nbqa_builder.recipe import GithubSource

# "version https://git-lfs.github.com/spec/v1" opens every Git LFS pointer file (git-lfs spec)
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"
LFS_POINTER_MAX_BYTES = 1024  # pointer files are ~130 bytes; the spec caps them at 1024
REPO_FILE = ".nbqa-repo.json"


def mirror_folder(full_name: str) -> str:
    """`owner/name` -> `owner__name` (owners cannot hold "_", so the split is unambiguous)."""
    owner, name = full_name.split("/", 1)
    return f"{owner}__{name}"


def git_blob_sha(content: bytes) -> str:
    """The id git gives a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def is_lfs_pointer(content: bytes) -> bool:
    return len(content) <= LFS_POINTER_MAX_BYTES and content.startswith(LFS_POINTER_PREFIX)


def decode_blob(content: Any, encoding: Any, expected_sha: str) -> bytes:
    """A git blob reply's bytes; ValueError when it is garbled or does not match its sha."""
    if not isinstance(content, str):
        raise ValueError(f"blob content is {type(content).__name__}, not text")
    if encoding == "base64":
        data = base64.b64decode(content.replace("\n", ""), validate=True)
    elif encoding in ("utf-8", "utf8"):
        data = content.encode("utf-8")
    else:
        raise ValueError(f"unknown blob encoding {encoding!r}")
    if git_blob_sha(data) != expected_sha:
        raise ValueError(f"blob content does not hash to {expected_sha}")
    return data


def safe_repo_path(path: Any) -> str | None:
    """The path if it can be written under the repository folder as it is; None for `..`, absolute or odd paths."""
    if not isinstance(path, str) or not path or "\0" in path or "\\" in path or path.startswith("/"):
        return None
    parts = PurePosixPath(path).parts
    if any(part in ("", ".", "..") for part in parts) or path != "/".join(parts):
        return None
    if any(part.startswith(".nbqa") for part in parts):
        return None  # our own names in the mirror
    return path


def choose_files(settings: GithubSource, entries: list) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]]]:
    """The tree's files to fetch, as rows of the crawl state (path, kind, blob_sha, size, status),
    and the (path, blob, size) of its other files, which a notebook may yet be found to read."""
    files, others = [], []
    for path, kind_mode, blob_sha, size in entries:
        if kind_mode not in (("blob", "100644"), ("blob", "100755")):
            continue  # directories, symlinks, submodules
        well_formed = isinstance(blob_sha, str) and len(blob_sha) == 40 and isinstance(size, int) and size >= 0
        safe = safe_repo_path(path)
        choice = choose_file(settings, path, size if isinstance(size, int) else 0)
        if choice is None:
            if safe is not None and well_formed:
                others.append((path, blob_sha, size))
            continue
        kind, status = choice
        if safe is None:
            status = "error:bad_path"
        elif not well_formed:
            status = "error:bad_reply"
        files.append({"path": path, "kind": kind, "blob_sha": blob_sha, "size": size, "status": status})
    return files, others


def choose_file(settings: GithubSource, path: str, size: int) -> tuple[str, str] | None:
    """(kind, status) for a tree entry we keep, None for one that is neither notebook nor data."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in settings.notebook_extensions:
        kind, limit = "notebook", settings.max_notebook_bytes
    elif suffix in settings.data_extensions:
        kind, limit = "data", settings.max_data_file_bytes
    else:
        return None
    return kind, ("too_large" if size > limit else "pending")


def mirror_holds(target: Path, blob_sha: str, size: int | None = None) -> bool:
    """Whether the mirror already holds this file with this content (a run killed before it could record it)."""
    try:
        if size is not None and target.stat().st_size != size:
            return False
        return git_blob_sha(target.read_bytes()) == blob_sha
    except OSError:
        return False


def write_atomically(target: Path, content: bytes, tmp_dir: Path) -> None:
    """Write `content` to `target` so that the target is either absent or whole, even if killed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{os.getpid()}-{hashlib.sha1(str(target).encode()).hexdigest()}"
    with tmp.open("wb") as out:
        out.write(content)
    os.replace(tmp, target)


def remove_folder(folder: Path, tmp_dir: Path) -> None:
    """Remove a repository's folder from the mirror: renamed away first, so it is gone at once, even if killed."""
    if not folder.exists():
        return
    trash = tmp_dir / f"removed-{os.getpid()}-{folder.name}"
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def remove_stray_folders(mirror: Path, kept: set[str], tmp_dir: Path) -> list[str]:
    """Remove the mirror's folders of repositories that are not listed or crawled (they vanished,
    possibly in a run killed before it could remove them); returns their names."""
    keep = {mirror_folder(name) for name in kept}
    stray = sorted(p.name for p in mirror.iterdir() if p.is_dir() and p.name not in keep)
    for name in stray:
        remove_folder(mirror / name, tmp_dir)
    return stray


def html_base(api_url: str) -> str:
    """https://api.github.com -> https://github.com; an Enterprise https://HOST/api/v3 -> https://HOST."""
    api_url = api_url.rstrip("/")
    if api_url == "https://api.github.com":
        return "https://github.com"
    return api_url.removesuffix("/api/v3")


def repo_file_content(full_name: str, commit: str, license: str | None, html_base: str) -> bytes:
    """The provenance file the local source reads."""
    record = {"repo": full_name, "commit": commit, "license": license, "url": f"{html_base}/{full_name}"}
    return (json.dumps(record, indent=2) + "\n").encode("utf-8")
