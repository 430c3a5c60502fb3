"""Requests to the GitHub REST API within its rate limits, with one or several tokens.

PyGithub makes the requests; its own retry is switched off (`retry=None`) because the crawl needs
what it hides: waits bounded by the recipe and shown in the progress line, a token that is spent
handing the work to another, and a clean, resumable stop when no token can go on soon enough.

- Primary limit: every reply carries X-RateLimit-Remaining/Reset for its resource (core, search,
  code_search); a token at 0 is not used again before its reset.
- Secondary limits: 403 or 429, with Retry-After or a "secondary rate limit" message; the token
  rests for Retry-After seconds (or `secondary_wait_s`).
- Transient failures (5xx, dropped connections, timeouts, garbled replies) are retried with
  exponential backoff and jitter; permanent ones (404, 451, a blocked repository) are raised as
  `PermanentError` for the crawler to record.
- A token GitHub rejects (401: revoked, expired) is dropped with a warning and the work goes on
  with the others; only when none is left does the crawl stop.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import requests
from github import Auth, BadAttributeException, Github, GithubException
from github.Requester import Requester

from nbqa_builder.recipe import GithubSource
from nbqa_builder.sources.github.errors import CrawlError, CrawlPaused, PermanentError, TransientExhausted

log = logging.getLogger(__name__)
T = TypeVar("T")

CORE, SEARCH, CODE_SEARCH = "core", "search", "code_search"
# GitHub's reset time is in whole seconds and clocks differ a little: wait this much past it
RESET_MARGIN_S = 1.0


def tokens_from_environment(environ: dict[str, str] | None = None) -> list[str]:
    """Tokens from GITHUB_TOKENS or GITHUB_TOKEN, comma separated; duplicates dropped, order kept."""
    environ = os.environ if environ is None else environ
    raw = environ.get("GITHUB_TOKENS") or environ.get("GITHUB_TOKEN") or ""
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


@dataclass
class TokenState:
    label: str  # "token 1": what logs and progress show; the token itself is never printed
    client: Github
    secret: str | None = field(default=None, repr=False)  # kept in memory for git's Authorization header
    remaining: dict[str, int] = field(default_factory=dict)  # resource -> requests left, when known
    reset_at: dict[str, float] = field(default_factory=dict)  # resource -> epoch seconds
    resting_until: float = 0.0  # after a secondary limit

    def ready_at(self, resource: str) -> float:
        """When this token may make a request to `resource` (0: now)."""
        ready = self.resting_until
        if self.remaining.get(resource, 1) <= 0:
            ready = max(ready, self.reset_at.get(resource, 0.0) + RESET_MARGIN_S)
        return ready


class GithubApi:
    """Runs calls on PyGithub clients, one per token, within the limits; see the module text."""

    def __init__(
        self,
        settings: GithubSource,
        tokens: list[str],
        on_wait: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.on_wait = on_wait or (lambda message: None)
        self._sleep = sleep
        secrets = tokens or [None]
        self.tokens = [
            TokenState(label=f"token {i + 1}" if token else "no token", client=self._client(token), secret=token)
            for i, token in enumerate(secrets)
        ]
        self.dropped: list[str] = []  # labels of tokens GitHub rejected
        self._git_turn = -1  # the token the last git job took
        self.requests = 0
        self.waited_s = 0.0

    def _client(self, token: str | None) -> Github:
        return Github(
            auth=Auth.Token(token) if token else None,
            base_url=self.settings.api_url.rstrip("/"),
            timeout=self.settings.timeout_s,
            per_page=100,
            retry=None,  # retries and waits are ours, see the module text
            lazy=True,  # get_repo(name).get_git_blob(sha) is one request, not two
            seconds_between_requests=self.settings.request_interval_s or None,
        )

    def close(self) -> None:
        for token in self.tokens:
            token.client.close()

    def call(self, resource: str, fn: Callable[[Github], T], what: str) -> T:
        """`fn(client)` with a token that may call `resource`; retried, waited and switched as needed.

        Raises PermanentError, TransientExhausted, CrawlPaused (wait too long) or CrawlError (bad token).
        """
        failures = 0
        while True:
            token = self._pick(resource)
            self.requests += 1
            requester = token.client.requester
            # forget the previous reply's limits, which may belong to another resource
            requester.rate_limiting, requester.rate_limiting_resettime = (-1, -1), 0
            try:
                result = fn(token.client)
            except GithubException as exc:
                headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
                self._note_limits(token, resource, headers)
                if self._rest_if_limited(token, resource, exc.status, headers, exc.data):
                    continue  # a rate-limit wait is not a failure of the request
                if exc.status == 401:
                    self.drop_token(token, f"401 {_message(exc.data)}")
                    continue  # the request itself did not fail: another token makes it
                if exc.status is not None and exc.status < 500 and exc.status != 408:
                    raise PermanentError(str(exc.status), _message(exc.data)) from None
                code, message = str(exc.status), _message(exc.data)
            except requests.Timeout:
                code, message = "timeout", f"no reply within {self.settings.timeout_s} s"
            except requests.RequestException as exc:
                code, message = "connection", type(exc).__name__
            except (ValueError, TypeError, KeyError, AttributeError, BadAttributeException) as exc:
                # a reply that is not the JSON GitHub sends: a proxy's page, a cut body
                code, message = "bad_reply", f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                self._note_limits(token, resource, {}, requester.rate_limiting[0], requester.rate_limiting_resettime)
                return result
            failures += 1
            if failures >= self.settings.retries:
                raise TransientExhausted(code, message)
            backoff = self.settings.retry_backoff_s * 2 ** (failures - 1) * random.uniform(0.5, 1.0)
            log.info("%s: %s; try %d of %d in %.1f s", what, f"{code} {message}".strip(), failures + 1, self.settings.retries, backoff)
            self._wait(backoff, f"{what}: {code}, retrying")

    def drop_token(self, token: TokenState, reason: str) -> None:
        """GitHub rejected `token`: work on without it; CrawlError when it was the last one."""
        if token not in self.tokens:
            return  # dropped already (a git job and a REST call can both find it out)
        if len(self.tokens) == 1:
            raise CrawlError(f"GitHub rejected {token.label} ({reason}); check GITHUB_TOKEN or GITHUB_TOKENS")
        self.tokens.remove(token)
        self.dropped.append(token.label)
        token.client.close()
        log.warning("GitHub rejected %s (%s): dropped; going on with %d token(s)", token.label, reason, len(self.tokens))

    def git_token(self) -> TokenState:
        """The token the next git job carries: the accepted ones in turn, as GitHub expects each token's
        traffic to stay within its own share (git requests do not count against the REST limits)."""
        self._git_turn = (self._git_turn + 1) % len(self.tokens)
        return self.tokens[self._git_turn]

    # -- limits ---------------------------------------------------------------------------------

    def _note_limits(
        self, token: TokenState, resource: str, headers: dict[str, str], remaining: int | None = None, reset: float | None = None
    ) -> None:
        if "x-ratelimit-remaining" in headers:
            remaining = _number(headers["x-ratelimit-remaining"])
        if "x-ratelimit-reset" in headers:
            reset = _number(headers["x-ratelimit-reset"])
        if remaining is not None and remaining >= 0:
            token.remaining[resource] = int(remaining)
        if reset:
            token.reset_at[resource] = float(reset)

    def _rest_if_limited(self, token: TokenState, resource: str, status: int, headers: dict[str, str], data: Any) -> bool:
        """Mark `token` as resting when the reply is a rate limit; True when it was one."""
        if status not in (403, 429):
            return False
        message = _message(data)
        now = time.time()
        if headers.get("x-ratelimit-remaining") == "0":
            token.remaining[resource] = 0
            if token.reset_at.get(resource, 0) <= now:
                # no reset time, or one already past by our clock: GitHub's advice is to wait a minute
                token.reset_at[resource] = now + 60
            log.info("%s: primary %s limit spent until %s", token.label, resource, time.strftime("%H:%M:%S", time.localtime(token.reset_at[resource])))
            return True
        retry_after = _number(headers.get("retry-after", ""))
        if retry_after is not None or status == 429 or Requester.isRateLimitError(message):
            rest = retry_after if retry_after is not None else self.settings.secondary_wait_s
            token.resting_until = now + rest
            log.info("%s: secondary rate limit, resting %.0f s", token.label, rest)
            return True
        return False

    def _pick(self, resource: str) -> TokenState:
        """The token to use now: ready, with the most requests left; waits when none is ready."""
        while True:
            now = time.time()
            ready = [t for t in self.tokens if t.ready_at(resource) <= now]
            if ready:
                token = max(ready, key=lambda t: t.remaining.get(resource, 1 << 30))
                if token.remaining.get(resource, 1) <= 0:
                    del token.remaining[resource]  # its window has reset
                return token
            first = min(self.tokens, key=lambda t: t.ready_at(resource))
            wait = first.ready_at(resource) - now
            kind = "secondary limit" if first.resting_until > now else f"{resource} limit"
            if wait > self.settings.max_wait_s:
                raise CrawlPaused(
                    f"every token is rate limited ({kind}); the next request is possible in {wait:.0f} s, "
                    f"more than max_wait_s={self.settings.max_wait_s:g}. Run the same command again later to resume"
                )
            self._wait(wait, f"{kind}, {len(self.tokens)} token(s) spent")

    def _wait(self, seconds: float, reason: str) -> None:
        end = time.time() + seconds
        self.waited_s += max(seconds, 0.0)
        while (left := end - time.time()) > 0:
            self.on_wait(f"waiting {left:.0f}s: {reason}")
            self._sleep(min(left, 1.0))
        self.on_wait("")

    def limits(self) -> dict[str, tuple[int, int]]:
        """resource -> (requests per window, requests left now), summed over the tokens, read from
        /rate_limit (which is free). A rejected token is dropped, as in `call`."""
        totals: dict[str, tuple[int, int]] = {}
        for token in list(self.tokens):
            try:
                overview = token.client.get_rate_limit().resources
            except GithubException as exc:
                if exc.status != 401:
                    raise
                self.drop_token(token, f"401 {_message(exc.data)}")
                continue
            for resource in (CORE, SEARCH, CODE_SEARCH):
                rate = getattr(overview, resource, None)
                if rate is not None:
                    limit, left = totals.get(resource, (0, 0))
                    totals[resource] = (limit + rate.limit, left + rate.remaining)
        return totals


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or "")
    return str(data or "")[:200]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
