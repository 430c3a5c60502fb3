"""The deps step: which data files each notebook reads, and whether its repository has them.

A read of the repository's own file through a URL or an absolute path is rewritten in the code to
the local file (deps/rewrite.py; `checks["rewritten_reads"]` lists them); a found read that still
names a URL or an absolute path cannot be served in the sandbox, so it counts as a network read
(`url`) or a `missing` file. It never drops a notebook; the filter step decides from
`notebook.checks["deps"]`. A URL whose file the crawl fetched (sources/github/urls.py) is rewritten
the same way to the copy in the repository's folder; one it could not fetch, or whose code builds the
URL from parts (no constant to rewrite), stays a `url` read, with the reason in
`checks["url_fetch"]` (URL -> reason).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import Field

from nbqa_builder.deps.analyze import find_data_refs
from nbqa_builder.deps.fetched import FetchedIndex
from nbqa_builder.deps.paths import is_url
from nbqa_builder.deps.resolve import RepoFiles, resolve_data_refs
from nbqa_builder.deps.rewrite import local_targets, rewrite_reads
from nbqa_builder.notebooks.code import notebook_trees
from nbqa_builder.records import FOUND, MISSING, REF_STATUSES, URL, DataRef, Notebook, code_path
from nbqa_builder.step import Step, StepConfig, count


class DepsConfig(StepConfig):
    # Files up to this size are hashed (in 1 MiB chunks) and their lines counted; larger ones get
    # their size only. 256 MiB: far above what a task may ship, far below a minute of hashing.
    max_hash_bytes: int = Field(256 * 2**20, ge=0)
    # Repositories whose file index is kept; a source yields a repository's notebooks together,
    # so a few suffice, and each index of a large repository can hold 100k paths.
    repo_cache_size: int = Field(8, ge=1)


def summarize_data_refs(refs: list[DataRef]) -> dict[str, Any]:
    """Counts by status, and `complete`: at least one ref, and every ref found."""
    summary: dict[str, Any] = {status: 0 for status in REF_STATUSES}
    for ref in refs:
        summary[ref.status] += 1
    summary["complete"] = bool(refs) and summary[FOUND] == len(refs)
    return summary


def _why_not_local(url: str, fetched: FetchedIndex) -> str | None:
    """Why a URL read is still a network read after the crawl fetched what it could; None when
    the crawl did not try it (a local source, a network call such as `requests.get`)."""
    if url in fetched.failed:
        return fetched.failed[url]
    if url in fetched.files:
        return "not_rewritten: the file was fetched, but the code builds its URL from parts, so it cannot be pointed at the copy"
    return None


class DepsStep(Step):
    name = "deps"
    Config = DepsConfig

    def __init__(self, config: DepsConfig | None = None, **context: Any) -> None:
        super().__init__(config, **context)
        self._repo_files: OrderedDict[str, RepoFiles] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        # a worker process rebuilds its own indexes rather than receiving pickled ones
        state = self.__dict__.copy()
        state["_repo_files"] = OrderedDict()
        return state

    def repo_files(self, repo_dir: str) -> RepoFiles:
        """The file index of `repo_dir`, built once while it stays among the recent ones."""
        index = self._repo_files.get(repo_dir)
        if index is None:
            index = RepoFiles(repo_dir, max_hash_bytes=self.config.max_hash_bytes)
            self._repo_files[repo_dir] = index
            while len(self._repo_files) > self.config.repo_cache_size:
                self._repo_files.popitem(last=False)
        else:
            self._repo_files.move_to_end(repo_dir)
        return index

    def process(self, notebook: Notebook) -> None:
        refs = find_data_refs(notebook.cells, notebook_trees(notebook))
        if notebook.repo_dir:  # without a repository, local refs stay missing
            repo_files = self.repo_files(notebook.repo_dir)
            resolve_data_refs(notebook, refs, repo_files)
            targets = local_targets(notebook, refs)
            rewritten = rewrite_reads(notebook, targets) if targets else {}
            if rewritten:  # the code changed: its reads are found again, from the code that will run
                notebook.checks["rewritten_reads"] = rewritten
                count(notebook, self.label, "reads_rewritten", len(rewritten))
                refs = find_data_refs(notebook.cells, notebook_trees(notebook))
                resolve_data_refs(notebook, refs, repo_files)
            for ref in refs:
                if ref.status == FOUND and code_path(ref.as_written) is None:  # not rewritten
                    ref.status, ref.resolved = (URL if is_url(ref.as_written) else MISSING), None
            failed = {ref.as_written: _why_not_local(ref.as_written, repo_files.fetched) for ref in refs if ref.status == URL}
            failed = {url: reason for url, reason in failed.items() if reason}
            if failed:  # why the crawl's copy cannot stand for them: the read stays a network read
                notebook.checks["url_fetch"] = failed
        notebook.data_refs = refs
        notebook.checks["deps"] = summarize_data_refs(refs)
        return None
