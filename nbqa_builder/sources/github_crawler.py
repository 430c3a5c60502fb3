"""The GitHub crawl itself: discovery, listing each repository, fetching its chosen files.

Each unit of work is recorded in `CrawlState` when it is done, after the files it wrote are in
place; a resumed crawl starts from the first unit not recorded.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from nbqa_builder.progress import progress_bar
from nbqa_builder.recipe import GithubSource
from nbqa_builder.sources.github import (
    MAX_FAILURES_IN_A_ROW,
    CrawlError,
    CrawlPaused,
    PermanentError,
    TransientExhausted,
    NEAR_CAP,
    REPO_FILE,
    SEARCH_PAGE,
    choose_file,
    decode_blob,
    git_blob_sha,
    is_lfs_pointer,
    mirror_folder,
    read_repository_list,
    repo_file_content,
    safe_repo_path,
    write_atomically,
)
from nbqa_builder.sources.github_api import CODE_SEARCH, CORE, SEARCH, GithubApi
from nbqa_builder.sources.github_state import CRAWLED, LISTED, PENDING, CrawlState

log = logging.getLogger("nbqa_builder.sources.github")

# replies meaning the repository itself is gone or closed to us: record and move on
GONE = {"403", "404", "410", "451"}


class Crawler:
    def __init__(self, settings: GithubSource, api: GithubApi, state: CrawlState, mirror: Path, tmp: Path, progress: bool = True):
        self.settings = settings
        self.api = api
        api.on_wait = self.show_wait  # rate-limit waits appear in the progress line
        self.state = state
        self.mirror = mirror
        self.tmp = tmp
        self.failures_in_a_row = 0
        self.wait_note = ""
        self.repos_done = 0
        self.repos_total = 0
        self.bar = progress_bar(0, 0, "crawl", progress, unit="file", items="files")  # plain lines in a log

    def close(self) -> None:
        self.bar.close()

    def show_wait(self, note: str) -> None:
        self.wait_note = note
        self._show()

    def _show(self) -> None:
        note = f" | {self.wait_note}" if self.wait_note else ""
        self.bar.set_postfix_str(f"repos {self.repos_done}/{self.repos_total}{note}", refresh=True)

    def run(self) -> None:
        self.state.reopen_retryable()
        self.discover()
        todo = self.state.repos_to_crawl()
        self.repos_total = len(todo)
        for key, full_name, status in todo:
            if status == PENDING:
                self.list_repo(key, full_name)
            if self.state.repo(key)["status"] == LISTED:
                self.fetch_files(key)
            self.repos_done += 1
            self._show()

    # -- discovery ------------------------------------------------------------------------------

    def discover(self) -> None:
        settings = self.settings
        self.bar.set_description("discover")
        if settings.repositories:
            self.state.add_repos(settings.repositories)
        if settings.repositories_file:
            self.state.add_repos(read_repository_list(settings.repositories_file))
        if settings.repo_search:
            self.search_repositories(settings.repo_search)
        if settings.code_search:
            self.search_code()
        self.bar.set_description("crawl")

    def search_repositories(self, query: str) -> None:
        done_key = f"repo_search_done:{query}"
        if self.state.get_meta(done_key):
            return
        names = self._read_search(SEARCH, lambda gh: gh.search_repositories(query), 1000, "repository search")
        self.state.add_repos(names, done_key=done_key)

    def search_code(self) -> None:
        """Code search sliced by file size: a slice whose count nears the cap is halved until it fits."""
        cs = self.settings.code_search
        assert cs is not None
        self.state.seed_slice(cs.terms, cs.min_size, cs.max_size)
        while (pending := self.state.pending_slice(cs.terms)) is not None:
            lo, hi = pending
            query = f"{cs.terms} extension:ipynb size:{lo}..{hi}"
            first, total = self._search_page(CODE_SEARCH, lambda gh: gh.search_code(query), 0, f"code search {lo}..{hi}")
            if total >= cs.result_cap * NEAR_CAP and lo < hi:
                mid = (lo + hi) // 2
                self.state.split_slice(cs.terms, lo, hi, [(lo, mid), (mid + 1, hi)])
                continue
            if total >= cs.result_cap * NEAR_CAP:
                log.warning("code search: %d notebooks of exactly %d bytes; only %d can be read", total, lo, cs.result_cap)
            names = first + self._read_search(
                CODE_SEARCH, lambda gh: gh.search_code(query), min(total, cs.result_cap), f"code search {lo}..{hi}", start=1
            )
            self.state.finish_slice(cs.terms, lo, hi, names)

    def _search_page(self, resource: str, search: Any, page: int, what: str) -> tuple[list[str], int]:
        def read(gh: Any) -> tuple[list[str], int]:
            results = search(gh)
            items = results.get_page(page)
            names = [_item_repo_name(item) for item in items]
            return names, int(results.totalCount)

        # a search page that cannot be read stops discovery: a partial list would be silent loss
        try:
            return self.api.call(resource, read, what)
        except PermanentError as exc:
            raise CrawlError(f"{what}: GitHub refused the search ({exc}); check the query in the recipe") from None
        except TransientExhausted as exc:
            raise CrawlPaused(f"{what}: {exc}; run again to resume") from None

    def _read_search(self, resource: str, search: Any, cap: int, what: str, start: int = 0) -> list[str]:
        names: list[str] = []
        page, pages = start, math.ceil(cap / SEARCH_PAGE)
        while page < pages:
            found, total = self._search_page(resource, search, page, what)
            names += found
            pages = min(pages, math.ceil(min(total, cap) / SEARCH_PAGE))
            if not found:
                break
            page += 1
        return names

    # -- one repository -------------------------------------------------------------------------

    def list_repo(self, key: str, name: str) -> None:
        """Metadata, filters, commit, tree; records the chosen files and writes `.nbqa-repo.json`."""
        settings = self.settings
        try:
            info = self._call(CORE, lambda gh: _repo_info(gh.get_repo(name)), name)
            if info["fork"] and not settings.include_forks:
                return self.state.set_repo_status(key, "skipped:fork")
            if info["archived"] and not settings.include_archived:
                return self.state.set_repo_status(key, "skipped:archived")
            if settings.licenses is not None and info["license"] not in settings.licenses:
                return self.state.set_repo_status(key, "skipped:license")
            if self.state.other_repo_named(key, info["full_name"]):
                return self.state.set_repo_status(key, "skipped:duplicate")
            full_name, branch = info["full_name"], info["default_branch"]
            commit = self._call(CORE, lambda gh: _branch_commit(gh.get_repo(full_name), branch), name)
            entries = self._walk_tree(full_name, commit, "")
        except _Recorded as recorded:
            return self.state.set_repo_status(key, recorded.status, recorded.retryable)
        files = []
        for path, kind_mode, blob_sha, size in entries:
            safe = safe_repo_path(path)
            if kind_mode not in (("blob", "100644"), ("blob", "100755")):
                continue  # directories, symlinks, submodules
            choice = choose_file(settings, path, size if isinstance(size, int) else 0)
            if choice is None:
                continue
            kind, status = choice
            if safe is None:
                status = "error:bad_path"
            elif not (isinstance(blob_sha, str) and len(blob_sha) == 40 and isinstance(size, int) and size >= 0):
                status = "error:bad_reply"
            files.append({"path": path, "kind": kind, "blob_sha": blob_sha, "size": size, "status": status})
        folder = self.mirror / mirror_folder(full_name)
        html_base = _html_base(settings.api_url)
        write_atomically(folder / REPO_FILE, repo_file_content(full_name, commit, info["license"], html_base), self.tmp)
        self.state.list_repo(key, full_name, commit, info["license"], files)
        self.bar.total += sum(1 for f in files if f["status"] == "pending")
        self.bar.refresh()

    def _walk_tree(self, full_name: str, sha: str, prefix: str) -> list[tuple[str, tuple[str, str], Any, Any]]:
        """Every entry under tree `sha`; a truncated listing is redone one level at a time."""
        truncated, entries = self._call(CORE, lambda gh: _tree(gh.get_repo(full_name), sha, True), full_name)
        if not truncated:
            return [(prefix + path, kind_mode, blob_sha, size) for path, kind_mode, blob_sha, size in entries]
        log.info("%s: tree %s truncated; listing it subtree by subtree", full_name, prefix or "/")
        truncated, entries = self._call(CORE, lambda gh: _tree(gh.get_repo(full_name), sha, False), full_name)
        if truncated:
            log.warning("%s: one directory (%s) has more entries than GitHub lists; some are missing", full_name, prefix or "/")
        found = []
        for path, kind_mode, blob_sha, size in entries:
            if kind_mode[0] == "tree" and isinstance(blob_sha, str) and safe_repo_path(path):
                found += self._walk_tree(full_name, blob_sha, f"{prefix}{path}/")
            else:
                found.append((prefix + path, kind_mode, blob_sha, size))
        return found

    def _call(self, resource: str, fn: Any, what: str) -> Any:
        """api.call, with permanent and exhausted failures turned into a recorded repository status."""
        try:
            result = self.api.call(resource, fn, what)
        except PermanentError as exc:
            raise _Recorded(f"error:{exc.code}", retryable=False) from None
        except TransientExhausted as exc:
            self._failed_transiently(what, exc)
            raise _Recorded(f"error:{exc.code}", retryable=True) from None
        self.failures_in_a_row = 0
        return result

    def _failed_transiently(self, what: str, exc: TransientExhausted) -> None:
        log.warning("%s: %s after %d tries; recorded, retried on the next run", what, exc, self.settings.retries)
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise CrawlPaused(f"the API failed {self.failures_in_a_row} times in a row (last: {exc}); run again to resume")

    def fetch_files(self, key: str) -> None:
        """Fetch the repository's pending files as blobs; each is written, then recorded."""
        repo = self.state.repo(key)
        full_name = repo["full_name"]
        folder = self.mirror / mirror_folder(full_name)
        for path, blob_sha, _size in self.state.pending_files(key):
            target = folder / path
            if target.is_file() and git_blob_sha(target.read_bytes()) == blob_sha:
                # written by a run killed before it could record it
                self.state.set_file_status(key, path, "stored")
                self.bar.update()
                continue
            if self._reuse_known_blob(key, path, blob_sha, target):
                self.bar.update()
                continue
            what = f"{full_name}:{path}"
            try:
                content = self.api.call(CORE, lambda gh: _blob(gh.get_repo(full_name), blob_sha), what)
            except PermanentError as exc:
                self.state.set_file_status(key, path, f"error:{exc.code}")
                self.bar.update()
                if exc.code in GONE and self._repo_gone(key, full_name):
                    return
                continue
            except TransientExhausted as exc:
                self.state.set_file_status(key, path, f"error:{exc.code}", retryable=True)
                self.bar.update()
                self._failed_transiently(what, exc)
                continue
            self.failures_in_a_row = 0
            if is_lfs_pointer(content):
                self.state.set_file_status(key, path, "lfs_pointer")
            else:
                write_atomically(target, content, self.tmp)
                self.state.set_file_status(key, path, "stored")
            self.bar.update()
        self.state.close_repo(key, CRAWLED)

    def _reuse_known_blob(self, key: str, path: str, blob_sha: str, target: Path) -> bool:
        """Same content seen before (a copied file, a fork): take it from the mirror, not the API."""
        known = self.state.known_blob(blob_sha)
        if known is None:
            return False
        status, other_repo, other_path = known
        if status == "lfs_pointer":
            self.state.set_file_status(key, path, "lfs_pointer")
            return True
        source = self.mirror / mirror_folder(other_repo) / other_path
        try:
            content = source.read_bytes()
        except OSError:
            return False
        if git_blob_sha(content) != blob_sha:
            return False  # changed on disk since; fetch it again
        write_atomically(target, content, self.tmp)
        self.state.set_file_status(key, path, "stored")
        return True

    def _repo_gone(self, key: str, full_name: str) -> bool:
        """After a blob failed: is the whole repository gone? Then its other files are not asked for."""
        try:
            self._call(CORE, lambda gh: _repo_info(gh.get_repo(full_name)), full_name)
        except _Recorded as recorded:
            if recorded.retryable:
                return False
            log.warning("%s vanished during the crawl (%s); its remaining files are recorded so", full_name, recorded.status)
            self.state.close_repo(key, recorded.status)
            return True
        return False


class _Recorded(Exception):
    """A failure to record as the repository's status, then go on with the next one."""

    def __init__(self, status: str, retryable: bool):
        super().__init__(status)
        self.status, self.retryable = status, retryable


# -- reading PyGithub objects (inside api.call, so a garbled reply is retried, not a crash) ------


def _item_repo_name(item: Any) -> str:
    repository = getattr(item, "repository", None) or item  # code search items carry their repository
    name = repository.full_name
    if not isinstance(name, str) or "/" not in name:
        raise ValueError(f"search result without a repository name: {name!r}")
    return name


def _repo_info(repo: Any) -> dict[str, Any]:
    full_name = repo.full_name
    if not isinstance(full_name, str) or "/" not in full_name:
        raise ValueError(f"repository reply without full_name: {full_name!r}")
    license = repo.license.spdx_id if repo.license is not None else None
    return {
        "full_name": full_name,
        "fork": bool(repo.fork),
        "archived": bool(repo.archived),
        "license": license,
        "default_branch": repo.default_branch,
    }


def _branch_commit(repo: Any, branch: Any) -> str:
    if not isinstance(branch, str) or not branch:
        raise PermanentError("empty", "no default branch")
    sha = repo.get_branch(branch).commit.sha
    if not (isinstance(sha, str) and len(sha) == 40):
        raise ValueError(f"branch reply without a commit sha: {sha!r}")
    return sha


def _tree(repo: Any, sha: str, recursive: bool) -> tuple[bool, list[tuple[str, tuple[str, str], Any, Any]]]:
    tree = repo.get_git_tree(sha, recursive=recursive) if recursive else repo.get_git_tree(sha)
    entries = [(e.path, (e.type, e.mode), e.sha, e.size) for e in tree.tree]
    return bool(tree.truncated), entries


def _blob(repo: Any, sha: str) -> bytes:
    blob = repo.get_git_blob(sha)
    return decode_blob(blob.content, blob.encoding, sha)


def _html_base(api_url: str) -> str:
    """https://api.github.com -> https://github.com; an Enterprise https://HOST/api/v3 -> https://HOST."""
    api_url = api_url.rstrip("/")
    if api_url == "https://api.github.com":
        return "https://github.com"
    return api_url.removesuffix("/api/v3")
