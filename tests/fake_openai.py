"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, replies from a per-test script.

`FakeOpenAI(script)` answers `POST /v1/chat/completions` with `script(request_body) -> Reply`;
`faults` (a list of Replies) are served first, one per request, in order. Every request is recorded
(method, path, headers, body, time) and every 200 reply carries `usage` computed from the request
and the reply, summed in `usage_served`, so a test can compare what the client counted.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


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
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    at: float


class FakeOpenAI:
    def __init__(self, script: Callable[[dict[str, Any]], Reply], faults: list[Reply] | None = None) -> None:
        self.script = script
        self.faults = list(faults or [])
        self.requests: list[Recorded] = []
        self.usage_served = {"prompt_tokens": 0, "completion_tokens": 0}
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsable": raw.decode("utf-8", "replace")}
                with fake._lock:
                    fake.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    if self.path != "/v1/chat/completions":
                        status, headers, payload, delay = 404, {}, {"error": {"message": "not found"}}, 0.0
                    else:
                        status, headers, payload, delay = fake._answer(body)
                    time.sleep(delay)
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
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
