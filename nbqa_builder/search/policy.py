"""The policy: next steps sampled from any OpenAI-compatible chat endpoint (vLLM, Ollama,
llama.cpp, OpenAI), with their prior.

`sample(messages, n)` asks for `n` choices at once and, from servers that return fewer (Ollama
ignores `n`), asks again until it has them. Each choice's prior is exp(mean token logprob) where
the server gives logprobs, as in JUPITER, else 1.0 (a server that refuses logprobs is asked without
them from then on). A choice without text is kept as a failed sample (`failure` says why), so that
one bad choice never costs its good siblings: the search makes it one failed child, as JUPITER's
vLLM search does with an empty output. The key comes from the environment (NBQA_POLICY_API_KEY,
else OPENAI_API_KEY), never from arguments that could end in a log.

Requests go through the client every model call shares (llm/client.py): its retries (429s after
Retry-After, 5xx, time-outs and dropped connections, with backoff), and, given the search's
`<out>/_llm/` folder, its reply cache and spend ledger (stage `policy`). What still fails before
any choice came, or replies with no choice at all, is a `PolicyError`, which the search records as
the node's terminal kind, never as a crash; a failure after some choices came keeps those.

The search samples at a temperature and may send the same messages twice on purpose (a node
expanded again): the k-th identical request of a policy is cached as its own draw (`draw` k in its
key). A search run again over the same output (a killed one, resumed) asks the same requests in the
same order, so it gets the replies of the first run, in order, and pays for none again; within one
run no draw is served twice.
"""

from __future__ import annotations

import math
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nbqa_builder.llm import ChatClient, EndpointSettings, LLMRunMustStop, request_key
from nbqa_builder.search.tree import EMPTY_REPLY

DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_REPLY_TOKENS = 8192  # a reply's max_tokens, JUPITER's sampling setting
DEFAULT_TIMEOUT_S = 600.0  # one request; a long reply from a busy server takes minutes
STAGE = "policy"  # the policy's rows in the spend ledger


class PolicyError(Exception):
    """The policy could not give a step; `kind` says why (rate_limited, server_error, timeout,
    invalid_reply, bad_request, unavailable, not_installed)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


@dataclass
class Sample:
    """One choice; its tokens as the server counted them (0 where it sent no usage)."""

    text: str
    prior: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failure: str | None = None  # why this choice cannot be a step (EMPTY_REPLY), None when it can


class Policy(Protocol):
    def sample(self, messages: list[dict[str, str]], n: int) -> list[Sample]: ...


def prior_of(logprobs: list[float | None] | None) -> float:
    """exp(mean token logprob) of a choice's tokens, 1.0 when the server gave none."""
    values = [value for value in logprobs or [] if value is not None]
    return math.exp(sum(values) / len(values)) if values else 1.0


class OpenAIPolicy:
    """`directory`: where the policy's replies and spend are kept (the search's `<out>/_llm`);
    None keeps nothing, every request is sent."""

    def __init__(self, base_url: str, model: str, temperature: float = 1.0, top_p: float = 0.95,
                 max_tokens: int = DEFAULT_REPLY_TOKENS, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_wait_s: float = 60.0,
                 directory: Path | None = None) -> None:
        try:
            import openai
            import tenacity  # noqa: F401  (the client's retries)
        except ImportError:
            raise PolicyError("not_installed", "the search's policy needs the openai package: pip install 'nbqa_builder[llm]'") from None
        self._openai = openai
        # the variable's name only: the client reads the key when it connects (local servers take any)
        key_env = "NBQA_POLICY_API_KEY" if os.environ.get("NBQA_POLICY_API_KEY") else "OPENAI_API_KEY"
        settings = EndpointSettings(base_url=base_url, api_key_env=key_env, timeout_s=timeout_s,
                                    max_attempts=max_attempts, max_wait_s=max_wait_s)
        self.client = ChatClient(settings, directory, (STAGE,))
        self.model, self.temperature, self.top_p, self.max_tokens = model, temperature, top_p, max_tokens
        self.logprobs = True  # switched off for a server that refuses them
        self.usage: Counter[str] = Counter()  # prompt_tokens, completion_tokens: as the server counted them
        self._draws: Counter[str] = Counter()  # identical requests asked so far, by their key without a draw
        self._lock = threading.Lock()

    def sample(self, messages: list[dict[str, str]], n: int) -> list[Sample]:
        samples: list[Sample] = []
        for _ in range(n):  # a server that ignores `n` is asked again, at most n times
            if len(samples) >= n:
                break
            try:
                samples += self._request(messages, n - len(samples))
            except PolicyError:
                if not samples:
                    raise
                break  # the choices that came are kept: fewer children, none lost
        if not samples:
            raise PolicyError("invalid_reply", "the replies held no choice")
        return samples[:n]

    def _request(self, messages: list[dict[str, str]], n: int) -> list[Sample]:
        """One request's choices: cached (this request's next draw), or asked now, then cached."""
        payload = {"model": self.model, "messages": messages, "n": n, "temperature": self.temperature,
                   "top_p": self.top_p, "max_tokens": self.max_tokens}
        request = request_key(payload)  # logprobs or not, the same draw
        with self._lock:
            draw = self._draws[request]
            self._draws[request] += 1
        key = request_key({"request": request, "draw": draw})
        reply = self.client.cached(key)
        if reply is None:
            reply = self._ask(payload)
            self.client.keep(key, STAGE, self.model, reply)
        return self._samples(reply)

    def _ask(self, payload: dict[str, Any]) -> dict[str, Any]:
        openai = self._openai
        from tenacity import RetryError

        while True:
            arguments = {**payload, "logprobs": True} if self.logprobs else payload
            try:
                return self.client.send(arguments, _choices_fields, retry_also=(ValueError,))  # ValueError: a body not JSON
            except openai.BadRequestError as exc:
                if self.logprobs and "logprob" in str(exc).lower():
                    self.logprobs = False  # this server has none: uniform priors
                    continue
                raise PolicyError("bad_request", _message(exc)) from None
            except RetryError as exc:
                last = exc.last_attempt.exception()
                raise PolicyError(_kind(openai, last), _message(last) if last else "no attempt") from None
            except LLMRunMustStop as exc:  # OpenAI's endpoint without a key
                raise PolicyError("bad_request", _message(exc)) from None
            except (openai.APIError, ValueError) as exc:  # not retried: insufficient quota, a refused key
                raise PolicyError(_kind(openai, exc), _message(exc)) from None

    def _samples(self, reply: dict[str, Any]) -> list[Sample]:
        choices = reply["choices"]
        prompt_tokens, completion_tokens = reply["prompt_tokens"], reply["completion_tokens"]
        self.usage.update(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        samples = []
        for choice in choices:
            text, logprobs = choice["content"], choice["logprobs"]
            usable = isinstance(text, str) and bool(text.strip())
            own_tokens = len(logprobs) if logprobs else completion_tokens // max(1, len(choices))  # one per logprob
            samples.append(Sample(text.strip() if usable else "", prior_of(logprobs), prompt_tokens,
                                  own_tokens if prompt_tokens else 0, None if usable else EMPTY_REPLY))
        return samples


def _choices_fields(completion: Any) -> dict[str, Any]:
    """What is kept of a completion for the policy (and cached): every choice's text and token
    logprobs, and the usage."""
    usage = getattr(completion, "usage", None)
    choices = []
    for choice in getattr(completion, "choices", None) or []:
        tokens = getattr(getattr(choice, "logprobs", None), "content", None)
        choices.append({"content": getattr(getattr(choice, "message", None), "content", None),
                        "logprobs": [getattr(token, "logprob", None) for token in tokens] if tokens else None})
    return {"choices": choices, "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0)}


def _kind(openai: Any, exc: BaseException | None) -> str:
    """The PolicyError kind of the error a request ended with."""
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.APIStatusError):
        return "server_error" if exc.status_code >= 500 else "bad_request"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "server_error"
    if isinstance(exc, ValueError):
        return "invalid_reply"
    return "unavailable"


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
