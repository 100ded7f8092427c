"""HTTPProtocol driven through a fake transport: no sockets, a real event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asgi_magic.config import Config
from asgi_magic.server.http_cycle import PATHSEND_CHUNK
from asgi_magic.server.http_protocol import HTTPProtocol
from asgi_magic.server.server import default_headers
from asgi_magic.server.state import ServerState


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.read_paused = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.read_paused = True

    def resume_reading(self) -> None:
        self.read_paused = False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol


def make(app: Any, **kwargs: Any) -> tuple[HTTPProtocol, FakeTransport, ServerState]:
    config = Config(app=app, **kwargs)
    state = ServerState(default_headers=default_headers(config))
    protocol = HTTPProtocol(config, state, app, {"k": "v"}, loop=asyncio.get_running_loop())
    transport = FakeTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport, state


async def settle(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def settle_until(done: Any, timeout: float = 5.0) -> None:
    """Let the loop run until ``done()``: pathsend opens and reads files in a worker
    thread, which takes real time, not just loop turns."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done() and loop.time() < deadline:
        await asyncio.sleep(0.005)
    await settle()


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


GET = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nX-A: 2\r\n\r\n"


async def test_simple_response_one_write_and_keep_alive() -> None:
    writes: list[bytes] = []
    protocol, transport, _ = make(hello)
    original = transport.write

    def counting_write(data: bytes) -> None:  # a transport's write returns None
        writes.append(bytes(data))
        original(data)

    transport.write = counting_write  # type: ignore[method-assign]
    protocol.data_received(GET)
    await settle()
    assert len(writes) == 1  # head and body in one write
    out = bytes(transport.written)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"server: asgi-magic\r\n" in out and b"date: " in out
    assert out.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert not transport.closed
    protocol.connection_lost(None)


async def test_scope_contents() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)
        await hello(scope, receive, send)

    protocol, _transport, _ = make(app, root_path="/root")
    protocol.data_received(GET)
    await settle()
    assert seen["type"] == "http"
    assert seen["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert seen["http_version"] == "1.1"
    assert seen["method"] == "GET"
    assert seen["scheme"] == "http"
    assert seen["path"] == "/root/a b"
    assert seen["raw_path"] == b"/root/a%20b"
    assert seen["query_string"] == b"x=1"
    assert seen["root_path"] == "/root"
    assert list(seen["headers"]) == [(b"host", b"example.com"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert seen["client"] == ("127.0.0.1", 5555)
    assert seen["server"] == ("127.0.0.1", 8000)
    assert seen["state"] == {"k": "v"} and seen["state"] is not protocol.app_state
    assert "http.response.pathsend" in seen["extensions"]
    protocol.connection_lost(None)


async def test_pipelined_requests_answered_in_order() -> None:
    async def echo_path(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.01 if scope["path"] == "/1" else 0)
        body = scope["path"].encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    protocol, transport, state = make(echo_path)
    protocol.data_received(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in (1, 2, 3)))
    await asyncio.sleep(0.1)
    out = bytes(transport.written)
    assert out.count(b"HTTP/1.1 200") == 3
    assert out.index(b"\r\n\r\n/1") < out.index(b"\r\n\r\n/2") < out.index(b"\r\n\r\n/3")
    assert state.total_requests == 3
    protocol.connection_lost(None)


async def test_pipelined_data_pauses_reading_while_busy() -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await hello(scope, receive, send)

    protocol, transport, _ = make(slow)
    protocol.data_received(GET)
    await settle()
    protocol.data_received(GET)
    assert transport.read_paused
    release.set()
    await asyncio.sleep(0.05)
    assert not transport.read_paused
    assert bytes(transport.written).count(b"HTTP/1.1 200") == 2
    protocol.connection_lost(None)


async def test_bytes_read_while_pipelined_requests_wait_queue_behind_them() -> None:
    # Between two pipelined requests the connection is IDLE with requests still
    # buffered (the next one is parsed in its own callback). A read arriving then must
    # not be parsed at once and must pause reading: otherwise a client that pipelines
    # and never reads grows the buffer by one read per answered request (what an app
    # answering inside its eager first step, Python 3.12+, would do to every read).
    protocol: HTTPProtocol
    paused_after_read: list[bool] = []
    sent_more = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal sent_more
        await hello(scope, receive, send)
        if not sent_more:
            sent_more = True
            # Right after the first response: /2 is buffered and waits for its turn.
            protocol.data_received(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
            paused_after_read.append(transport.read_paused)

    protocol, transport, state = make(app)
    protocol.data_received(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in (1, 2)))
    await settle(10)
    assert paused_after_read == [True]
    assert state.total_requests == 3  # /2 and /3 answered, in order, afterwards
    assert bytes(transport.written).count(b"HTTP/1.1 200") == 3
    assert not transport.read_paused  # the buffer is used up: reading again
    protocol.connection_lost(None)


async def test_body_flow_control_pauses_until_receive() -> None:
    got = bytearray()
    gate = asyncio.Event()

    async def reader(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        while True:
            message = await receive()
            got.extend(message["body"])
            if not message["more_body"]:
                break
        await hello(scope, receive, send)

    protocol, transport, _ = make(reader)
    size = 300_000
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size // 10_000):
        protocol.data_received(b"x" * 10_000)
    assert transport.read_paused  # the app has not read: stop reading the socket
    gate.set()
    await asyncio.sleep(0.05)
    assert len(got) == size
    assert not transport.read_paused
    assert b"HTTP/1.1 200" in transport.written
    protocol.connection_lost(None)


async def test_expect_continue_sent_on_first_receive_only() -> None:
    async def reader(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["body"] == b"abc"
        await hello(scope, receive, send)

    protocol, transport, _ = make(reader)
    protocol.data_received(
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    await settle()
    assert bytes(transport.written) == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.data_received(b"abc")
    await settle()
    assert b"HTTP/1.1 200 OK" in transport.written
    assert not transport.closed
    protocol.connection_lost(None)


async def test_expect_continue_not_sent_when_app_does_not_read() -> None:
    async def reject(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})

    protocol, transport, _ = make(reject)
    protocol.data_received(
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    await settle()
    out = bytes(transport.written)
    assert b"100 Continue" not in out
    assert out.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in out.lower()
    assert transport.closed


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    ],
)
async def test_protocol_errors_become_status_and_close(request_bytes: bytes, status: int) -> None:
    protocol, transport, _ = make(hello)
    protocol.data_received(request_bytes)
    await settle()
    out = bytes(transport.written)
    assert out.startswith(b"HTTP/1.1 %d " % status), out
    assert b"connection: close" in out.lower()
    assert transport.closed


async def test_limits_map_to_parser() -> None:
    protocol, transport, _ = make(hello, limit_request_line=64)
    protocol.data_received(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 414 ")

    protocol, transport, _ = make(hello, limit_request_body=4)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 413 ")


async def test_app_raises_before_start_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom")

    protocol, transport, _ = make(boom)
    with caplog.at_level("ERROR", logger="asgi_magic.error"):
        protocol.data_received(GET)
        await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 500 ")
    assert transport.closed
    assert [r.getMessage() for r in caplog.records] == ["Exception in ASGI application"]


async def test_app_raises_after_start_closes(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ValueError("boom")

    protocol, transport, _ = make(boom)
    with caplog.at_level("ERROR", logger="asgi_magic.error"):
        protocol.data_received(GET)
        await settle()
    assert transport.closed
    assert not bytes(transport.written).endswith(b"0\r\n\r\n")
    assert len(caplog.records) == 1


async def test_app_returns_without_response_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        return None

    protocol, transport, _ = make(nothing)
    with caplog.at_level("ERROR", logger="asgi_magic.error"):
        protocol.data_received(GET)
        await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 500 ")
    assert len(caplog.records) == 1


async def test_app_returning_value_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def returns(scope: Any, receive: Any, send: Any) -> int:
        await hello(scope, receive, send)
        return 42

    protocol, transport, _ = make(returns)
    with caplog.at_level("ERROR", logger="asgi_magic.error"):
        protocol.data_received(GET)
        await settle()
    assert b"HTTP/1.1 200" in transport.written
    assert ["non-None" in r.getMessage() for r in caplog.records] == [True]
    protocol.connection_lost(None)


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"x"}],
        [
            {"type": "http.response.start", "status": 200},
            {"type": "http.response.start", "status": 200},
        ],
        [
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]},
            {"type": "http.response.body", "body": b"x"},
            {"type": "http.response.body", "body": b"y"},
        ],
        [{"type": "http.nonsense"}],
    ],
)
async def test_send_misuse_raises_into_app(messages: list[dict[str, Any]]) -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            for message in messages:
                await send(message)
        except RuntimeError as exc:
            errors.append(exc)

    protocol, _transport, _ = make(app)
    protocol.data_received(GET)
    await settle()
    assert len(errors) == 1


async def test_receive_after_response_is_disconnect() -> None:
    messages: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        messages.append(await receive())
        await hello(scope, receive, send)
        messages.append(await asyncio.wait_for(receive(), 1))

    protocol, _transport, _ = make(app)
    protocol.data_received(GET)
    await settle()
    assert messages == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]
    protocol.connection_lost(None)


async def test_disconnect_wakes_receive_and_send_raises() -> None:
    result: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        result.append(await receive())
        result.append(await receive())
        try:
            await send({"type": "http.response.start", "status": 200})
        except OSError as exc:
            result.append(type(exc).__name__)

    protocol, _transport, _ = make(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    await settle()
    protocol.connection_lost(None)
    await settle()
    assert result == [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
        "ClientDisconnected",
    ]


async def test_drain_waits_for_resume_writing() -> None:
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        done.set()

    protocol, _transport, _ = make(app)
    protocol.pause_writing()
    protocol.data_received(GET)
    await settle()
    assert not done.is_set()
    protocol.resume_writing()
    await settle()
    assert done.is_set()
    protocol.connection_lost(None)


async def test_limit_concurrency_503() -> None:
    protocol, transport, state = make(hello, limit_concurrency=1)
    state.connections.add(object())  # type: ignore[arg-type]
    protocol.data_received(GET)
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 503 ")
    assert transport.closed


async def test_head_timeout_408_and_idle_close() -> None:
    protocol, transport, _ = make(hello, timeout_request_head=0.1, timeout_keep_alive=0.05)
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    await asyncio.sleep(0.25)
    assert bytes(transport.written).startswith(b"HTTP/1.1 408 ")
    assert transport.closed

    protocol, transport, _ = make(hello, timeout_request_head=1, timeout_keep_alive=0.05)
    await asyncio.sleep(0.15)
    assert transport.closed and transport.written == b""


async def test_shutdown_closes_idle_and_finishes_busy() -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await hello(scope, receive, send)

    protocol, transport, _ = make(slow)
    protocol.data_received(GET)
    await settle()
    protocol.shutdown()
    assert not transport.closed
    release.set()
    await settle()
    assert b"HTTP/1.1 200" in transport.written
    assert transport.closed

    protocol, transport, _ = make(slow)
    protocol.shutdown()
    assert transport.closed


async def test_head_request_has_no_body() -> None:
    protocol, transport, _ = make(hello)
    protocol.data_received(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle_until(lambda: protocol.cycle is None)
    assert b"hello" not in transport.written
    protocol.connection_lost(None)


async def test_pathsend(tmp_path: Any) -> None:
    data = bytes(range(256)) * 4000
    path = tmp_path / "f.bin"
    path.write_bytes(data)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(path)})

    protocol, transport, _ = make(app)
    protocol.data_received(GET)
    await settle_until(lambda: protocol.cycle is None)
    out = bytes(transport.written)
    assert out.split(b"\r\n\r\n", 1)[1] == data
    assert not transport.closed
    protocol.connection_lost(None)


async def test_pathsend_head_request_does_not_read_the_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 300_000)
    reads: list[int] = []
    import io

    original_read = io.BufferedReader.read

    class CountingReader(io.BufferedReader):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(size or 0)
            return original_read(self, size)

    monkeypatch.setattr(
        "asgi_magic.server.http_cycle._open",
        lambda name, mode: CountingReader(io.FileIO(name, "r")),
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"300000")],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(path)})

    protocol, transport, _ = make(app)
    protocol.data_received(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle_until(lambda: protocol.cycle is None)
    out = bytes(transport.written)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\n")
    assert b"content-length: 300000" in out
    assert reads == []
    assert protocol.cycle is None and not transport.closed  # ready for the next request
    protocol.connection_lost(None)


async def test_pathsend_without_a_socket_falls_back_to_framed_pieces(tmp_path: Any) -> None:
    # The fake transport has no "socket": no zero-copy path, the pieces are framed.
    data = bytes(range(256)) * 2000
    path = tmp_path / "f.bin"
    path.write_bytes(data)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    protocol, transport, _ = make(app)
    assert not protocol.can_sendfile()
    protocol.data_received(GET)
    await settle_until(lambda: bytes(transport.written).endswith(b"0\r\n\r\n"))
    head, _, body = bytes(transport.written).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    piece = PATHSEND_CHUNK
    assert len(data) > piece
    assert body == (
        b"%x\r\n%b\r\n" % (piece, data[:piece])
        + b"%x\r\n%b\r\n0\r\n\r\n" % (len(data) - piece, data[piece:])
    )
    protocol.connection_lost(None)


async def test_unread_body_is_discarded_and_connection_reused() -> None:
    protocol, transport, _ = make(hello)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
    await settle()
    assert b"HTTP/1.1 200" in transport.written
    for _ in range(20):
        protocol.data_received(b"z" * 10_000)
    assert not transport.read_paused  # discarded, not buffered
    assert protocol.cycle is None
    protocol.data_received(GET)
    await settle()
    assert bytes(transport.written).count(b"HTTP/1.1 200") == 2
    protocol.connection_lost(None)


async def test_half_close_after_request_still_answers() -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await hello(scope, receive, send)

    protocol, transport, _ = make(slow)
    protocol.data_received(GET)
    await settle()
    assert protocol.eof_received() is True  # keep the transport open for the response
    release.set()
    await settle()
    assert b"HTTP/1.1 200" in transport.written
    assert transport.closed


async def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="asgi_magic.access"):
        protocol, _transport, _ = make(hello)
        protocol.data_received(GET)
        await settle()
    [record] = [r for r in caplog.records if r.name == "asgi_magic.access"]
    message = record.getMessage()
    assert message.startswith('127.0.0.1:5555 - "GET /a%20b?x=1 HTTP/1.1" 200 ')
    assert message.endswith("ms")
    protocol.connection_lost(None)


async def test_ws_none_serves_upgrade_as_http() -> None:
    protocol, transport, _ = make(hello, ws="none")
    protocol.data_received(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    await settle()
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 OK")
    protocol.connection_lost(None)


async def test_pipelined_requests_then_a_split_head_resumes_reading() -> None:
    # Three whole requests and the start of a fourth in one read: reading pauses
    # while the buffered ones are served, and resumes once only a partial head is left.
    protocol, transport, _ = make(hello)
    protocol.data_received(GET * 3 + GET[:10])
    await settle(40)
    assert bytes(transport.written).count(b"HTTP/1.1 200") == 3
    assert not transport.read_paused
    protocol.data_received(GET[10:])
    await settle()
    assert bytes(transport.written).count(b"HTTP/1.1 200") == 4
    protocol.connection_lost(None)


async def test_each_request_of_a_connection_gets_a_scope_of_its_own() -> None:
    # The scope is a copy of a per-connection template: what one app does to its scope
    # (rebinding keys, mutating the nested dicts) must not reach the next request's.
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nested = {key: dict(scope[key]) for key in ("asgi", "state", "extensions")}
        scopes.append({**scope, **nested})
        scope["scheme"] = "gopher"
        scope["client"] = ("203.0.113.9", 1)
        scope["root_path"] = "/elsewhere"
        scope["asgi"]["version"] = "2.0"
        scope["state"]["k"] = "changed"
        scope["extensions"].clear()
        await hello(scope, receive, send)

    protocol, transport, _ = make(app)
    protocol.data_received(b"GET /one?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    protocol.data_received(b"POST /two HTTP/1.1\r\nHost: y\r\nContent-Length: 0\r\n\r\n")
    await settle()
    assert len(scopes) == 2
    first, second = scopes
    for scope in (first, second):
        assert scope["scheme"] == "http"
        assert scope["client"] == ("127.0.0.1", 5555)
        assert scope["server"] == ("127.0.0.1", 8000)
        assert scope["root_path"] == ""
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
        assert scope["state"] == {"k": "v"}
        assert "http.response.pathsend" in scope["extensions"]
    assert (first["method"], first["path"], first["query_string"]) == ("GET", "/one", b"a=1")
    assert (second["method"], second["path"], second["query_string"]) == ("POST", "/two", b"")
    assert (b"host", b"y") in second["headers"]
    assert list(second) == list(first)  # same keys, same order
    assert not transport.closed
    protocol.connection_lost(None)
