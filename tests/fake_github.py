"""A fake GitHub REST API on 127.0.0.1 for the crawler's tests: real HTTP, real status codes.

It serves a world of repositories (folders of files plus metadata) through just the endpoints
PyGithub uses for a crawl: repos/{o}/{r}, branches, git/trees (recursive or not), git/blobs,
search/code, search/repositories and rate_limit; checks tokens; keeps primary rate limits per
token and resource; and can inject faults: secondary limits (403 and 429 with Retry-After, or a
message only), 502/503, dropped connections, cut bodies, slow replies, garbled JSON, truncated
trees, repositories that vanish after their tree was served. Every request is logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345678\n"
)

FAULT_KINDS = ("secondary_403", "secondary_429", "secondary_message", "error_502", "error_503", "drop", "cut", "slow", "garbage")


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
    vanishes: bool = False  # 404 for everything once its tree was served
    default_branch: str = "main"
    description: str = ""


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
    exhaust_after: int | None = None  # from this request on, the token's core window is spent (as if another program used it)
    exhaust_for_s: int = 2  # ... until this many seconds later


@dataclass
class Limit:
    limit: int
    window_s: int


class FakeGithub:
    """The server: `with FakeGithub(repos, tokens={...}) as server:` then point PyGithub at `server.url`."""

    def __init__(
        self,
        repos: list[FakeRepo],
        tokens: dict[str, str] | None = None,
        faults: Faults | None = None,
        limits: dict[str, Limit] | None = None,
        search_cap: int = 1000,
    ):
        self.repos = {r.full_name.lower(): r for r in repos}
        self.tokens = tokens or {}  # secret -> label (the label is what the log keeps)
        self.faults = faults or Faults()
        self.limits = {"core": Limit(100_000, 3600), "search": Limit(1000, 60), "code_search": Limit(1000, 60), **(limits or {})}
        self.search_cap = search_cap
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.vanished: set[str] = set()
        self.seen_urls: set[str] = set()
        self.windows: dict[tuple[str, str], list[float]] = {}  # (token label, resource) -> [remaining, reset]
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, list[dict[str, Any]]] = {}
        self.commits: dict[str, str] = {}  # repo key -> commit sha
        self.commit_trees: dict[str, str] = {}  # commit sha -> root tree sha
        for key, repo in self.repos.items():
            root = self._build_tree(repo.files)
            commit = hashlib.sha1(f"commit {root} {repo.full_name}".encode()).hexdigest()
            self.commits[key], self.commit_trees[commit] = commit, root
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeGithub":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the world as git objects ----------------------------------------------------------------

    def _build_tree(self, files: dict[str, bytes]) -> str:
        children: dict[str, dict[str, bytes]] = {}
        entries = []
        for path, content in files.items():
            head, _, rest = path.partition("/")
            if rest:
                children.setdefault(head, {})[rest] = content
            else:
                sha = blob_sha(content)
                self.blobs[sha] = content
                entries.append({"path": head, "mode": "100644", "type": "blob", "sha": sha, "size": len(content)})
        for name, sub in children.items():
            entries.append({"path": name, "mode": "040000", "type": "tree", "sha": self._build_tree(sub)})
        entries.sort(key=lambda e: e["path"])
        sha = hashlib.sha1(json.dumps(entries, sort_keys=True).encode()).hexdigest()
        self.trees[sha] = entries
        return sha

    def _flat_tree(self, sha: str, prefix: str = "") -> list[dict[str, Any]]:
        out = []
        for entry in self.trees[sha]:
            out.append({**entry, "path": prefix + entry["path"]})
            if entry["type"] == "tree":
                out += self._flat_tree(entry["sha"], prefix + entry["path"] + "/")
        return out

    def delivered_blobs(self) -> dict[str, int]:
        """blob sha -> how many times its content was delivered whole (200, no fault)."""
        counts: dict[str, int] = {}
        with self.lock:
            for entry in self.log:
                if "/git/blobs/" in entry["path"] and entry["status"] == 200 and entry["fault"] is None:
                    sha = entry["path"].rsplit("/", 1)[1]
                    counts[sha] = counts.get(sha, 0) + 1
        return counts

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
            "private": False,
            "html_url": f"{self.url}/{repo.full_name}",
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

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
            entry = {"token": None, "path": parsed.path, "query": query, "status": None, "fault": None}
            try:
                self._serve(parsed.path, query, entry)
            finally:
                with world.lock:
                    entry["n"] = len(world.log)
                    world.log.append(entry)

        def _serve(self, path: str, query: dict[str, str], entry: dict[str, Any]) -> None:
            auth = self.headers.get("Authorization", "")
            secret = auth.split(" ", 1)[1] if " " in auth else None
            if world.tokens and secret not in world.tokens:
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
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                entry["status"] = "cut"
                self.close_connection = True
                return
            if fault == "slow":
                entry["fault"] = fault
                time.sleep(world.faults.slow_s)
            return self._reply(entry, status, body, limit_headers)

        def _fault(self, url: str) -> str | None:
            """A fault for the first request of a share of URLs, chosen by the URL's hash."""
            faults = world.faults
            for part, kind in faults.always.items():
                if part in url:
                    return kind
            with world.lock:
                if url in world.seen_urls or not faults.rate or not faults.kinds:
                    world.seen_urls.add(url)
                    return None
                world.seen_urls.add(url)
            digest = int(hashlib.sha1(url.encode()).hexdigest(), 16)
            if (digest % 10_000) / 10_000 >= faults.rate:
                return None
            return faults.kinds[(digest // 10_000) % len(faults.kinds)]

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
            if parts[:2] == ["search", "code"]:
                return 200, self._search(query, code=True)
            if parts[:2] == ["search", "repositories"]:
                return 200, self._search(query, code=False)
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
                return 200, world.repo_json(repo)
            if rest[0] == "branches" and len(rest) >= 2:
                branch = "/".join(rest[1:])
                if branch != repo.default_branch:
                    return 404, {"message": "Branch not found"}
                commit = world.commits[key]
                return 200, {"name": branch, "commit": {"sha": commit, "url": f"{base}/commits/{commit}"}, "protected": False}
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
                if recursive and repo.vanishes:
                    with world.lock:
                        world.vanished.add(key)
                tree = [{**e, "url": f"{base}/git/{'trees' if e['type'] == 'tree' else 'blobs'}/{e['sha']}"} for e in entries]
                return 200, {"sha": sha, "url": f"{base}/git/trees/{sha}", "tree": tree, "truncated": truncated}
            if rest[:2] == ["git", "blobs"] and len(rest) == 3:
                content = world.blobs.get(rest[2])
                in_repo = content is not None and rest[2] in {blob_sha(c) for c in repo.files.values()}
                if not in_repo:
                    return 404, {"message": "Not Found"}
                encoded = base64.encodebytes(content).decode()  # GitHub wraps base64 lines too
                return 200, {"sha": rest[2], "node_id": "B", "size": len(content), "url": f"{base}/git/blobs/{rest[2]}", "content": encoded, "encoding": "base64"}
            return 404, {"message": "Not Found"}

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

        def _reply(self, entry: dict[str, Any], status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            entry["status"] = status
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
