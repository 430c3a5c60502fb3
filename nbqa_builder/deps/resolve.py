"""Resolve a notebook's data refs to files of its repository, and describe the files found.

A local path is tried relative to the notebook's folder, then to the repository root, then by its
file name anywhere in the repository (unique name: found; several: the one whose trailing folders
match best, else `ambiguous`). Absolute paths (`C:\\Users\\me\\x.csv`, `~/x.csv`) can only be
matched by name. A URL of the notebook's own repository on GitHub resolves to the local file, and
a URL whose file the crawl fetched resolves to the copy it left in the repository's folder
(deps/fetched.py); the deps step then rewrites the code to read it (deps/rewrite.py). A glob
pattern becomes one ref per file it matches, written as the code's `glob` call gives it. A fetch over the network
(`requests.get`, `sns.load_dataset`) stays a `url` ref: no file of the repository can stand for it.

Nothing outside `repo_dir` is ever read: a relative path that climbs out of the repository is
`missing`, and a symlink whose target lies outside is treated as absent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re
from dataclasses import dataclass

from nbqa_builder.deps.fetched import FETCHED_DIR, FetchedIndex, github_file, read_fetched_index
from nbqa_builder.deps.paths import is_url
from nbqa_builder.records import AMBIGUOUS, DYNAMIC, FOUND, GLOB, MISSING, NETWORK, URL, DataRef, Notebook

SKIPPED_DIRS = frozenset((".git", ".hg", ".svn"))
SNIFF_BYTES = 8192  # a NUL byte in the first 8 KB marks a binary file (as git does)
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    sha256: str | None  # None when the file is larger than max_hash_bytes
    size: int
    rows: int | None  # lines of a text file; None for binary files and unhashed ones


class RepoFiles:
    """The files of one repository: relative POSIX paths, an index by file name, and file facts
    computed at most once per file."""

    def __init__(self, repo_dir: str | os.PathLike[str], max_hash_bytes: int | None = None) -> None:
        self.root = os.path.realpath(repo_dir)
        self.max_hash_bytes = max_hash_bytes
        self.paths: set[str] = set()
        self.by_name: dict[str, list[str]] = {}
        self._symlinks: set[str] = set()
        self._info: dict[str, FileInfo | None] = {}
        self._scan()
        # the files the crawl fetched for the URLs its notebooks read, and the URLs it could not fetch
        self.fetched: FetchedIndex = read_fetched_index(self.root)

    def _scan(self) -> None:
        pending = [""]
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(os.path.join(self.root, folder)) as entries:
                    entries = list(entries)
            except OSError:  # unreadable folder: its files are simply not there
                continue
            for entry in entries:
                relative = f"{folder}/{entry.name}" if folder else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIPPED_DIRS:
                            pending.append(relative)
                    elif entry.is_file():  # follows a symlink to a file: checked when read
                        self.paths.add(relative)
                        if not relative.startswith(FETCHED_DIR + "/"):  # a URL's copy stands for its URL only
                            self.by_name.setdefault(entry.name, []).append(relative)
                        if entry.is_symlink():
                            self._symlinks.add(relative)
                except OSError:
                    continue

    def __contains__(self, path: str) -> bool:
        return path in self.paths

    def __len__(self) -> int:
        return len(self.paths)

    def info(self, path: str) -> FileInfo | None:
        """sha256, size and rows of a file of the index; None when it cannot be read safely."""
        if path not in self._info:
            self._info[path] = self._read_info(path) if path in self.paths else None
        return self._info[path]

    def _read_info(self, path: str) -> FileInfo | None:
        full = os.path.join(self.root, path)
        if path in self._symlinks:
            target = os.path.realpath(full)
            if os.path.commonpath([self.root, target]) != self.root:
                return None  # a link out of the repository
        try:
            size = os.path.getsize(full)
            if self.max_hash_bytes is not None and size > self.max_hash_bytes:
                return FileInfo(sha256=None, size=size, rows=None)
            digest = hashlib.sha256()
            size = newlines = carriage_returns = 0
            binary = False
            last = b""
            with open(full, "rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    if not size:
                        binary = b"\0" in chunk[:SNIFF_BYTES]
                    digest.update(chunk)
                    newlines += chunk.count(b"\n")
                    carriage_returns += chunk.count(b"\r")
                    size += len(chunk)
                    last = chunk[-1:]
        except OSError:
            return None
        # old Mac files end lines with "\r" alone (some pandas_exercises CSVs)
        breaks = newlines or carriage_returns
        rows = None if binary else breaks + (1 if last not in (b"", b"\n", b"\r") else 0)
        return FileInfo(sha256=digest.hexdigest(), size=size, rows=rows)


def resolve_data_refs(notebook: Notebook, refs: list[DataRef], repo_files: RepoFiles) -> None:
    """Set status, resolved, sha256, size and rows of each ref; dynamic refs stay dynamic, network
    fetches stay `url`; a glob ref is replaced, in place in `refs`, by one ref per file it matches
    (a pattern that matches nothing stays one `missing` ref)."""
    notebook_dir = posixpath.dirname(notebook.path.replace("\\", "/"))
    repo_ids = _repo_ids(notebook.repo)
    resolved_refs: list[DataRef] = []
    for ref in refs:
        ref.resolved = ref.sha256 = ref.size = ref.rows = None
        if ref.status == DYNAMIC or ref.kind == NETWORK:
            resolved_refs.append(ref)
            continue
        if ref.kind == GLOB:
            matches = _glob(ref.as_written, notebook_dir, repo_files)
            for as_written, path in matches:
                match = dataclasses.replace(ref, as_written=as_written, sites=list(ref.sites))
                _describe(match, FOUND, path, repo_files)
                resolved_refs.append(match)
            if not matches:
                ref.status = MISSING
                resolved_refs.append(ref)
            continue
        if is_url(ref.as_written):
            resolved = _same_repo_file(ref.as_written, repo_ids, repo_files) or repo_files.fetched.files.get(ref.as_written)
            status = URL
        else:
            status, resolved = _resolve_local(ref.as_written, notebook_dir, repo_files)
        _describe(ref, status, resolved, repo_files)
        resolved_refs.append(ref)
    refs[:] = resolved_refs


def _describe(ref: DataRef, status: str, resolved: str | None, repo_files: RepoFiles) -> None:
    info = repo_files.info(resolved) if resolved is not None else None
    if resolved is not None and info is None:  # unreadable, or a link out of the repo
        status, resolved = (URL if status == URL else MISSING), None
    if info is not None:
        status = FOUND
        if resolved.startswith(FETCHED_DIR + "/"):  # a copy the crawl fetched (the URL, or the code rewritten to it)
            ref.fetched_from = repo_files.fetched.origins.get(resolved)
        ref.sha256, ref.size, ref.rows = info.sha256, info.size, info.rows
    ref.status, ref.resolved = status, resolved


def _glob(pattern: str, notebook_dir: str, repo_files: RepoFiles) -> list[tuple[str, str]]:
    """(the path as `glob` gives it to the code, the repository path) of each file the pattern
    matches: relative to the notebook's folder, else (as local paths are) to the repository root."""
    pattern = pattern.strip().replace("\\", "/")
    if not pattern or pattern.startswith(("/", "~")) or is_url(pattern):
        return []
    for base in dict.fromkeys((notebook_dir, "")):
        full = posixpath.normpath(posixpath.join(base, pattern))
        if full == ".." or full.startswith("../"):
            continue
        regex = _glob_regex(full)
        matches = sorted(path for path in repo_files.paths if regex.fullmatch(path) and not path.startswith(FETCHED_DIR + "/"))
        if matches:
            return [(posixpath.relpath(path, base) if base else path, path) for path in matches]
    return []


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """`glob`'s matching as a regular expression over POSIX paths: `*` and `?` stay within a
    folder, `[...]` is a class, a `**` folder stands for any number of folders."""
    parts = []
    segments = pattern.split("/")
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "**":
            parts.append("(?:[^/]+/)*[^/]+" if last else "(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(parts))


def _segment_regex(segment: str) -> str:
    out = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := segment.find("]", index + 2)) != -1:
            body = segment[index + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _repo_ids(repo: str) -> set[str]:
    """`owner/name`, lowercased; a local folder named `owner__name` stands for `owner/name`."""
    repo = repo.strip().lower()
    ids = {repo}
    if "/" not in repo and "__" in repo:
        owner, name = repo.split("__", 1)  # GitHub owners cannot contain "_"
        ids.add(f"{owner}/{name}")
    return ids


def _same_repo_file(url: str, repo_ids: set[str], repo_files: RepoFiles) -> str | None:
    """The local path of a raw/blob URL into the notebook's own repository, if that file is here."""
    target = github_file(url)
    if target is None or target.repo.lower() not in repo_ids:
        return None
    path = target.path_at_one_segment_ref()
    return path if path in repo_files else None


def _resolve_local(as_written: str, notebook_dir: str, repo_files: RepoFiles) -> tuple[str, str | None]:
    path = as_written.strip().replace("\\", "/")
    if path.startswith("file://"):
        path = path[len("file://") :]
    if not path or path.endswith("/"):
        return MISSING, None
    absolute = path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":" and path[0].isalpha())
    if not absolute:
        from_notebook = posixpath.normpath(posixpath.join(notebook_dir, path))
        if from_notebook == ".." or from_notebook.startswith("../"):
            return MISSING, None  # climbs out of the repository
        if from_notebook in repo_files:
            return FOUND, from_notebook
        from_root = posixpath.normpath(path)
        if from_root in repo_files:
            return FOUND, from_root
    return _by_file_name(path, repo_files)


def _by_file_name(path: str, repo_files: RepoFiles) -> tuple[str, str | None]:
    wanted = [part for part in path.split("/") if part not in ("", ".", "..")]
    if not wanted:
        return MISSING, None
    candidates = repo_files.by_name.get(wanted[-1], [])
    if len(candidates) == 1:
        return FOUND, candidates[0]
    if not candidates:
        return MISSING, None
    # `data/x.csv` among `a/data/x.csv` and `b/x.csv`: the longest matching tail wins, if unique
    scores = [_common_tail(wanted, candidate.split("/")) for candidate in candidates]
    best = max(scores)
    if best > 1 and scores.count(best) == 1:
        return FOUND, candidates[scores.index(best)]
    return AMBIGUOUS, None


def _common_tail(left: list[str], right: list[str]) -> int:
    count = 0
    for a, b in zip(reversed(left), reversed(right)):
        if a != b:
            break
        count += 1
    return count
