"""The GitHub crawl's state in SQLite: what is discovered, listed, fetched; and the manifest made from it.

Every change is one transaction, made after the files it describes are in place (written to a
temporary name and renamed), so a crawl killed at any moment resumes from a consistent state.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- code-search size slices: pending until their results are read or they are split in two
CREATE TABLE IF NOT EXISTS slices (
    terms TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (terms, lo, hi)
);
-- key: the name as discovered, lower case; full_name: as the API spells it, once known
CREATE TABLE IF NOT EXISTS repos (
    key TEXT PRIMARY KEY, seq INTEGER NOT NULL, full_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', retryable INTEGER NOT NULL DEFAULT 0,
    commit_sha TEXT, license TEXT
);
CREATE TABLE IF NOT EXISTS files (
    repo TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, blob_sha TEXT, size INTEGER,
    status TEXT NOT NULL DEFAULT 'pending', retryable INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, path)
);
CREATE INDEX IF NOT EXISTS files_by_blob ON files (blob_sha);
-- the other files of a listed repository's tree, until it is done: a notebook may read one of them
-- (a data file without a data extension), and then it is moved to `files`
CREATE TABLE IF NOT EXISTS others (
    repo TEXT NOT NULL, path TEXT NOT NULL, blob_sha TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (repo, path)
);
"""

# repository statuses that still need work
PENDING, LISTED, CRAWLED = "pending", "listed", "crawled"


class CrawlState:
    def __init__(self, path: Path):
        self.path = path
        # isolation_level=None: transactions are explicit (BEGIN ... COMMIT) in `transaction`
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (the resume case); a power cut may lose the last commits,
        # which only makes the crawl fetch those files again
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)  # idempotent: CREATE ... IF NOT EXISTS

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._set_meta(key, value)

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- discovery ------------------------------------------------------------------------------

    def add_repos(self, names: list[str], done_key: str | None = None) -> int:
        """Add repositories not yet known (and mark `done_key` in the same transaction); returns how many were new."""
        with self.transaction():
            added = self._add_repos(names)
            if done_key:
                self._set_meta(done_key, "1")
        return added

    def _add_repos(self, names: list[str]) -> int:
        (seq,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM repos").fetchone()
        added = 0
        for name in names:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO repos (key, seq, full_name) VALUES (?, ?, ?)", (name.lower(), seq + added + 1, name)
            )
            added += cursor.rowcount
        return added

    def seed_slice(self, terms: str, lo: int, hi: int) -> None:
        with self.transaction():
            if not self.db.execute("SELECT 1 FROM slices WHERE terms = ?", (terms,)).fetchone():
                self.db.execute("INSERT INTO slices (terms, lo, hi) VALUES (?, ?, ?)", (terms, lo, hi))

    def pending_slice(self, terms: str) -> tuple[int, int] | None:
        return self.db.execute(
            "SELECT lo, hi FROM slices WHERE terms = ? AND done = 0 ORDER BY lo, hi LIMIT 1", (terms,)
        ).fetchone()

    def code_search_done(self, terms: str) -> bool:
        """Whether every size slice of this code search was read."""
        seeded = self.db.execute("SELECT 1 FROM slices WHERE terms = ?", (terms,)).fetchone()
        return seeded is not None and self.pending_slice(terms) is None

    def split_slice(self, terms: str, lo: int, hi: int, halves: list[tuple[int, int]]) -> None:
        with self.transaction():
            self.db.execute("UPDATE slices SET done = 1 WHERE terms = ? AND lo = ? AND hi = ?", (terms, lo, hi))
            self.db.executemany(
                "INSERT OR IGNORE INTO slices (terms, lo, hi) VALUES (?, ?, ?)", [(terms, a, b) for a, b in halves]
            )

    def finish_slice(self, terms: str, lo: int, hi: int, names: list[str]) -> None:
        with self.transaction():
            self._add_repos(names)
            self.db.execute("UPDATE slices SET done = 1 WHERE terms = ? AND lo = ? AND hi = ?", (terms, lo, hi))

    # -- repositories and files -----------------------------------------------------------------

    def reopen_retryable(self) -> None:
        """Give the failures that may pass now (timeouts, 5xx) another chance on this run."""
        with self.transaction():
            self.db.execute("UPDATE files SET status = 'pending', retryable = 0 WHERE retryable = 1")
            self.db.execute("UPDATE repos SET status = 'pending', retryable = 0 WHERE retryable = 1")
            self.db.execute(
                "UPDATE repos SET status = 'listed' WHERE status = 'crawled' AND key IN "
                "(SELECT repo FROM files WHERE status = 'pending')"
            )

    def repos_to_crawl(self) -> list[tuple[str, str, str]]:
        """(key, full_name, status) of repositories still pending or listed, in discovery order."""
        return self.db.execute(
            "SELECT key, full_name, status FROM repos WHERE status IN (?, ?) ORDER BY seq", (PENDING, LISTED)
        ).fetchall()

    def repo(self, key: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT full_name, status, commit_sha, license FROM repos WHERE key = ?", (key,)
        ).fetchone()
        return dict(zip(("full_name", "status", "commit", "license"), row))

    def other_repo_named(self, key: str, full_name: str) -> str | None:
        """Another discovered key already listed under this canonical name (a rename or a case variant)."""
        row = self.db.execute(
            "SELECT key FROM repos WHERE lower(full_name) = lower(?) AND key != ? AND status IN (?, ?)",
            (full_name, key, LISTED, CRAWLED),
        ).fetchone()
        return row[0] if row else None

    def set_repo_status(self, key: str, status: str, retryable: bool = False) -> None:
        with self.transaction():
            self.db.execute("UPDATE repos SET status = ?, retryable = ? WHERE key = ?", (status, int(retryable), key))

    def list_repo(
        self, key: str, full_name: str, commit: str, license: str | None, files: list[dict[str, Any]],
        others: list[tuple[str, str, int]] = (),
    ) -> None:
        """Record a repository's chosen files (pending, or already decided, e.g. too_large) and the
        (path, blob, size) of its other files, in one go."""
        with self.transaction():
            self.db.execute("DELETE FROM files WHERE repo = ?", (key,))
            self.db.execute("DELETE FROM others WHERE repo = ?", (key,))
            self.db.executemany(
                "INSERT INTO files (repo, path, kind, blob_sha, size, status) VALUES (?, ?, ?, ?, ?, ?)",
                [(key, f["path"], f["kind"], f["blob_sha"], f["size"], f["status"]) for f in files],
            )
            self.db.executemany(
                "INSERT INTO others (repo, path, blob_sha, size) VALUES (?, ?, ?, ?)", [(key, *other) for other in others]
            )
            self.db.execute(
                "UPDATE repos SET status = ?, full_name = ?, commit_sha = ?, license = ?, retryable = 0 WHERE key = ?",
                (LISTED, full_name, commit, license, key),
            )

    def stored_files(self, key: str) -> dict[str, str]:
        """path -> blob of the repository's files in the mirror."""
        return dict(self.db.execute("SELECT path, blob_sha FROM files WHERE repo = ? AND status = 'stored'", (key,)))

    def stored_notebooks(self, key: str) -> list[str]:
        return [path for (path,) in self.db.execute(
            "SELECT path FROM files WHERE repo = ? AND kind = 'notebook' AND status = 'stored' ORDER BY path", (key,))]

    def tree_sizes(self, key: str) -> tuple[dict[str, int], set[str]]:
        """(path -> size of every file of the listed tree, the paths not chosen so far)."""
        sizes = dict(self.db.execute("SELECT path, COALESCE(size, 0) FROM files WHERE repo = ?", (key,)))
        others = dict(self.db.execute("SELECT path, size FROM others WHERE repo = ?", (key,)))
        return {**sizes, **others}, set(others)

    def choose_others(self, key: str, paths: list[str], max_bytes: int) -> int:
        """Move these files from `others` to `files` as data (pending, or too_large over `max_bytes`); returns how many."""
        with self.transaction():
            chosen = []
            for path in paths:
                row = self.db.execute("SELECT blob_sha, size FROM others WHERE repo = ? AND path = ?", (key, path)).fetchone()
                if row is not None:
                    sha, size = row
                    chosen.append((key, path, sha, size, "too_large" if size > max_bytes else "pending"))
            self.db.executemany(
                "INSERT OR IGNORE INTO files (repo, path, kind, blob_sha, size, status) VALUES (?, ?, 'data', ?, ?, ?)", chosen
            )
            self.db.executemany("DELETE FROM others WHERE repo = ? AND path = ?", [(key, c[1]) for c in chosen])
        return len(chosen)

    def pending_files(self, key: str) -> list[tuple[str, str, int]]:
        return self.db.execute(
            "SELECT path, blob_sha, size FROM files WHERE repo = ? AND status = 'pending' ORDER BY path", (key,)
        ).fetchall()

    def known_blob(self, blob_sha: str) -> tuple[str, str, str] | None:
        """(status, repository full name, path) of a file with this blob already stored or found an LFS pointer."""
        return self.db.execute(
            "SELECT f.status, r.full_name, f.path FROM files f JOIN repos r ON r.key = f.repo "
            "WHERE f.blob_sha = ? AND f.status IN ('stored', 'lfs_pointer') LIMIT 1",
            (blob_sha,),
        ).fetchone()

    def set_file_status(self, key: str, path: str, status: str, retryable: bool = False) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE files SET status = ?, retryable = ? WHERE repo = ? AND path = ?", (status, int(retryable), key, path)
            )

    def set_file_statuses(self, key: str, statuses: list[tuple[str, str, bool]]) -> None:
        """(path, status, retryable) of several files of one repository, in one transaction."""
        with self.transaction():
            self.db.executemany(
                "UPDATE files SET status = ?, retryable = ? WHERE repo = ? AND path = ?",
                [(status, int(retryable), key, path) for path, status, retryable in statuses],
            )

    def close_repo(self, key: str, status: str) -> None:
        """Mark the repository done. Any other status than crawled is one that vanished: its files
        pending or stored get that status too, and the caller removes its folder from the mirror."""
        with self.transaction():
            if status != CRAWLED:
                self.db.execute(
                    "UPDATE files SET status = ?, retryable = 0 WHERE repo = ? AND status IN ('pending', 'stored')", (status, key)
                )
            self.db.execute("DELETE FROM others WHERE repo = ?", (key,))
            self.db.execute("UPDATE repos SET status = ? WHERE key = ?", (status, key))

    def mirror_folders(self) -> set[str]:
        """Full names of the repositories that may have a folder in the mirror (listed or crawled)."""
        rows = self.db.execute("SELECT full_name FROM repos WHERE status IN (?, ?)", (LISTED, CRAWLED))
        return {full_name for (full_name,) in rows}

    # -- reporting ------------------------------------------------------------------------------

    def plan_facts(self) -> dict[str, Any]:
        """What a resumed crawl has left, for `--plan`: the names discovered, how many repositories
        still need listing, how many are listed with files to fetch, and those files."""
        names = {key for (key,) in self.db.execute("SELECT key FROM repos")}
        (to_list,) = self.db.execute("SELECT COUNT(*) FROM repos WHERE status = ? OR retryable = 1", (PENDING,)).fetchone()
        open_files = (
            "FROM files f JOIN repos r ON r.key = f.repo WHERE r.status IN (?, ?) AND r.retryable = 0 "
            "AND (f.status = 'pending' OR f.retryable = 1)"
        )
        (files,) = self.db.execute(f"SELECT COUNT(*) {open_files}", (LISTED, CRAWLED)).fetchone()
        (listed,) = self.db.execute(f"SELECT COUNT(DISTINCT f.repo) {open_files}", (LISTED, CRAWLED)).fetchone()
        return {"names": names, "to_list": to_list, "listed": listed, "files": files}

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for table in ("repos", "files"):
            for status, n in self.db.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status"):
                counts[f"{table}.{status}"] = n
        return counts

    def write_manifest(self, path: Path, tmp_dir: Path) -> int:
        """Write the manifest as JSONL, one row per repository and per chosen file, sorted; returns rows."""
        rows = 0
        tmp = tmp_dir / f"{path.name}.{os.getpid()}"
        with tmp.open("w", encoding="utf-8") as out:
            repos = self.db.execute("SELECT key, full_name, status, commit_sha, license FROM repos ORDER BY key")
            for key, full_name, status, commit, license in repos.fetchall():
                base = {"repo": full_name, "commit": commit, "license": license}
                out.write(json.dumps({**base, "path": None, "kind": "repository", "blob_sha": None, "size": None, "status": status}) + "\n")
                files = self.db.execute(
                    "SELECT path, kind, blob_sha, size, status FROM files WHERE repo = ? ORDER BY path", (key,)
                )
                for file_path, kind, blob_sha, size, file_status in files:
                    out.write(json.dumps({**base, "path": file_path, "kind": kind, "blob_sha": blob_sha, "size": size, "status": file_status}) + "\n")
                    rows += 1
                rows += 1
        os.replace(tmp, path)
        return rows
