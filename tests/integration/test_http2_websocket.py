"""WebSocket over HTTP/2 (RFC 8441) against the real server: the h2 library as the
client's HTTP/2, our sans-IO ``websocket.Connection`` (client role) as its frame codec.

Each test opens the extended CONNECT (``:method CONNECT``, ``:protocol websocket``)
on a cleartext prior-knowledge connection, then speaks WebSocket frames in DATA."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import h2.errors
import h2.events
import h2.settings
import pytest
from hyperframe.frame import DataFrame

from asgi_magic.config import Config
from asgi_magic.server import Server
from asgi_magic.websocket import (
    BytesMessage,
    CloseReceived,
    Connection,
    PerMessageDeflate,
    Role,
    TextMessage,
    parse_deflate_response,
    parse_extensions,
)
from tests.support.h2_client import H2Client
from tests.support.live_server import run_server


async def ws_app(scope: Any, receive: Any, send: Any) -> None:
    """Echoes text and bytes; ``/scope`` sends the scope's facts first; ``/deny``
    refuses with 403; ``/teapot`` answers over HTTP; ``/bye`` closes with 4000."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/deny":
        await send({"type": "websocket.close"})
        return
    if path == "/teapot":
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 418,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"short and stout"})
        return
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocol, "headers": [(b"x-app", b"1")]}
    )
    if path == "/scope":
        facts = f"{scope['http_version']} {scope['scheme']} {scope['path']} {scope['query_string'].decode()}"
        await send({"type": "websocket.send", "text": facts})
    if path == "/bye":
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


class WSOverH2:
    """One WebSocket on one stream of an ``H2Client``."""

    def __init__(
        self,
        client: H2Client,
        path: str = "/",
        headers: list[tuple[bytes, bytes]] | None = None,
        scheme: bytes = b"http",
    ) -> None:
        self.client = client
        self.ws = Connection(Role.CLIENT)
        pseudo = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", scheme),
            (b":path", path.encode()),
            (b":authority", client.authority),
        ]
        fields = headers if headers is not None else [(b"sec-websocket-version", b"13")]
        self.stream_id = client.request(pseudo=pseudo, headers=fields, end_stream=False)
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.messages: list[Any] = []
        self.ended = False
        self.reset: h2.errors.ErrorCodes | None = None

    def _take(self, events: list[Any]) -> None:
        for event in events:
            if getattr(event, "stream_id", None) != self.stream_id:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                self.headers = dict(event.headers)
                self.status = int(self.headers[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                self.client.conn.acknowledge_received_data(
                    event.flow_controlled_length, self.stream_id
                )
                self.client.flush()
                if self.status == 200:
                    self.messages.extend(self.ws.receive_data(event.data))
                else:
                    self.body += event.data
            elif isinstance(event, h2.events.StreamEnded):
                self.ended = True
            elif isinstance(event, h2.events.StreamReset):
                self.reset = event.error_code

    def read(self, until: Any, limit: float = 5.0) -> None:
        """Read until ``until()`` is true, the stream ends or is reset, or ``limit``."""
        self._take(self.client.received)
        self.client.received = []
        deadline = time.monotonic() + limit
        while not until() and time.monotonic() < deadline and not self.client.closed:
            if self.reset is not None:
                return
            self._take(self.client.read_once(0.1))
            self.client.received = []

    def handshake(self) -> int:
        self.read(lambda: self.status)
        return self.status

    def send(self, data: bytes, end: bool = False) -> None:
        """Send ``data`` in DATA frames as the windows allow (reading meanwhile)."""
        conn = self.client.conn
        view = memoryview(data)
        deadline = time.monotonic() + 5
        while True:
            room = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
            if room <= 0 and view:
                assert time.monotonic() < deadline, "the server never opened its window"
                self._take(self.client.read_once(0.1))
                self.client.received = []
                continue
            chunk, view = view[:room], view[room:]
            conn.send_data(self.stream_id, chunk.tobytes(), end_stream=end and not view)
            self.client.flush()
            if not view:
                return

    def message(self) -> Any:
        self.read(lambda: self.messages)
        return self.messages.pop(0) if self.messages else None


def _connect_enabled(client: H2Client) -> int:
    client.read_once(0.5)  # the server's SETTINGS
    return client.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0)


def test_server_advertises_extended_connect() -> None:
    # RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
    with run_server(ws_app) as url, H2Client(url) as client:
        assert _connect_enabled(client) == 1
    with run_server(ws_app, ws="none") as url, H2Client(url) as client:
        assert _connect_enabled(client) == 0


def test_echo_text_and_bytes() -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client)
        assert ws.handshake() == 200
        # RFC 8441 §5: no Sec-WebSocket-Accept (and no 101) over HTTP/2.
        assert b"sec-websocket-accept" not in ws.headers
        assert ws.headers[b"x-app"] == b"1"
        ws.send(ws.ws.send_text("héllo"))
        assert ws.message() == TextMessage("héllo")
        ws.send(ws.ws.send_bytes(b"\x00\x01" * 50_000))  # more than one DATA frame
        assert ws.message() == BytesMessage(b"\x00\x01" * 50_000)
        # The client closes: the server answers with its close frame, then END_STREAM.
        ws.send(ws.ws.send_close(1000, "done"))
        ws.read(lambda: ws.ended)
        assert isinstance(ws.message(), CloseReceived)
        assert ws.ended
        assert not client.closed


def test_scope_and_subprotocol() -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        fields = [
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-protocol", b"chat, superchat"),
        ]
        ws = WSOverH2(client, "/scope?x=1", fields, scheme=b"https")
        assert ws.handshake() == 200
        assert ws.headers[b"sec-websocket-protocol"] == b"chat"
        # The scheme is the request's :scheme (wss for https), http_version "2".
        assert ws.message() == TextMessage("2 wss /scope x=1")


def test_server_close_ends_the_stream() -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client, "/bye")
        assert ws.handshake() == 200
        close = ws.message()
        assert isinstance(close, CloseReceived) and (close.code, close.reason) == (4000, "bye")
        ws.send(ws.ws.send_close(close.code))
        ws.read(lambda: ws.ended)
        assert ws.ended


def test_denials_are_http_answers_on_the_stream() -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        deny = WSOverH2(client, "/deny")
        assert deny.handshake() == 403
        teapot = WSOverH2(client, "/teapot")
        teapot.read(lambda: teapot.ended)
        assert teapot.status == 418 and teapot.body == b"short and stout"
        # The connection serves on, WebSockets and requests alike.
        ws = WSOverH2(client)
        assert ws.handshake() == 200
        stream_id = client.request("GET", "/")
        assert client.response(stream_id)[0] in (200, 500)  # ws_app does not speak http


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ([], 426),  # RFC 6455 §4.2.2: the version is required
        ([(b"sec-websocket-version", b"8")], 426),
        ([(b"sec-websocket-version", b"13"), (b"sec-websocket-protocol", b"a b")], 400),
    ],
)
def test_bad_handshakes(fields: list[tuple[bytes, bytes]], status: int) -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client, "/", fields)
        assert ws.handshake() == status
        if status == 426:
            assert ws.headers[b"sec-websocket-version"] == b"13"
        assert not client.closed


def test_other_protocols_and_ws_none_get_501() -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        pseudo = [
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"http"),
            (b":path", b"/"),
            (b":authority", client.authority),
        ]
        stream_id = client.request(pseudo=pseudo, end_stream=False)
        assert client.response(stream_id)[0] == 501
    with run_server(ws_app, ws="none") as url, H2Client(url) as client:
        assert _connect_enabled(client) == 0
        # A client that ignores the setting (RFC 8441 §3: it MUST NOT send :protocol).
        pseudo[1] = (b":protocol", b"websocket")
        stream_id = client.request(pseudo=pseudo, end_stream=False)
        assert client.response(stream_id)[0] == 501


def test_client_reset_is_a_disconnect_for_the_app() -> None:
    seen: list[Any] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        done.set()

    with run_server(app) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client)
        assert ws.handshake() == 200
        client.conn.reset_stream(ws.stream_id, h2.errors.ErrorCodes.CANCEL)
        client.flush()
        assert done.wait(5)
        assert seen[0]["type"] == "websocket.disconnect" and seen[0]["code"] == 1006
        # The connection goes on.
        ws2 = WSOverH2(client)
        assert ws2.handshake() == 200


def test_client_end_stream_without_close_frame() -> None:
    seen: list[Any] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        done.set()

    with run_server(app) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client)
        assert ws.handshake() == 200
        ws.send(b"", end=True)  # END_STREAM: the TCP FIN of RFC 8441 §5
        assert done.wait(5)
        assert seen[0]["type"] == "websocket.disconnect" and seen[0]["code"] == 1006
        ws.read(lambda: ws.ended)
        assert ws.ended


def test_app_that_does_not_read_stops_the_clients_window() -> None:
    # The app never receives: its queue fills, the stream's WINDOW_UPDATEs stop, and
    # the client cannot push more than the queue plus one stream window.
    release = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while not release.is_set():
            await asyncio.sleep(0.05)

    with run_server(app, ws_max_queue=4, ws_max_size=65536) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client)
        assert ws.handshake() == 200
        sent = 0
        frame = ws.ws.send_bytes(b"z" * 1000)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if client.conn.local_flow_control_window(ws.stream_id) < len(frame):
                ws.read(lambda: False, limit=0.5)  # any WINDOW_UPDATE still coming
                if client.conn.local_flow_control_window(ws.stream_id) < len(frame):
                    break
                continue
            ws.send(frame)
            sent += len(frame)
        release.set()
        assert sent < 4 * 1100 + 2 * 65535, sent


def test_graceful_shutdown_closes_with_1012() -> None:
    # asgi_magic's WebSocket shutdown rule over HTTP/2 too: close code 1012 (service
    # restart) on the stream, the app told so, the connection closed once it is done.
    seen: list[Any] = []
    accepted = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        accepted.set()
        seen.append(await receive())

    server = Server(Config(app=app, port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    with H2Client(f"http://{host}:{port}") as client:
        _connect_enabled(client)
        ws = WSOverH2(client)
        assert ws.handshake() == 200
        assert accepted.wait(5)
        server.should_exit = True
        # Our h2 client stops after the GOAWAY: read the bytes and answer by hand.
        raw = b""
        client.sock.settimeout(5)
        close_1012 = b"\x88\x02\x03\xf4"  # FIN + close, unmasked, code 1012
        while close_1012 not in raw:
            data = client.sock.recv(65536)
            assert data, raw
            raw += data
        reply = DataFrame(ws.stream_id, data=ws.ws.send_close(1012), flags=["END_STREAM"])
        client.sock.sendall(reply.serialize())
        while client.sock.recv(65536):
            pass
    thread.join(10)
    assert not thread.is_alive()
    assert seen and seen[0]["type"] == "websocket.disconnect" and seen[0]["code"] == 1012


def test_connect_that_ends_its_stream_gets_400() -> None:
    with run_server(ws_app) as url, H2Client(url) as client:
        _connect_enabled(client)
        pseudo = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", b"http"),
            (b":path", b"/"),
            (b":authority", client.authority),
        ]
        stream_id = client.request(
            pseudo=pseudo, headers=[(b"sec-websocket-version", b"13")], end_stream=True
        )
        assert client.response(stream_id)[0] == 400
        assert not client.closed


def test_client_ends_during_the_handshake() -> None:
    # END_STREAM before the app accepted: there is no answer to end, so the stream is
    # reset; the app's accept finds the client gone.
    outcome: list[str] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await asyncio.sleep(0.5)
        try:
            await send({"type": "websocket.accept"})
        except OSError:
            outcome.append("disconnected")
        done.set()

    with run_server(app) as url, H2Client(url) as client:
        _connect_enabled(client)
        ws = WSOverH2(client)
        ws.send(b"", end=True)
        ws.read(lambda: ws.reset is not None)
        assert ws.reset == h2.errors.ErrorCodes.CANCEL
        assert done.wait(5)
        assert outcome == ["disconnected"]
        assert WSOverH2(client).handshake() == 200  # the connection goes on


def test_permessage_deflate_and_the_access_log(caplog: pytest.LogCaptureFixture) -> None:
    # RFC 7692 is negotiated as over HTTP/1.1; the access log says what the client got.
    with (
        caplog.at_level("INFO", logger="asgi_magic.access"),
        run_server(ws_app, log_level="info", access_log=True) as url,
        H2Client(url) as client,
    ):
        _connect_enabled(client)
        fields = [
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
        ]
        ws = WSOverH2(client, "/", fields)
        assert ws.handshake() == 200
        answer = ws.headers[b"sec-websocket-extensions"]
        params = parse_deflate_response(parse_extensions([answer]))
        assert params is not None
        ws.ws = Connection(Role.CLIENT, deflate=PerMessageDeflate(params, is_server=False))
        text = "compress me " * 1000
        frame = ws.ws.send_text(text)
        assert len(frame) < 1000  # it was compressed
        ws.send(frame)
        assert ws.message() == TextMessage(text)
        ws.send(ws.ws.send_close(1000))
        ws.read(lambda: ws.ended)
        assert ws.ended
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            "HTTP/2" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "asgi_magic.access"]
    # A WebSocket logs as its HTTP/1.1 twin does ("GET", the scope has no method), with
    # the status the client saw: 200 over HTTP/2, not 101.
    assert any('"GET / HTTP/2" 200' in line for line in lines), lines


def test_over_tls_with_alpn(tmp_path: Path) -> None:
    # The way browsers do it: TLS, ALPN h2, then the extended CONNECT; the scope says wss.
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    key_file, cert_file, ca_file = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ssl.create_default_context(cafile=str(ca_file))
    tls.set_alpn_protocols(["h2"])
    with (
        run_server(ws_app, ssl_keyfile=str(key_file), ssl_certfile=str(cert_file)) as url,
        H2Client(url, tls=tls) as client,
    ):
        assert isinstance(client.sock, ssl.SSLSocket)
        assert client.sock.selected_alpn_protocol() == "h2"
        assert _connect_enabled(client) == 1
        ws = WSOverH2(client, "/scope", scheme=b"https")
        assert ws.handshake() == 200
        assert ws.message() == TextMessage("2 wss /scope ")
        ws.send(ws.ws.send_text("over tls"))
        assert ws.message() == TextMessage("over tls")
