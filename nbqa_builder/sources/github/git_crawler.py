"""The crawl with `fetch: git`: REST for discovery, metadata and trees; git for the commits and files.

Per repository:
1. metadata (REST): forks, archived and unlicensed repositories are skipped before any download;
2. clone (git): `--depth 1 --filter=blob:none` of the default branch, no checkout: its commit and trees;
3. tree (REST): that tree with the size of each file (git trees hold none), so that files over the
   size limits are never downloaded; the chosen files are recorded;
4. blobs (git): one fetch of every chosen file that the mirror does not hold yet, written, then
   recorded;
5. the stored notebooks' reads may name files that no extension chose: one more fetch for those.

The main thread makes every REST request and every change to the crawl state, in order; the git
commands run in `git_workers` threads, so that the network waits of several repositories overlap.
A file is recorded only once it is written, as in `fetch: api`, so a crawl killed at any moment
resumes where it was: a clone lives in `_work/crawl/tmp/git/` for one run only (a resumed listing
clones its commit again: trees only), and a blob already stored anywhere in the mirror is copied,
never fetched again. A blob that another repository's fetch is bringing is waited for, not fetched
twice. A git job that fails through its tries is held and tried once more when the queue is empty;
git failures are counted apart from REST's, so that git failing for several repositories in a row
pauses the crawl with nothing recorded against them. However the run ends, its clones are removed.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nbqa_builder.recipe import GithubSource
from nbqa_builder.sources.github.api import GithubApi, TokenState
from nbqa_builder.sources.github.crawler import GONE, Crawler, Recorded
from nbqa_builder.sources.github.errors import MAX_FAILURES_IN_A_ROW, CrawlPaused
from nbqa_builder.sources.github.mirror import git_blob_sha, html_base, is_lfs_pointer, mirror_folder, mirror_holds, write_atomically
from nbqa_builder.sources.github.state import CRAWLED, PENDING, CrawlState
from nbqa_builder.sources.github.transport import (
    CloneTooLarge,
    GitAuthRejected,
    GitFailure,
    GitStopped,
    GitTransport,
    basic_auth,
)

log = logging.getLogger("nbqa_builder.sources.github")

# a repository's blobs come in one fetch up to this many bytes; more are split, so that a kill
# loses at most one batch in flight and git's deadline is not reached by a multi-GB repository
MAX_BATCH_BYTES = 512_000_000


@dataclass
class GitJob:
    """One git command for one repository, run in a worker thread."""

    key: str
    full_name: str
    stage: str  # "clone": a pending repository's branch; "blobs": files of a listed one
    info: dict[str, Any] | None = None  # clone: the repository's metadata
    commit: str = ""  # blobs: the listed commit
    files: list[tuple[str, str]] = field(default_factory=list)  # blobs: (path, blob sha)
    clone_first: bool = False  # blobs: listed by an earlier run, so not cloned by this one yet
    token: TokenState | None = None

    @property
    def blobs(self) -> set[str]:
        return {sha for _, sha in self.files}


class GitCrawler(Crawler):
    def __init__(self, settings: GithubSource, api: GithubApi, state: CrawlState, mirror: Path, tmp: Path, progress: bool = True):
        super().__init__(settings, api, state, mirror, tmp, progress)
        self.stop = threading.Event()  # set when the crawl stops early: running git commands end
        self.git = GitTransport(settings, self.stop)
        # clones of this process only: one killed earlier may have left git processes writing to theirs
        self.clones = tmp / "git" / str(os.getpid())
        self.base_url = html_base(settings.api_url)
        self.jobs: dict[Future, GitJob] = {}
        self.in_flight: set[str] = set()  # blobs that a running job is fetching
        self.waiting: set[str] = set()  # repositories whose next blobs another job is fetching
        self.pool: ThreadPoolExecutor | None = None
        self.todo: deque[tuple[str, str, str]] = deque()
        self.relisted: set[str] = set()  # repositories whose listed commit was gone, listed again in this run
        self.cloned: set[str] = set()  # repositories with a clone of this run
        # git jobs that failed transiently, tried again once the queue is empty: recorded as failed
        # only when they fail again, so that an outage records no repository as its own failure
        self.held: deque[GitJob] = deque()
        self.held_once: set[tuple[str, str]] = set()  # (repository, stage) held before in this run
        self.git_failures_in_a_row = 0  # counted apart from REST's: a REST call that works says nothing of git

    @property
    def git_fetches(self) -> int:  # type: ignore[override]
        return self.git.network_commands

    def run(self) -> None:
        self.state.reopen_retryable()
        self.discover()
        self.todo.extend(self.state.repos_to_crawl())
        self.repos_total = len(self.todo)
        workers = self.settings.git_workers
        with ThreadPoolExecutor(workers, thread_name_prefix="git") as self.pool:
            try:
                while self.todo or self.jobs or self.waiting or self.held:
                    while self.todo and len(self.jobs) < workers:
                        self.start(*self.todo.popleft())
                    while self.held and not self.todo and len(self.jobs) < workers:
                        self.retry_held(self.held.popleft())
                    for key in sorted(self.waiting - self._blocked()):
                        self.waiting.discard(key)
                        self.next_blobs(key)
                    if not self.jobs:
                        continue
                    done, _ = wait(self.jobs, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = self.jobs.pop(future)
                        self.in_flight -= job.blobs
                        self.finish(job, future)
            finally:
                # the end, a pause, an error, SIGTERM, an interrupt: end the git processes still
                # running, then remove this run's clones (a batch of blobs each, up to MAX_BATCH_BYTES)
                self.stop.set()
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.git.close()
                shutil.rmtree(self.clones, ignore_errors=True)

    def _blocked(self) -> set[str]:
        """Waiting repositories that still need a blob in flight."""
        return {key for key in self.waiting if {sha for _, sha, _ in self.state.pending_files(key)} & self.in_flight}

    # -- one repository, step by step (main thread) -------------------------------------------------

    def start(self, key: str, name: str, status: str) -> None:
        if status == PENDING:
            info = self.repo_metadata(key, name)
            if info is None:
                return self._repo_done()
            if not info["default_branch"]:
                self.state.set_repo_status(key, "error:empty")  # as fetch: api records it
                return self._repo_done()
            self.submit(GitJob(key, info["full_name"], "clone", info=info))
        else:  # listed: its files are recorded, some still to fetch
            self.next_blobs(key)

    def next_blobs(self, key: str) -> None:
        """Take what the mirror already holds, then fetch the rest in one job; when nothing is left,
        the files the notebooks read; then the repository is done."""
        repo = self.state.repo(key)
        full_name = repo["full_name"]
        folder = self.mirror / mirror_folder(full_name)
        wanted: list[tuple[str, str]] = []
        wanted_bytes = 0
        blocked = False
        for path, blob_sha, size in self.state.pending_files(key):
            target = folder / path
            if mirror_holds(target, blob_sha, size):
                self.state.set_file_status(key, path, "stored")
                self.bar.update()
            elif self._reuse_known_blob(key, path, blob_sha, target):
                self.bar.update()
            elif blob_sha in self.in_flight:
                blocked = True  # another repository's fetch is bringing it
            elif not wanted or wanted_bytes + (size or 0) <= MAX_BATCH_BYTES:
                wanted.append((path, blob_sha))
                wanted_bytes += size or 0
        if wanted:
            job = GitJob(key, full_name, "blobs", commit=repo["commit"], files=wanted, clone_first=full_name not in self.cloned)
            self.cloned.add(full_name)  # by this job, if not before
            return self.submit(job)
        if blocked:
            self.waiting.add(key)
            return
        if self.choose_files_read(key):
            return self.next_blobs(key)
        self.state.close_repo(key, CRAWLED)
        self._repo_done(full_name)

    def submit(self, job: GitJob) -> None:
        assert self.pool is not None
        job.token = self.api.git_token()
        auth = basic_auth(job.token.secret)
        if job.stage == "clone":
            task: Callable[[], Any] = lambda: self._clone(job.full_name, f"refs/heads/{job.info['default_branch']}", auth)
        else:
            task = lambda: self._fetch_blobs(job, auth)
        self.jobs[self.pool.submit(self._with_retries, task, job.full_name)] = job
        self.in_flight |= job.blobs

    def finish(self, job: GitJob, future: Future) -> None:
        try:
            result = future.result()
        except GitStopped:
            return
        except GitAuthRejected as exc:
            assert job.token is not None
            if job.token.secret is None:
                # without a token, GitHub asks for one where a repository is not public (or gone)
                return self._git_failed(job, GitFailure("404", str(exc), retryable=False))
            self.api.drop_token(job.token, f"401 on git: {exc}")  # CrawlError when it was the last token
            return self.submit(job)
        except CloneTooLarge as exc:
            log.warning("%s: the clone grew past max_clone_bytes=%d (%s); skipped", job.full_name, self.settings.max_clone_bytes, exc)
            if job.stage == "clone":
                self.state.set_repo_status(job.key, "skipped:clone_too_large")
            else:
                self.close_gone(job.key, job.full_name, "skipped:clone_too_large")
            return self._repo_done(job.full_name)
        except GitFailure as exc:
            if exc.retryable:
                self._git_failed_transiently(job, exc)
                if (job.key, job.stage) not in self.held_once:
                    return self.hold(job)
            return self._git_failed(job, exc)
        self.git_failures_in_a_row = 0
        if job.stage == "clone":
            self.cloned.add(job.full_name)
            self._listed(job, *result)
        else:
            self.state.set_file_statuses(job.key, result)
            self.bar.update(len(result))
            self.next_blobs(job.key)

    def _listed(self, job: GitJob, commit: str, tree: str) -> None:
        """The clone is done: the tree's sizes from REST, the listing recorded, then the blobs."""
        try:
            entries = self._walk_tree(job.full_name, tree, "")
        except Recorded as recorded:
            self.state.set_repo_status(job.key, recorded.status, recorded.retryable)
            return self._repo_done(job.full_name)
        assert job.info is not None
        self.record_listing(job.key, job.info, commit, entries)
        self.next_blobs(job.key)

    def _git_failed(self, job: GitJob, exc: GitFailure) -> None:
        code = "empty" if exc.code == "no_branch" else exc.code  # as fetch: api records a repository without its branch
        if job.stage == "clone":
            self.state.set_repo_status(job.key, f"error:{code}", exc.retryable)
            self._repo_done(job.full_name)
        elif code in GONE:
            self.close_gone(job.key, job.full_name, f"error:{code}")
            self._repo_done(job.full_name)
        elif code == "not_served" and job.key not in self.relisted:
            # the listed commit is no longer served (a force-push): list the repository again
            log.warning("%s: commit %s is no longer served; listing the repository again", job.full_name, job.commit[:12])
            self.relisted.add(job.key)
            self.state.set_repo_status(job.key, PENDING)
            self.todo.appendleft((job.key, job.full_name, PENDING))
        else:
            self.state.set_file_statuses(job.key, [(path, f"error:{code}", exc.retryable) for path, _ in job.files])
            self.bar.update(len(job.files))
            self.next_blobs(job.key)

    def _git_failed_transiently(self, job: GitJob, exc: GitFailure) -> None:
        """Count a git job that failed through all its tries; so many in a row mean git is down for us: pause."""
        log.warning("%s: git %s failed %d times: %s", job.full_name, job.stage, self.settings.retries, exc)
        self.git_failures_in_a_row += 1
        if self.git_failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise CrawlPaused(
                f"git failed {self.git_failures_in_a_row} times in a row (last: {job.full_name}, {exc}); "
                "GitHub's git service may be down or unreachable. Run the same command again later to resume"
            )

    def hold(self, job: GitJob) -> None:
        """Keep a transiently failed job, recording nothing, to try it again once the queue is empty."""
        log.info("%s: git %s tried again once the other repositories are done", job.full_name, job.stage)
        self.held_once.add((job.key, job.stage))
        if job.stage == "blobs" and job.clone_first:
            self.cloned.discard(job.full_name)  # its clone may be the part that failed: made again
        self.held.append(job)

    def retry_held(self, job: GitJob) -> None:
        if job.stage == "clone":
            self.submit(job)
        else:  # what is still pending then (another repository may have brought some of its blobs)
            self.next_blobs(job.key)

    def _repo_done(self, full_name: str | None = None) -> None:
        self.cloned.discard(full_name)
        if full_name is not None and self._clone_dir(full_name).exists():
            # renamed away now, removed by a worker (removing files is slow on some file systems)
            trash = self.clones / f"removed-{self.repos_done}"
            os.replace(self._clone_dir(full_name), trash)
            assert self.pool is not None
            self.pool.submit(shutil.rmtree, trash, True)
        self.repos_done += 1
        self._show()

    # -- in the worker threads: git and the mirror's files, never the state -------------------------

    def _with_retries(self, task: Callable[[], Any], what: str) -> Any:
        """`task()`, tried again after a transient failure (5xx, a dropped connection, a timeout), with backoff."""
        failures = 0
        while True:
            try:
                return task()
            except GitFailure as exc:
                failures += 1
                if not exc.retryable or failures >= self.settings.retries:
                    raise
                backoff = self.settings.retry_backoff_s * 2 ** (failures - 1) * random.uniform(0.5, 1.0)
                log.info("%s: git %s; try %d of %d in %.1f s", what, exc, failures + 1, self.settings.retries, backoff)
                if self.stop.wait(backoff):
                    raise GitStopped("the crawl is stopping") from None

    def _clone_dir(self, full_name: str) -> Path:
        return self.clones / f"{mirror_folder(full_name)}.git"

    def _clone(self, full_name: str, ref: str, auth: str | None) -> tuple[str, str]:
        url = f"{self.base_url}/{full_name}.git"
        return self.git.clone(self._clone_dir(full_name), url, ref, auth, self.settings.max_clone_bytes)

    def _fetch_blobs(self, job: GitJob, auth: str | None) -> list[tuple[str, str, bool]]:
        """Fetch the job's blobs into the repository's clone and write them to the mirror; (path, status, retryable) of each."""
        git_dir = self._clone_dir(job.full_name)
        if job.clone_first or not git_dir.is_dir():
            self._clone(job.full_name, job.commit, auth)  # listed in an earlier run: its commit's trees again
        shas = sorted(job.blobs)
        self.git.fetch_blobs(git_dir, shas, auth)
        paths: dict[str, list[str]] = {}
        for path, sha in job.files:
            paths.setdefault(sha, []).append(path)
        folder = self.mirror / mirror_folder(job.full_name)
        results = []
        for sha, content in self.git.read_blobs(git_dir, shas):
            if content is None:
                status, retryable = "error:not_served", False  # the fetch succeeded without it
            elif git_blob_sha(content) != sha:
                status, retryable = "error:bad_reply", True
            elif is_lfs_pointer(content):
                status, retryable = "lfs_pointer", False
            else:
                for path in paths[sha]:
                    write_atomically(folder / path, content, self.tmp)
                status, retryable = "stored", False
            results += [(path, status, retryable) for path in paths[sha]]
        return results

