"""A fake GitHub on 127.0.0.1 for the crawler's tests: real HTTP, real status codes, real git.

It serves a world of repositories (folders of files plus metadata) through just the REST endpoints
PyGithub uses for a crawl: repos/{o}/{r}, branches, git/trees (recursive or not), git/blobs,
search/code, search/repositories, rate_limit and gists/{id} (for data read by a gist's raw URL); and the same repositories over git's smart HTTP
(`/{o}/{r}.git/...`, answered by `git http-backend`, tests/fake_git.py), with the ids of the REST
API being git's own. It checks tokens; keeps primary rate limits per token and resource on the
REST side; and can inject faults: secondary limits (403 and 429 with Retry-After, or a message
only), 502/503, dropped connections, cut bodies, slow replies, garbled JSON, truncated trees, on
git requests 502/503, dropped connections and cut packs, and repositories that vanish after their
metadata, tree or first blob was served. Every request is logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import shutil
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path, PurePosixPath
from typing import Any

from tests.local_server import LocalServer
from tests.fake_git import GitRepository, build_repository, http_backend_path, read_request, run_http_backend, write_bare_repository

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345678\n"
)

FAULT_KINDS = ("secondary_403", "secondary_429", "secondary_message", "error_502", "error_503", "drop", "cut", "slow", "garbage")
GIT_FAULT_KINDS = ("error_502", "error_503", "drop", "cut")


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeRepo:
    full_name: str
    files: dict[str, bytes]
    license: str | None = "MIT"
    fork: bool = False
    archived: bool = False
    blocked: bool = False  # served as 451, as GitHub does for a DMCA takedown
    # 404 for everything (REST and git) once this was served: "repo" (its metadata), "tree" (its
    # recursive tree) or "blob" (a first blob, over REST or git)
    vanish_after: str | None = None
    default_branch: str = "main"
    description: str = ""
    other_branches: tuple[str, ...] = ()  # branches at the same commit as the default one
    tags: tuple[str, ...] = ()  # tags of that commit too
    private: bool = False  # served to the token all the same, as GitHub does to a token that may see it


def repos_from_folder(folder: Path, license: str | None = "MIT") -> list[FakeRepo]:
    """One repository per `owner__name` sub-folder, with every file in it."""
    repos = []
    for repo_dir in sorted(p for p in folder.iterdir() if p.is_dir() and "__" in p.name):
        owner, name = repo_dir.name.split("__", 1)
        files = {p.relative_to(repo_dir).as_posix(): p.read_bytes() for p in sorted(repo_dir.rglob("*")) if p.is_file()}
        repos.append(FakeRepo(f"{owner}/{name}", files, license=license))
    return repos


@dataclass
class Faults:
    rate: float = 0.0  # share of URLs whose first request gets a fault
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after_s: int = 1  # Retry-After of secondary limits
    slow_s: float = 1.6  # how long a slow reply takes (the client's timeout is shorter)
    truncate_trees_over: int | None = None  # recursive trees with more entries come back truncated
    always: dict[str, str] = field(default_factory=dict)  # URL part -> fault kind on every request
    # request part -> fault kind on the first request it matches only; a git request is matched as
    # "METHOD /path?query COMMAND" with COMMAND "fetch+blobs" for a fetch that wants blobs
    first: dict[str, str] = field(default_factory=dict)
    exhaust_after: int | None = None  # from this request on, the token's core window is spent (as if another program used it)
    exhaust_for_s: int = 2  # ... until this many seconds later
    git_kinds: tuple[str, ...] = GIT_FAULT_KINDS  # the faults a git request may get (at the same `rate`)
    revoke_after: tuple[int, str] | None = None  # (n, secret): the token is revoked once n requests were answered
    latency_s: float = 0.0  # added to every reply, REST and git (the benchmark's network)


@dataclass
class Limit:
    limit: int
    window_s: int


class FakeGithub(LocalServer):
    """The server: `with FakeGithub(repos, tokens={...}) as server:` then point PyGithub at `server.url`."""

    def __init__(
        self,
        repos: list[FakeRepo],
        tokens: dict[str, str] | None = None,
        faults: Faults | None = None,
        limits: dict[str, Limit] | None = None,
        search_cap: int = 1000,
        gists: dict[str, dict[str, bytes]] | None = None,
    ):
        self.repos = {r.full_name.lower(): r for r in repos}
        self.gists = gists or {}  # gist id -> file name -> content
        self.tokens = tokens or {}  # secret -> label (the label is what the log keeps)
        self.faults = faults or Faults()
        self.limits = {"core": Limit(100_000, 3600), "search": Limit(1000, 60), "code_search": Limit(1000, 60), **(limits or {})}
        self.search_cap = search_cap
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.vanished: set[str] = set()
        self.revoked: set[str] = set()  # secrets revoked during the run: refused even when no token is left
        self.started: list[str] = []  # git requests as they begin ("METHOD /path?query COMMAND"), for a kill in the middle
        self.seen_urls: set[str] = set()
        self.windows: dict[tuple[str, str], list[float]] = {}  # (token label, resource) -> [remaining, reset]
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, list[dict[str, Any]]] = {}
        self.commits: dict[str, str] = {}  # repo key -> commit sha
        self.commit_trees: dict[str, str] = {}  # commit sha -> root tree sha
        self.git: dict[str, GitRepository] = {}
        for key, repo in self.repos.items():
            built = self.git[key] = build_repository(repo.files, repo.full_name)
            self.blobs.update(built.blobs)
            self.trees.update(built.trees)
            self.commits[key], self.commit_trees[built.commit] = built.commit, built.root_tree
        self.git_root = Path(tempfile.mkdtemp(prefix="fake-github-"))  # bare repositories, written when first asked for
        self.git_written: set[str] = set()
        self.http_backend = http_backend_path()
        self.serve(_handler(self))
        self.url = f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        shutil.rmtree(self.git_root, ignore_errors=True)

    # -- the world as git objects ----------------------------------------------------------------

    def vanish(self, full_name: str) -> None:
        """The repository is deleted: 404 from now on, over REST and git."""
        with self.lock:
            self.vanished.add(full_name.lower())

    def git_directory(self, key: str) -> Path:
        """The bare repository serving `key`, written on first use."""
        repo = self.repos[key]
        directory = self.git_root / f"{repo.full_name}.git"
        with self.lock:
            if key not in self.git_written:
                write_bare_repository(directory, self.git[key], repo.default_branch)
                self.git_written.add(key)
        return directory

    def _flat_tree(self, sha: str, prefix: str = "") -> list[dict[str, Any]]:
        out = []
        for entry in self.trees[sha]:
            out.append({**entry, "path": prefix + entry["path"]})
            if entry["type"] == "tree":
                out += self._flat_tree(entry["sha"], prefix + entry["path"] + "/")
        return out

    def delivered_blobs(self) -> dict[str, int]:
        """blob sha -> how many times its content was delivered whole (200, no fault), by REST or git."""
        counts: dict[str, int] = {}
        for entry in self.blob_deliveries():
            for sha in entry["blobs"]:
                counts[sha] = counts.get(sha, 0) + 1
        return counts

    def blob_deliveries(self) -> list[dict[str, Any]]:
        """The log entries that delivered blobs whole, each with `blobs`: the ids it delivered."""
        with self.lock:
            entries = list(self.log)
        delivered = []
        for entry in entries:
            if entry["status"] != 200 or entry["fault"] not in (None, "slow"):  # a slow reply read whole was delivered
                continue
            if "/git/blobs/" in entry["path"]:
                delivered.append({**entry, "blobs": [entry["path"].rsplit("/", 1)[1]]})
            elif entry.get("git") and entry.get("command") == "fetch":
                blobs = [sha for sha in entry["wants"] if sha in self.blobs]
                if blobs:
                    delivered.append({**entry, "blobs": blobs})
        return delivered

    def rest_requests(self) -> int:
        with self.lock:
            return sum(1 for entry in self.log if not entry.get("git"))

    def git_requests(self) -> int:
        with self.lock:
            return sum(1 for entry in self.log if entry.get("git"))

    def bytes_served(self, git: bool) -> int:
        """Bytes of the reply bodies sent, over git or over REST."""
        with self.lock:
            return sum(entry.get("bytes", 0) for entry in self.log if bool(entry.get("git")) == git)

    # -- JSON of GitHub objects ------------------------------------------------------------------

    def repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/")
        license = None
        if repo.license:
            license = {"key": repo.license.lower(), "name": repo.license, "spdx_id": repo.license, "url": None, "node_id": "L"}
        return {
            "id": int(hashlib.sha1(repo.full_name.encode()).hexdigest()[:8], 16),
            "node_id": "R",
            "name": name,
            "full_name": repo.full_name,
            "owner": {"login": owner, "id": 1, "type": "User", "url": f"{self.url}/users/{owner}"},
            "private": repo.private,
            "html_url": f"{self.url}/{repo.full_name}",
            "clone_url": f"{self.url}/{repo.full_name}.git",
            "url": f"{self.url}/repos/{repo.full_name}",
            "description": repo.description,
            "fork": repo.fork,
            "archived": repo.archived,
            "disabled": False,
            "default_branch": repo.default_branch,
            "license": license,
            "size": sum(len(c) for c in repo.files.values()) // 1024,
        }


def _handler(world: FakeGithub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without TCP_NODELAY the second waits for the
        # client's delayed ACK (40 ms a reply), which no real server makes anyone wait
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
            entry = {"token": None, "path": parsed.path, "query": query, "status": None, "fault": None}
            if world.faults.latency_s:
                time.sleep(world.faults.latency_s)
            with world.lock:
                if world.faults.revoke_after and len(world.log) >= world.faults.revoke_after[0]:
                    world.tokens.pop(world.faults.revoke_after[1], None)
                    world.revoked.add(world.faults.revoke_after[1])
                    world.faults.revoke_after = None
            try:
                if ".git/" in parsed.path:
                    entry["git"] = True
                    self._serve_git(method, parsed.path, parsed.query, entry)
                elif method == "GET":
                    self._serve(parsed.path, query, entry)
                else:
                    self._reply(entry, 405, {"message": "Method Not Allowed"})
            finally:
                with world.lock:
                    entry["n"] = len(world.log)
                    world.log.append(entry)

        # -- git's smart HTTP ----------------------------------------------------------------------

        def _serve_git(self, method: str, path: str, query: str, entry: dict[str, Any]) -> None:
            body = self._request_body()
            entry["command"], entry["wants"], entry["arguments"] = read_request(body, self.headers.get("Content-Encoding"))
            auth = self.headers.get("Authorization", "")
            if auth:  # GitHub serves public repositories without a token, but refuses a bad one
                secret = _basic_password(auth)
                if (world.tokens and secret not in world.tokens) or secret in world.revoked:
                    return self._reply(entry, 401, b"Invalid username or password.", {"WWW-Authenticate": 'Basic realm="GitHub"'})
                entry["token"] = world.tokens.get(secret or "", "anonymous")
            owner, _, rest = path.strip("/").partition("/")
            name, _, service_path = rest.partition(".git/")
            key = f"{owner}/{name}".lower()
            repo = world.repos.get(key)
            with world.lock:
                gone = key in world.vanished
            if repo is None or gone or service_path not in ("info/refs", "git-upload-pack") or "receive-pack" in query:
                if not auth:  # GitHub asks an anonymous client for credentials: the repository may be private
                    return self._reply(entry, 401, b"", {"WWW-Authenticate": 'Basic realm="GitHub"'})
                return self._reply(entry, 404, b"Repository not found.")
            if repo.blocked:
                return self._reply(entry, 451, b"Repository access blocked.")
            blobs = "+blobs" if any(sha in world.blobs for sha in entry["wants"]) else ""
            request = f"{method} {self.path} {entry['command']}{blobs}"
            with world.lock:
                world.started.append(request)
            fault = self._fault(f"{request} {hashlib.sha1(body).hexdigest()}", world.faults.git_kinds)
            if fault == "slow":  # a long fetch: git's low-speed limit may give up on it first
                entry["fault"] = fault
                time.sleep(world.faults.slow_s)
            if fault in ("error_502", "error_503"):
                entry["fault"] = fault
                return self._reply(entry, int(fault[-3:]), b"<html><body>Server Error</body></html>")
            if fault == "drop":
                entry["fault"], entry["status"] = fault, "dropped"
                self.close_connection = True
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply_headers, data = run_http_backend(
                world.http_backend, world.git_directory(key).parent.parent, method, path, query, headers, body, world.git_root
            )
            if fault == "cut" and status == 200 and len(data) > 1:
                entry["fault"] = "cut"
                return self._send_cut(entry, data, reply_headers)
            if status == 200 and entry["command"] == "fetch" and repo.vanish_after == "blob":
                if any(sha in world.git[key].blobs for sha in entry["wants"]):
                    world.vanish(repo.full_name)
            self.send_response(status)
            for header, value in reply_headers:
                self.send_header(header, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            entry["status"], entry["bytes"] = status, len(data)
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                entry["status"] = f"{status} unread"

        def _request_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        # -- the REST API --------------------------------------------------------------------------

        def _serve(self, path: str, query: dict[str, str], entry: dict[str, Any]) -> None:
            auth = self.headers.get("Authorization", "")
            secret = auth.split(" ", 1)[1] if " " in auth else None
            if (world.tokens and secret not in world.tokens) or secret in world.revoked:
                return self._reply(entry, 401, {"message": "Bad credentials"})
            label = world.tokens.get(secret or "", "anonymous")
            entry["token"] = label
            resource = "code_search" if path == "/search/code" else "search" if path.startswith("/search/") else "core"
            if path == "/rate_limit":
                return self._reply(entry, 200, self._rate_limit_json(label))
            fault = self._fault(self.path)
            if fault and fault.startswith("secondary"):
                entry["fault"] = fault
                if fault == "secondary_429":
                    return self._reply(entry, 429, {"message": "Too many requests"}, {"Retry-After": str(world.faults.retry_after_s)})
                message = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}
                headers = {"Retry-After": str(world.faults.retry_after_s)} if fault == "secondary_403" else {}
                return self._reply(entry, 403, message, headers)
            with world.lock:
                if world.faults.exhaust_after is not None and len(world.log) >= world.faults.exhaust_after:
                    world.faults.exhaust_after = None
                    world.windows[(label, "core")] = [0, math.ceil(time.time() + world.faults.exhaust_for_s)]
            limit_headers = self._spend(label, resource)
            if limit_headers is None:
                remaining, reset = world.windows[(label, resource)]
                headers = {"X-RateLimit-Limit": str(world.limits[resource].limit), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset)), "X-RateLimit-Resource": resource}
                entry["fault"] = "primary_limit"
                return self._reply(entry, 403, {"message": "API rate limit exceeded for user ID 1."}, headers)
            if fault in ("error_502", "error_503"):
                entry["fault"] = fault
                return self._reply(entry, int(fault[-3:]), b"<html><body>Server Error</body></html>", limit_headers)
            if fault == "drop":
                entry["fault"], entry["status"] = fault, "dropped"
                self.close_connection = True
                return
            status, body = self._route(path, query)
            if fault == "garbage" and status == 200:
                entry["fault"] = fault
                return self._reply(entry, 200, b'{"sha": "0000", "content": "trunc', limit_headers)
            if fault == "cut" and status == 200:
                entry["fault"] = fault
                return self._send_cut(entry, json.dumps(body).encode(), [("Content-Type", "application/json; charset=utf-8")])
            if fault == "slow":
                entry["fault"] = fault
                time.sleep(world.faults.slow_s)
            elif self.vanishes:  # served whole: the repository vanishes now
                world.vanish(self.vanishes)
            return self._reply(entry, status, body, limit_headers)

        def _fault(self, url: str, kinds: tuple[str, ...] | None = None) -> str | None:
            """A fault for the first request of a share of URLs, chosen by the URL's hash."""
            faults = world.faults
            kinds = faults.kinds if kinds is None else kinds
            for part, kind in faults.always.items():
                if part in url:
                    return kind
            with world.lock:
                for part, kind in list(faults.first.items()):
                    if part in url:
                        del faults.first[part]
                        world.seen_urls.add(url)
                        return kind
                if url in world.seen_urls or not faults.rate or not kinds:
                    world.seen_urls.add(url)
                    return None
                world.seen_urls.add(url)
            digest = int(hashlib.sha1(url.encode()).hexdigest(), 16)
            if (digest % 10_000) / 10_000 >= faults.rate:
                return None
            return kinds[(digest // 10_000) % len(kinds)]

        def _spend(self, label: str, resource: str) -> dict[str, str] | None:
            """Count a request against the token's window; None when the window is spent."""
            limit = world.limits[resource]
            now = time.time()
            with world.lock:
                window = world.windows.setdefault((label, resource), [limit.limit, 0.0])
                if now >= window[1]:
                    window[0], window[1] = limit.limit, math.ceil(now + limit.window_s)
                if window[0] <= 0:
                    return None
                window[0] -= 1
                return {
                    "X-RateLimit-Limit": str(limit.limit),
                    "X-RateLimit-Remaining": str(int(window[0])),
                    "X-RateLimit-Reset": str(int(window[1])),
                    "X-RateLimit-Resource": resource,
                }

        def _rate_limit_json(self, label: str) -> dict[str, Any]:
            resources = {}
            for resource, limit in world.limits.items():
                remaining, reset = world.windows.get((label, resource), [limit.limit, time.time() + limit.window_s])
                resources[resource] = {"limit": limit.limit, "remaining": int(remaining), "reset": int(reset), "used": limit.limit - int(remaining)}
            return {"resources": resources, "rate": resources["core"]}

        # -- endpoints ---------------------------------------------------------------------------

        def _route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
            parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
            self.vanishes = None  # a repository to vanish once this reply is served whole
            if parts[:2] == ["search", "code"]:
                return 200, self._search(query, code=True)
            if parts[:2] == ["search", "repositories"]:
                return 200, self._search(query, code=False)
            if parts[0] == "gists" and len(parts) == 2:
                return self._gist(parts[1])
            if len(parts) < 3 or parts[0] != "repos":
                return 404, {"message": "Not Found"}
            key = f"{parts[1]}/{parts[2]}".lower()
            repo = world.repos.get(key)
            with world.lock:
                gone = key in world.vanished
            if repo is None or gone:
                return 404, {"message": "Not Found"}
            if repo.blocked:
                return 451, {"message": "Repository access blocked", "block": {"reason": "dmca"}}
            rest = parts[3:]
            base = f"{world.url}/repos/{repo.full_name}"
            if not rest:
                self.vanishes = repo.full_name if repo.vanish_after == "repo" else None
                return 200, world.repo_json(repo)
            if rest[0] == "branches" and len(rest) >= 2:
                branch = "/".join(rest[1:])
                if branch != repo.default_branch and branch not in repo.other_branches:
                    return 404, {"message": "Branch not found"}
                commit = world.commits[key]
                return 200, {"name": branch, "commit": {"sha": commit, "url": f"{base}/commits/{commit}"}, "protected": False}
            if rest[0] == "commits" and len(rest) >= 2:  # a branch, a tag, or a commit id of 7 or more digits
                ref, commit = "/".join(rest[1:]), world.commits[key]
                if ref not in (repo.default_branch, *repo.other_branches, *repo.tags) and not (
                        len(ref) >= 7 and commit.startswith(ref)):
                    return 422, {"message": f"No commit found for SHA: {ref}"}
                return 200, {"sha": commit, "url": f"{base}/commits/{commit}", "parents": [], "files": [],
                             "commit": {"message": "fake", "tree": {"sha": world.commit_trees[commit]}}}
            if rest[:2] == ["git", "trees"] and len(rest) == 3:
                sha = world.commit_trees.get(rest[2], rest[2])
                if sha not in world.trees:
                    return 404, {"message": "Not Found"}
                recursive = query.get("recursive") not in (None, "", "0", "false")
                entries = world._flat_tree(sha) if recursive else list(world.trees[sha])
                truncated = False
                over = world.faults.truncate_trees_over
                if recursive and over is not None and len(entries) > over:
                    entries, truncated = entries[:over], True
                if recursive and repo.vanish_after == "tree":
                    self.vanishes = repo.full_name
                tree = [{**e, "url": f"{base}/git/{'trees' if e['type'] == 'tree' else 'blobs'}/{e['sha']}"} for e in entries]
                return 200, {"sha": sha, "url": f"{base}/git/trees/{sha}", "tree": tree, "truncated": truncated}
            if rest[:2] == ["git", "blobs"] and len(rest) == 3:
                content = world.blobs.get(rest[2])
                in_repo = content is not None and rest[2] in {blob_sha(c) for c in repo.files.values()}
                if not in_repo:
                    return 404, {"message": "Not Found"}
                if repo.vanish_after == "blob":
                    self.vanishes = repo.full_name
                encoded = base64.encodebytes(content).decode()  # GitHub wraps base64 lines too
                return 200, {"sha": rest[2], "node_id": "B", "size": len(content), "url": f"{base}/git/blobs/{rest[2]}", "content": encoded, "encoding": "base64"}
            return 404, {"message": "Not Found"}

        def _gist(self, gist_id: str) -> tuple[int, Any]:
            files = world.gists.get(gist_id)
            if files is None:
                return 404, {"message": "Not Found"}
            base = f"{world.url}/gists/{gist_id}"
            entries = {
                name: {"filename": name, "type": "text/plain", "language": None, "size": len(content), "truncated": False,
                       "raw_url": f"{world.url}/gist-raw/{gist_id}/{name}", "content": content.decode("utf-8")}
                for name, content in files.items()
            }
            return 200, {"id": gist_id, "url": base, "html_url": base, "public": True, "files": entries,
                         "owner": {"login": "gister", "id": 2, "type": "User", "url": f"{world.url}/users/gister"}}

        def _search(self, query: dict[str, str], code: bool) -> dict[str, Any]:
            words = query.get("q", "").split()
            terms = [w.lower() for w in words if ":" not in w]
            qualifiers = dict(w.split(":", 1) for w in words if ":" in w)
            lo, hi = 0, 1 << 62
            if "size" in qualifiers:
                low, _, high = qualifiers["size"].partition("..")
                lo, hi = int(low), int(high or low)
            items = []
            for key, repo in sorted(world.repos.items()):
                if repo.blocked or key in world.vanished:
                    continue
                if code:
                    if repo.fork:  # GitHub's code search leaves forks out
                        continue
                    for path, content in sorted(repo.files.items()):
                        extension = qualifiers.get("extension")
                        if extension and PurePosixPath(path).suffix != f".{extension}":
                            continue
                        if not lo <= len(content) <= hi or not all(t.encode() in content.lower() for t in terms):
                            continue
                        items.append({
                            "name": PurePosixPath(path).name, "path": path, "sha": blob_sha(content),
                            "url": f"{world.url}/repos/{repo.full_name}/contents/{path}",
                            "git_url": f"{world.url}/repos/{repo.full_name}/git/blobs/{blob_sha(content)}",
                            "html_url": f"{world.url}/{repo.full_name}/blob/main/{path}",
                            "repository": world.repo_json(repo), "score": 1.0,
                        })
                elif all(t in (repo.full_name + " " + repo.description).lower() for t in terms if t != "*"):
                    items.append({**world.repo_json(repo), "score": 1.0})
            per_page = min(int(query.get("per_page", 30)), 100)
            page = int(query.get("page", 1))
            served = items[: world.search_cap]  # GitHub serves at most the first 1,000 results
            return {
                "total_count": len(items),
                "incomplete_results": False,
                "items": served[(page - 1) * per_page : page * per_page],
            }

        def _send_cut(self, entry: dict[str, Any], data: bytes, headers: list[tuple[str, str]]) -> None:
            """Half the body of a 200 reply, then the connection closes."""
            self.send_response(200)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            entry["status"] = "cut"
            self.close_connection = True

        def _reply(self, entry: dict[str, Any], status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            entry["status"], entry["bytes"] = status, len(data)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                entry["status"] = f"{status} unread"  # the client had given up (a slow reply)

    return Handler


def _basic_password(authorization: str) -> str | None:
    """The password (the token) of a Basic Authorization header."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return value or None
    try:
        return base64.b64decode(value).decode().partition(":")[2]
    except (ValueError, UnicodeDecodeError):
        return None
