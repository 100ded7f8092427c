"""The HTTP/1.1 timeouts, per stream over HTTP/2, against the real server.

A stream whose body stalls or trickles while its app waits gets 408 (or RST_STREAM
once its response has started), an app that starts no response in ``--timeout-app``
gets 503 on its stream, and in every case the connection goes on serving its other
streams. A client that never finishes its preface is closed after the head timeout
(docs/server/timeouts.md, docs/server/http2.md)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from typing import Any

import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
import pytest
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame

from asgi_magic.config import Config
from asgi_magic.server import Server
from tests.support.h2_client import H2Client, goaway
from tests.support.live_server import run_server


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, answers with its length; ``/hang`` never answers."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/hang":
        await asyncio.sleep(3600)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": body})


def _served(client: H2Client, path: str = "/") -> None:
    """Another stream on the same connection is served meanwhile."""
    stream_id = client.request("GET", path)
    status, _, body = client.response(stream_id)
    assert (status, body) == (200, b"0")


def test_a_stalled_body_gets_408_and_the_connection_goes_on() -> None:
    with run_server(echo_app, timeout_request_body=0.5) as url, H2Client(url) as client:
        stream_id = client.request("POST", "/", body=b"x" * 100, end_stream=False)
        start = time.monotonic()
        status, _, body = client.response(stream_id, limit=5)
        assert status == 408, (status, body)
        assert body == b"Request Timeout\n"
        assert 0.4 < time.monotonic() - start < 3
        # The client is told to stop sending on that stream (RFC 9113 §8.1).
        reset = client.until(h2.events.StreamReset, stream_id, limit=2)
        assert any(
            isinstance(e, h2.events.StreamReset) and e.error_code == h2.errors.ErrorCodes.NO_ERROR
            for e in reset + client.received
        )
        assert not client.closed
        _served(client)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_upload_that_stalls_gets_408() -> None:
    # curl uploads from a pipe that gets a few bytes and then nothing for a while.
    with run_server(echo_app, timeout_request_body=0.5) as url:
        curl = subprocess.Popen(
            [
                "curl",
                "-sS",
                "--http2-prior-knowledge",
                "-T",
                "-",
                "-w",
                "\n%{http_code} %{http_version}",
                url + "/up",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert curl.stdin is not None
        curl.stdin.write(b"some bytes")
        curl.stdin.flush()
        # curl blocks reading the pipe, so it sees the answer only once the pipe ends,
        # long after the body timeout: without it the upload would be served (200).
        time.sleep(1.5)
        try:
            out, err = curl.communicate(timeout=10)
        finally:
            curl.kill()
            curl.wait()
        assert out.endswith(b"Request Timeout\n\n408 2"), (out, err)


def test_a_trickled_body_gets_408() -> None:
    # 10 bytes every 0.1 s is 100 bytes/s, well under the minimum rate, although no
    # gap ever reaches the body timeout.
    with (
        run_server(echo_app, min_request_body_rate=1000, min_request_body_rate_grace=0.5) as url,
        H2Client(url) as client,
    ):
        stream_id = client.request("POST", "/", body=b"x", end_stream=False)
        deadline = time.monotonic() + 5
        status = 0
        while time.monotonic() < deadline and not status:
            try:
                client.conn.send_data(stream_id, b"y" * 10)
                client.flush()
            except h2.exceptions.StreamClosedError:
                pass
            for event in client.read_once(0.1):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
        assert status == 408
        assert not client.closed
        _served(client)


def test_a_steady_upload_is_not_cut() -> None:
    # Pauses shorter than the body timeout, at a rate above the minimum.
    with (
        run_server(
            echo_app,
            timeout_request_body=0.8,
            min_request_body_rate=100,
            min_request_body_rate_grace=0.3,
        ) as url,
        H2Client(url) as client,
    ):
        stream_id = client.request("POST", "/", body=b"x" * 100, end_stream=False)
        for _ in range(6):
            time.sleep(0.3)
            client.conn.send_data(stream_id, b"y" * 100)
            client.flush()
        client.conn.end_stream(stream_id)
        client.flush()
        status, _, body = client.response(stream_id)
        assert (status, body) == (200, b"700")


def test_an_app_that_does_not_read_is_not_the_clients_stall() -> None:
    # The client sends a little, pauses longer than the body timeout and ends; the app
    # only asks for the body after that: nobody waited on the client.
    async def late_reader(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(1.5)
        await echo_app(scope, receive, send)

    with run_server(late_reader, timeout_request_body=0.4) as url, H2Client(url) as client:
        stream_id = client.request("POST", "/", body=b"x" * 10, end_stream=False)
        time.sleep(1.0)
        client.conn.send_data(stream_id, b"y" * 10, end_stream=True)
        client.flush()
        status, _, body = client.response(stream_id)
        assert (status, body) == (200, b"20")


def test_a_connection_window_shut_by_another_stream_is_not_a_stall() -> None:
    # Stream A's app never reads: A's upload fills the whole connection window, so the
    # client cannot send B's body although B's app waits for it. Not B's fault.
    window = 1024 * 1024  # h2_rules.CONNECTION_WINDOW

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/lazy":
            await asyncio.sleep(1.5)
            await send({"type": "http.response.start", "status": 204})
            await send({"type": "http.response.body", "body": b""})
            return
        await echo_app(scope, receive, send)

    with (
        run_server(app, timeout_request_body=0.4, http2_initial_window_size=window) as url,
        H2Client(url) as client,
    ):
        client.read_once(0.3)  # the server's SETTINGS: a stream window of 1 MiB
        lazy = client.request("POST", "/lazy", end_stream=False)
        eager = client.request("POST", "/", end_stream=False)
        sent = 0
        while client.conn.local_flow_control_window(lazy) > 0:
            chunk = min(16384, client.conn.local_flow_control_window(lazy))
            client.conn.send_data(lazy, b"a" * chunk)
            sent += chunk
        client.flush()
        assert client.conn.local_flow_control_window(eager) == 0
        # B waits 1.5 s for window, far longer than the body timeout.
        status, _, _ = client.response(lazy)
        assert status == 204
        client.read_once(0.2)
        assert client.conn.local_flow_control_window(eager) > 0
        client.conn.send_data(eager, b"b" * 10, end_stream=True)
        client.flush()
        status, _, body = client.response(eager)
        assert (status, body) == (200, b"10")


def test_a_stall_after_the_response_started_resets_the_stream() -> None:
    started = threading.Event()

    async def streaming_reader(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"go", "more_body": True})
        started.set()
        while (await receive())["type"] != "http.disconnect":
            pass

    with (
        run_server(streaming_reader, timeout_request_body=0.5) as url,
        H2Client(url) as client,
    ):
        stream_id = client.request("POST", "/", body=b"x", end_stream=False)
        events = client.until(h2.events.StreamReset, stream_id, limit=5)
        assert started.is_set()
        resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
        assert resets and resets[0].error_code == h2.errors.ErrorCodes.CANCEL
        assert not client.closed


def test_timeout_app_answers_503_per_stream() -> None:
    with run_server(echo_app, timeout_app=0.5) as url, H2Client(url) as client:
        hang = client.request("GET", "/hang")
        _served(client)  # meanwhile
        start = time.monotonic()
        status, _, body = client.response(hang, limit=5)
        assert status == 503 and body == b"Service Unavailable\n"
        assert time.monotonic() - start < 2
        assert not client.closed
        _served(client)


def test_timeout_app_with_a_real_client() -> None:
    with (
        run_server(echo_app, timeout_app=0.3) as url,
        httpx.Client(http1=False, http2=True, timeout=5) as client,
    ):
        response = client.get(url + "/hang")
        assert response.http_version == "HTTP/2"
        assert response.status_code == 503
        assert client.get(url + "/").status_code == 200


def test_timeout_app_does_not_cut_a_started_response() -> None:
    async def slow_stream(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        for _ in range(4):
            await asyncio.sleep(0.25)
            await send({"type": "http.response.body", "body": b"t", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with run_server(slow_stream, timeout_app=0.3) as url, H2Client(url) as client:
        stream_id = client.request("GET", "/")
        status, _, body = client.response(stream_id)
        assert (status, body) == (200, b"tttt")


def test_an_unfinished_preface_is_closed_after_the_head_timeout() -> None:
    # The first line of the preface switches the connection to HTTP/2; the rest (and
    # the client's SETTINGS) never come. Keep-alive alone would wait 30 s.
    with run_server(echo_app, timeout_keep_alive=30, timeout_request_head=0.5) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM")
            start = time.monotonic()
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            assert time.monotonic() - start < 3
            assert data  # our SETTINGS, then GOAWAY


def test_a_connection_with_its_preface_keeps_the_keep_alive_timeout() -> None:
    with (
        run_server(echo_app, timeout_keep_alive=1.5, timeout_request_head=0.3) as url,
        H2Client(url) as client,
    ):
        events = client.events(quiet=1.0)
        assert goaway(events) is None and not client.closed
        _served(client)
        events = client.until(h2.events.ConnectionTerminated, limit=5)
        event = goaway(events)
        assert event is not None and event.error_code == h2.errors.ErrorCodes.NO_ERROR


def test_a_trickled_header_block_gets_goaway() -> None:
    # A HEADERS frame without END_HEADERS, then one small CONTINUATION at a time, while
    # another stream keeps the connection busy (so the idle timeout cannot end it).
    with (
        run_server(
            echo_app, timeout_request_head=0.8, timeout_keep_alive=30, timeout_request_body=0
        ) as url,
        H2Client(url) as client,
    ):
        # An upload that never ends, to an app that waits for it: stream 1 stays open.
        client.request("POST", "/", body=b"x", end_stream=False)
        client.read_once(0.3)  # the server's SETTINGS, acknowledged now, not mid-block
        block = client.conn.encoder.encode(
            [
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", client.authority),
                (b":path", b"/"),
                (b"x-long", b"v" * 200),
            ]
        )
        client.send_raw(HeadersFrame(3, block[:10]).serialize())
        client.sock.settimeout(0.2)
        start = time.monotonic()
        event = None
        for offset in range(10, len(block) - 1):
            try:
                client.sock.sendall(ContinuationFrame(3, block[offset : offset + 1]).serialize())
                data = client.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            # Nothing may be sent back mid-block: read without h2's replies.
            event = goaway(client.conn.receive_data(data))
            if event is not None or not data:
                break
        assert event is not None, "the trickle was never cut"
        assert event.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
        assert time.monotonic() - start < 3


def _frames(raw: bytes) -> list[Frame]:
    frames = []
    while len(raw) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(raw[:9]))
        if len(raw) < 9 + length:
            break
        frame.parse_body(memoryview(raw[9 : 9 + length]))
        frames.append(frame)
        raw = raw[9 + length :]
    return frames


def test_graceful_shutdown_ends_an_sse_stream_at_once() -> None:
    # As over HTTP/1.1 (docs/server/timeouts.md, Graceful shutdown): a long response
    # whose app waits in receive() learns of the shutdown at once, and the stream ends
    # cleanly (END_STREAM), long before --timeout-graceful-shutdown.
    from tests.integration.apps.streams import app

    server = Server(
        Config(app=app, port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=20)
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    with H2Client(f"http://{host}:{port}") as client:
        stream_id = client.request("GET", "/events")
        client.until(h2.events.DataReceived, stream_id)
        # Our h2 client (like httpx's) stops at the GOAWAY: read the frames raw.
        server.should_exit = True
        stopped = time.monotonic()
        raw = b""
        client.sock.settimeout(10)
        while data := client.sock.recv(65536):
            raw += data
        ended = time.monotonic() - stopped
    frames = _frames(raw)
    assert any(isinstance(f, GoAwayFrame) for f in frames)
    assert any(
        isinstance(f, DataFrame) and f.stream_id == stream_id and "END_STREAM" in f.flags
        for f in frames
    ), frames
    assert ended < 3
    thread.join(10)
    assert not thread.is_alive()
