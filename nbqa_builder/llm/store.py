"""What the LLM steps keep between runs: `<output>/_llm/`, outside what `run --restart` clears.

    _llm/cache/<k[:2]>/<k>.json   one reply per request, keyed by the sha256 of the request's
                                  content (model, messages, settings; never the key or the URL)
    _llm/spend.sqlite             the spend ledger (every request paid, in every run) and the
                                  state of Batch API batches (llm/batch.py)
    _llm/batches/<id>.jsonl       a batch's request file until its results are in

`--restart` starts the pipeline over but keeps these, so no request already answered is sent (or
paid) again and `max_cost` counts what earlier runs spent; requests that failed in earlier batches
get a new chance (`retry_failed_requests`). A reply is cached marked `unrecorded` until its spend
is in the ledger (each spend row names its payment), so a run killed in between records it later. `--forget-llm-cache` forgets the replies
and the batch state; the ledger stays, because that money is spent. Nothing here holds an API key.
Only the standard library is used: the pipeline and the writer read this without the SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

LLM_DIR = "_llm"
CACHE_DIR = "cache"
LEDGER_FILE = "spend.sqlite"
BATCH_FILES_DIR = "batches"


def llm_dir(output: str | os.PathLike) -> Path:
    return Path(output) / LLM_DIR


class ReplyCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a damaged entry is asked again and rewritten

    def put(self, key: str, reply: dict[str, Any]) -> None:
        """Written to a temporary file and renamed: two processes asking the same thing at once
        both end with one whole file."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(reply, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)


def connect(path: Path) -> sqlite3.Connection:
    """The ledger file, its tables made. The default rollback journal: its busy timeout covers
    every statement, where switching to WAL needs an exclusive lock that concurrent writers can
    be refused. Worker processes share the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=60)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS spend (at REAL, stage TEXT, model TEXT, prompt_tokens INTEGER,"
        " completion_tokens INTEGER, cost REAL, mode TEXT DEFAULT 'sync', payment TEXT)"
    )
    columns = {row[1] for row in connection.execute("PRAGMA table_info(spend)")}
    for name, kind in (("mode", "TEXT DEFAULT 'sync'"), ("payment", "TEXT")):  # a ledger older than the column
        if name not in columns:
            try:
                connection.execute(f"ALTER TABLE spend ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise
    connection.execute("CREATE INDEX IF NOT EXISTS spend_payment ON spend (payment)")
    return connection


# `payment`: one request sent once (a sync send's own id; a batch's id and the request's key)
SPEND_COLUMNS = "(at, stage, model, prompt_tokens, completion_tokens, cost, mode, payment)"


class SpendLedger:
    """Spend of every run into one output folder, shared by worker processes through one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, stage: str, model: str, prompt_tokens: int, completion_tokens: int, cost: float,
            mode: str = "sync", payment: str | None = None) -> None:
        connection = connect(self.path)
        with connection:
            connection.execute(f"INSERT INTO spend {SPEND_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (time.time(), stage, model, prompt_tokens, completion_tokens, cost, mode, payment))
        connection.close()

    def has(self, payment: str) -> bool:
        """Whether this payment (one request sent once) is recorded."""
        if not self.path.exists():
            return False
        connection = connect(self.path)
        with connection:
            found = connection.execute("SELECT 1 FROM spend WHERE payment = ? LIMIT 1", (payment,)).fetchone()
        connection.close()
        return found is not None

    def total(self, stages: tuple[str, ...] | None = None) -> float:
        """The spend so far, of every stage or of these stages."""
        if not self.path.exists():
            return 0.0
        where, args = ("", ()) if stages is None else (f" WHERE stage IN ({','.join('?' * len(stages))})", stages)
        connection = connect(self.path)
        with connection:
            (total,) = connection.execute(f"SELECT COALESCE(SUM(cost), 0) FROM spend{where}", args).fetchone()
        connection.close()
        return float(total)


def spend_summary(output: str | os.PathLike) -> dict[str, Any] | None:
    """What every run into this output folder paid for LLM requests (None: it never sent one)."""
    path = llm_dir(output) / LEDGER_FILE
    if not path.exists():
        return None
    connection = connect(path)
    with connection:
        requests, prompt, completion, cost, first, last = connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
            " COALESCE(SUM(cost), 0), MIN(at), MAX(at) FROM spend").fetchone()
        by_stage = connection.execute("SELECT stage, COUNT(*), SUM(cost) FROM spend GROUP BY stage ORDER BY stage").fetchall()
        by_mode = connection.execute("SELECT mode, COUNT(*), SUM(cost) FROM spend GROUP BY mode ORDER BY mode").fetchall()
    connection.close()
    return {
        "cost_usd": round(float(cost), 12), "requests": int(requests), "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "by_stage": {stage: {"requests": n, "cost_usd": round(float(c or 0), 12)} for stage, n, c in by_stage},
        "by_mode": {mode or "sync": {"requests": n, "cost_usd": round(float(c or 0), 12)} for mode, n, c in by_mode},
        "first_at": first, "last_at": last,
    }


def adopt_work_layout(output: str | os.PathLike) -> None:
    """Move the cache and ledger of a run made before `_llm/` existed (they lay in `_work/`, which
    --restart deletes) to their place, so that they survive it."""
    work, target = Path(output) / "_work", llm_dir(output)
    for old, new in ((work / "llm-cache", target / CACHE_DIR), (work / "llm-spend.sqlite", target / LEDGER_FILE)):
        if old.exists() and not new.exists():
            target.mkdir(parents=True, exist_ok=True)
            os.replace(old, new)


def retry_failed_requests(output: str | os.PathLike) -> int:
    """`run --restart`: the requests that failed in earlier batches (an outage, an expired batch)
    get a new chance; their failures stay in the ledger as history ('retired'), and the replies
    paid for stay cached. How many were given one."""
    ledger = llm_dir(output) / LEDGER_FILE
    if not ledger.exists():
        return 0
    connection = connect(ledger)
    with connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        retried = connection.execute("UPDATE batch_items SET outcome = 'retired' WHERE outcome = 'failed'").rowcount \
            if "batch_items" in tables else 0
    connection.close()
    return retried


def forget_replies(output: str | os.PathLike) -> str:
    """Forget the cached replies and the batch state (the ledger stays); a line saying what."""
    adopt_work_layout(output)  # an older run's cache would come back otherwise
    target = llm_dir(output)
    cache = target / CACHE_DIR
    replies = sum(1 for _ in cache.rglob("*.json")) if cache.exists() else 0
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(target / BATCH_FILES_DIR, ignore_errors=True)
    abandoned: list[str] = []
    ledger = target / LEDGER_FILE
    if ledger.exists():
        connection = connect(ledger)
        with connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "batches" in tables:
                abandoned = [row[0] for row in connection.execute(
                    "SELECT batch_id FROM batches WHERE collected = 0 AND batch_id IS NOT NULL ORDER BY created")]
                connection.execute("DELETE FROM batches")
            if "batch_items" in tables:
                connection.execute("DELETE FROM batch_items")
        connection.close()
    line = f"forgot {replies} cached LLM replies in {target} (the spend ledger is kept)"
    if abandoned:
        line += (f"; {len(abandoned)} batches still in flight are no longer followed and may still be billed: "
                 f"{', '.join(abandoned)} (cancel them at the endpoint if they are not wanted)")
    return line
