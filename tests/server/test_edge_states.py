"""The new connection states and watches without sockets: PROXY preamble, the slow-body
look of the timer, the app timeout and the shutdown notice (fake transport)."""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_magic.server.http_protocol import _TRANSITIONS, ConnState

from .test_protocol_unit import GET, hello, make, settle


def test_proxy_state_row() -> None:
    assert _TRANSITIONS[ConnState.PROXY] == frozenset(
        {ConnState.IDLE, ConnState.CLOSING, ConnState.CLOSED}
    )
    assert all(ConnState.PROXY not in targets for targets in _TRANSITIONS.values())


async def test_preamble_in_pieces_then_request() -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    protocol, transport, _ = make(app, proxy_protocol=True)
    assert protocol.state is ConnState.PROXY
    line = b"PROXY TCP4 192.0.2.1 198.51.100.2 1000 443\r\n"
    protocol.data_received(line[:9])
    assert protocol.state is ConnState.PROXY
    protocol.data_received(line[9:] + GET)
    await settle()
    assert protocol.state is ConnState.IDLE
    assert scopes[0]["client"] == ("192.0.2.1", 1000)
    assert scopes[0]["server"] == ("198.51.100.2", 443)
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 ")
    protocol.connection_lost(None)


async def test_missing_preamble_closes_without_writing() -> None:
    protocol, transport, _ = make(hello, proxy_protocol=True)
    protocol.data_received(GET)
    assert protocol.state is ConnState.CLOSING
    assert transport.written == b"" and transport.closed
    protocol.connection_lost(None)


async def test_untrusted_peer_closed_at_once() -> None:
    protocol, transport, _ = make(hello, proxy_protocol=True, forwarded_allow_ips="192.0.2.1")
    assert protocol.state is ConnState.CLOSING and transport.closed
    protocol.connection_lost(None)


async def test_eof_before_preamble_closes() -> None:
    protocol, _, _ = make(hello, proxy_protocol=True)
    protocol.data_received(b"PROXY ")
    assert protocol.eof_received() is None
    assert protocol.state is ConnState.CLOSING
    protocol.connection_lost(None)


async def read_all(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            break
    await hello(scope, receive, send)


POST = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"


async def test_body_gap_is_judged_only_while_the_app_waits() -> None:
    protocol, transport, _ = make(read_all, timeout_request_body=5)
    protocol.data_received(POST + b"ab")
    await settle()
    cycle = protocol.cycle
    assert cycle is not None and cycle.awaiting_body
    assert protocol._busy_tick(cycle) is not None  # first look: the clock starts
    clock = protocol._watch.clock
    assert clock is not None
    # Reading paused (the app's buffer is full, or the peer does not read): not the
    # client's fault, the clock restarts however long it has been.
    protocol.flow.pause_reading()
    clock.mark_time -= 100
    assert protocol._busy_tick(cycle) is not None
    assert protocol.state is ConnState.BUSY
    protocol.flow.resume_reading()
    assert protocol._busy_tick(cycle) is not None
    protocol.data_received(b"cd")  # progress
    await settle()
    clock.mark_time -= 100
    assert protocol._busy_tick(cycle) is not None
    assert protocol.state is ConnState.BUSY
    clock.mark_time -= 100  # no progress since: a gap
    assert protocol._busy_tick(cycle) is None
    assert protocol.state is ConnState.CLOSING
    assert bytes(transport.written).startswith(b"HTTP/1.1 408 ")
    await settle()
    protocol.connection_lost(None)


async def test_get_without_body_is_never_watched() -> None:
    protocol, _, _ = make(read_all, timeout_request_body=0.01, min_request_body_rate=10**9)
    gate = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        await hello(scope, receive, send)

    protocol.app = app
    protocol.data_received(GET)
    await settle()
    cycle = protocol.cycle
    assert cycle is not None
    assert protocol._busy_tick(cycle) == protocol._wait_delay
    assert protocol._watch.cycle is None
    gate.set()
    await settle()
    protocol.connection_lost(None)


async def test_app_timeout_writes_503_and_cancels() -> None:
    cancelled = asyncio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    protocol, transport, _ = make(stuck, timeout_app=0.05)
    protocol.data_received(GET)
    await asyncio.wait_for(cancelled.wait(), 2)
    assert bytes(transport.written).startswith(b"HTTP/1.1 503 ")
    assert protocol.state in (ConnState.CLOSING, ConnState.CLOSED) and transport.closed
    protocol.connection_lost(None)


async def test_shutdown_tells_a_waiting_app_and_ends_its_stream() -> None:
    got: list[str] = []

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        while True:
            message = await receive()
            got.append(message["type"])
            if message["type"] == "http.disconnect":
                return  # leaves the chunked body open: the server ends it

    protocol, transport, _ = make(stream)
    protocol.data_received(GET)
    await settle()
    assert got == ["http.request"]
    protocol.shutdown()
    await settle()
    assert got == ["http.request", "http.disconnect"]
    out = bytes(transport.written)
    assert out.endswith(b"\r\n0\r\n\r\n")  # the last chunk: a clean end (RFC 9112 §7.1)
    assert transport.closed
    protocol.connection_lost(None)


async def test_shutdown_before_start_gives_503() -> None:
    async def poll(scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    protocol, transport, _ = make(poll)
    protocol.data_received(GET)
    await settle()
    protocol.shutdown()
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 503 ")
    protocol.connection_lost(None)


async def test_shutdown_does_not_cut_an_upload_being_read() -> None:
    protocol, transport, _ = make(read_all)
    protocol.data_received(POST + b"ab")
    await settle()
    protocol.shutdown()
    await settle()
    assert transport.written == b""  # still waiting for the rest of the body
    protocol.data_received(b"cdefghij")
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 ")
    protocol.connection_lost(None)
