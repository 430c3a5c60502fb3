"""The Batch API: requests written to a JSONL file, uploaded, run as a batch, joined back.

`BatchRunner(client).run(needs)` takes requests that have no cached reply (`NeedsReply`, keyed by
the cache key), and for each returns a reply in the cache or a drop reason:

1. requests already in a batch in flight (a run killed while waiting) wait for that batch;
   the others go, grouped by model (a batch holds one model), into new batches: the JSONL file
   (`custom_id` = the cache key) is written under `<output>/_llm/batches/`, uploaded with
   `files.create(purpose="batch")`, and `batches.create` is called with the batch's own id in
   its metadata;
2. the batches are polled, the wait doubling from `poll_interval_s` up to `max_poll_interval_s`,
   with a progress line on stderr whenever a batch's status or counts change;
3. a finished batch's output and error files are downloaded and joined to the requests by
   `custom_id`: each reply goes into the reply cache (so a later synchronous run sends nothing),
   its cost at the batch price into the ledger;
4. a request that failed (5xx or 429, its batch failed, expired or was cancelled, or its line is
   missing) goes into the next batch, until `max_batch_attempts`; a request the server refused
   (400-class) is not sent again. Then its notebook or task is dropped with the reason.

Everything about a batch is in the SQLite file of the ledger (`batches`, `batch_items`), written
before each call that changes the server's state, so a run killed at any point resumes the same
batch and never submits one twice: before creating a batch, the batches at the endpoint are
searched for one carrying its id (the create call may have gone through just before a kill or a
time-out). A batch's results and their cost are recorded in one transaction, once, by whichever
process collects it first. No key or header is stored.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

import psutil

from nbqa_builder.llm.config import EndpointSettings
from nbqa_builder.llm.replies import LLMRequestFailed, NeedsReply, reply_fields_from_json
from nbqa_builder.llm.store import BATCH_FILES_DIR, LEDGER_FILE, SPEND_COLUMNS, ReplyCache, connect

T = TypeVar("T")

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
# failures worth another batch; `llm_bad_request` (the server refused the request itself) is not
RETRYABLE = frozenset({"llm_unavailable", "llm_bad_response", "llm_batch_failed", "llm_batch_expired",
                       "llm_batch_cancelled"})
# a batch listed at the endpoint this long before ours was recorded cannot be ours (clock skew)
LISTING_SLACK_S = 600
METADATA_KEY = "nbqa_batch"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batches (local_id TEXT PRIMARY KEY, stages TEXT, model TEXT, requests INTEGER,"
    " input_file_id TEXT, batch_id TEXT, status TEXT, collected INTEGER DEFAULT 0, created REAL,"
    " owner_pid INTEGER, owner_started REAL, detail TEXT)",
    "CREATE TABLE IF NOT EXISTS batch_items (key TEXT, local_id TEXT, stage TEXT, outcome TEXT, reason TEXT,"
    " detail TEXT, PRIMARY KEY (key, local_id))",
    "CREATE INDEX IF NOT EXISTS batch_items_key ON batch_items (key)",
)


@dataclass
class BatchRow:
    local_id: str
    stages: str
    model: str
    requests: int
    input_file_id: str | None
    batch_id: str | None
    status: str
    collected: int
    created: float
    owner_pid: int | None
    owner_started: float | None
    detail: str | None = None
    # from the last retrieval, not stored
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: tuple[int, int, int] = (0, 0, 0)  # total, completed, failed
    errors: list[str] = field(default_factory=list)
    seen: bool = False  # retrieved by this process (a finished batch is retrieved once for its files)


def _own_start() -> float:
    return psutil.Process().create_time()


def _alive(pid: int | None, started: float | None) -> bool:
    """The process that recorded a row still runs (a pid reused since is another process)."""
    if pid is None or started is None:
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


class BatchClient(Protocol):
    """What a batch needs of the client that runs it (llm/client.py's ChatClient, which makes its
    runner; this module does not import it): its settings and folder, the reply cache, the budget,
    the prices, and the Batch and Files APIs with the retry policy."""

    settings: EndpointSettings
    directory: Path | None
    cache: ReplyCache | None

    def check_budget(self) -> None: ...

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float: ...

    def api(self, what: str, call: Callable[[Any], T]) -> T: ...


class BatchRunner:
    def __init__(self, client: BatchClient) -> None:
        if client.directory is None or client.cache is None:
            raise ValueError("the Batch API needs the client's folder: its state and replies are kept there")
        self.client = client
        self.cache = client.cache
        self.settings = client.settings.llm
        self.ledger_path = client.directory / LEDGER_FILE
        self.files = client.directory / BATCH_FILES_DIR
        self.shown: dict[str, tuple] = {}

    def _db(self):
        connection = connect(self.ledger_path)
        for statement in SCHEMA:
            connection.execute(statement)
        return connection

    # -- the loop ----------------------------------------------------------------------------

    def run(self, needs: dict[str, NeedsReply]) -> tuple[set[str], dict[str, tuple[str, str]]]:
        """(keys answered by a batch now, key -> (drop reason, detail) of those that cannot be)."""
        received: set[str] = set()
        failures: dict[str, tuple[str, str]] = {}
        while True:
            todo = {key: need for key, need in needs.items()
                    if key not in failures and key not in received and self.cache.get(key) is None}
            if not todo:
                return received, failures
            in_flight, waiting = self._in_flight(list(todo))
            new: list[NeedsReply] = []
            history = self._failures(list(todo))
            for key, need in todo.items():
                if key in waiting:
                    continue
                past = history.get(key, [])
                if past and (past[-1][0] not in RETRYABLE or len(past) >= self.settings.max_batch_attempts):
                    reason, detail = past[-1]
                    failures[key] = (reason, f"{detail} (in {len(past)} batches)")
                else:
                    new.append(need)
            rows = list(in_flight.values())
            by_model: dict[str, list[NeedsReply]] = defaultdict(list)
            for need in new:
                by_model[need.model].append(need)
            for model, group in sorted(by_model.items()):
                for start in range(0, len(group), self.settings.max_requests):
                    rows.append(self._submit(model, group[start:start + self.settings.max_requests]))
            for row in rows:
                if row.batch_id is None and not self._owned_elsewhere(row):
                    self._create(row)  # recorded by a run that was killed before the batch existed
            if not rows:
                continue
            self._wait(rows)
            for row in rows:
                received |= self._collect(row) & set(todo)

    def collect_left_over(self) -> None:
        """A run killed after it cached a batch's replies and before it recorded their spend left
        the batch uncollected: its requests are answered from the cache now, so no later run would
        look at it again. Collect it (its spend recorded, its request file removed)."""
        if not self.ledger_path.exists():
            return
        connection = connect(self.ledger_path)
        with connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            rows = self._rows(connection, "collected = 0 AND batch_id IS NOT NULL", ()) if "batches" in tables else []
            pending = {row.local_id: [key for (key,) in connection.execute(
                "SELECT key FROM batch_items WHERE local_id = ? AND outcome = 'pending'", (row.local_id,))] for row in rows}
        connection.close()
        left = [row for row in rows if any(self.cache.get(key) is not None for key in pending[row.local_id])]
        if left:
            self._wait(left)
            for row in left:
                self._collect(row)

    # -- state -------------------------------------------------------------------------------

    def _rows(self, connection, where: str, args: tuple) -> list[BatchRow]:
        cursor = connection.execute(
            "SELECT local_id, stages, model, requests, input_file_id, batch_id, status, collected, created,"
            f" owner_pid, owner_started, detail FROM batches WHERE {where}", args)
        return [BatchRow(*row) for row in cursor.fetchall()]

    def _row(self, local_id: str) -> BatchRow:
        connection = self._db()
        with connection:
            (row,) = self._rows(connection, "local_id = ?", (local_id,))
        connection.close()
        return row

    def _update(self, row: BatchRow, **values: Any) -> None:
        for name, value in values.items():
            setattr(row, name, value)
        connection = self._db()
        with connection:
            connection.execute(f"UPDATE batches SET {', '.join(f'{k} = ?' for k in values)} WHERE local_id = ?",
                               (*values.values(), row.local_id))
        connection.close()

    def _in_flight(self, keys: list[str]) -> tuple[dict[str, BatchRow], set[str]]:
        """The uncollected batches holding some of these requests, and the requests they hold."""
        connection = self._db()
        rows: dict[str, BatchRow] = {}
        waiting: set[str] = set()
        with connection:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, local_id in connection.execute(
                        f"SELECT i.key, i.local_id FROM batch_items i JOIN batches b ON b.local_id = i.local_id"
                        f" WHERE b.collected = 0 AND i.outcome = 'pending' AND i.key IN ({marks})", chunk):
                    waiting.add(key)
                    if local_id not in rows:
                        (rows[local_id],) = self._rows(connection, "local_id = ?", (local_id,))
        connection.close()
        return rows, waiting

    def _failures(self, keys: list[str]) -> dict[str, list[tuple[str, str]]]:
        """Each request's failures in earlier batches, oldest first."""
        connection = self._db()
        found: dict[str, list[tuple[str, str]]] = defaultdict(list)
        with connection:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, reason, detail in connection.execute(
                        f"SELECT i.key, i.reason, i.detail FROM batch_items i JOIN batches b ON b.local_id = i.local_id"
                        f" WHERE i.outcome = 'failed' AND i.key IN ({marks}) ORDER BY b.created", chunk):
                    found[key].append((reason, detail or ""))
        connection.close()
        return found

    def _owned_elsewhere(self, row: BatchRow) -> bool:
        """Another live process recorded this batch and is creating it: wait for it, do not create."""
        if row.owner_pid == os.getpid():
            return False
        return _alive(row.owner_pid, row.owner_started)

    # -- submitting --------------------------------------------------------------------------

    def _submit(self, model: str, group: list[NeedsReply]) -> BatchRow:
        self.client.check_budget()
        local_id = uuid.uuid4().hex[:24]
        lines = [json.dumps({"custom_id": need.key, "method": "POST", "url": ENDPOINT,
                             "body": {k: v for k, v in need.payload.items() if v is not None}}, ensure_ascii=False)
                 for need in group]
        self.files.mkdir(parents=True, exist_ok=True)
        path = self.files / f"{local_id}.jsonl"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        stages = ",".join(sorted({need.stage for need in group}))
        row = BatchRow(local_id, stages, model, len(group), None, None, "new", 0, time.time(), os.getpid(), _own_start())
        connection = self._db()
        with connection:
            connection.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (row.local_id, row.stages, row.model, row.requests, None, None, row.status, 0,
                                row.created, row.owner_pid, row.owner_started, None))
            connection.executemany("INSERT INTO batch_items VALUES (?, ?, ?, 'pending', NULL, NULL)",
                                   [(need.key, local_id, need.stage) for need in group])
        connection.close()
        self._create(row)
        return row

    def _create(self, row: BatchRow) -> None:
        """Upload the request file (if not yet) and create the batch (unless the endpoint has it)."""
        row.owner_pid, row.owner_started = os.getpid(), _own_start()
        self._update(row, owner_pid=row.owner_pid, owner_started=row.owner_started)
        path = self.files / f"{row.local_id}.jsonl"
        if row.input_file_id is None:
            if not path.exists():  # its requests were forgotten (--forget-llm-cache): ask them anew
                self._give_up(row, "lost", "its request file is gone")
                return
            data = path.read_bytes()
            uploaded = self.client.api("files.create", lambda sdk: sdk.files.create(
                file=(f"nbqa-{row.local_id}.jsonl", data, "application/jsonl"), purpose="batch"))
            self._update(row, input_file_id=uploaded.id, status="uploaded")

        def find_or_create(sdk: Any) -> Any:
            return self._find(sdk, row) or sdk.batches.create(
                input_file_id=row.input_file_id, endpoint=ENDPOINT, completion_window=self.settings.completion_window,
                metadata={METADATA_KEY: row.local_id})

        batch = self.client.api("batches.create", find_or_create)
        self._update(row, batch_id=batch.id, status=batch.status)
        _say(f"batch {batch.id}: {row.requests} requests to {row.model} ({row.stages}) submitted")

    def _find(self, sdk: Any, row: BatchRow) -> Any:
        for batch in sdk.batches.list(limit=100):
            if (batch.metadata or {}).get(METADATA_KEY) == row.local_id:
                return batch
            if batch.created_at is not None and batch.created_at < row.created - LISTING_SLACK_S:
                return None  # newest first: the rest are older still
        return None

    def _give_up(self, row: BatchRow, status: str, detail: str) -> None:
        connection = self._db()
        with connection:
            connection.execute("UPDATE batch_items SET outcome = 'failed', reason = 'llm_batch_failed', detail = ?"
                               " WHERE local_id = ? AND outcome = 'pending'", (detail, row.local_id))
            connection.execute("UPDATE batches SET collected = 1, status = ?, detail = ? WHERE local_id = ?",
                               (status, detail, row.local_id))
        connection.close()
        row.collected, row.status = 1, status

    # -- waiting -----------------------------------------------------------------------------

    def _wait(self, rows: list[BatchRow]) -> None:
        interval = self.settings.poll_interval_s
        while True:
            for row in rows:
                if row.collected or (row.seen and row.status in TERMINAL):
                    continue
                if row.batch_id is None:  # another process is creating it
                    fresh = self._row(row.local_id)
                    row.batch_id, row.status, row.collected = fresh.batch_id, fresh.status, fresh.collected
                    if row.batch_id is None and not row.collected and not self._owned_elsewhere(row):
                        self._create(row)
                    if row.batch_id is None:
                        continue
                batch = self.client.api("batches.retrieve", lambda sdk: sdk.batches.retrieve(row.batch_id))
                self._note(row, batch)
            if all(row.collected or (row.seen and row.status in TERMINAL) for row in rows):
                return
            time.sleep(interval)
            interval = min(interval * 2, self.settings.max_poll_interval_s)

    def _note(self, row: BatchRow, batch: Any) -> None:
        counts = getattr(batch, "request_counts", None)
        row.counts = (int(getattr(counts, "total", 0) or 0), int(getattr(counts, "completed", 0) or 0),
                      int(getattr(counts, "failed", 0) or 0))
        row.output_file_id, row.error_file_id, row.seen = batch.output_file_id, batch.error_file_id, True
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        row.errors = [f"{getattr(e, 'code', None) or 'error'}: {getattr(e, 'message', '')}"[:300] for e in errors]
        if batch.status != row.status:
            self._update(row, status=batch.status)
        shown = (batch.status, row.counts)
        if self.shown.get(row.local_id) != shown:
            self.shown[row.local_id] = shown
            total, done, failed = row.counts
            _say(f"batch {row.batch_id} ({row.model}, {row.stages}): {batch.status}, "
                 f"{done}/{total or row.requests} done, {failed} failed")

    # -- collecting --------------------------------------------------------------------------

    def _collect(self, row: BatchRow) -> set[str]:
        """Join the finished batch's files to its requests; the keys answered."""
        if row.collected:
            return set()
        connection = self._db()
        with connection:
            items = dict(connection.execute("SELECT key, stage FROM batch_items WHERE local_id = ? AND outcome = 'pending'",
                                            (row.local_id,)).fetchall())
        connection.close()
        lines: dict[str, dict[str, Any]] = {}
        for file_id in (row.output_file_id, row.error_file_id):
            if not file_id:
                continue
            text = self.client.api("files.content", lambda sdk: sdk.files.content(file_id).text)
            for raw in text.splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # a damaged line: its request counts as unanswered
                custom_id = line.get("custom_id") if isinstance(line, dict) else None
                if custom_id in items and custom_id not in lines:
                    lines[custom_id] = line
        replies: dict[str, dict[str, Any]] = {}
        failed: dict[str, tuple[str, str]] = {}
        for key in items:
            line = lines.get(key)
            if line is None:
                failed[key] = self._unanswered(row)
                continue
            try:
                replies[key] = _reply_of(line)
            except LLMRequestFailed as exc:
                failed[key] = (exc.reason, exc.detail)
        for key, reply in replies.items():
            self.cache.put(key, {**reply, "batch": True})
        connection = self._db()
        connection.isolation_level = None  # explicit BEGIN IMMEDIATE: one collector, once
        try:
            connection.execute("BEGIN IMMEDIATE")
            (collected,) = connection.execute("SELECT collected FROM batches WHERE local_id = ?", (row.local_id,)).fetchone()
            if not collected:
                now = time.time()
                connection.executemany(f"INSERT INTO spend {SPEND_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, 'batch', ?)", [
                    (now, items[key], row.model, reply["prompt_tokens"], reply["completion_tokens"],
                     self.client.cost(row.model, reply["prompt_tokens"], reply["completion_tokens"], batch=True),
                     f"{row.local_id}/{key}")
                    for key, reply in replies.items()])
                connection.executemany("UPDATE batch_items SET outcome = 'ok' WHERE key = ? AND local_id = ?",
                                       [(key, row.local_id) for key in replies])
                connection.executemany("UPDATE batch_items SET outcome = 'failed', reason = ?, detail = ? WHERE key = ? AND local_id = ?",
                                       [(reason, detail[:500], key, row.local_id) for key, (reason, detail) in failed.items()])
                connection.execute("UPDATE batches SET collected = 1, status = ?, detail = ? WHERE local_id = ?",
                                   (row.status, "; ".join(row.errors)[:1000] or None, row.local_id))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        row.collected = 1
        (self.files / f"{row.local_id}.jsonl").unlink(missing_ok=True)
        if failed:
            _say(f"batch {row.batch_id}: {len(replies)} answered, {len(failed)} not "
                 f"({', '.join(sorted({reason for reason, _ in failed.values()}))})")
        return set(replies) if not collected else set()

    def _unanswered(self, row: BatchRow) -> tuple[str, str]:
        """The reason of a request the batch's files do not mention."""
        if row.status == "expired":
            return "llm_batch_expired", f"batch {row.batch_id} expired before answering it"
        if row.status == "failed":
            return "llm_batch_failed", f"batch {row.batch_id} failed: {'; '.join(row.errors) or 'no reason given'}"
        if row.status == "cancelled":
            return "llm_batch_cancelled", f"batch {row.batch_id} was cancelled"
        return "llm_bad_response", f"batch {row.batch_id} ({row.status}) has no line for it"


def _reply_of(line: dict[str, Any]) -> dict[str, Any]:
    """A reply from a line of a batch's output or error file, or LLMRequestFailed with the reason."""
    response, error = line.get("response"), line.get("error")
    if isinstance(response, dict):
        status = response.get("status_code")
        body = response.get("body")
        if status == 200:
            return reply_fields_from_json(body)
        message = body.get("error") if isinstance(body, dict) else body
        detail = f"HTTP {status}: {json.dumps(message)[:300]}"
        if isinstance(status, int) and 400 <= status < 500 and status != 429:
            raise LLMRequestFailed("llm_bad_request", detail)
        raise LLMRequestFailed("llm_unavailable", detail)
    if isinstance(error, dict):
        code, message = error.get("code"), str(error.get("message") or "")[:300]
        if code == "batch_expired":
            raise LLMRequestFailed("llm_batch_expired", f"{code}: {message}")
        raise LLMRequestFailed("llm_batch_failed", f"{code}: {message}")
    raise LLMRequestFailed("llm_bad_response", f"a batch line with neither response nor error: {json.dumps(line)[:200]}")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
