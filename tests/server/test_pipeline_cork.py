"""Responses to pipelined requests are written together (HTTPProtocol's cork).

A client that pipelines N requests in one packet used to get N writes (N system calls
and, with Nagle off, N packets). Now the responses to the requests already buffered
are gathered and written at once; a response whose app waits on something, a request
whose rest has not arrived, a limit of CORK_LIMIT bytes, and anything that writes to
the transport another way (an upgrade, a file, a close) flush what was gathered first,
so nothing is held back behind a slow app and the order of bytes never changes
(RFC 9112 §9.3.2).
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_magic.server.http_protocol import CORK_LIMIT, HTTPProtocol
from tests.server.test_protocol_unit import FakeTransport, make, settle


def counting(transport: FakeTransport) -> list[bytes]:
    writes: list[bytes] = []
    original = transport.write

    def write(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        original(data)

    transport.write = write  # type: ignore[method-assign]
    return writes


def pipelined(paths: list[str]) -> bytes:
    return b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths)


async def path_app(scope: Any, receive: Any, send: Any) -> None:
    body = scope["path"].encode()
    if scope["path"].startswith("/slow"):
        await asyncio.sleep(0.3)
    if scope["path"].startswith("/big"):
        body = b"x" * 20_000
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bodies(out: bytes) -> list[bytes]:
    parts = out.split(b"HTTP/1.1 200 OK\r\n")[1:]
    return [p.split(b"\r\n\r\n", 1)[1] for p in parts]


async def test_sixteen_pipelined_responses_in_two_writes() -> None:
    protocol, transport, state = make(path_app)
    writes = counting(transport)
    paths = [f"/{i}" for i in range(16)]
    protocol.data_received(pipelined(paths))
    await settle(80)
    assert state.total_requests == 16
    assert bodies(bytes(transport.written)) == [p.encode() for p in paths]  # in order
    # The first response goes out as it is made; the other 15 were already buffered
    # when it ended, and go out together.
    assert len(writes) == 2, [w[:40] for w in writes]
    assert not transport.closed
    protocol.connection_lost(None)


async def test_a_stalled_app_does_not_hold_back_the_responses_before_it() -> None:
    protocol, transport, _ = make(path_app)
    protocol.data_received(pipelined(["/1", "/2", "/3", "/slow"]))
    await asyncio.sleep(0.1)  # /slow is sleeping now
    assert bodies(bytes(transport.written)) == [b"/1", b"/2", b"/3"]
    await asyncio.sleep(0.4)
    assert bodies(bytes(transport.written)) == [b"/1", b"/2", b"/3", b"/slow"]
    protocol.connection_lost(None)


async def test_a_partial_request_behind_the_batch_does_not_hold_it_back() -> None:
    protocol, transport, _ = make(path_app)
    protocol.data_received(pipelined(["/1", "/2", "/3"]) + b"GET /4 HTTP/1.1\r\nHo")
    await settle(40)
    assert bodies(bytes(transport.written)) == [b"/1", b"/2", b"/3"]
    protocol.data_received(b"st: x\r\n\r\n")
    await settle(20)
    assert bodies(bytes(transport.written)) == [b"/1", b"/2", b"/3", b"/4"]
    protocol.connection_lost(None)


async def test_gathered_bytes_are_bounded() -> None:
    protocol, transport, _ = make(path_app)
    writes = counting(transport)
    protocol.data_received(pipelined([f"/big{i}" for i in range(12)]))
    await settle(80)
    assert len(bodies(bytes(transport.written))) == 12
    assert max(len(w) for w in writes) < CORK_LIMIT + 20_000 + 200
    assert len(writes) >= 12 * 20_000 // (CORK_LIMIT + 20_000)
    protocol.connection_lost(None)


async def test_an_error_after_a_batch_keeps_the_order() -> None:
    # An invalid request behind valid ones: their responses first, then the 400.
    protocol, transport, _ = make(path_app)
    protocol.data_received(pipelined(["/1", "/2"]) + b"BAD\x00 / HTTP/1.1\r\n\r\n")
    await settle(40)
    out = bytes(transport.written)
    assert out.index(b"\r\n\r\n/1") < out.index(b"\r\n\r\n/2") < out.index(b"HTTP/1.1 400")
    assert transport.closed


async def test_a_closed_connection_drops_what_was_gathered() -> None:
    protocol: HTTPProtocol
    protocol, _transport, _ = make(path_app)
    protocol.data_received(pipelined(["/1", "/2", "/slow"]))
    protocol.connection_lost(None)
    await settle(20)
    assert protocol._corked is None
