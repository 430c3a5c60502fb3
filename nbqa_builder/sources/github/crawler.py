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
from nbqa_builder.sources.github.api import CODE_SEARCH, CORE, SEARCH, GithubApi
from nbqa_builder.sources.github.discovery import NEAR_CAP, SEARCH_PAGE, read_repository_list
from nbqa_builder.sources.github.errors import MAX_FAILURES_IN_A_ROW, CrawlError, CrawlPaused, PermanentError, TransientExhausted
from nbqa_builder.sources.github.mirror import (
    REPO_FILE,
    choose_files,
    decode_blob,
    git_blob_sha,
    html_base,
    is_lfs_pointer,
    mirror_folder,
    mirror_holds,
    remove_folder,
    repo_file_content,
    safe_repo_path,
    write_atomically,
)
from nbqa_builder.sources.github.reads import TreeListing, files_read_by
from nbqa_builder.sources.github.state import CRAWLED, LISTED, PENDING, CrawlState

log = logging.getLogger("nbqa_builder.sources.github")

# replies meaning the repository itself is gone or closed to us: record and move on
GONE = {"403", "404", "410", "451"}


class Crawler:
    git_fetches = 0  # git commands that went to the server (fetch: git)

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
        self.scanned: set[str] = set()  # repositories whose notebooks' reads were looked at in this run
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
        info = self.repo_metadata(key, name)
        if info is None:
            return
        full_name, branch = info["full_name"], info["default_branch"]
        try:
            commit = self._call(CORE, lambda gh: _branch_commit(gh.get_repo(full_name), branch), name)
            entries = self._walk_tree(full_name, commit, "")
        except Recorded as recorded:
            return self.state.set_repo_status(key, recorded.status, recorded.retryable)
        self.record_listing(key, info, commit, entries)

    def repo_metadata(self, key: str, name: str) -> dict[str, Any] | None:
        """The repository's metadata, when it passes the filters that need no download; else None,
        with the reason recorded (skipped:fork, error:404, ...)."""
        settings = self.settings
        try:
            info = self._call(CORE, lambda gh: _repo_info(gh.get_repo(name)), name)
        except Recorded as recorded:
            self.state.set_repo_status(key, recorded.status, recorded.retryable)
            return None
        skipped = None
        if info["fork"] and not settings.include_forks:
            skipped = "skipped:fork"
        elif info["archived"] and not settings.include_archived:
            skipped = "skipped:archived"
        elif settings.licenses is not None and info["license"] not in settings.licenses:
            skipped = "skipped:license"
        elif self.state.other_repo_named(key, info["full_name"]):
            skipped = "skipped:duplicate"
        if skipped:
            self.state.set_repo_status(key, skipped)
            return None
        return info

    def record_listing(self, key: str, info: dict[str, Any], commit: str, entries: list) -> None:
        """Record the chosen files of the tree (and the others, which a notebook may read) and write `.nbqa-repo.json`."""
        full_name = info["full_name"]
        files, others = choose_files(self.settings, entries)
        folder = self.mirror / mirror_folder(full_name)
        # listed before at another commit (its branch was force-pushed): what changed goes
        listed = {f["path"]: f["blob_sha"] for f in files}
        for path, blob_sha in self.state.stored_files(key).items():
            if listed.get(path) != blob_sha:
                (folder / path).unlink(missing_ok=True)
        write_atomically(folder / REPO_FILE, repo_file_content(full_name, commit, info["license"], html_base(self.settings.api_url)), self.tmp)
        self.state.list_repo(key, full_name, commit, info["license"], files, others)
        self.bar.total += sum(1 for f in files if f["status"] == "pending")
        self.bar.refresh()

    def choose_files_read(self, key: str) -> int:
        """Once the repository's notebooks are stored: choose the files of its tree that they read
        and that no extension chose (pending, or too_large); returns how many."""
        if key in self.scanned:
            return 0
        self.scanned.add(key)
        sizes, others = self.state.tree_sizes(key)
        if not others:
            return 0
        full_name = self.state.repo(key)["full_name"]
        folder = self.mirror / mirror_folder(full_name)
        notebooks = {}
        for path in self.state.stored_notebooks(key):
            try:
                notebooks[path] = (folder / path).read_bytes()
            except OSError:
                continue  # removed since; the manifest still says what was stored
        read = sorted(files_read_by(notebooks, full_name, TreeListing(sizes)) & others)
        if not read:
            return 0
        added = self.state.choose_others(key, read, self.settings.max_data_file_bytes)
        log.info("%s: %d file(s) without a data extension that its notebooks read: %s", full_name, added, ", ".join(read[:5]))
        self.bar.total += added
        self.bar.refresh()
        return added

    def close_gone(self, key: str, full_name: str, status: str) -> None:
        """The repository vanished (or was refused) during the crawl: recorded, and its folder removed
        from the mirror so that no source reads half a repository."""
        log.warning("%s left the crawl (%s); its files are removed from the mirror", full_name, status)
        self.state.close_repo(key, status)
        remove_folder(self.mirror / mirror_folder(full_name), self.tmp)

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
            raise Recorded(f"error:{exc.code}", retryable=False) from None
        except TransientExhausted as exc:
            self._failed_transiently(what, exc)
            raise Recorded(f"error:{exc.code}", retryable=True) from None
        self.failures_in_a_row = 0
        return result

    def _failed_transiently(self, what: str, exc: Exception) -> None:
        log.warning("%s: %s after %d tries; recorded, retried on the next run", what, exc, self.settings.retries)
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise CrawlPaused(f"the API failed {self.failures_in_a_row} times in a row (last: {exc}); run again to resume")

    def fetch_files(self, key: str) -> None:
        """Fetch the repository's pending files, then those its notebooks read; then it is crawled."""
        while self.fetch_pending(key):
            if not self.choose_files_read(key):
                self.state.close_repo(key, CRAWLED)
                return

    def fetch_pending(self, key: str) -> bool:
        """Fetch the repository's pending files as blobs; each is written, then recorded. False when the repository vanished."""
        repo = self.state.repo(key)
        full_name = repo["full_name"]
        folder = self.mirror / mirror_folder(full_name)
        for path, blob_sha, size in self.state.pending_files(key):
            target = folder / path
            if mirror_holds(target, blob_sha, size):
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
                    return False
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
        return True

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
        except Recorded as recorded:
            if recorded.retryable:
                return False
            self.close_gone(key, full_name, recorded.status)
            return True
        return False


class Recorded(Exception):
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
