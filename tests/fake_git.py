"""The fake GitHub's git side: a world of files as real git objects, served by `git http-backend`.

Each repository becomes a bare repository on disk, built object by object (so its commit, tree and
blob ids are git's own, and the REST API of tests/fake_github.py can report them), with the
upload-pack settings GitHub has: filters allowed (partial clone) and any reachable object
fetchable by id. Requests are passed to git's own CGI program, `git http-backend`, as a web server
would: real smart HTTP, protocol v2.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

# a fixed author and date: the same files always give the same commit id
SIGNATURE = b"Fake World <world@example.com> 1700000000 +0000"


def http_backend_path() -> str | None:
    """Where `git http-backend` lies on this machine (git --exec-path), or None."""
    try:
        exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    program = Path(exec_path) / "git-http-backend"
    return str(program) if program.is_file() else None


def git_object(kind: bytes, body: bytes) -> tuple[str, bytes]:
    """(id, the object as git stores it before compression)."""
    data = b"%s %d\0" % (kind, len(body)) + body
    return hashlib.sha1(data).hexdigest(), data


@dataclass
class GitRepository:
    """One repository's objects: `trees` maps a tree id to its entries as the REST API lists them."""

    commit: str
    root_tree: str
    objects: dict[str, bytes] = field(default_factory=dict)  # id -> uncompressed object
    trees: dict[str, list[dict]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)  # id -> content


def build_repository(files: dict[str, bytes], message: str) -> GitRepository:
    repo = GitRepository(commit="", root_tree="")
    repo.root_tree = _tree(repo, files)
    body = b"tree %s\nauthor %s\ncommitter %s\n\n%s\n" % (repo.root_tree.encode(), SIGNATURE, SIGNATURE, message.encode())
    repo.commit, data = git_object(b"commit", body)
    repo.objects[repo.commit] = data
    return repo


def _tree(repo: GitRepository, files: dict[str, bytes]) -> str:
    children: dict[str, dict[str, bytes]] = {}
    entries = []  # (sort key, mode, name, id, REST entry)
    for path, content in files.items():
        head, _, rest = path.partition("/")
        if rest:
            children.setdefault(head, {})[rest] = content
            continue
        sha, data = git_object(b"blob", content)
        repo.objects[sha], repo.blobs[sha] = data, content
        entries.append((head.encode(), b"100644", head, sha, {"path": head, "mode": "100644", "type": "blob", "sha": sha, "size": len(content)}))
    for name, sub in children.items():
        sha = _tree(repo, sub)
        # git orders a folder as if its name ended with "/"
        entries.append(((name + "/").encode(), b"40000", name, sha, {"path": name, "mode": "040000", "type": "tree", "sha": sha}))
    entries.sort(key=lambda e: e[0])
    body = b"".join(b"%s %s\0" % (mode, name.encode()) + bytes.fromhex(sha) for _, mode, name, sha, _ in entries)
    sha, data = git_object(b"tree", body)
    repo.objects[sha] = data
    repo.trees[sha] = [rest_entry for *_, rest_entry in entries]
    return sha


def write_bare_repository(directory: Path, repo: GitRepository, branch: str) -> None:
    """A bare repository with loose objects, its branch, and GitHub's upload-pack settings."""
    for sha, data in repo.objects.items():
        target = directory / "objects" / sha[:2] / sha[2:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zlib.compress(data, 1))
    (directory / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    (directory / "refs" / "tags").mkdir(parents=True, exist_ok=True)
    (directory / "refs" / "heads" / branch).write_text(repo.commit + "\n")
    (directory / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    (directory / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
        "[uploadpack]\n\tallowFilter = true\n\tallowAnySHA1InWant = true\n"
    )


def read_request(body: bytes, content_encoding: str | None) -> tuple[str | None, list[str], list[str]]:
    """(the protocol v2 command, the object ids wanted, the other lines) of an upload-pack request body."""
    if content_encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return None, [], []
    lines, at = [], 0
    while at + 4 <= len(body):  # pkt-lines: 4 hex digits of length (header included), then the line
        try:
            length = int(body[at:at + 4], 16)
        except ValueError:
            break
        if length < 4:  # flush, delimiter, response-end packets
            at += 4
            continue
        lines.append(body[at + 4:at + length].decode("latin-1").rstrip("\n"))
        at += length
    command = next((line.split("=", 1)[1] for line in lines if line.startswith("command=")), None)
    wants = [line.split()[1] for line in lines if line.startswith("want ")]
    return command, wants, [line for line in lines if not line.startswith(("want ", "command="))]


def run_http_backend(program: str, project_root: Path, method: str, path: str, query: str, headers: dict[str, str],
                     body: bytes, scratch_home: Path) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run `git http-backend` as a CGI program; (status, headers, body) of its reply."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch_home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if headers.get("git-protocol"):
        env["HTTP_GIT_PROTOCOL"] = headers["git-protocol"]
    if headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    result = subprocess.run([program], input=body, env=env, capture_output=True, check=False)
    head, _, data = result.stdout.partition(b"\r\n\r\n")
    status, reply_headers = 200, []
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            reply_headers.append((name, value.strip()))
    if result.returncode != 0 and not result.stdout:
        return 500, [], result.stderr[-500:]
    return status, reply_headers, data
