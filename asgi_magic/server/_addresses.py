"""Facts about a connection that both the HTTP and the WebSocket scope need."""

from __future__ import annotations

import asyncio
import socket
from typing import Any


def _addr(info: Any) -> tuple[str, int] | None:
    # AF_UNIX peers report a str (or b"" for unnamed sockets): the ASGI spec says
    # client/server are None when the address is not (host, port).
    if isinstance(info, tuple) and len(info) >= 2 and isinstance(info[0], str):
        return (info[0], int(info[1]))
    return None


def get_remote_addr(transport: asyncio.BaseTransport) -> tuple[str, int] | None:
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is not None:
        try:
            return _addr(sock.getpeername())
        except OSError:
            return None
    return _addr(transport.get_extra_info("peername"))


def get_local_addr(transport: asyncio.BaseTransport) -> tuple[str, int] | None:
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is not None:
        try:
            return _addr(sock.getsockname())
        except OSError:
            return None
    return _addr(transport.get_extra_info("sockname"))


def is_ssl(transport: asyncio.BaseTransport) -> bool:
    return transport.get_extra_info("sslcontext") is not None


def with_host(headers: list[tuple[bytes, bytes]], host: bytes) -> list[tuple[bytes, bytes]]:
    """``headers`` with the Host field set to ``host``: the first Host line replaced in
    place (any further one dropped), or a Host line put first when there was none. For
    the authority the server decided on (an absolute-form target, a trusted proxy)."""
    replaced: list[tuple[bytes, bytes]] = []
    seen = False
    for name, value in headers:
        if name == b"host":
            if not seen:
                replaced.append((b"host", host))
                seen = True
        else:
            replaced.append((name, value))
    if not seen:
        replaced.insert(0, (b"host", host))
    return replaced
