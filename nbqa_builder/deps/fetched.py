"""What a crawl left in a repository's folder for the URLs its notebooks read, as the deps step reads it.

The github source fetches such files at crawl time (sources/github/urls.py) and writes, in the
repository's folder, the copies under `.nbqa-fetched/<host>/<path of the URL>` and an index,
`.nbqa-fetched.json`: each URL with its copy's path, its source and the holding repository's
license, or the reason it could not be fetched. The resolver turns a fetched URL into its copy
(deps/resolve.py); the deps step records the reasons of the others (deps/step.py). A folder
without the index (a local source's own repositories) has fetched nothing.

Also here: which file a GitHub raw, blob or gist URL names, shared by the resolver (a URL into the
notebook's own repository) and the fetcher (one into any other).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

FETCHED_DIR = ".nbqa-fetched"  # in a repository's folder: the files its notebooks read by URL
FETCHED_INDEX = ".nbqa-fetched.json"  # beside it: URL -> local copy and its license, or why not
GITHUB_HOSTS = frozenset(("github.com", "www.github.com", "raw.githubusercontent.com", "raw.github.com"))
GIST_HOSTS = frozenset(("gist.githubusercontent.com", "gist.github.com"))


@dataclass(frozen=True)
class GithubFile:
    """A file that a GitHub URL names: `repo` is `owner/name`, or `gist:<id>` for a gist."""

    repo: str
    ref_and_path: tuple[str, ...]  # the URL's segments after the repository: <ref...>/<path...>

    def path_at_one_segment_ref(self) -> str:
        """The file's path in the repository when its ref is one segment (`main`, a commit id,
        or `refs/heads/<branch>`): how a URL into the notebook's own repository is read."""
        rest = self.ref_and_path
        skip = 3 if rest[0] == "refs" and len(rest) > 3 else 1
        return "/".join(rest[skip:])


@dataclass
class FetchedIndex:
    """A repository folder's `.nbqa-fetched.json`."""

    files: dict[str, str]  # URL -> the local copy's path in the repository folder
    failed: dict[str, str]  # URL -> why it was not fetched
    # the local copy's path -> (where it came from: `owner/name@commit:path` or the URL, the holding
    # repository's license or None), published beside the file (`files` rows, `origins`)
    origins: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def read_fetched_index(repo_dir: str | os.PathLike[str]) -> FetchedIndex:
    """The URLs fetched for a repository folder, and those that failed; empty without the file."""
    try:
        record = json.loads(Path(repo_dir, FETCHED_INDEX).read_text(encoding="utf-8"))
        files = {url: entry["path"] for url, entry in record.get("files", {}).items()}
        failed = {url: entry["reason"] for url, entry in record.get("failed", {}).items()}
        origins = {entry["path"]: (str(entry.get("source") or url), entry.get("license"))
                   for url, entry in record.get("files", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return FetchedIndex({}, {})
    return FetchedIndex(files, failed, origins)


def github_file(url: str) -> GithubFile | None:
    """The file a raw, blob or gist URL of GitHub names; None for any other URL."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if host in GIST_HOSTS:
        # gist.githubusercontent.com/<user>/<id>/raw/[<revision>/]<file>
        if len(segments) >= 4 and segments[2] == "raw":
            return GithubFile(f"gist:{segments[1]}", tuple(segments[3:]))
        return None
    if host not in GITHUB_HOSTS or len(segments) < 2:
        return None
    rest = segments[2:]
    if not host.startswith("raw"):  # github.com/<owner>/<name>/(blob|raw)/<ref>/<path>
        if not rest or rest[0] not in ("blob", "raw"):
            return None
        rest = rest[1:]
    if len(rest) < 2:
        return None
    return GithubFile(f"{segments[0]}/{segments[1]}", tuple(rest))
