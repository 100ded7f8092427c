"""Raw-socket helpers for black-box tests: the server is driven only through the wire.

A test names what it sends byte by byte, reads what comes back with a deadline, and
never touches the server's internals::

    with run_server(app) as url, open_socket(url) as sock:
        sock.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        head = read_head(sock)
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from asgi_magic.websocket import apply_mask

__all__ = [
    "LogRecords",
    "capture_logs",
    "client_frame",
    "header_lines",
    "hostport",
    "lifespan",
    "open_socket",
    "read_head",
    "read_until_close",
    "server_close_code",
    "server_frames",
    "wait_until",
    "ws_handshake",
]


def hostport(url: str) -> tuple[str, int]:
    """``("127.0.0.1", 40321)`` from ``"http://127.0.0.1:40321"``."""
    host, port = url.split("://", 1)[-1].rstrip("/").split(":")
    return host, int(port)


def open_socket(url: str, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(hostport(url), timeout=timeout)


def read_head(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Bytes up to and including the first empty line (or whatever came before EOF)."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def read_until_close(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes; ``closed`` is False on timeout."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def header_lines(response: bytes) -> list[bytes]:
    """The field lines of the first response head, lower-cased, without the status line."""
    head = response.split(b"\r\n\r\n", 1)[0]
    return [line.lower() for line in head.split(b"\r\n")[1:]]


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- WebSocket, byte by byte ---------------------------------------------------------


def ws_handshake(
    host: str = "x",
    path: str = "/ws",
    extra: str = "",
    *,
    version: str = "13",
    key: str | None = None,
) -> bytes:
    """An opening handshake (RFC 6455 §4.1); ``key`` None draws a valid random one."""
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode()


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    mask: bytes | None = None,
    masked: bool = True,
) -> bytes:
    """One client frame (RFC 6455 §5.2), masked unless ``masked=False`` (a protocol
    error a server must refuse, §5.1); ``mask`` fixed lets callers batch copies."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, bit | 127, n)
    if not masked:
        return head + payload
    key = mask if mask is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def server_close_code(data: bytes) -> int:
    """The code of the first close frame among the server frames in ``data``."""
    for opcode, payload in server_frames(data):
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big")
    raise AssertionError(f"no close frame in {data[:200]!r}")


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of each complete unmasked server frame in ``data``."""
    frames = []
    pos = 0
    while pos + 2 <= len(data):
        opcode = data[pos] & 0x0F
        n = data[pos + 1] & 0x7F
        start = pos + 2
        if n == 126:
            n = int.from_bytes(data[pos + 2 : pos + 4], "big")
            start = pos + 4
        elif n == 127:
            n = int.from_bytes(data[pos + 2 : pos + 10], "big")
            start = pos + 10
        if start + n > len(data):
            break
        frames.append((opcode, data[start : start + n]))
        pos = start + n
    return frames


# --- logs ----------------------------------------------------------------------------


class LogRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@contextmanager
def capture_logs(name: str) -> Iterator[LogRecords]:
    """Records of logger ``name`` (handler on the logger itself: works with propagate off)."""
    logger = logging.getLogger(name)
    handler = LogRecords()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def lifespan(receive: Any, send: Any) -> None:
    """Answer a lifespan scope so apps under test can ignore it."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
