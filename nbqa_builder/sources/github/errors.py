"""What stops a GitHub crawl or one of its requests: the errors every layer of the crawl raises or catches,
and how many failures in a row stop it."""

from __future__ import annotations

# transient failures on this many files in a row mean the API is down for us: stop, resumable
MAX_FAILURES_IN_A_ROW = 5


class CrawlError(RuntimeError):
    """The crawl cannot go on; the message is for the user as it is."""


class CrawlPaused(CrawlError):
    """The crawl stopped cleanly before the end (a long rate-limit wait, a failing API); run it again."""


class PermanentError(Exception):
    """A reply that will not change on retry (404, 451, ...): recorded as `error:<code>`."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code} {message}".strip())
        self.code = code


class TransientExhausted(Exception):
    """A request that kept failing transiently through every retry."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code} {message}".strip())
        self.code = code
