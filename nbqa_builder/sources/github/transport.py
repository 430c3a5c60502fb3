"""Git's smart HTTP for the crawl (`fetch: git`): a shallow, blob-less clone, then the chosen blobs.

Per repository: `git fetch --depth 1 --filter=blob:none` of the default branch into a bare
repository (the commit and its trees, no file content, no checkout), then one `git fetch` of
exactly the blobs the crawl chose (notebooks and data files, by path and size from the tree), read
back with `git cat-file --batch`. GitHub does not count git traffic against the REST rate limit.

The `git` command-line client does the work. The token travels only in the environment of the git
process (`http.extraHeader` given through GIT_CONFIG_COUNT/KEY/VALUE), never in a URL, an argument
or a config file: nothing on disk and no error message holds it. The user's and the system's git
config are not read, so a credential helper or a URL rewrite of theirs plays no part, and git never
prompts. A git process runs under a deadline, with git's own low-speed limit cutting a stalled
transfer sooner, and can be stopped from another thread (the crawl stopping). A networked git
command and the helpers it starts end with the crawler, even a killed one (sources/github/reaper.py).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

from nbqa_builder.recipe import GithubSource
from nbqa_builder.sources.github.errors import CrawlError
from nbqa_builder.sources.github.reaper import GitReaper, kill_group

# config from the environment (GIT_CONFIG_COUNT) came with git 2.31; partial clone long before
MIN_GIT_VERSION = (2, 31)
# the ref a clone's commit is kept under (any name outside refs/heads works)
HEAD_REF = "refs/nbqa/head"
POLL_S = 0.05  # how often a running git process is checked (size, deadline, stop)
# a transfer slower than this many bytes a second for `timeout_s` seconds is cut (http.lowSpeedLimit)
LOW_SPEED_BYTES = 1000
# git's words for an HTTP status it got; the rest of its errors are read from their wording
_HTTP_STATUS = re.compile(r"returned error: (\d{3})|HTTP (\d{3})")
_TRANSIENT_HTTP = {408, 429}


class GitFailure(Exception):
    """A git command that failed: `code` as the manifest records it (404, 502, connection, ...)."""

    def __init__(self, code: str, message: str, retryable: bool):
        super().__init__(f"{code} {message}".strip())
        self.code, self.retryable = code, retryable


class GitAuthRejected(GitFailure):
    """GitHub refused the token (401)."""

    def __init__(self, message: str):
        super().__init__("401", message, retryable=False)


class CloneTooLarge(Exception):
    """The blob-less clone grew past `max_clone_bytes`."""


class GitStopped(Exception):
    """The crawl is stopping: the git process was ended."""


def basic_auth(token: str | None) -> str | None:
    """The Authorization header value git sends with a token (GitHub's documented form for git over HTTPS)."""
    if not token:
        return None
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


def classify(stderr: str) -> GitFailure:
    """A failed git fetch, from its error text: permanent (the repository or object is gone) or retryable."""
    text = stderr.strip()
    last = text.splitlines()[-1][:300] if text else "git failed"
    if "Authentication failed" in text or "could not read Username" in text or "could not read Password" in text:
        return GitAuthRejected(last)
    match = _HTTP_STATUS.search(text)
    if match:
        status = int(match.group(1) or match.group(2))
        if status == 401:
            return GitAuthRejected(last)
        return GitFailure(str(status), last, retryable=status >= 500 or status in _TRANSIENT_HTTP)
    if re.search(r"repository '.*' not found", text):
        return GitFailure("404", last, retryable=False)
    if "not our ref" in text:
        return GitFailure("not_served", last, retryable=False)  # the server no longer has that object
    if "couldn't find remote ref" in text:
        return GitFailure("no_branch", last, retryable=False)
    # dropped connections, cut packs ("early EOF", "RPC failed", "the remote end hung up")
    return GitFailure("connection", last, retryable=True)


def git_version(program: str) -> tuple[int, ...]:
    out = subprocess.run([program, "--version"], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


class GitTransport:
    """Runs the git commands of the crawl; one object serves every worker thread (it holds no per-repository state)."""

    def __init__(self, settings: GithubSource, stop: threading.Event | None = None):
        program = shutil.which("git")
        if program is None:
            raise CrawlError("fetch: git needs the git command-line client (apt-get install git); or set fetch: api")
        version = git_version(program)
        if version < MIN_GIT_VERSION:
            raise CrawlError(
                f"fetch: git needs git {'.'.join(map(str, MIN_GIT_VERSION))} or newer, this is {'.'.join(map(str, version))}; "
                "upgrade git or set fetch: api"
            )
        self.program = program
        self.timeout_s = settings.git_timeout_s
        self.low_speed_s = settings.timeout_s
        self.stop = stop or threading.Event()
        self.network_commands = 0  # git commands that went to the server
        self._count_lock = threading.Lock()
        self._reaper: GitReaper | None = None  # started with the first networked command

    def close(self) -> None:
        """Once no git command runs any more (the crawl's workers have ended)."""
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None

    # -- the commands -----------------------------------------------------------------------------

    def clone(self, git_dir: Path, url: str, ref: str, auth: str | None, max_bytes: int) -> tuple[str, str]:
        """A shallow, blob-less fetch of `ref` (a branch ref or a commit id) into a new bare repository at
        `git_dir`; returns (commit, root tree). Raises GitFailure, CloneTooLarge, GitStopped."""
        shutil.rmtree(git_dir, ignore_errors=True)
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        self._local(["init", "--quiet", "--bare", "--template=", str(git_dir)])  # no sample hooks to write and remove
        self._local(["-C", str(git_dir), "remote", "add", "origin", url])
        self._network(
            ["-C", str(git_dir), "fetch", "--quiet", "--depth", "1", "--filter=blob:none", "--no-tags",
             "--no-write-fetch-head", "--recurse-submodules=no", "origin", f"+{ref}:{HEAD_REF}"],
            auth, watch=git_dir / "objects", max_bytes=max_bytes,
        )
        if _size(git_dir / "objects") > max_bytes:
            raise CloneTooLarge(f"{_size(git_dir / 'objects'):,} bytes")
        commit, tree = self._local(["-C", str(git_dir), "rev-parse", HEAD_REF, f"{HEAD_REF}^{{tree}}"]).split()
        return commit, tree

    def fetch_blobs(self, git_dir: Path, shas: list[str], auth: str | None) -> None:
        """One fetch of exactly these blobs (the shallow commit is the boundary, so nothing else comes)."""
        self._network(
            ["-C", str(git_dir), "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
             "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin", "origin"],
            auth, stdin="".join(sha + "\n" for sha in shas),
        )

    def read_blobs(self, git_dir: Path, shas: list[str]) -> Iterator[tuple[str, bytes | None]]:
        """(sha, content) of each blob, None for one the repository does not hold."""
        process = subprocess.Popen(
            [self.program, "-C", str(git_dir), *_NO_LAZY_FETCH, "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._environment(None),
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            for sha in shas:
                process.stdin.write(sha.encode() + b"\n")
                process.stdin.flush()
                header = process.stdout.readline().split()
                if len(header) != 3 or header[0].decode() != sha:
                    yield sha, None  # "<sha> missing"
                    continue
                size = int(header[2])
                content = process.stdout.read(size)
                process.stdout.read(1)  # the newline after each object
                yield sha, content
        finally:
            process.stdin.close()
            process.stdout.close()
            process.wait()

    # -- running git ------------------------------------------------------------------------------

    def _environment(self, auth: str | None) -> dict[str, str]:
        # the caller's GIT_* variables (a GIT_DIR, a GIT_ASKPASS, GIT_TRACE...) must not steer these
        # commands, and the tokens go only where they are meant to (the header below)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k not in _NOT_FOR_GIT}
        env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never", GIT_CONFIG_NOSYSTEM="1",
                   GIT_CONFIG_GLOBAL=os.devnull, GIT_NO_LAZY_FETCH="1")
        config = [
            ("protocol.version", "2"),
            ("http.followRedirects", "false"),  # the Authorization header goes to GitHub and nowhere else
            ("http.lowSpeedLimit", str(LOW_SPEED_BYTES)),
            ("http.lowSpeedTime", str(self.low_speed_s)),
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
            ("fetch.writeCommitGraph", "false"),
            ("fetch.unpackLimit", "1"),  # keep what comes as one pack: quicker to write and to remove than loose objects
        ]
        if auth:
            config.append(("http.extraHeader", f"Authorization: {auth}"))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
        return env

    def _local(self, args: list[str], stdin: str | None = None) -> str:
        """A git command that does not touch the network; its output."""
        result = subprocess.run([self.program, *args], input=stdin, capture_output=True, text=True,
                                env=self._environment(None), timeout=self.timeout_s, check=False)
        if result.returncode != 0:
            raise GitFailure("git", result.stderr.strip()[-300:] or f"git {args[-1]} failed", retryable=False)
        return result.stdout

    def _network(self, args: list[str], auth: str | None, stdin: str | None = None,
                 watch: Path | None = None, max_bytes: int | None = None) -> None:
        """A git command that talks to the server, watched: deadline, clone size, the crawl stopping."""
        if self.stop.is_set():
            raise GitStopped("the crawl is stopping")
        with self._count_lock:
            self.network_commands += 1
            if self._reaper is None:
                self._reaper = GitReaper()
            reaper = self._reaper
        with tempfile.TemporaryFile() as errors:
            # a process group of its own, which the reaper kills if the crawler dies first
            process = subprocess.Popen([self.program, *args], stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=errors, env=self._environment(auth), process_group=0)
            reaper.watch(process.pid)
            try:
                self._watch(process, stdin, watch, max_bytes)
            finally:
                if process.returncode is None:  # stopped, or an error of ours: git and its helpers end too
                    kill_group(process)
                reaper.release(process.pid)
            if process.returncode != 0:
                errors.seek(0)
                raise classify(errors.read().decode("utf-8", "replace"))

    def _watch(self, process: subprocess.Popen, stdin: str | None, watch: Path | None, max_bytes: int | None) -> None:
        """Feed `stdin` to the running git command, then wait for it to end; raises when it must be
        stopped: the deadline, a clone over `max_bytes`, the crawl stopping."""
        if stdin is not None:
            assert process.stdin is not None
            try:
                process.stdin.write(stdin.encode())
                process.stdin.close()
            except BrokenPipeError:
                pass  # git ended early; its exit status tells why
        deadline = time.monotonic() + self.timeout_s
        stopped = None
        while not _ended(process):
            if self.stop.is_set():
                stopped = GitStopped("the crawl is stopping")
            elif time.monotonic() > deadline:
                stopped = GitFailure("timeout", f"git ran over git_timeout_s={self.timeout_s}", retryable=True)
            elif watch is not None and max_bytes is not None and _size(watch) > max_bytes:
                stopped = CloneTooLarge(f"over {max_bytes:,} bytes")
            if stopped is not None:
                raise stopped


_NOT_FOR_GIT = frozenset(("SSH_ASKPASS", "GITHUB_TOKEN", "GITHUB_TOKENS", "GH_TOKEN"))
# reading must never turn into one request per missing object (a partial clone's lazy fetch)
_NO_LAZY_FETCH = ["-c", "remote.origin.promisor=false"]


def _ended(process: subprocess.Popen) -> bool:
    """Wait up to POLL_S for the process; whether it has ended."""
    try:
        process.wait(timeout=POLL_S)
    except subprocess.TimeoutExpired:
        return False
    return True


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # a temporary pack renamed while we looked
    return total
