"""The host end of a sandbox process's socket: JSON messages in bounded chunks, from one sender.

Nothing that comes back from the sandbox is trusted: messages are JSON (never pickle), bounded in
size, accepted only from the expected pid (the kernel stamps each packet with its sender), and
every wait has a deadline. Every way the other end can fail is a `Dead`, with the status the
cell gets.
"""

from __future__ import annotations

import array
import json
import os
import select
import socket
import struct
import time
from typing import Any

CHUNK = 60_000  # bytes per packet, as in worker.py
OK, ERROR, TIMEOUT, OUTPUT_LIMIT, DIED, NOT_RUN = "ok", "error", "timeout", "output_limit", "died", "not_run"


class Dead(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Channel:
    """The host end of one process's socket."""

    def __init__(self, sock: socket.socket, max_message_bytes: int) -> None:
        self.sock = sock
        self.max_message_bytes = max_message_bytes
        self.pid: int | None = None  # the only sender we listen to, once known
        self._buffers: dict[int, bytes] = {}
        self.last_size = 0  # bytes of the last whole message received

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        try:
            for index, piece in enumerate(pieces):
                self.sock.sendmsg([(b"E" if index == len(pieces) - 1 else b"M") + piece])
        except OSError as exc:
            raise Dead(DIED, f"the sandbox process is gone ({exc.strerror})") from None

    def receive(self, deadline: float) -> tuple[dict[str, Any], list[int], int]:
        """(message, passed fds, sender pid); raises Dead on timeout, EOF or oversize."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        fd_space = socket.CMSG_SPACE(4 * 4)
        cred_space = socket.CMSG_SPACE(struct.calcsize("iII"))
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise Dead(TIMEOUT, "no answer before the time limit")
            try:
                packet, ancillary, _, _ = self.sock.recvmsg(CHUNK + 1, fd_space + cred_space)
            except OSError as exc:  # e.g. ECONNRESET: the other end was killed with data unread
                raise Dead(DIED, f"the sandbox process ended ({exc.strerror})") from None
            if not packet:
                raise Dead(DIED, "the sandbox process ended (killed or crashed)")
            pid, fds = -1, []
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", data[: struct.calcsize("iII")])[0]
                elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
            if self.pid is not None and pid != self.pid:
                for fd in fds:  # from a process that is not the session (e.g. its own fork)
                    os.close(fd)
                continue
            buffer = self._buffers.get(pid, b"") + packet[1:]
            if len(buffer) > self.max_message_bytes:
                raise Dead(OUTPUT_LIMIT, f"more than {self.max_message_bytes} bytes of output came back")
            if packet[:1] != b"E":
                self._buffers[pid] = buffer
                continue
            self._buffers.pop(pid, None)
            self.last_size = len(buffer)
            try:
                message = json.loads(buffer)
            except ValueError:
                raise Dead(DIED, "the sandbox sent a malformed message") from None
            if not isinstance(message, dict):
                raise Dead(DIED, "the sandbox sent a malformed message")
            return message, fds, pid

    def close(self) -> None:
        self.sock.close()
