"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, replies from a per-test script.

`FakeOpenAI(script)` answers `POST /v1/chat/completions` with `script(request_body) -> Reply`;
`faults` (a list of Replies) are served first, one per request, in order. Every request is recorded
(method, path, headers, body, time) and every 200 reply carries `usage` computed from the request
and the reply, summed in `usage_served`, so a test can compare what the client counted.

It also serves the Batch API as OpenAI does: `POST /v1/files` (multipart, purpose `batch`),
`GET /v1/files/<id>/content`, `POST /v1/batches`, `GET /v1/batches/<id>` and `GET /v1/batches`
(newest first, paged with `after`). A created batch validates its input file (JSONL lines with
`custom_id`, `method`, `url`, `body`; unique custom ids; one model; the batch's endpoint) and then
follows a `BatchPlan` (popped from `batch_plans`, else the default): each retrieval moves it a
step (validating, in_progress..., finalizing), and at its end each request is answered by the
same script (and `faults`) as a synchronous one: 200 replies go to the output file, others to the
error file; an expired batch answers only its first `done` requests and lists the rest as
`batch_expired`; a failed one answers none. `api_faults` maps a route name (`files.create`,
`batches.create`, `batches.retrieve`, `batches.list`, `files.content`) to Replies served first
for that route.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

from tests.local_server import LocalServer


@dataclass
class Reply:
    status: int = 200
    content: str | None = None
    refusal: str | None = None
    error: dict[str, Any] | None = None  # the `error` object of a failed request
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering (beyond the client's timeout: a timeout)
    choices: list[str] | None = None  # several choices (a request with `n`); `content` is then unused
    logprobs: list[list[float]] | None = None  # per choice, its tokens' logprobs (when the request asks)


def ok(content: str | dict) -> Reply:
    return Reply(content=content if isinstance(content, str) else json.dumps(content))


def refusal(text: str = "I'm sorry, I can't help with that.") -> Reply:
    return Reply(refusal=text)


def error(status: int, code: str, message: str = "fake error", **headers: str) -> Reply:
    kind = {429: "rate_limit_error" if code != "insufficient_quota" else "insufficient_quota",
            400: "invalid_request_error"}.get(status, "server_error")
    return Reply(status=status, error={"message": message, "type": kind, "code": code, "param": None},
                 headers={k.replace("_", "-"): v for k, v in headers.items()})


@dataclass
class BatchPlan:
    """How one batch goes: `polls` retrievals see it validating, then in progress, then finalizing,
    and the next one sees its end: completed, failed (validation errors, nothing answered),
    expired (only the first `done` requests answered) or cancelled. A batch with `hold` stays
    in progress until the event is set."""

    polls: int = 2
    end: str = "completed"
    done: int = 0
    hold: threading.Event | None = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    at: float


class FakeOpenAI(LocalServer):
    def __init__(self, script: Callable[[dict[str, Any]], Reply], faults: list[Reply] | None = None,
                 batch_plans: list[BatchPlan] | None = None, api_faults: dict[str, list[Reply]] | None = None) -> None:
        self.script = script
        self.faults = list(faults or [])
        self.batch_plans = list(batch_plans or [])
        self.api_faults = {route: list(replies) for route, replies in (api_faults or {}).items()}
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"purpose", "filename", "content": bytes}
        self.batches: dict[str, dict[str, Any]] = {}  # id -> the batch object, plus "_plan", "_polls"
        self.requests: list[Recorded] = []
        self.usage_served = {"prompt_tokens": 0, "completion_tokens": 0}
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self.serve(self._handler())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any], float]:
        with self._lock:
            reply = self.faults.pop(0) if self.faults else None
        if reply is None:
            reply = self.script(body)
        if reply.status != 200:
            return reply.status, reply.headers, {"error": reply.error}, reply.delay_s
        text = reply.content if reply.content is not None else reply.refusal or ""
        usage = {"prompt_tokens": len(json.dumps(body.get("messages"))) // 4 + 1, "completion_tokens": len(text) // 4 + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        with self._lock:
            for key in self.usage_served:
                self.usage_served[key] += usage[key]
        texts = reply.choices if reply.choices is not None else [reply.content]
        choices = []
        for index, content in enumerate(texts):
            logprobs = None
            if body.get("logprobs") and reply.logprobs is not None:
                logprobs = {"content": [{"token": f"t{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                                        for i, lp in enumerate(reply.logprobs[index])]}
            choices.append({"index": index, "finish_reason": "stop", "logprobs": logprobs,
                            "message": {"role": "assistant", "content": content, "refusal": reply.refusal}})
        payload = {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "usage": usage, "choices": choices,
        }
        return 200, reply.headers, payload, reply.delay_s

    # -- the Batch API ----------------------------------------------------------------------

    def _route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any, float]:
        url = urlparse(path)
        route = None
        if method == "POST" and url.path == "/v1/chat/completions":
            return self._answer(body)
        if method == "POST" and url.path == "/v1/files":
            route = "files.create"
        elif method == "GET" and re.fullmatch(r"/v1/files/[\w-]+/content", url.path):
            route = "files.content"
        elif method == "POST" and url.path == "/v1/batches":
            route = "batches.create"
        elif method == "GET" and re.fullmatch(r"/v1/batches/[\w-]+", url.path):
            route = "batches.retrieve"
        elif method == "GET" and url.path == "/v1/batches":
            route = "batches.list"
        if route is None:
            return NOT_FOUND
        with self._lock:
            fault = self.api_faults.get(route, []).pop(0) if self.api_faults.get(route) else None
        if fault is not None and fault.status != 200:
            return fault.status, fault.headers, {"error": fault.error}, fault.delay_s
        delay = fault.delay_s if fault is not None else 0.0  # a 200 fault: the real answer, late
        with self._lock:
            if route == "files.create":
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = {"purpose": body.get("purpose"), "filename": body.get("filename"),
                                       "content": body.get("file") or b""}
                return 200, {}, _file_object(file_id, self.files[file_id]), delay
            if route == "files.content":
                file_id = url.path.split("/")[3]
                if file_id not in self.files:
                    return NOT_FOUND
                return 200, {}, self.files[file_id]["content"], delay
            if route == "batches.create":
                return 200, {}, _public(self._create_batch(body)), delay
            if route == "batches.list":
                ordered = sorted(self.batches.values(), key=lambda b: (b["created_at"], b["id"]), reverse=True)
                query = parse_qs(url.query)
                after = (query.get("after") or [None])[0]
                limit = int((query.get("limit") or ["20"])[0])
                if after is not None:
                    ids = [b["id"] for b in ordered]
                    ordered = ordered[ids.index(after) + 1:] if after in ids else []
                page = ordered[:limit]
                return 200, {}, {"object": "list", "data": [_public(b) for b in page], "has_more": len(ordered) > limit,
                                 "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}, delay
            batch = self.batches.get(url.path.split("/")[3])
            if batch is None:
                return NOT_FOUND
        self._advance(batch)
        return 200, {}, _public(batch), delay

    def _create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        batch_id = f"batch_{len(self.batches) + 1}"
        plan = self.batch_plans.pop(0) if self.batch_plans else BatchPlan()
        source = self.files.get(body.get("input_file_id"))
        lines, problems = [], []
        if source is None or source["purpose"] != "batch":
            problems.append("the input file does not exist or is not for batches")
        else:
            ids, models = set(), set()
            for number, text in enumerate(source["content"].decode().splitlines(), 1):
                try:
                    line = json.loads(text)
                    assert {"custom_id", "method", "url", "body"} <= set(line) and line["url"] == body.get("endpoint")
                except (ValueError, AssertionError):
                    problems.append(f"line {number}: not a request line for {body.get('endpoint')}")
                    continue
                if line["custom_id"] in ids:
                    problems.append(f"line {number}: custom_id {line['custom_id']} is used twice")
                ids.add(line["custom_id"])
                models.add(line["body"].get("model"))
                lines.append(line)
            if len(models) > 1:
                problems.append(f"a batch holds one model, this file has {sorted(models)}")
        batch = {
            "id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
            "input_file_id": body.get("input_file_id"), "completion_window": body.get("completion_window"),
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": int(time.time()) + len(self.batches),  # in creation order, even within a second
            "metadata": body.get("metadata"), "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "_plan": plan if not problems else BatchPlan(polls=plan.polls, end="failed"), "_polls": 0,
            "_lines": lines, "_problems": problems,
        }
        self.batches[batch_id] = batch
        return batch

    def _advance(self, batch: dict[str, Any]) -> None:
        """One retrieval: the batch moves one step along its plan (validating, in_progress...,
        finalizing), and the retrieval after `polls` of them ends it."""
        with self._lock:
            if batch["status"] in ("completed", "failed", "expired", "cancelled") or batch.get("_finishing"):
                return
            plan: BatchPlan = batch["_plan"]
            batch["_polls"] += 1
            if plan.hold is not None and not plan.hold.is_set():
                batch["status"] = "in_progress"
                return
            if batch["_polls"] <= plan.polls:
                polls = batch["_polls"]
                batch["status"] = ("validating" if polls == 1 else "finalizing" if polls == plan.polls > 2
                                   else "in_progress")
                total = len(batch["_lines"])
                batch["request_counts"]["completed"] = total * (polls - 1) // max(plan.polls, 1)
                return
            batch["_finishing"] = True  # one retrieval answers the requests; another sees it finishing
            lines = batch["_lines"]
        if plan.end == "failed":
            problems = batch["_problems"] or ["fake validation failure"]
            with self._lock:
                batch.update(status="failed", errors={"object": "list", "data": [
                    {"code": "invalid_request", "message": p, "param": None, "line": None} for p in problems]})
                batch["request_counts"] = {"total": 0, "completed": 0, "failed": 0}
            return
        answered = lines if plan.end == "completed" else lines[:plan.done]
        output, errors = [], []
        for number, line in enumerate(answered):
            status, _, payload, _ = self._answer(line["body"])
            entry = {"id": f"batch_req_{batch['id']}_{number}", "custom_id": line["custom_id"],
                     "response": {"status_code": status, "request_id": f"req_{number}", "body": payload}, "error": None}
            (output if status == 200 else errors).append(entry)
        for number, line in enumerate(lines[len(answered):], len(answered)):
            code, message = (("batch_expired", "This request could not be executed before the completion window expired.")
                             if plan.end == "expired" else ("batch_cancelled", "The batch was cancelled."))
            errors.append({"id": f"batch_req_{batch['id']}_{number}", "custom_id": line["custom_id"], "response": None,
                           "error": {"code": code, "message": message}})
        with self._lock:
            for kind, entries in (("output_file_id", output), ("error_file_id", errors)):
                if entries:
                    file_id = f"file-{len(self.files) + 1}"
                    self.files[file_id] = {"purpose": "batch_output", "filename": f"{batch['id']}_{kind}.jsonl",
                                           "content": "".join(json.dumps(e) + "\n" for e in entries).encode()}
                    batch[kind] = file_id
            batch["status"] = plan.end
            batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                self._serve("POST")

            def do_GET(self) -> None:
                self._serve("GET")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("content-type") or ""
                if content_type.startswith("multipart/form-data"):
                    body = _multipart(content_type, raw)
                else:
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        body = {"_unparsable": raw.decode("utf-8", "replace")}
                with fake._lock:
                    fake.requests.append(Recorded(method, self.path, {k.lower(): v for k, v in self.headers.items()},
                                                  {k: v for k, v in body.items() if k != "file"}, time.monotonic()))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    status, headers, payload, delay = fake._route(method, self.path, body)
                    time.sleep(delay)
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/octet-stream" if isinstance(payload, bytes) else "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

        return Handler


# -- helpers of the Batch API --------------------------------------------------------------------

NOT_FOUND = (404, {}, {"error": {"message": "not found", "type": "invalid_request_error", "code": None, "param": None}}, 0.0)


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields["file"], fields["filename"] = content, part.get_filename()
        else:
            fields[name] = content.decode()
    return fields


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _file_object(file_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": len(entry["content"]), "created_at": int(time.time()),
            "filename": entry["filename"], "purpose": entry["purpose"], "status": "processed"}
