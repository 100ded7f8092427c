"""The lingering close shared by the HTTP/1.1 and HTTP/2 protocols (server/closing.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_magic.server.closing import LINGER_LIMIT, LingeringClose


class _Transport:
    def __init__(self, eof_error: bool = False, tls: bool = False) -> None:
        self.calls: list[str] = []
        self.eof_error = eof_error
        self.tls = tls

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return object() if name == "sslcontext" and self.tls else default

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self.eof_error:
            raise OSError(107, "Transport endpoint is not connected")
        self.calls.append("write_eof")

    def close(self) -> None:
        self.calls.append("close")


async def test_half_closes_then_closes_on_the_peers_eof() -> None:
    transport = _Transport()
    linger = LingeringClose(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.calls == ["write_eof"]
    linger.received(1000)
    assert transport.calls == ["write_eof"]
    linger.eof()
    assert transport.calls == ["write_eof", "close"]
    linger.close()  # idempotent
    assert transport.calls == ["write_eof", "close"]


async def test_closes_after_the_byte_limit() -> None:
    transport = _Transport()
    linger = LingeringClose(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    linger.received(LINGER_LIMIT + 1)
    assert transport.calls == ["write_eof", "close"]


async def test_a_peer_already_gone_or_tls_closes_at_once() -> None:
    loop = asyncio.get_running_loop()
    gone = _Transport(eof_error=True)
    LingeringClose(gone, loop)  # type: ignore[arg-type]
    assert gone.calls == ["close"]
    tls = _Transport(tls=True)
    LingeringClose(tls, loop)  # type: ignore[arg-type]
    assert tls.calls == ["close"]
