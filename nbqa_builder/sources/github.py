"""The `github` source: crawl notebooks and data files from GitHub into a local mirror.

`crawl(settings, output_dir)` fills `<output>/_work/crawl/mirror/<owner>__<name>/<path>`, laid out
like the local source (one folder per repository), with `.nbqa-repo.json` in each repository
folder (repo, commit, license, url) and `<output>/_work/crawl/manifest.jsonl` listing every
repository and chosen file with its status. Run it again after any stop, a kill included: it
resumes from `state.sqlite` and fetches no stored file twice.

Steps: discover repositories (a list, a file, a repository search, code search sliced by size),
then for each: metadata (skip forks, archived and unlicensed ones before any download), the
default branch's commit, its tree (walked subtree by subtree when GitHub truncates it), and the
chosen files as git blobs (which, unlike the contents API, serve files over 1 MB).
Needs the `github` extra (PyGithub); the tokens come from GITHUB_TOKEN or GITHUB_TOKENS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

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
# repository metadata, default branch, recursive tree
LISTING_REQUESTS_PER_REPO = 3
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

    Raises CrawlPaused (resumable: run again) when a rate-limit wait is longer than `max_wait_s`
    or the API keeps failing, CrawlError on a rejected token or a state made with other settings.
    """
    from nbqa_builder.sources.github_api import GithubApi, tokens_from_environment
    from nbqa_builder.sources.github_crawler import Crawler
    from nbqa_builder.sources.github_state import CrawlState

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
        crawler = Crawler(source_config, api, state, mirror, tmp, progress=progress)
        try:
            crawler.run()
        finally:
            crawler.close()
            state.write_manifest(work / "manifest.jsonl", tmp)
            counts = state.counts()
            log.info("crawl: %d requests, %.0f s waited; %s", api.requests, api.waited_s, json.dumps(counts, sort_keys=True))
    finally:
        if api is not None:
            api.close()
        state.close()
    return mirror


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


def write_atomically(target: Path, content: bytes, tmp_dir: Path) -> None:
    """Write `content` to `target` so that the target is either absent or whole, even if killed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{os.getpid()}-{hashlib.sha1(str(target).encode()).hexdigest()}"
    with tmp.open("wb") as out:
        out.write(content)
    os.replace(tmp, target)


def repo_file_content(full_name: str, commit: str, license: str | None, html_base: str) -> bytes:
    """The provenance file the local source reads."""
    record = {"repo": full_name, "commit": commit, "license": license, "url": f"{html_base}/{full_name}"}
    return (json.dumps(record, indent=2) + "\n").encode("utf-8")


def plan_crawl(source_config: GithubSource) -> str:
    """What the crawl will cost: expected requests and time at the current limits, as text to print.

    Makes a few free or cheap requests (rate limits, one search page per search) and no crawl.
    """
    from nbqa_builder.sources.github_api import CODE_SEARCH, CORE, SEARCH, GithubApi, tokens_from_environment

    settings = source_config
    tokens = tokens_from_environment()
    api = GithubApi(settings, tokens)
    lines = [f"GitHub crawl plan ({settings.api_url}, {len(tokens) or 'no'} token{'s' if len(tokens) != 1 else ''})"]
    try:
        try:
            limits = api.limits()
            origin = "read from /rate_limit"
        except Exception as exc:  # the plan still helps offline: fall back to GitHub's documented limits
            per = len(tokens) or 1
            limits = {CORE: 5000 * per if tokens else 60, SEARCH: 30 * per if tokens else 10, CODE_SEARCH: 10 * per}
            origin = f"GitHub's documented limits (could not read them: {type(exc).__name__})"
        listed = set(n.lower() for n in settings.repositories)
        if settings.repositories_file:
            listed |= {n.lower() for n in read_repository_list(settings.repositories_file)}
        repos = float(len(listed))
        search_requests = code_search_requests = 0.0
        if listed:
            lines.append(f"repositories listed: {len(listed):,}")
        if settings.repo_search:
            total = _search_total(api, SEARCH, lambda gh: gh.search_repositories(settings.repo_search), lines, "repository search")
            found = min(total, 1000)  # GitHub serves at most 1,000 results a query
            repos += found
            search_requests += math.ceil(found / SEARCH_PAGE)
            if total > 1000:
                lines.append(f"  note: only the first 1,000 of {total:,} search results can be read; narrow the query")
        if settings.code_search:
            cs = settings.code_search
            query = f"{cs.terms} extension:ipynb size:{cs.min_size}..{cs.max_size}"
            total = _search_total(api, CODE_SEARCH, lambda gh: gh.search_code(query), lines, "code search")
            slices = max(1, math.ceil(total / (cs.result_cap * NEAR_CAP)))
            code_search_requests += 2 * slices + math.ceil(total / SEARCH_PAGE)  # halving visits ~2 slices per leaf
            repos += total / PAPER_NOTEBOOKS_PER_REPO
            lines.append(f"  repositories from code search: about {total / PAPER_NOTEBOOKS_PER_REPO:,.0f} "
                         f"({PAPER_NOTEBOOKS_PER_REPO:.0f} notebooks a repository in the paper)")
        per_repo = LISTING_REQUESTS_PER_REPO + PAPER_FILES_PER_REPO
        core_requests = repos * per_repo
        lines.append(
            f"requests: about {core_requests:,.0f} core ({LISTING_REQUESTS_PER_REPO} a repository to list it, "
            f"plus about {PAPER_FILES_PER_REPO:.0f} files a repository, as in the paper's crawl)"
        )
        lines.append(f"limits ({origin}): {limits.get(CORE, 0):,}/hour core, {limits.get(SEARCH, 0)}/minute search, "
                     f"{limits.get(CODE_SEARCH, 0)}/minute code search, over all tokens")
        hours = core_requests / max(limits.get(CORE, 1), 1)
        # each token also keeps request_interval_s between its own requests
        hours = max(hours, core_requests * settings.request_interval_s / max(len(tokens), 1) / 3600)
        hours += search_requests / max(limits.get(SEARCH, 1), 1) / 60
        hours += code_search_requests / max(limits.get(CODE_SEARCH, 1), 1) / 60
        if search_requests or code_search_requests:
            lines.append(f"search requests: about {search_requests + code_search_requests:,.0f}")
        lines.append(f"time: about {_duration(hours)} at these limits (more tokens share the work)")
    finally:
        api.close()
    return "\n".join(lines)


def _search_total(api: Any, resource: str, search: Any, lines: list[str], what: str) -> int:
    def first_page(gh: Any) -> int:
        results = search(gh)
        results.get_page(0)
        return int(results.totalCount)

    try:
        total = api.call(resource, first_page, what)
    except (PermanentError, TransientExhausted, CrawlError) as exc:
        lines.append(f"{what}: could not count results ({exc}); counted as 0")
        return 0
    lines.append(f"{what}: {total:,} results")
    return total


def _duration(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours:,.0f} hours ({hours / 24:.1f} days)"
