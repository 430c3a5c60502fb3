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
(sources/github/reads.py); last, the data the notebooks read by URL from other repositories or
allowed hosts (sources/github/urls.py). With `fetch: git` (the default) the commit and the files
come over git (sources/github/git_crawler.py), with `fetch: api` each file is one REST `git/blobs`
request (which, unlike the contents API, serves files over 1 MB). A repository that vanishes during
the crawl leaves nothing in the mirror. Needs the `github` extra (PyGithub), and for `fetch: git` the git
client; the tokens come from GITHUB_TOKEN or GITHUB_TOKENS.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from nbqa_builder.recipe import GithubSource
from nbqa_builder.sources.github.errors import CrawlError, CrawlPaused
from nbqa_builder.sources.github.mirror import remove_stray_folders

log = logging.getLogger("nbqa_builder.sources.github")


def crawl(source_config: GithubSource, output_dir: Path, progress: bool = True) -> Path:
    """Crawl what the recipe's github source names into a mirror; returns the mirror root.

    Raises CrawlPaused (resumable: run again) when a rate-limit wait is longer than `max_wait_s`,
    the API or git keeps failing, or on SIGTERM; CrawlError on a rejected token or a state made with
    other settings. Either way the crawl's scratch (git clones included) is removed first.
    """
    # here, not at the top: the package imports without the `github` extra (PyGithub)
    from nbqa_builder.sources.github.api import GithubApi, tokens_from_environment
    from nbqa_builder.sources.github.crawler import Crawler
    from nbqa_builder.sources.github.git_crawler import GitCrawler
    from nbqa_builder.sources.github.state import CrawlState
    from nbqa_builder.sources.github.urls import fetch_url_reads

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
                # the data the stored notebooks read by URL (sources/github/urls.py)
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


def plan_crawl(source_config: GithubSource, output_dir: Path | None = None) -> str:
    """What the crawl will cost in both fetch modes, as text to print (sources/github/plan.py);
    `output_dir` holds the state of an earlier crawl, if any."""
    from nbqa_builder.sources.github.plan import plan_crawl as plan

    return plan(source_config, output_dir)
