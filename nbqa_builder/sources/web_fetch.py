"""A file of a host that the recipe allows (`source.fetch_urls.hosts`), fetched at crawl time.

A plain GET: no token, no cookie, no credentials of any kind, redirects followed only among the
allowed hosts, at most `max_bytes` read. What can go wrong is a reason of the form `kind: detail`
(`timeout`, `html`, `not_found`, `http_500`, `over_cap`, `host_not_allowed`, `connection`), which
the crawl records beside the URL (sources/github/urls.py); a timeout, a 5xx or a dropped
connection may pass, so it is tried again on the next crawl.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# query parameters that carry a credential (`?token=` of a private raw URL, signed links)
CREDENTIAL_PARAMS = re.compile(r"((?:^|&)(?:token|access_token|api_key|apikey|key|password|sig|signature|x-amz-signature)=)[^&]*",
                               re.IGNORECASE)
HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body)", re.IGNORECASE)
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Failed:
    reason: str  # `kind: detail`, e.g. `over_cap: 3000000 bytes, fetch_urls.max_bytes is 2000000`
    retryable: bool = False  # a timeout or a server error: tried again on the next crawl

    @property
    def kind(self) -> str:
        return self.reason.split(":", 1)[0]


class FetchFailed(Exception):
    def __init__(self, reason: str, retryable: bool = False):
        super().__init__(reason)
        self.failed = Failed(reason, retryable)


def masked_url(url: str) -> str:
    """The URL as a log may show it: a user, a password and credential parameters hidden."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
    except ValueError:
        return "(a URL that cannot be parsed)"
    return parts._replace(netloc=netloc, query=CREDENTIAL_PARAMS.sub(r"\1***", parts.query)).geturl()


def http_get(url: str, hosts: list[str], cap: int, timeout_s: float) -> bytes:
    """The file at `url` by a plain GET without credentials, redirects only among `hosts`, at most
    `cap` bytes; FetchFailed with the reason otherwise."""
    opener = urllib.request.build_opener(_RedirectAmong(hosts))
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "nbqa-builder", "Accept": "*/*"})
    try:
        with opener.open(request, timeout=timeout_s) as reply:
            length = reply.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > cap:
                raise FetchFailed(f"over_cap: {length} bytes announced, fetch_urls.max_bytes is {cap}")
            content = bytearray()
            while len(content) <= cap and (chunk := reply.read(min(READ_CHUNK, cap + 1 - len(content)))):
                content += chunk
            if len(content) > cap:
                raise FetchFailed(f"over_cap: more than {cap} bytes, fetch_urls.max_bytes is {cap}")
            content_type = (reply.headers.get("Content-Type") or "").lower()
    except urllib.error.HTTPError as exc:
        kind = "not_found" if exc.code in (404, 410) else f"http_{exc.code}"
        raise FetchFailed(f"{kind}: the server answered {exc.code} {exc.reason}", retryable=exc.code >= 500 or exc.code == 429) from None
    except (TimeoutError, socket.timeout):
        raise FetchFailed(f"timeout: no reply within {timeout_s:g} s", retryable=True) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise FetchFailed(f"timeout: no reply within {timeout_s:g} s", retryable=True) from None
        raise FetchFailed(f"connection: {exc.reason}", retryable=True) from None
    except (OSError, ValueError) as exc:  # a dropped connection, a cut body, a garbled URL
        raise FetchFailed(f"connection: {type(exc).__name__}: {exc}", retryable=True) from None
    wants_html = urlsplit(url).path.lower().endswith((".html", ".htm"))
    if not wants_html and ("text/html" in content_type or HTML_START.match(content[:512])):
        raise FetchFailed("html: the server sent a web page, not the data (a login, an error or a preview page)")
    return bytes(content)


class _RedirectAmong(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an allowed host, and drops any credentials it would carry."""

    def __init__(self, hosts: list[str]):
        self.hosts = set(hosts)

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        parts = urlsplit(newurl)
        host = (parts.hostname or "").lower()
        if parts.scheme.lower() not in ("http", "https") or (host not in self.hosts and host_key(parts) not in self.hosts):
            raise FetchFailed(f"host_not_allowed: redirected to {host or newurl}, which is not in fetch_urls.hosts")
        if parts.username or parts.password or CREDENTIAL_PARAMS.search(parts.query):
            raise FetchFailed("credentials_in_url: redirected to a URL that carries a user, a password or a token")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def host_key(parts: Any) -> str:
    """`host:port` as `hosts` may name it (a server on another port is another host)."""
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return host
    return f"{host}:{port}" if port else host
