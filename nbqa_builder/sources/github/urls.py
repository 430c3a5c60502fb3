"""Data that crawled notebooks read by URL, fetched once at crawl time into the mirror.

Many notebooks read their data from another GitHub repository
(`pd.read_csv("https://raw.githubusercontent.com/OWNER/REPO/main/data/x.csv")`, a `github.com/.../blob/`
or `/raw/` URL, a gist) or from a web server. The sandbox has no network, so such a notebook cannot
re-run as written. After the crawl has stored the repositories, each repository's notebooks are
scanned for URL reads (deps/analyze.py finds them, as the deps step will), and each URL is fetched:

- from GitHub through the crawl's own REST client (sources/github/api.py: its token, rate limits
  and retries): the holding repository's metadata (its license must pass `source.licenses`, as the
  crawled repositories' do), the ref's commit, the tree down to the file, the blob; a gist through
  the gists API (a gist has no license, so only `licenses: null` fetches one);
- from a host that `fetch_urls.hosts` names: a plain GET, without credentials, following redirects
  only among those hosts (sources/web_fetch.py); every other host is left alone.

Each fetched file is stored once by content (`_work/crawl/fetched/<sha256>`) and linked into the
repository's folder under `.nbqa-fetched/<host>/<path>` (a name no repository file can have: the
crawl never writes `.nbqa*` paths of a tree). Beside it, `.nbqa-fetched.json` maps each URL to its
local path, the file's source and the holding repository's license, or to the reason it could not
be fetched (`not_found`, `timeout`, `html`, `over_cap`, `host_not_allowed`, `license`, ...); the
deps step reads it (deps/fetched.py): a fetched URL resolves to its local copy and the code is
rewritten to read it (deps/rewrite.py), so the notebook can re-run offline; a failed one stays a
`url` read, with its reason in `checks["url_fetch"]`. `_work/crawl/urls.jsonl` records every fetch
and its outcome; a resumed crawl fetches no stored URL again (transient failures, and failures
under other `fetch_urls` settings, are tried again). No token goes to a host other than the API's,
and a URL that carries credentials (a user, a password, a `token=` of its query) is never fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from nbqa_builder.deps.analyze import find_data_refs
from nbqa_builder.deps.fetched import FETCHED_DIR, FETCHED_INDEX, GithubFile, github_file
from nbqa_builder.deps.paths import is_url
from nbqa_builder.recipe import FetchUrls, GithubSource
from nbqa_builder.records import FILE
from nbqa_builder.sources.github.crawler import _blob, _branch_commit, _repo_info, _tree
from nbqa_builder.sources.github.errors import PermanentError, TransientExhausted
from nbqa_builder.sources.github.mirror import REPO_FILE, is_lfs_pointer, safe_repo_path, write_atomically
from nbqa_builder.sources.web_fetch import CREDENTIAL_PARAMS, Failed, FetchFailed, host_key, http_get, masked_url

log = logging.getLogger("nbqa_builder.sources.github")

SHA = re.compile(r"[0-9a-f]{40}")
MAX_REF_SEGMENTS = 3  # a branch named `release/2024/q1` spans three segments of the URL


@dataclass(frozen=True)
class Fetched:
    sha256: str
    size: int
    source: str  # where it came from: `owner/name@commit:path`, `gist:id:file`, or the URL
    license: str | None  # the holding repository's, as GitHub reports it; None when unknown


def local_copy_path(url: str) -> str:
    """Where a URL's file lies in the repository folder: `.nbqa-fetched/<host>/<path of the URL>`,
    readable in a task's text; a URL with a query, or a path that cannot be a file name, gets a
    short hash of the whole URL in front of its file name."""
    parts = urlsplit(url)
    host = host_key(parts).replace(":", "_") or "host"  # a server on another port serves other files
    path = unquote(parts.path).strip("/")
    safe = safe_repo_path(path) if path else None
    if safe is None or (parts.query and github_file(url) is None):
        name = (safe or path).rsplit("/", 1)[-1] or "data"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[-100:].lstrip(".") or "data"
        safe = f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    return f"{FETCHED_DIR}/{host}/{safe}"


def urls_read(notebooks: dict[str, bytes]) -> set[str]:
    """The URLs the notebooks (path -> bytes) read as data files; unreadable notebooks read none
    here (the validate step drops them)."""
    from nbqa_builder.notebooks.parse import NotebookError, load_json, to_cells, validate_notebook

    urls: set[str] = set()
    for path, raw in notebooks.items():
        try:
            cells = to_cells(validate_notebook(load_json(raw)))
        except NotebookError:
            continue
        urls.update(ref.as_written for ref in find_data_refs(cells) if ref.kind == FILE and is_url(ref.as_written))
    return urls


class UrlFetcher:
    """Fetches the URL reads of the mirror's repositories; see the module text."""

    def __init__(self, settings: GithubSource, api: Any, work: Path, tmp: Path):
        self.settings = settings
        self.config: FetchUrls = settings.fetch_urls
        self.api = api
        self.store = work / "fetched"
        self.store.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "urls.jsonl"
        self.tmp = tmp
        # what decides which URLs may be fetched: an index or a failure recorded under another one is redone
        self.policy = json.dumps({**self.config.model_dump(), "licenses": settings.licenses}, sort_keys=True)
        self.outcomes: dict[str, Fetched | Failed] = self._read_log()
        # within this run, so that many URLs into one repository cost one request of each kind
        self.holders: dict[str, dict[str, Any] | Failed] = {}  # repo -> metadata, or why not
        self.branches: dict[tuple[str, str], str | None] = {}  # (repo, branch) -> commit; None: no such branch
        self.trees: dict[tuple[str, str], list[Any]] = {}  # (repo, tree sha) -> its entries (one folder)
        self.fetches = 0

    # -- the mirror ------------------------------------------------------------------------------

    def fetch_mirror(self, mirror: Path) -> None:
        for folder in sorted(p for p in mirror.iterdir() if p.is_dir()):
            try:
                meta = json.loads((folder / REPO_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # not listed yet: its notebooks are not all there
            self.fetch_for_repo(folder, meta.get("repo") or folder.name.replace("__", "/", 1), meta.get("commit"))

    def fetch_for_repo(self, folder: Path, full_name: str, commit: str | None) -> None:
        """Fetch what the repository's notebooks read by URL, link it into its folder and write its index."""
        index_path = folder / FETCHED_INDEX
        try:
            before = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            before = None
        if (isinstance(before, dict) and before.get("commit") == commit and before.get("policy") == self.policy
                and not any(entry.get("retryable") for entry in before.get("failed", {}).values())):
            return  # done in an earlier run
        notebooks = {}
        for path in folder.rglob("*"):
            relative = path.relative_to(folder).as_posix()
            if path.suffix.lower() in self.settings.notebook_extensions and not relative.startswith(FETCHED_DIR) and path.is_file():
                notebooks[relative] = path.read_bytes()
        files: dict[str, dict[str, Any]] = {}
        failed: dict[str, dict[str, Any]] = {}
        for url in sorted(urls_read(notebooks)):
            target = github_file(url)
            if (target is not None and target.repo.lower() == full_name.lower()
                    and (folder / target.path_at_one_segment_ref()).is_file()):
                continue  # the repository's own file: the deps step reads it where it is (deps/resolve.py)
            outcome = self.outcome(url)
            if isinstance(outcome, Fetched):
                local = local_copy_path(url)
                self._link(outcome.sha256, folder / local)
                files[url] = {"path": local, **asdict(outcome)}
            else:
                failed[url] = asdict(outcome)
                log.info("%s: %s not fetched (%s)", full_name, masked_url(url), outcome.reason)
        self._remove_stale(folder, {entry["path"] for entry in files.values()})
        if notebooks or index_path.exists():  # written even when empty, so that a resumed crawl skips the folder
            record = {"commit": commit, "policy": self.policy, "files": files, "failed": failed}
            write_atomically(index_path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode(), self.tmp)

    def _link(self, sha256: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = self.tmp / f"link-{os.getpid()}-{sha256[:16]}"
        staged.unlink(missing_ok=True)
        try:
            os.link(self.store / sha256, staged)  # stored once: every repository that reads it shares the bytes
        except OSError:
            staged.write_bytes((self.store / sha256).read_bytes())
        os.replace(staged, target)

    @staticmethod
    def _remove_stale(folder: Path, keep: set[str]) -> None:
        fetched = folder / FETCHED_DIR
        if not fetched.is_dir():
            return
        for path in sorted(fetched.rglob("*"), reverse=True):
            if path.is_file() and path.relative_to(folder).as_posix() not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    # -- one URL ---------------------------------------------------------------------------------

    def outcome(self, url: str) -> Fetched | Failed:
        """The URL's file in the store, or why it is not there; fetched at most once."""
        try:
            refused = self._refused(url)
        except ValueError as exc:  # a garbled URL (`http://[x`): urlsplit refuses it
            refused = Failed(f"bad_url: {exc}")
        if refused is not None:
            return refused  # the recipe's choice, not the URL's fate: not logged, so another recipe may fetch it
        known = self.outcomes.get(url)
        if isinstance(known, Fetched) and (self.store / known.sha256).is_file():
            return self._within_policy(known)
        if isinstance(known, Failed) and not known.retryable:
            return known
        try:
            target = github_file(url)
            if target is None:
                content, source, license = http_get(url, self.config.hosts, self.config.max_bytes, self.config.timeout_s), url, None
            else:
                content, source, license = self._fetch_github(target)
        except FetchFailed as exc:
            outcome: Fetched | Failed = exc.failed
        else:
            digest = hashlib.sha256(content).hexdigest()
            if not (self.store / digest).is_file():
                write_atomically(self.store / digest, content, self.tmp)
            outcome = Fetched(digest, len(content), source, license)
        self.fetches += 1
        self.outcomes[url] = outcome
        self._append_log(url, outcome)
        return outcome

    def _within_policy(self, fetched: Fetched) -> Fetched | Failed:
        """A file stored by an earlier crawl, held to today's cap and licenses."""
        if fetched.size > self.config.max_bytes:
            return Failed(f"over_cap: {fetched.size} bytes, fetch_urls.max_bytes is {self.config.max_bytes}")
        licenses = self.settings.licenses
        if licenses is not None and not is_url(fetched.source) and fetched.license not in licenses:
            return Failed(f"license: {fetched.source} is licensed {fetched.license or 'without a license'}, not one of source.licenses")
        return fetched

    def _refused(self, url: str) -> Failed | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.username or parts.password or CREDENTIAL_PARAMS.search(parts.query):
            return Failed("credentials_in_url: a URL that carries a user, a password or a token is never fetched")
        if github_file(url) is not None:
            return None if self.config.github else Failed("host_not_allowed: fetch_urls.github is off")
        if parts.scheme.lower() not in ("http", "https"):
            return Failed(f"host_not_allowed: only http and https URLs are fetched, not {parts.scheme}")
        if host_key(parts) not in self.config.hosts and host not in self.config.hosts:
            return Failed(f"host_not_allowed: {host} is not in fetch_urls.hosts")
        return None

    # -- GitHub ----------------------------------------------------------------------------------

    def _fetch_github(self, target: GithubFile) -> tuple[bytes, str, str | None]:
        if target.repo.startswith("gist:"):
            return self._fetch_gist(target)
        info = self.holders.get(target.repo.lower())
        if info is None:
            try:
                info = self._call(lambda gh: _holder_info(gh.get_repo(target.repo)), target.repo)
            except FetchFailed as exc:
                info = exc.failed
            self.holders[target.repo.lower()] = info
        if isinstance(info, Failed):
            raise FetchFailed(info.reason, info.retryable)
        if info["private"]:  # the token may see it; the dataset must not
            raise FetchFailed(f"private: {info['full_name']} is not a public repository")
        licenses = self.settings.licenses
        if licenses is not None and info["license"] not in licenses:
            raise FetchFailed(f"license: {info['full_name']} is licensed {info['license'] or 'without a license'}, "
                              "not one of source.licenses")
        full_name = info["full_name"]
        commit, path, blob_sha, size = self._locate(full_name, target.ref_and_path)
        cap = self.config.max_bytes
        if size > cap:
            raise FetchFailed(f"over_cap: {size} bytes, fetch_urls.max_bytes is {cap}")
        content = self._call(lambda gh: _blob(gh.get_repo(full_name), blob_sha), f"{full_name}:{path}")
        if is_lfs_pointer(content):
            raise FetchFailed("lfs_pointer: the file is stored in Git LFS, which the crawl does not fetch")
        return content, f"{full_name}@{commit}:{path}", info["license"]

    def _locate(self, full_name: str, rest: tuple[str, ...]) -> tuple[str, str, str, int]:
        """(commit, path, blob sha, size) of the file the URL names: its ref is a commit id, a
        branch, which may span several segments (`release/v2`), a tag or a short commit id; each
        candidate split is tried."""
        if rest[0] == "refs" and len(rest) > 3 and rest[1] in ("heads", "tags"):
            rest = rest[2:]
        for cut in range(1, min(MAX_REF_SEGMENTS, len(rest) - 1) + 1):
            ref, path = "/".join(rest[:cut]), "/".join(rest[cut:])
            if SHA.fullmatch(ref):
                commit = ref
            else:
                key = (full_name, ref)
                if key not in self.branches:
                    self.branches[key] = self._ref_commit(full_name, ref)
                commit = self.branches[key]
                if commit is None:
                    continue
            entry = self._tree_entry(full_name, commit, path)
            if entry is not None:
                return (commit, path, *entry)
        raise FetchFailed(f"not_found: {full_name} has no file {'/'.join(rest)} at a branch or commit the URL names")

    def _ref_commit(self, full_name: str, ref: str) -> str | None:
        """The commit a URL's ref names: a branch (one call, the usual case), else a tag or a short
        commit id (GitHub's commits endpoint resolves both); None when it names none."""
        try:
            return self._call(lambda gh: _branch_commit(gh.get_repo(full_name), ref), f"{full_name}@{ref}")
        except FetchFailed as exc:
            if exc.failed.kind != "not_found":
                raise
        try:
            return self._call(lambda gh: _commit_sha(gh.get_repo(full_name), ref), f"{full_name}@{ref}")
        except FetchFailed as exc:
            if exc.failed.kind not in ("not_found", "http_422"):  # 422: "No commit found for SHA"
                raise
        return None

    def _tree_entry(self, full_name: str, commit: str, path: str) -> tuple[str, int] | None:
        """(blob sha, size) of `path` at `commit`, walking one folder at a time (a few small
        requests, where the recursive tree of a large repository is megabytes)."""
        sha = commit
        parts = path.split("/")
        for depth, name in enumerate(parts):
            if (full_name, sha) not in self.trees:
                try:
                    _, self.trees[full_name, sha] = self._call(lambda gh: _tree(gh.get_repo(full_name), sha, False), f"{full_name}:{path}")
                except FetchFailed as exc:
                    if exc.failed.kind != "not_found":
                        raise
                    self.trees[full_name, sha] = []
            entries = self.trees[full_name, sha]
            match = [e for e in entries if e[0] == name]
            if not match:
                return None
            _, (kind, _mode), sha, size = match[0]
            last = depth == len(parts) - 1
            if last:
                return (sha, int(size)) if kind == "blob" and isinstance(size, int) else None
            if kind != "tree":
                return None
        return None

    def _fetch_gist(self, target: GithubFile) -> tuple[bytes, str, str | None]:
        gist_id = target.repo.removeprefix("gist:")
        if self.settings.licenses is not None:
            raise FetchFailed("license: a gist carries no license, and source.licenses keeps only licensed files")
        name = target.ref_and_path[-1]
        gist = self._call(lambda gh: _gist_file(gh.get_gist(gist_id), name), f"gist {gist_id}")
        content, size = gist
        if size > self.config.max_bytes:
            raise FetchFailed(f"over_cap: {size} bytes, fetch_urls.max_bytes is {self.config.max_bytes}")
        return content, f"gist:{gist_id}:{name}", None

    def _call(self, fn: Any, what: str) -> Any:
        try:
            return self.api.call("core", fn, what)
        except PermanentError as exc:
            kind = "not_found" if exc.code in ("404", "410", "empty") else f"http_{exc.code}"
            raise FetchFailed(f"{kind}: {what}: {exc}") from None
        except TransientExhausted as exc:
            raise FetchFailed(f"{'timeout' if exc.code == 'timeout' else 'unavailable'}: {what}: {exc}", retryable=True) from None

    # -- the record ------------------------------------------------------------------------------

    def _read_log(self) -> dict[str, Fetched | Failed]:
        outcomes: dict[str, Fetched | Failed] = {}
        try:
            lines = self.log_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return outcomes
        for line in lines:
            try:
                record = json.loads(line)
                url = record.pop("url")
                status = record.pop("status")
                record.pop("host", None)
                if record.pop("policy", None) != self.policy and status != "stored":
                    continue  # failed under other fetch_urls settings (a smaller cap): tried again
                outcomes[url] = Fetched(**record) if status == "stored" else Failed(**record)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the last line of a killed run
        return outcomes

    def _append_log(self, url: str, outcome: Fetched | Failed) -> None:
        status = "stored" if isinstance(outcome, Fetched) else "failed"
        record = {"url": url, "status": status, "host": host_key(urlsplit(url)), "policy": self.policy, **asdict(outcome)}
        with self.log_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")


def _commit_sha(repo: Any, ref: str) -> str:
    # PyGithub's Commit is lazy (its `sha` would be the ref as given): raw_data makes the request
    sha = repo.get_commit(ref).raw_data.get("sha")
    if not (isinstance(sha, str) and SHA.fullmatch(sha)):
        raise ValueError(f"commit reply without a commit sha: {sha!r}")
    return sha


def _holder_info(repo: Any) -> dict[str, Any]:
    return {**_repo_info(repo), "private": repo.private is not False}


def _gist_file(gist: Any, name: str) -> tuple[bytes, int]:
    files = gist.files or {}
    if name not in files:
        raise PermanentError("404", f"the gist has no file {name}")
    entry = files[name]
    if getattr(entry, "truncated", False):  # over 1 MB: the API gives only the start
        raise PermanentError("413", f"{name} is too large for the gists API")
    content = entry.content
    if not isinstance(content, str):
        raise ValueError(f"gist file without content: {type(content).__name__}")
    data = content.encode("utf-8")
    return data, len(data)


def fetch_url_reads(settings: GithubSource, api: Any, work: Path, tmp: Path) -> UrlFetcher:
    """The crawl's last stage: the URL reads of every repository in the mirror; see the module text."""
    fetcher = UrlFetcher(settings, api, work, tmp)
    fetcher.fetch_mirror(work / "mirror")
    log.info("crawl: %d URL(s) fetched or tried; records in %s", fetcher.fetches, fetcher.log_path.name)
    return fetcher

