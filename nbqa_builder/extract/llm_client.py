"""Chat completions through any OpenAI-compatible endpoint: cached, retried, counted, budgeted.

- Cache: every request is keyed by the sha256 of its content (model, messages, settings; never the
  key or the URL) and its reply stored as `<output>/_work/llm-cache/<k[:2]>/<k>.json`, written to a
  temporary file and renamed, so two worker processes asking the same thing at once both end with
  one whole file. A cached request is never sent again.
- Retries (tenacity): 429 (waiting what Retry-After says), 5xx, timeouts and dropped connections,
  with exponential backoff; the SDK's own retries are off so that one policy holds. No retry on
  400-class errors (the request itself is wrong) or `insufficient_quota` (money, not load).
- Spend: `SpendLedger`, a SQLite file beside the cache, adds the cost of every request actually
  sent (cache hits cost nothing). All worker processes write to the same file, so the total is the
  run's, across processes and resumes; `max_cost` is checked against it before each request.
  Requests already in flight when the limit is crossed still finish: the overshoot is at most
  `max_concurrency * workers` requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from nbqa_builder.extract.llm_config import OPENAI_BASE_URL, LLMSettings


class LLMRequestFailed(Exception):
    """A request that will not succeed; `reason` is the notebook's drop reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class LLMRunMustStop(Exception):
    """Nothing more can be sent (quota, key, budget); the step turns this into StopRun."""


@dataclass
class Completion:
    content: str | None
    refusal: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool  # served from the cache: nothing was sent, nothing spent
    cost: float


def request_key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


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
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(reply, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)


class SpendLedger:
    """Spend of the whole run, shared by worker processes through one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the default rollback journal: its busy timeout covers every statement, where switching
        # to WAL needs an exclusive lock that concurrent writers can be refused
        connection = sqlite3.connect(self.path, timeout=60)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spend (at REAL, stage TEXT, model TEXT, prompt_tokens INTEGER,"
            " completion_tokens INTEGER, cost REAL)"
        )
        return connection

    def add(self, stage: str, model: str, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
        with self._connect() as connection:
            connection.execute("INSERT INTO spend VALUES (?, ?, ?, ?, ?, ?)",
                               (time.time(), stage, model, prompt_tokens, completion_tokens, cost))
        connection.close()

    def total(self) -> float:
        if not self.path.exists():
            return 0.0
        with self._connect() as connection:
            (total,) = connection.execute("SELECT COALESCE(SUM(cost), 0) FROM spend").fetchone()
        connection.close()
        return float(total)


def _retry_after_s(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _error_code(exc: BaseException) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return error.get("code") or error.get("type")
    return getattr(exc, "code", None)


class ChatClient:
    """One endpoint, shared by the stages of one step in one process; thread-safe."""

    def __init__(self, settings: LLMSettings, work_dir: Path) -> None:
        self.settings = settings
        self.cache = ReplyCache(work_dir / "llm-cache")
        self.ledger = SpendLedger(work_dir / "llm-spend.sqlite")
        self._client: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                key = os.environ.get(self.settings.api_key_env)
                if not key:
                    if self.settings.base_url.rstrip("/") == OPENAI_BASE_URL:
                        raise LLMRunMustStop(f"set the environment variable {self.settings.api_key_env} to an OpenAI API key")
                    key = "EMPTY"  # local servers (vLLM, Ollama) accept any key
                self._client = openai.OpenAI(base_url=self.settings.base_url, api_key=key,
                                             timeout=self.settings.timeout_s, max_retries=0)
            return self._client

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.settings.prices.get(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000

    def complete(self, stage: str, model: str, messages: list[dict[str, str]], temperature: float,
                 max_tokens: int, response_format: dict[str, Any] | None) -> Completion:
        payload = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                   "response_format": response_format}
        key = request_key(payload)
        cached = self.cache.get(key)
        if cached is not None:
            return Completion(cached["content"], cached["refusal"], cached["prompt_tokens"],
                              cached["completion_tokens"], True,
                              self.cost(model, cached["prompt_tokens"], cached["completion_tokens"]))
        if self.settings.max_cost is not None:
            spent = self.ledger.total()
            if spent >= self.settings.max_cost:
                raise LLMRunMustStop(f"max_cost reached: {spent:.4f} USD spent of {self.settings.max_cost} USD")
        reply = self._send(payload)
        self.cache.put(key, reply)
        cost = self.cost(model, reply["prompt_tokens"], reply["completion_tokens"])
        self.ledger.add(stage, model, reply["prompt_tokens"], reply["completion_tokens"], cost)
        return Completion(reply["content"], reply["refusal"], reply["prompt_tokens"], reply["completion_tokens"],
                          False, cost)

    def _send(self, payload: dict[str, Any]) -> dict[str, Any]:
        import openai
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        backoff = wait_exponential_jitter(initial=1, max=self.settings.max_wait_s)

        def wait(retry_state: Any) -> float:
            exc = retry_state.outcome.exception()
            after = _retry_after_s(exc) if exc is not None else None
            return min(self.settings.max_wait_s, after) if after is not None else backoff(retry_state)

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)):
                return True
            if isinstance(exc, openai.RateLimitError):
                return _error_code(exc) != "insufficient_quota"
            return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500

        arguments = {k: v for k, v in payload.items() if v is not None}
        try:
            for attempt in Retrying(stop=stop_after_attempt(self.settings.max_attempts), wait=wait,
                                    retry=retry_if_exception(transient), reraise=False):
                with attempt:
                    response = self._sdk().chat.completions.create(**arguments)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise LLMRequestFailed("llm_unavailable", f"{self.settings.max_attempts} attempts, last: {type(last).__name__}: {last}") from None
        except openai.RateLimitError as exc:  # not retried: insufficient_quota
            raise LLMRunMustStop(f"the endpoint reports insufficient quota ({exc.status_code}); add credit and run again") from None
        except openai.AuthenticationError as exc:
            raise LLMRunMustStop(f"the endpoint refused the key in {self.settings.api_key_env} ({exc.status_code})") from None
        except openai.APIStatusError as exc:
            raise LLMRequestFailed("llm_bad_request", f"HTTP {exc.status_code}: {str(exc)[:300]}") from None
        except openai.APIError as exc:
            raise LLMRequestFailed("llm_bad_response", f"{type(exc).__name__}: {str(exc)[:300]}") from None
        return _reply_fields(response)


def _reply_fields(response: Any) -> dict[str, Any]:
    """What is kept of a completion: the first choice's text or refusal, and the usage."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise LLMRequestFailed("llm_bad_response", "the reply has no choices")
    message = choices[0].message
    usage = getattr(response, "usage", None)
    return {
        "content": getattr(message, "content", None),
        "refusal": getattr(message, "refusal", None),
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
    }
