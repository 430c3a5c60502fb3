"""The local source: a folder of repositories, or one repository.

Each repository is one folder. Its provenance comes from, in order: a `.nbqa-repo.json` file in it
(written by the GitHub crawler's mirror: repo, commit, license, url), its git checkout (HEAD commit,
origin URL), its license file (LICENSE, LICENSE.txt, LICENSE-CODE, COPYING.md ...) or, without one,
the license its README states. A folder named `owner__name` is taken as `owner/name`.

`repository_of` decides which repository folder a notebook belongs to, for `run` (through the
source's layout) and for `inspect` alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from nbqa_builder.deps.fetched import FETCHED_DIR
from nbqa_builder.records import Notebook

# License files are named LICENSE, LICENCE or COPYING, with any ending (`.md`, `.txt`, `-CODE`,
# `-MIT`); these come first, in this order, before any other such name.
LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "LICENCE.txt", "COPYING",
                 "COPYING.md", "COPYING.txt")
_LICENSE_NAME = re.compile(r"^(?:LICEN[CS]E|COPYING)\b", re.IGNORECASE)
_README_NAMES = ("README.md", "README.rst", "README.txt", "README")
_OWNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*__[A-Za-z0-9._-]+$")
# `.nbqa-fetched`: what a crawl fetched for URL reads (deps/fetched.py), data of other repositories
SKIP_DIRS = {".git", ".ipynb_checkpoints", "__pycache__", "node_modules", ".venv", "venv", FETCHED_DIR}

# A few distinctive phrases are enough to name the common licenses; anything else is "other".
# (Spaces match any run of white space: license texts are wrapped at any word.) ShareAlike and
# NonCommercial come before plain Attribution, whose phrases they contain.
_LICENSE_PATTERNS = [
    ("Apache-2.0", r"Apache License,? Version 2\.0|\bApache[- ]2\.0\b"),
    ("GPL-3.0", r"GNU GENERAL PUBLIC LICENSE Version 3"),
    ("GPL-2.0", r"GNU GENERAL PUBLIC LICENSE Version 2"),
    ("LGPL-3.0", r"GNU LESSER GENERAL PUBLIC LICENSE Version 3"),
    ("AGPL-3.0", r"GNU AFFERO GENERAL PUBLIC LICENSE"),
    ("MPL-2.0", r"Mozilla Public License,? (?:Version|v\.) ?2\.0"),
    ("BSD-3-Clause", r"Neither the name of .{0,200}? nor the names of"),
    ("BSD-2-Clause", r"Redistributions in binary form must reproduce"),
    ("MIT", r"Permission is hereby granted, free of charge|\bMIT License\b|licensed under the MIT\b"),
    ("CC-BY-NC-SA-4.0", r"Attribution-NonCommercial-ShareAlike 4\.0|CC BY-NC-SA 4\.0|licenses/by-nc-sa/4\.0"),
    ("CC-BY-NC-4.0", r"Attribution-NonCommercial 4\.0|CC BY-NC 4\.0|licenses/by-nc/4\.0"),
    ("CC-BY-SA-4.0", r"Attribution-ShareAlike 4\.0|CC BY-SA 4\.0|licenses/by-sa/4\.0"),
    ("CC-BY-4.0", r"Creative Commons Attribution 4\.0|CC BY 4\.0|licenses/by/4\.0"),
    ("CC0-1.0", r"CC0 1\.0|publicdomain/zero/1\.0"),
    ("Unlicense", r"This is free and unencumbered software released into the public domain"),
]
_LICENSE_REGEXES = [(spdx, re.compile(pattern.replace(" ", r"\s+"), re.IGNORECASE | re.DOTALL))
                    for spdx, pattern in _LICENSE_PATTERNS]


@dataclass(frozen=True)
class Repository:
    name: str  # "owner/name" where known, else the folder name
    directory: str
    commit: str | None
    license: str | None
    url: str | None


def repository_of(notebook: Path, source_root: Path | None = None, layout: str = "auto") -> Path:
    """The repository folder `notebook` belongs to. Under a local source's folder, the repository
    `find_repositories` gives (what `run` reads); elsewhere, the nearest folder above the notebook
    that is one: a git checkout, a crawl mirror's repository, a folder named `owner__name`, or a
    folder with a license file. Its own folder when none is."""
    notebook = notebook.resolve()
    if source_root is not None and notebook.is_relative_to(source_root.resolve()):
        for repository in find_repositories(source_root, layout):
            if notebook.is_relative_to(repository.directory):
                return Path(repository.directory)
    for folder in notebook.parents:
        if ((folder / ".git").exists() or (folder / ".nbqa-repo.json").exists() or _OWNER_NAME.match(folder.name)
                or license_file(folder) is not None):
            return folder
    return notebook.parent


def find_repositories(root: Path, layout: str = "auto") -> list[Repository]:
    """The repositories under `root`, sorted by name. layout: auto | single | folders."""
    if not root.is_dir():
        raise FileNotFoundError(f"source folder {root} does not exist")
    single = layout == "single" or (
        layout == "auto" and ((root / ".git").exists() or (root / ".nbqa-repo.json").exists())
    )
    folders = [root] if single else sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SKIP_DIRS)
    return sorted((describe_repository(folder) for folder in folders), key=lambda r: r.name)


def describe_repository(folder: Path) -> Repository:
    meta: dict = {}
    meta_file = folder / ".nbqa-repo.json"
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
    name = meta.get("repo") or folder.resolve().name.replace("__", "/", 1)
    commit = meta.get("commit") or git_head(folder)
    license_id = meta.get("license") if "license" in meta else detect_license(folder)
    url = meta.get("url") or git_origin_url(folder)
    return Repository(name=name, directory=str(folder.resolve()), commit=commit, license=license_id, url=url)


def list_notebooks(repo: Repository, include: list[str]) -> list[str]:
    """Notebook paths relative to the repository, POSIX, sorted; checkpoints and .git skipped."""
    root = Path(repo.directory)
    found: set[str] = set()
    for pattern in include:
        suffix = _any_depth_suffix(pattern)
        if suffix is not None:
            found.update(_files_ending_with(repo.directory, suffix))
            continue
        for path in root.glob(pattern):
            rel = path.relative_to(root)
            if path.is_file() and not SKIP_DIRS.intersection(rel.parts[:-1]):
                found.add(rel.as_posix())
    return sorted(found)


def _any_depth_suffix(pattern: str) -> str | None:
    """"*.ipynb" for the pattern "**/*.ipynb" (any folder, a fixed ending); None for others."""
    match = re.fullmatch(r"\*\*/\*([^*?\[\]/]*)", pattern)
    return match.group(1) if match else None


def _files_ending_with(directory: str, suffix: str) -> list[str]:
    """What `Path(directory).glob("**/*" + suffix)` finds, files only, outside SKIP_DIRS: the
    same walk (symlinked folders not entered), with skipped folders not entered either, and
    without pathlib's per-path objects (a third of a 20,000-notebook plan's time)."""
    found = []
    for folder, folders, files in os.walk(directory):
        folders[:] = [name for name in folders if name not in SKIP_DIRS]
        relative = os.path.relpath(folder, directory)
        for name in files:
            if name.endswith(suffix) and os.path.isfile(os.path.join(folder, name)):
                found.append(name if relative == "." else PurePath(relative, name).as_posix())
    return found


def read_notebook(repo: Repository, rel_path: str, max_bytes: int) -> Notebook:
    """A Notebook record holding the file's bytes (parsed later by the validate step).

    A file name that is not valid UTF-8 (os.walk gives it with lone surrogates) cannot go into a
    shard or a task id: the notebook is a recorded drop, `path_not_utf8`, not read.
    """
    path = Path(repo.directory) / rel_path
    size = path.stat().st_size
    readable = _is_utf8(rel_path) and _is_utf8(repo.name)
    raw = path.read_bytes() if readable and size <= max_bytes else b""
    notebook = Notebook(
        notebook_id=hashlib.sha256(raw).hexdigest() if raw else f"size:{size}",
        repo=repo.name,
        path=rel_path,
        repo_dir=repo.directory,
        commit=repo.commit,
        license=repo.license,
        url=f"{repo.url.removesuffix('.git')}/blob/{repo.commit or 'HEAD'}/{rel_path}" if repo.url and readable else None,
        size=size,
        raw=raw,
    )
    if not readable:
        notebook.checks["source"] = {"error": "the file name or the repository's folder name is not valid UTF-8"}
        notebook.drop("path_not_utf8", "source")
    elif size > max_bytes:
        notebook.checks["source"] = {"error": f"{size} bytes, over the source's max_notebook_bytes"}
        notebook.drop("too_large", "source")
    return notebook


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def git_head(folder: Path) -> str | None:
    """The checked-out commit, read from .git without running git."""
    git = folder / ".git"
    try:
        if git.is_file():  # worktree or submodule: "gitdir: PATH"
            git = (folder / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        ref_file = git / ref
        if ref_file.is_file():
            return ref_file.read_text().strip()
        packed = git / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except (OSError, IndexError):
        pass
    return None


def git_origin_url(folder: Path) -> str | None:
    config = folder / ".git" / "config"
    try:
        text = config.read_text()
    except OSError:
        return None
    match = re.search(r'\[remote "origin"\][^\[]*?url\s*=\s*(\S+)', text)
    if not match:
        return None
    url = match.group(1)
    ssh = re.match(r"git@([^:]+):(.+)", url)
    return f"https://{ssh.group(1)}/{ssh.group(2)}" if ssh else url


def license_file(folder: Path) -> Path | None:
    """The repository's license file: the first of LICENSE_FILES, else the first other name that
    starts with LICENSE, LICENCE or COPYING (`LICENSE-CODE`, `COPYING.rst`)."""
    for name in LICENSE_FILES:
        if (folder / name).is_file():
            return folder / name
    try:
        others = sorted(entry.name for entry in os.scandir(folder) if _LICENSE_NAME.match(entry.name) and entry.is_file())
    except OSError:
        return None
    return folder / others[0] if others else None


def detect_license(folder: Path) -> str | None:
    """SPDX id of the repository's license file; "other" when unrecognised, None when absent.

    Without a recognised license file, a README that states a known license counts (some
    repositories put it there only: "licensed under CC BY-SA 4.0").
    """
    path = license_file(folder)
    found = _match_license(path.read_text(encoding="utf-8", errors="replace")[:20_000]) if path else None
    if found:
        return found
    for name in _README_NAMES:
        readme = folder / name
        if readme.is_file():
            stated = _match_license(readme.read_text(encoding="utf-8", errors="replace")[:50_000])
            if stated:
                return stated
    return "other" if path else None


def _match_license(text: str) -> str | None:
    for spdx, regex in _LICENSE_REGEXES:
        if regex.search(text):
            return spdx
    return None
