"""A plain web server on 127.0.0.1 for the data that notebooks read from hosts other than GitHub.

Each path serves a `Page`: a status, a body, headers, a delay before the reply (a server slower
than the client's timeout) or a redirect. Every request is logged with its method and headers, so
a test can see that no credential was sent.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_server import LocalServer


@dataclass
class Page:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/csv"
    delay_s: float = 0.0
    location: str | None = None  # a redirect (status 302) to this URL
    headers: dict[str, str] = field(default_factory=dict)


class FakeWeb(LocalServer):
    """`with FakeWeb({"/data/x.csv": Page(b"a,b\\n1,2\\n")}) as web:` then read `web.url + path`."""

    def __init__(self, pages: dict[str, Page]):
        self.pages = pages
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.serve(_handler(self))
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"

    def requests_for(self, path: str) -> int:
        return sum(1 for entry in self.log if entry["path"] == path)


def _handler(web: FakeWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            with web.lock:
                web.log.append({"method": method, "path": self.path, "headers": dict(self.headers.items())})
            page = web.pages.get(self.path)
            if page is None:
                page = Page(b"<html><body>Not Found</body></html>", status=404, content_type="text/html")
            if page.delay_s:
                time.sleep(page.delay_s)
            status = 302 if page.location else page.status
            headers = {"Content-Type": page.content_type, "Content-Length": str(len(page.body)), **page.headers}
            if page.location:
                headers["Location"] = page.location
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(page.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout)

    return Handler
