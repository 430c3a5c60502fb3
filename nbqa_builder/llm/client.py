"""Chat completions through any OpenAI-compatible endpoint: cached, retried, counted, budgeted,
sent one by one or through the Batch API.

- Cache: every request is keyed by the sha256 of its content (model, messages, settings; never the
  key or the URL) and its reply stored in `<output>/_llm/cache/` (llm/store.py), outside
  what `run --restart` clears. A cached request is never sent again, whichever way it was sent.
- Retries (tenacity): 429 (waiting what Retry-After says), 5xx, timeouts and dropped connections,
  with exponential backoff; the SDK's own retries are off so that one policy holds. No retry on
  400-class errors (the request itself is wrong) or `insufficient_quota` (money, not load).
- Spend: `SpendLedger`, a SQLite file beside the cache, adds the cost of every request actually
  sent (cache hits cost nothing), at the batch price for batched ones. All worker processes write
  to the same file, so the total is that of every run into the output folder; a step's `max_cost`
  is checked against its own stages' spend before each request (and each batch). Requests already in flight when the
  limit is crossed still finish: the overshoot is at most `max_concurrency * workers` requests,
  or one batch.
- Batch mode (`llm: {mode: batch}`): a stage whose request is not cached raises `NeedsReply`
  instead of sending it; `run_in_rounds` collects those of many notebooks (or tasks), has them
  answered through the Batch API (llm/batch.py: `ChatClient.fetch`), which puts the
  replies in the same cache, and runs the work again: what was answered is now a cache hit.

`complete` is one stage's request (extraction, the blind solver); `cached`, `send` and `keep` are
its parts, for a caller whose request or reply has another shape (the search's policy asks for
several choices with their logprobs: search/policy.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from nbqa_builder.llm.batch import BatchRunner
from nbqa_builder.llm.config import OPENAI_BASE_URL, EndpointSettings
from nbqa_builder.llm.replies import Completion, LLMRequestFailed, LLMRunMustStop, NeedsReply, reply_fields
from nbqa_builder.llm.store import CACHE_DIR, LEDGER_FILE, ReplyCache, SpendLedger

__all__ = ["ChatClient", "request_key", "run_in_rounds"]
T = TypeVar("T")


def request_key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


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
    """One endpoint, shared by the stages of one step in one process; thread-safe.

    `directory` is `<output>/_llm` (llm/store.py): the cache, the ledger, the batches. Without one
    (None) nothing is kept: every request is sent, nothing is recorded, there is no budget and no
    Batch API."""

    def __init__(self, settings: EndpointSettings, directory: Path | None, stages: tuple[str, ...] | None = None) -> None:
        if directory is None and (settings.max_cost is not None or settings.llm.mode == "batch"):
            raise ValueError("max_cost and the Batch API need a folder for the spend ledger and the replies")
        self.settings = settings
        self.directory = directory
        self.stages = stages  # the stages whose spend `max_cost` limits (None: every stage)
        self.cache = ReplyCache(directory / CACHE_DIR) if directory is not None else None
        self.ledger = SpendLedger(directory / LEDGER_FILE) if directory is not None else None
        self.received: set[str] = set()  # keys answered by a batch in this process: sent, not cached
        self.batch_failures: dict[str, tuple[str, str]] = {}  # key -> (drop reason, detail)
        self._client: Any = None
        self._lock = threading.Lock()
        self._settled = False  # whether the batches a killed run left uncollected were collected
        self._settle_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"], state["_lock"], state["_settle_lock"] = None, None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._settle_lock = threading.Lock()

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

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        price = self.settings.prices.get(model)
        if price is None:
            return 0.0
        per_input, per_output = price.input, price.output
        if batch:
            per_input = price.batch_input if price.batch_input is not None else price.input
            per_output = price.batch_output if price.batch_output is not None else price.output
        return (prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000

    def check_budget(self) -> None:
        if self.settings.max_cost is not None and self.ledger is not None:
            spent = self.ledger.total(self.stages)
            if spent >= self.settings.max_cost:
                which = f" by {', '.join(self.stages)}" if self.stages else ""
                raise LLMRunMustStop(f"max_cost reached: {spent:.4f} USD spent{which} of {self.settings.max_cost} USD")

    def complete(self, stage: str, model: str, messages: list[dict[str, str]], temperature: float,
                 max_tokens: int, response_format: dict[str, Any] | None) -> Completion:
        """The reply to one request: from the cache, sent now, or (a batched stage) `NeedsReply`."""
        payload = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                   "response_format": response_format}
        key = request_key(payload)
        cached = self.cached(key)
        if cached is not None:
            batch = bool(cached.get("batch"))
            return Completion(cached["content"], cached["refusal"], cached["prompt_tokens"],
                              cached["completion_tokens"], key not in self.received,
                              self.cost(model, cached["prompt_tokens"], cached["completion_tokens"], batch), batch)
        if self.settings.llm.batched(stage):
            failure = self.batch_failures.get(key)
            if failure is not None:
                raise LLMRequestFailed(*failure)
            raise NeedsReply(key, stage, model, payload)
        self.check_budget()
        reply = self._send(payload)
        cost = self.keep(key, stage, model, reply)
        return Completion(reply["content"], reply["refusal"], reply["prompt_tokens"], reply["completion_tokens"],
                          False, cost)

    def cached(self, key: str) -> dict[str, Any] | None:
        """The cached reply to the request with this key (`request_key`), None when there is none."""
        if self.cache is None:
            return None
        self._settle()
        cached = self.cache.get(key)
        if cached is not None and "unrecorded" in cached:
            cached = self._record_spend(key, cached)  # a run killed between caching and recording it
        return cached

    def keep(self, key: str, stage: str, model: str, reply: dict[str, Any]) -> float:
        """A reply just received (with its `prompt_tokens` and `completion_tokens`): cached, and its
        cost recorded in the ledger under `stage`; its cost."""
        cost = self.cost(model, reply["prompt_tokens"], reply["completion_tokens"])
        if self.cache is None:
            return cost
        # cached first, marked as not yet in the ledger, then recorded, then unmarked: a run killed
        # anywhere in between neither pays for the request again nor leaves it out of the spend
        entry = {**reply, "unrecorded": {"stage": stage, "model": model, "cost": cost, "payment": uuid.uuid4().hex}}
        self.cache.put(key, entry)
        self._record_spend(key, entry, sent_now=True)
        return cost

    def _settle(self) -> None:
        """Once per client: collect the batches a killed run left with their replies cached and
        their spend unrecorded (llm/batch.py), before any reply is served from the cache."""
        if self._settled:
            return
        with self._settle_lock:
            if not self._settled:
                BatchRunner(self).collect_left_over()
                self._settled = True

    def _record_spend(self, key: str, entry: dict[str, Any], sent_now: bool = False) -> dict[str, Any]:
        """Record the spend of a cached reply marked `unrecorded` (unless the ledger has it: a run
        killed after recording it; `sent_now`, it cannot), then unmark it; the reply as cached."""
        assert self.cache is not None and self.ledger is not None, "only a client with a folder caches replies"
        pending = entry["unrecorded"]
        reply = {k: v for k, v in entry.items() if k != "unrecorded"}
        if sent_now or not self.ledger.has(pending["payment"]):
            self.ledger.add(pending["stage"], pending["model"], reply["prompt_tokens"], reply["completion_tokens"],
                            pending["cost"], payment=pending["payment"])
        self.cache.put(key, reply)
        return reply

    def fetch(self, needs: dict[str, NeedsReply]) -> None:
        """Have these requests answered through the Batch API (llm/batch.py): their replies
        go into the cache; those that cannot be answered are remembered with their drop reason."""
        received, failures = BatchRunner(self).run(needs)
        self.received.update(received)
        self.batch_failures.update(failures)

    # -- retries --------------------------------------------------------------------------------

    def with_retries(self, call: Callable[[], T], retry_also: tuple[type[BaseException], ...] = ()) -> T:
        """`call()`, tried again on 429 (as long as Retry-After says), 5xx, timeouts and dropped
        connections (and the errors in `retry_also`), up to `max_attempts`; raises tenacity's
        RetryError after the last, or the first error that is not transient."""
        import openai
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        backoff = wait_exponential_jitter(initial=1, max=self.settings.max_wait_s)

        def wait(retry_state: Any) -> float:
            exc = retry_state.outcome.exception()
            after = _retry_after_s(exc) if exc is not None else None
            return min(self.settings.max_wait_s, after) if after is not None else backoff(retry_state)

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, retry_also):
                return True
            if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError)):
                return True
            if isinstance(exc, openai.RateLimitError):
                return _error_code(exc) != "insufficient_quota"
            return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500

        for attempt in Retrying(stop=stop_after_attempt(self.settings.max_attempts), wait=wait,
                                retry=retry_if_exception(transient), reraise=False):
            with attempt:
                result = call()
        return result

    def send(self, arguments: dict[str, Any], fields: Callable[[Any], dict[str, Any]] = reply_fields,
             retry_also: tuple[type[BaseException], ...] = ()) -> dict[str, Any]:
        """One chat completion sent now, with the retry policy (`with_retries`), and what `fields`
        keeps of it. Nothing is cached or recorded (`keep` does that); errors come as they are."""
        response = self.with_retries(lambda: self._sdk().chat.completions.create(**arguments), retry_also)
        return fields(response)

    def _send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """`send` for `complete`: what fails is a drop reason (LLMRequestFailed) or stops the run."""
        import openai
        from tenacity import RetryError

        arguments = {k: v for k, v in payload.items() if v is not None}
        try:
            return self.send(arguments)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise LLMRequestFailed("llm_unavailable", f"{self.settings.max_attempts} attempts, last: {type(last).__name__}: {last}") from None
        except openai.APIError as exc:
            _stop_for_money_or_key(exc, self.settings.api_key_env, "")
            if isinstance(exc, openai.APIStatusError):
                raise LLMRequestFailed("llm_bad_request", f"HTTP {exc.status_code}: {str(exc)[:300]}") from None
            raise LLMRequestFailed("llm_bad_response", f"{type(exc).__name__}: {str(exc)[:300]}") from None

    def api(self, what: str, call: Callable[[Any], T]) -> T:
        """One call of the Batch and Files APIs, with the retry policy. These calls carry a whole
        batch, not one notebook: what still fails stops the run (resumable), loudly."""
        import openai
        from tenacity import RetryError

        try:
            return self.with_retries(lambda: call(self._sdk()))
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise LLMRunMustStop(f"the Batch API did not answer ({what}, {self.settings.max_attempts} attempts, "
                                 f"last: {type(last).__name__}: {str(last)[:200]})") from None
        except openai.APIError as exc:
            _stop_for_money_or_key(exc, self.settings.api_key_env, f"{what}, ")
            if isinstance(exc, openai.NotFoundError):
                raise LLMRunMustStop(f"{what}: {self.settings.base_url} answers 404: it may have no Batch API "
                                     f"(vLLM and Ollama have none); use `llm: {{mode: sync}}` ({str(exc)[:200]})") from None
            if isinstance(exc, openai.APIStatusError):
                raise LLMRunMustStop(f"{what}: the endpoint refused it, HTTP {exc.status_code}: {str(exc)[:300]}") from None
            raise LLMRunMustStop(f"{what}: {type(exc).__name__}: {str(exc)[:300]}") from None


def _stop_for_money_or_key(exc: Exception, key_env: str, where: str) -> None:
    """Raise LLMRunMustStop for an error no later request can escape: insufficient quota (never
    retried: money, not load) or a refused key."""
    import openai

    if isinstance(exc, openai.RateLimitError):
        raise LLMRunMustStop(f"the endpoint reports insufficient quota ({where}{exc.status_code}); add credit and run again") from None
    if isinstance(exc, openai.AuthenticationError):
        raise LLMRunMustStop(f"the endpoint refused the key in {key_env} ({where}{exc.status_code})") from None


def run_in_rounds(client: ChatClient, items: Iterable[T], attempt: Callable[[T], Any],
                  mapper: Callable[..., Iterable[Any]] = map) -> None:
    """Run `attempt(item)` for every item; in batch mode, an attempt that raises `NeedsReply` is
    tried again once a batch has answered what every waiting item asked for, until none waits.

    `attempt` must leave no trace when it raises NeedsReply (it is run again from the start), and
    must be deterministic given the cached replies, so each round takes each item a request further.
    `mapper` runs the attempts (`map`, or a thread pool's)."""
    def one(item: T) -> NeedsReply | None:
        try:
            attempt(item)
        except NeedsReply as need:
            return need
        return None

    pending, asked_before = list(items), None
    while pending:
        needs: dict[str, NeedsReply] = {}
        waiting = []
        for item, need in zip(pending, list(mapper(one, pending))):
            if need is not None:
                needs[need.key] = need
                waiting.append(item)
        if not waiting:
            return
        if asked_before == set(needs):  # every one of them was answered or failed: cannot be asked again
            raise LLMRunMustStop(f"batch mode made no progress: {len(needs)} requests were asked again after their batch")
        asked_before = set(needs)
        client.fetch(needs)
        pending = waiting

