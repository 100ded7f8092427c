"""WebSocket over real sockets: the `websockets` package as the peer, raw sockets for the
malformed cases, and the same app under uvicorn to prove we speak ASGI, not a dialect."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.live_server import run_server
from tests.support.wire import (
    client_frame,
    hostport,
    lifespan,
    open_socket,
    read_head,
    read_until_close,
    server_close_code,
    ws_handshake,
)

# --- apps ----------------------------------------------------------------------------


class Recorder:
    """An echo app that records its scope, what it received and what it saw raised."""

    def __init__(self, *, subprotocol: str | None = None, headers: Any = None) -> None:
        self.scope: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self.subprotocol = subprotocol
        self.headers = headers or []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        assert scope["type"] == "websocket"
        self.scope = dict(scope)
        try:
            self.events.append(await receive())
            await send(
                {
                    "type": "websocket.accept",
                    "subprotocol": self.subprotocol,
                    "headers": self.headers,
                }
            )
            while True:
                message = await receive()
                self.events.append(message)
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") == "close-me":
                    await send({"type": "websocket.close", "code": 4002, "reason": "bye"})
                    continue
                await send(
                    {
                        "type": "websocket.send",
                        "bytes": message.get("bytes"),
                        "text": message.get("text"),
                    }
                )
            try:
                await send({"type": "websocket.send", "text": "after close"})
            except OSError as exc:
                self.errors.append(exc)
        finally:
            self.done.set()


def ws_url(base_url: str, path: str = "/ws") -> str:
    return base_url.replace("http://", "ws://") + path


@contextmanager
def echo_server(app: Any = None, **config: Any) -> Iterator[tuple[str, Any]]:
    app = app or Recorder()
    with run_server(app, **config) as base_url:
        yield base_url, app


# --- the websockets package as the peer -----------------------------------------------


def test_text_binary_and_scope() -> None:
    with echo_server() as (url, app), connect(ws_url(url, "/ws/ü?x=1")) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=5) == b"\x00\xff"
        ws.send("")
        assert ws.recv(timeout=5) == ""
    assert app.done.wait(5)
    scope = app.scope
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/ws/ü"
    assert scope["raw_path"] == b"/ws/%C3%BC"
    assert scope["query_string"] == b"x=1"
    assert scope["http_version"] == "1.1"
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"][0] == "127.0.0.1"
    assert scope["subprotocols"] == []
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert any(name == b"sec-websocket-key" for name, _ in scope["headers"])
    assert app.events[0] == {"type": "websocket.connect"}
    assert app.events[-1]["type"] == "websocket.disconnect"
    assert app.events[-1]["code"] == 1000
    assert isinstance(app.errors[0], OSError)  # send() after the close: spec 2.4


@pytest.mark.parametrize("compression", ["deflate", None])
def test_one_mib_messages(compression: str | None) -> None:
    payload = os.urandom(1024 * 1024)
    text = payload.hex()[: 1024 * 1024]
    with (
        echo_server() as (url, _),
        connect(ws_url(url), compression=compression, max_size=4 * 1024 * 1024) as ws,
    ):
        ws.send(payload)
        assert ws.recv(timeout=10) == payload
        ws.send(text)
        assert ws.recv(timeout=10) == text


def test_fragmented_messages() -> None:
    with echo_server() as (url, _), connect(ws_url(url)) as ws:
        ws.send(["frag", "men", "ted ✓"])
        assert ws.recv(timeout=5) == "fragmented ✓"
        ws.send([b"a", b"b", b"c"])
        assert ws.recv(timeout=5) == b"abc"


def test_ping_is_answered() -> None:
    with echo_server() as (url, _), connect(ws_url(url)) as ws:
        assert ws.ping(b"data").wait(5)


@pytest.mark.parametrize("deflate", [True, False])
def test_permessage_deflate_on_and_off(deflate: bool) -> None:
    with echo_server(ws_per_message_deflate=deflate) as (url, _), connect(ws_url(url)) as ws:
        assert ws.response is not None
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        if deflate:
            assert ext is not None and ext.startswith("permessage-deflate")
        else:
            assert ext is None
        ws.send("squeeze " * 1000)
        assert ws.recv(timeout=5) == "squeeze " * 1000


def test_client_close_code_reaches_the_app() -> None:
    with echo_server() as (url, app):
        with connect(ws_url(url)) as ws:
            ws.close(4001, "client says bye")
            rcvd = ws.protocol.close_rcvd
            assert rcvd is not None and rcvd.code == 4001
        assert app.done.wait(5)
        assert app.events[-1] == {
            "type": "websocket.disconnect",
            "code": 4001,
            "reason": "client says bye",
        }


def test_app_close_code_reaches_the_client() -> None:
    with echo_server() as (url, app), connect(ws_url(url)) as ws:
        ws.send("close-me")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "bye")
        assert app.done.wait(5)


def test_subprotocol_and_extra_headers() -> None:
    app = Recorder(subprotocol="b", headers=[(b"x-extra", b"yes")])
    with echo_server(app) as (url, _), connect(ws_url(url), subprotocols=["a", "b"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "b"
        assert ws.response is not None and ws.response.headers["x-extra"] == "yes"
    assert app.scope["subprotocols"] == ["a", "b"]


def test_close_before_accept_is_403() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        await receive()
        await send({"type": "websocket.close"})

    with run_server(app) as url, pytest.raises(InvalidStatus) as info:
        connect(ws_url(url))
    assert info.value.response.status_code == 403


def test_denial_response_extension() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"x-why", b"token")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})

    with run_server(app) as url, pytest.raises(InvalidStatus) as info:
        connect(ws_url(url))
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["x-why"] == "token"
    assert response.body == b"no entry"


def test_app_error_before_accept_is_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        raise RuntimeError("boom")

    with run_server(app) as url, pytest.raises(InvalidStatus) as info:
        connect(ws_url(url))
    assert info.value.response.status_code == 500


def test_app_error_after_accept_is_1011() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("boom")

    with run_server(app) as url, connect(ws_url(url)) as ws:
        ws.send("trigger")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011


def test_ws_none_serves_upgrades_as_http() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        seen.append(scope["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})

    with run_server(app, ws="none") as url, pytest.raises(InvalidStatus) as info:
        connect(ws_url(url))
    assert info.value.response.status_code == 200
    assert seen == ["http"]


# --- raw sockets: malformed peers -------------------------------------------------------


def raw_connect(base_url: str, extra: str = "", **handshake: Any) -> socket.socket:
    """A socket that has sent an opening handshake (``version=``, ``key=`` to spoil it)."""
    sock = open_socket(base_url)
    sock.sendall(ws_handshake(hostport(base_url)[0], extra=extra, **handshake))
    return sock


def read_all(sock: socket.socket) -> bytes:
    return read_until_close(sock)[0]


def server_close_code_after_101(data: bytes) -> int:
    """The code of the first close frame the server sent after its 101 head."""
    return server_close_code(data.split(b"\r\n\r\n", 1)[1])


def test_bad_version_is_426_and_app_not_called() -> None:
    app = Recorder()
    with echo_server(app) as (url, _):
        sock = raw_connect(url, version="8")
        data = read_all(sock)
        sock.close()
    assert data.startswith(b"HTTP/1.1 426 ")
    assert b"sec-websocket-version: 13\r\n" in data.lower()
    assert app.scope == {}


@pytest.mark.parametrize("key", ["", "short", base64.b64encode(b"x" * 20).decode()])
def test_bad_key_is_400_and_app_not_called(key: str) -> None:
    app = Recorder()
    with echo_server(app) as (url, _):
        sock = raw_connect(url, key=key)
        data = read_all(sock)
        sock.close()
    assert data.startswith(b"HTTP/1.1 400 ")
    assert app.scope == {}


@pytest.mark.parametrize(
    ("frames", "code", "config"),
    [
        (client_frame(0x1, b"unmasked", masked=False), 1002, {}),
        (client_frame(0x1, b"\xff\xfe"), 1007, {}),
        (client_frame(0x3, b""), 1002, {}),
        (client_frame(0x9, b"", fin=False), 1002, {}),
        (client_frame(0x2, b"x" * 200), 1009, {"ws_max_size": 100}),
        (client_frame(0x8, b"\x03\xed"), 1002, {}),  # close code 1005 on the wire
    ],
)
def test_malformed_frames_close_with_the_right_code(
    frames: bytes, code: int, config: dict[str, Any]
) -> None:
    app = Recorder()
    with echo_server(app, **config) as (url, _):
        sock = raw_connect(url)
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        sock.sendall(frames)
        data = b"HTTP/1.1 101 \r\n\r\n" + read_all(sock)
        sock.close()
        assert app.done.wait(5)
    assert server_close_code_after_101(data) == code
    assert app.events[-1]["type"] == "websocket.disconnect"
    assert app.events[-1]["code"] == code


def test_frames_sent_with_the_handshake_are_not_lost() -> None:
    with echo_server() as (url, _):
        sock = open_socket(url)
        sock.sendall(ws_handshake() + client_frame(0x1, b"early"))
        data = b""
        while b"early" not in data:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        sock.close()


def test_tcp_drop_is_1006_and_send_raises_oserror() -> None:
    app = Recorder()
    with echo_server(app) as (url, _):
        sock = raw_connect(url)
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        sock.close()
        assert app.done.wait(5)
    assert app.events[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert isinstance(app.errors[0], OSError)


def test_unanswered_pings_close_the_connection() -> None:
    app = Recorder()
    with echo_server(app, ws_ping_interval=0.1, ws_ping_timeout=0.2) as (url, _):
        sock = raw_connect(url)  # reads nothing, answers no ping
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        start = time.monotonic()
        assert app.done.wait(5)
        assert time.monotonic() - start < 3
        sock.close()
    assert app.events[-1]["type"] == "websocket.disconnect"
    assert app.events[-1]["code"] == 1006


def test_answered_pings_keep_the_connection() -> None:
    with (
        echo_server(ws_ping_interval=0.1, ws_ping_timeout=0.2) as (url, _),
        connect(ws_url(url)) as ws,
    ):
        time.sleep(0.6)  # the websockets client answers pings itself
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_shutdown_closes_with_1012() -> None:
    app = Recorder()
    server = run_server(app, timeout_graceful_shutdown=5)
    url = server.__enter__()
    try:
        with connect(ws_url(url)) as ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "hi"
            server.__exit__(None, None, None)  # stop the server while the websocket is open
            server = None
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1012
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    assert app.done.wait(5)
    assert app.events[-1]["type"] == "websocket.disconnect"
    assert app.events[-1]["code"] == 1012


# --- the same app under uvicorn --------------------------------------------------------


@contextmanager
def run_uvicorn(app: Any) -> Iterator[str]:
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def record_sequence(base_url: str, app: Recorder) -> tuple[dict[str, Any], list[Any], list[Any]]:
    received: list[Any] = []
    with connect(ws_url(base_url, "/same?q=1"), subprotocols=["p1", "p2"], compression=None) as ws:  # type: ignore[list-item]
        for message in ["text", b"bytes", ["frag", "ment"], "", b""]:
            ws.send(message)  # type: ignore[arg-type]
            received.append(ws.recv(timeout=5))
        ws.send("close-me")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None
        received.append((info.value.rcvd.code, info.value.rcvd.reason))
    assert app.done.wait(5)
    scope = {
        k: v for k, v in app.scope.items() if k not in ("client", "server", "headers", "state")
    }
    headers = sorted(name for name, _ in app.scope["headers"])
    scope["header_names"] = headers
    return scope, app.events, received


def test_same_scope_and_events_as_uvicorn() -> None:
    ours_app = Recorder(subprotocol="p2")
    with run_server(ours_app) as url:
        ours = record_sequence(url, ours_app)
    theirs_app = Recorder(subprotocol="p2")
    with run_uvicorn(theirs_app) as url:
        theirs = record_sequence(url, theirs_app)
    assert ours[0] == theirs[0]  # the scope
    assert ours[2] == theirs[2]  # what the client saw
    # The app's events, with the same keys; "reason" on disconnect is optional in the spec.
    norm = [
        [{k: v for k, v in e.items() if v is not None} for e in evs] for evs in (ours[1], theirs[1])
    ]
    assert norm[0] == norm[1]


@pytest.mark.parametrize(
    "options",
    [
        {"server_no_context_takeover": True},
        {"client_no_context_takeover": True},
        {"server_max_window_bits": 10},
        {"client_max_window_bits": 9},
    ],
    ids=lambda o: next(iter(o)),
)
def test_deflate_parameters_with_a_real_peer(options: dict[str, Any]) -> None:
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    factory = ClientPerMessageDeflateFactory(**options)
    with (
        echo_server() as (url, _),
        connect(ws_url(url), extensions=[factory], compression=None) as ws,
    ):
        assert ws.response is not None
        ext = ws.response.headers["Sec-WebSocket-Extensions"]
        name = next(iter(options))
        if name != "client_max_window_bits":
            assert name in ext
        for text in ["abc " * 500, "abc " * 500, "xyz"]:
            ws.send(text)
            assert ws.recv(timeout=5) == text
