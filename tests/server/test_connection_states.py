"""The server's state machines without sockets: connection states, the exchange's
half-close rules, waking every receiver, and the one flow-control object."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asgi_magic.server.exceptions import ClientDisconnected
from asgi_magic.server.flow_control import CONSUMER, FlowControl
from asgi_magic.server.http_protocol import _TRANSITIONS, ConnState

from .test_protocol_unit import GET, hello, make, settle


def test_every_state_has_a_row_and_terminal_states_are_terminal() -> None:
    assert set(_TRANSITIONS) == set(ConnState)
    assert _TRANSITIONS[ConnState.CLOSED] == frozenset()
    assert _TRANSITIONS[ConnState.SWITCHED] == frozenset()
    assert _TRANSITIONS[ConnState.CLOSING] == frozenset({ConnState.CLOSED})
    for state, targets in _TRANSITIONS.items():
        assert state not in targets  # a move is always to another state


async def test_an_invalid_move_is_refused() -> None:
    protocol, _, _ = make(hello)
    with pytest.raises(RuntimeError, match="invalid connection state change"):
        protocol._set_state(ConnState.DISCARDING)  # IDLE → DISCARDING is not a move
    protocol.connection_lost(None)


async def test_states_through_one_keep_alive_exchange() -> None:
    seen: list[ConnState] = []
    gate = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(protocol.state)
        await gate.wait()
        await hello(scope, receive, send)

    protocol, transport, _ = make(app)
    assert protocol.state is ConnState.IDLE
    protocol.data_received(GET[:5])
    assert protocol.state is ConnState.HEAD  # a head has begun: its deadline runs
    protocol.data_received(GET[5:])
    await settle()
    assert seen == [ConnState.BUSY]
    gate.set()
    await settle()
    assert protocol.state is ConnState.IDLE
    assert b"HTTP/1.1 200" in transport.written and not transport.closed
    protocol.connection_lost(None)
    assert protocol.state is ConnState.CLOSED


async def test_unread_body_goes_through_discarding_back_to_idle() -> None:
    protocol, _, _ = make(hello)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    await settle()
    assert protocol.state is ConnState.DISCARDING
    protocol.data_received(b"0123456789")
    assert protocol.state is ConnState.IDLE
    protocol.connection_lost(None)


async def test_a_malformed_head_moves_to_closing_with_a_400() -> None:
    protocol, transport, _ = make(hello)
    protocol.data_received(b"GARBAGE\r\n\r\n")
    assert protocol.state is ConnState.CLOSING
    assert bytes(transport.written).startswith(b"HTTP/1.1 400 ")
    await settle()


async def test_eof_after_a_complete_request_still_writes_the_response_then_closes() -> None:
    gate = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        await hello(scope, receive, send)

    protocol, transport, _ = make(app)
    protocol.data_received(GET)
    await settle()
    assert protocol.eof_received() is True  # keep the transport open to answer
    gate.set()
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in bytes(transport.written)
    assert transport.closed


async def test_eof_tells_a_waiting_receiver_and_later_sends_raise() -> None:
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got.append(await receive())  # the (empty) body
        got.append(await receive())  # a long poll: waits for news
        try:
            await send({"type": "http.response.start", "status": 200})
        except ClientDisconnected as exc:
            got.append(exc)

    protocol, transport, _ = make(app)
    protocol.data_received(GET)
    await settle()
    assert len(got) == 1
    protocol.eof_received()
    await settle()
    assert got[1] == {"type": "http.disconnect"}
    assert isinstance(got[2], ClientDisconnected) and isinstance(got[2], OSError)
    assert b"HTTP/1.1 200" not in transport.written


async def test_two_receivers_are_both_woken() -> None:
    results: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def reader(name: str) -> None:
            message = await receive()
            results.append(f"{name}:{message['type']}")

        tasks = [asyncio.create_task(reader("a")), asyncio.create_task(reader("b"))]
        await asyncio.sleep(0)
        while len(results) < 1:
            await asyncio.sleep(0)
        await hello(scope, receive, send)  # completes the response: the other wakes
        await asyncio.gather(*tasks)

    protocol, _, _ = make(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n")
    await settle()
    protocol.data_received(b"abc")
    await settle(30)
    assert sorted(r.split(":")[1] for r in results) == ["http.disconnect", "http.request"]
    protocol.connection_lost(None)


class _Reading:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


async def test_flow_control_reads_only_when_no_reason_to_pause_is_left() -> None:
    transport = _Reading()
    flow = FlowControl(transport, asyncio.get_running_loop())
    flow.pause_reading(CONSUMER)
    flow.pause_writing()  # the peer is not reading: a second reason
    assert transport.calls == ["pause"]
    flow.resume_reading(CONSUMER)
    assert transport.calls == ["pause"] and flow.read_paused  # still not reading
    waiter = flow.drain()
    assert waiter is not None and not waiter.done()
    flow.resume_writing()
    assert transport.calls == ["pause", "resume"] and not flow.read_paused
    assert waiter.done()
    assert flow.drain() is None


async def test_flow_control_wakes_drain_waiters_when_the_connection_is_lost() -> None:
    flow = FlowControl(_Reading(), asyncio.get_running_loop())
    flow.pause_writing()
    waiters = [flow.drain(), flow.drain()]
    flow.connection_lost()
    assert all(w is not None and w.done() for w in waiters)


async def test_requests_pipelined_before_a_half_close_are_all_answered() -> None:
    # End-of-file right behind two pipelined requests, before either app has run.
    protocol, transport, _ = make(hello)
    protocol.data_received(GET + GET)
    assert protocol.eof_received() is True  # keep the transport to answer both
    await settle(40)
    out = bytes(transport.written)
    assert out.count(b"HTTP/1.1 200") == 2, out
    assert out.count(b"connection: close") == 1  # only the last one closes
    assert transport.closed
