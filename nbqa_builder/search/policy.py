"""The policy: next steps sampled from any OpenAI-compatible chat endpoint (vLLM, Ollama,
llama.cpp, OpenAI), with their prior.

`sample(messages, n)` asks for `n` choices at once and, from servers that return fewer (Ollama
ignores `n`), asks again until it has them. Each choice's prior is exp(mean token logprob) where
the server gives logprobs, as in JUPITER, else 1.0. A choice without text is kept as a failed
sample (`failure` says why), so that one bad choice never costs its good siblings: the search makes
it one failed child, as JUPITER's vLLM search does with an empty output. 429s (after Retry-After),
5xx, time-outs and dropped connections are retried with backoff; what still fails before any
choice came, or replies with no choice at all, is a `PolicyError`, which the search records as the
node's terminal kind, never as a crash; a failure after some choices came keeps those. The
key comes from the environment (NBQA_POLICY_API_KEY, else OPENAI_API_KEY), never from arguments
that could end in a log.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from nbqa_builder.search.tree import EMPTY_REPLY

DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_REPLY_TOKENS = 8192  # a reply's max_tokens, JUPITER's sampling setting
DEFAULT_TIMEOUT_S = 600.0  # one request; a long reply from a busy server takes minutes


class PolicyError(Exception):
    """The policy could not give a step; `kind` says why (rate_limited, server_error, timeout,
    invalid_reply, bad_request)."""

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


def prior_of(logprobs: Any) -> float:
    """exp(mean token logprob) of a choice's `logprobs.content`, 1.0 when the server gave none."""
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    values = [token.logprob for token in content or [] if getattr(token, "logprob", None) is not None]
    return math.exp(sum(values) / len(values)) if values else 1.0


class OpenAIPolicy:
    def __init__(self, base_url: str, model: str, temperature: float = 1.0, top_p: float = 0.95,
                 max_tokens: int = DEFAULT_REPLY_TOKENS, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_wait_s: float = 60.0) -> None:
        try:
            import openai
        except ImportError:
            raise PolicyError("not_installed", "the search's policy needs the openai package: pip install 'nbqa_builder[llm]'") from None
        self._openai = openai
        key = os.environ.get("NBQA_POLICY_API_KEY") or os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers take any
        self.client = openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=0)
        self.model, self.temperature, self.top_p, self.max_tokens = model, temperature, top_p, max_tokens
        self.max_attempts, self.max_wait_s = max_attempts, max_wait_s
        self.logprobs = True  # switched off for a server that refuses them
        self.usage: Counter[str] = Counter()  # prompt_tokens, completion_tokens: as the server counted them

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
        openai = self._openai
        for attempt in range(1, self.max_attempts + 1):
            try:
                kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "n": n, "temperature": self.temperature,
                                          "top_p": self.top_p, "max_tokens": self.max_tokens}
                if self.logprobs:
                    kwargs["logprobs"] = True
                completion = self.client.chat.completions.create(**kwargs)
            except openai.BadRequestError as exc:
                if self.logprobs and "logprob" in str(exc).lower():
                    self.logprobs = False  # this server has none: uniform priors
                    continue
                raise PolicyError("bad_request", _message(exc)) from None
            except openai.RateLimitError as exc:
                self._wait(exc, attempt, "rate_limited")
                continue
            except openai.APIStatusError as exc:
                if exc.status_code < 500:
                    raise PolicyError("bad_request", _message(exc)) from None
                self._wait(exc, attempt, "server_error")
                continue
            except openai.APITimeoutError as exc:
                self._wait(exc, attempt, "timeout")
                continue
            except openai.APIConnectionError as exc:
                self._wait(exc, attempt, "server_error")
                continue
            except ValueError as exc:  # a body that is not JSON
                self._wait(exc, attempt, "invalid_reply")
                continue
            return self._samples(completion)
        raise PolicyError("unavailable", f"{self.max_attempts} attempts failed")

    def _samples(self, completion: Any) -> list[Sample]:
        choices = getattr(completion, "choices", None) or []
        usage = getattr(completion, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        completion_tokens = getattr(usage, "completion_tokens", 0) or 0
        self.usage.update(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        samples = []
        for choice in choices:
            message = getattr(choice, "message", None)
            text = getattr(message, "content", None)
            usable = isinstance(text, str) and bool(text.strip())
            logprobs = getattr(getattr(choice, "logprobs", None), "content", None)
            own_tokens = len(logprobs) if logprobs else completion_tokens // max(1, len(choices))  # one per logprob
            samples.append(Sample(text.strip() if usable else "", prior_of(getattr(choice, "logprobs", None)), prompt_tokens,
                                  own_tokens if prompt_tokens else 0, None if usable else EMPTY_REPLY))
        return samples

    def _wait(self, exc: Exception, attempt: int, kind: str) -> None:
        if attempt >= self.max_attempts:
            raise PolicyError(kind, _message(exc)) from None
        wait = min(self.max_wait_s, 2.0 ** (attempt - 1))
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        retry_after = headers.get("retry-after") if hasattr(headers, "get") else None
        if retry_after:
            try:
                wait = min(self.max_wait_s, float(retry_after))
            except ValueError:
                pass
        time.sleep(wait)


def _message(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
