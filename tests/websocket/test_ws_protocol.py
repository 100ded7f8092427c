"""WebSocketProtocol without sockets: a fake transport records writes and flow control."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest

from asgi_magic.config import Config
from asgi_magic.http11 import Request
from asgi_magic.server.state import ServerState
from asgi_magic.server.ws_protocol import ClientDisconnected, WebSocketProtocol
from asgi_magic.websocket import Connection, Role

from .helpers import frame


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        self.pauses = 0
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def take(self) -> bytes:
        data = bytes(self.written)
        self.written.clear()
        return data


def upgrade_request() -> Request:
    key = base64.b64encode(os.urandom(16))
    headers = [
        (b"host", b"x"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", key),
        (b"sec-websocket-version", b"13"),
    ]
    return Request(b"GET", b"/", b"/", b"", "1.1", headers, host=b"x", upgrade=b"websocket")


def start(app: Any, **config: Any) -> tuple[WebSocketProtocol, FakeTransport, ServerState]:
    config.setdefault("ws_ping_interval", None)
    state = ServerState()
    proto = WebSocketProtocol(Config(app=app, **config), state, app, {})
    transport = FakeTransport()
    transport.protocol = proto
    proto.upgrade(transport, upgrade_request(), b"")
    return proto, transport, state


async def test_full_queue_pauses_reading_until_the_app_reads() -> None:
    gate = asyncio.Event()
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await gate.wait()  # a slow app
        for _ in range(5):
            got.append(await receive())

    proto, transport, _ = start(app, ws_max_queue=2)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert transport.take().startswith(b"HTTP/1.1 101 ")
    client = Connection(Role.CLIENT)
    for i in range(5):
        proto.data_received(client.send_text(str(i)))
    assert not transport.reading  # bounded queue: the flood stopped being read
    gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert transport.reading
    assert [m["text"] for m in got] == ["0", "1", "2", "3", "4"]


async def test_send_awaits_drain_when_writing_is_paused() -> None:
    sent = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "x"})
        sent.set()

    proto, _transport, _ = start(app)
    proto.pause_writing()
    await asyncio.sleep(0.05)
    assert not sent.is_set()  # blocked on drain
    proto.resume_writing()
    await asyncio.wait_for(sent.wait(), 1)


async def test_send_after_disconnect_raises_oserror() -> None:
    errors: list[BaseException] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        assert message == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            errors.append(exc)
        done.set()

    proto, _transport, state = start(app)
    await asyncio.sleep(0.01)
    assert proto in state.connections
    proto.connection_lost(None)
    await asyncio.wait_for(done.wait(), 1)
    assert isinstance(errors[0], ClientDisconnected)
    assert proto not in state.connections


async def test_early_frames_are_delivered_after_accept() -> None:
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(0.01)
        await send({"type": "websocket.accept"})
        got.append(await receive())

    state = ServerState()
    proto = WebSocketProtocol(Config(app=app, ws_ping_interval=None), state, app, {})
    transport = FakeTransport()
    transport.protocol = proto
    proto.upgrade(transport, upgrade_request(), frame(0x1, b"first"))
    proto.data_received(frame(0x1, b"second"))
    assert not transport.reading
    await asyncio.sleep(0.05)
    assert got == [{"type": "websocket.receive", "text": "first"}]
    assert transport.reading


async def test_shutdown_sends_1012() -> None:
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        got.append(await receive())

    proto, transport, _ = start(app)
    await asyncio.sleep(0.01)
    transport.take()
    proto.shutdown()
    assert transport.take() == b"\x88\x02\x03\xf4"  # close 1012
    await asyncio.sleep(0.01)
    assert got == [{"type": "websocket.disconnect", "code": 1012, "reason": ""}]


@pytest.mark.parametrize("subprotocol", ["not-offered"])
async def test_accepting_an_unoffered_subprotocol_is_an_app_error(subprotocol: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": subprotocol})

    _proto, transport, _ = start(app)
    await asyncio.sleep(0.01)
    assert transport.take().startswith(b"HTTP/1.1 500 ")
