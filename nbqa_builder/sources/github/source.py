"""The `github` source: crawl notebooks and data files from GitHub into a local mirror.

`crawl(settings, output_dir)` fills `<output>/_work/crawl/mirror/<owner>__<name>/<path>`, laid out
like the local source (one folder per repository), with `.nbqa-repo.json` in each repository
folder (repo, commit, license, url) and `<output>/_work/crawl/manifest.jsonl` listing every
repository and chosen file with its status. Run it again after any stop, a kill included: it
resumes from `state.sqlite` and fetches no stored file twice.

Steps: discover repositories (a list, a file, a repository search, code search sliced by size),
then for each: metadata (skip forks, archived and unlicensed ones before any download), the
default branch's commit, its tree (walked subtree by subtree when GitHub truncates it), and the
chosen files: notebooks and data files by extension and size, then the files the notebooks read
(sources/github_reads.py); last, the data the notebooks read by URL from other repositories or
allowed hosts (sources/github_urls.py). With `fetch: git` (the default) the commit and the files come over git
(sources/github_git_crawler.py), with `fetch: api` each file is one REST `git/blobs` request (which,
unlike the contents API, serves files over 1 MB). A repository that vanishes during the crawl
leaves nothing in the mirror. Needs the `github` extra (PyGithub), and for `fetch: git` the git
client; the tokens come from GITHUB_TOKEN or GITHUB_TOKENS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from nbqa_builder.recipe import REPO_NAME, GithubSource

log = logging.getLogger(__name__)

# "version https://git-lfs.github.com/spec/v1" opens every Git LFS pointer file (git-lfs spec)
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"
LFS_POINTER_MAX_BYTES = 1024  # pointer files are ~130 bytes; the spec caps them at 1024
# GitHub's result counts for code search are estimates: split a slice before it reaches the cap
NEAR_CAP = 0.9
SEARCH_PAGE = 100  # results per page, the most GitHub serves
# the paper: about 1.6 M notebooks and 3.2 M data files from about 47 k repositories
PAPER_FILES_PER_REPO = (1_600_000 + 3_200_000) / 47_000
PAPER_NOTEBOOKS_PER_REPO = 1_600_000 / 47_000
# transient failures on this many files in a row mean the API is down for us: stop, resumable
MAX_FAILURES_IN_A_ROW = 5
REPO_FILE = ".nbqa-repo.json"


class CrawlError(RuntimeError):
    """The crawl cannot go on; the message is for the user as it is."""


class CrawlPaused(CrawlError):
    """The crawl stopped cleanly before the end (a long rate-limit wait, a failing API); run it again."""


class PermanentError(Exception):
    """A reply that will not change on retry (404, 451, ...): recorded as `error:<code>`."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code} {message}".strip())
        self.code = code


class TransientExhausted(Exception):
    """A request that kept failing transiently through every retry."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code} {message}".strip())
        self.code = code


def crawl(source_config: GithubSource, output_dir: Path, progress: bool = True) -> Path:
    """Crawl what the recipe's github source names into a mirror; returns the mirror root.

    Raises CrawlPaused (resumable: run again) when a rate-limit wait is longer than `max_wait_s`,
    the API or git keeps failing, or on SIGTERM; CrawlError on a rejected token or a state made with
    other settings. Either way the crawl's scratch (git clones included) is removed first.
    """
    from nbqa_builder.sources.github_api import GithubApi, tokens_from_environment
    from nbqa_builder.sources.github_crawler import Crawler
    from nbqa_builder.sources.github_git_crawler import GitCrawler
    from nbqa_builder.sources.github_state import CrawlState
    from nbqa_builder.sources.github_urls import fetch_url_reads

    work = Path(output_dir) / "_work" / "crawl"
    mirror, tmp = work / "mirror", work / "tmp"
    mirror.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)  # half-written files of a killed run
    tmp.mkdir(parents=True)
    state = CrawlState(work / "state.sqlite")
    api = None
    try:
        check_settings(state, source_config)
        tokens = tokens_from_environment()
        if not tokens:
            log.warning("no GITHUB_TOKEN: anonymous requests are limited to 60 an hour and cannot use code search")
        api = GithubApi(source_config, tokens)
        crawler_class = GitCrawler if source_config.fetch == "git" else Crawler
        crawler = crawler_class(source_config, api, state, mirror, tmp, progress=progress)
        try:
            with paused_by_sigterm():
                crawler.run()
                # the data the stored notebooks read by URL (sources/github_urls.py)
                fetch_url_reads(source_config, api, work, tmp)
        finally:
            crawler.close()
            # a repository that vanished leaves no folder, even when a kill came before its removal
            remove_stray_folders(mirror, state.mirror_folders(), tmp)
            state.write_manifest(work / "manifest.jsonl", tmp)
            counts = state.counts()
            log.info("crawl: %d REST requests, %d git fetches, %.0f s waited; %s",
                     api.requests, getattr(crawler, "git_fetches", 0), api.waited_s, json.dumps(counts, sort_keys=True))
    finally:
        if api is not None:
            api.close()
        state.close()
    return mirror


class _Sigterm(BaseException):
    """Raised in the main thread on SIGTERM: a BaseException, as KeyboardInterrupt is, so that no
    `except Exception` on its way (a notebook parser's, a library's) takes it for a failure of its own."""


@contextmanager
def paused_by_sigterm() -> Iterator[None]:
    """SIGTERM (`kill`, a job scheduler, a container stopping) pauses the crawl as a long rate-limit
    wait does: its git processes end, its clones are removed, the manifest is written, and the same
    command resumes it. Only the main thread can take signals; elsewhere the default stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        received.append(signum)
        raise _Sigterm()

    paused = CrawlPaused("stopped by SIGTERM; run the same command again to resume")
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except _Sigterm:
        raise paused from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:  # caught on the way by code that catches everything: still a pause, not the end
        raise paused


def check_settings(state: Any, settings: GithubSource) -> None:
    """A crawl state belongs to the file-choice settings it was made with; mixing two would be silent loss."""
    chosen = settings.model_dump(
        include={"include_forks", "include_archived", "licenses", "notebook_extensions", "data_extensions", "max_notebook_bytes", "max_data_file_bytes"}
    )
    text = json.dumps(chosen, sort_keys=True)
    before = state.get_meta("selection")
    if before is None:
        state.set_meta("selection", text)
    elif before != text:
        changed = sorted(k for k, v in json.loads(before).items() if chosen.get(k) != v)
        raise CrawlError(
            f"{state.path.parent} holds a crawl made with other file-choice settings ({', '.join(changed)}); "
            "use another output folder or delete that one to start over"
        )


def read_repository_list(path: str | Path) -> list[str]:
    """`owner/name` entries from a file: one a line, GitHub URLs accepted, `#` comments and blank lines skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CrawlError(f"{path}: cannot read the repository list: {exc}") from None
    names = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        text = re.sub(r"^(https?://)?(www\.)?github\.com/", "", text).removesuffix(".git").rstrip("/")
        if not re.fullmatch(REPO_NAME, text):
            raise CrawlError(f"{path}:{number}: {line.strip()!r} is not a GitHub owner/name or repository URL")
        names.append(text)
    return names


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


def plan_crawl(source_config: GithubSource, output_dir: Path | None = None) -> str:
    """What the crawl will cost in both fetch modes, as text to print (sources/github_plan.py);
    `output_dir` holds the state of an earlier crawl, if any."""
    from nbqa_builder.sources.github_plan import plan_crawl as plan

    return plan(source_config, output_dir)
