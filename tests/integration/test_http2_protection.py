"""The known HTTP/2 attacks, each against the real server with crafted frames.

What h2 enforces on its own and what we add is in docs/server/http2.md; every case
here ends in the documented answer (GOAWAY ENHANCE_YOUR_CALM, REFUSED_STREAM, a reset
stall) with the server still serving the next connection."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import h2.errors
import h2.events
import h2.settings
import httpx
import pytest
from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    SettingsFrame,
)

from tests.support.h2_client import H2Client, goaway
from tests.support.live_server import run_server

CALM = h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


async def slow_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2)
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"ok"})


def _request_fields(client: H2Client, path: bytes = b"/") -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", client.authority),
        (b":path", path),
    ]


def _still_serves(url: str) -> None:
    with httpx.Client(http1=False, http2=True) as client:
        assert client.get(url + "/").text == "ok"


def test_rapid_reset_gets_enhance_your_calm() -> None:
    # CVE-2023-44487: open a stream, reset it, again and again: each costs an app start
    # and none counts against SETTINGS_MAX_CONCURRENT_STREAMS.
    with run_server(slow_app, http2_max_resets=50) as url:
        with H2Client(url) as client:
            for _ in range(200):
                stream_id = client.request("GET", "/slow")
                client.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                client.flush()
                if client.closed:
                    break
            event = goaway(client.events(quiet=0.5))
            assert event is not None and event.error_code == CALM
            assert b"reset" in (event.additional_data or b"")
        _still_serves(url)


def test_a_few_resets_are_fine() -> None:
    with run_server(slow_app, http2_max_resets=50) as url, H2Client(url) as client:
        for _ in range(20):
            stream_id = client.request("GET", "/slow")
            client.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            client.flush()
        ok = client.request("GET", "/")
        assert client.response(ok)[0::2] == (200, b"ok")
        assert goaway(client.received) is None


def test_reset_streams_still_running_count_against_the_stream_limit() -> None:
    # h2 frees a stream's slot at RST_STREAM; the app behind it still runs. New streams
    # beyond --http2-max-concurrent-streams running apps are refused (REFUSED_STREAM:
    # not processed, safe to retry, RFC 9113 §8.7).
    with run_server(slow_app, http2_max_concurrent_streams=3) as url, H2Client(url) as client:
        client.events(quiet=0.3)
        for _ in range(3):
            stream_id = client.request("GET", "/slow")
            client.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        client.flush()
        refused = client.request("GET", "/")
        events = client.until(h2.events.StreamReset, refused, limit=3)
        resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
        assert resets and resets[-1].error_code == h2.errors.ErrorCodes.REFUSED_STREAM
        time.sleep(2.2)  # the slow apps return
        again = client.request("GET", "/")
        assert client.response(again)[0::2] == (200, b"ok")


def test_more_open_streams_than_advertised_is_a_protocol_error() -> None:
    # RFC 9113 §5.1.2: beyond SETTINGS_MAX_CONCURRENT_STREAMS a stream error of type
    # PROTOCOL_ERROR or REFUSED_STREAM; h2 makes it a connection error (allowed by
    # §5.4.2). Our SETTINGS are sent first, so only a client that ignores them is hit.
    with run_server(slow_app, http2_max_concurrent_streams=3) as url, H2Client(url) as client:
        encoder = Encoder()
        frames = b""
        for stream_id in (1, 3, 5, 7):
            frame = HeadersFrame(stream_id, encoder.encode(_request_fields(client, b"/slow")))
            frame.flags.add("END_HEADERS")
            frame.flags.add("END_STREAM")
            frames += frame.serialize()
        client.send_raw(frames)
        raw = _read_all(client)
        assert _goaway_code(raw) == h2.errors.ErrorCodes.PROTOCOL_ERROR


def _read_all(client: H2Client, limit: float = 5.0) -> bytes:
    raw = b""
    client.sock.settimeout(0.5)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            data = client.sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            break
        if not data:
            break
        raw += data
    return raw


def _frames(raw: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream id, payload) of every frame in ``raw``."""
    out = []
    while len(raw) >= 9:
        length = int.from_bytes(raw[:3], "big")
        out.append(
            (raw[3], raw[4], int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF, raw[9 : 9 + length])
        )
        raw = raw[9 + length :]
    return out


def _goaway_code(raw: bytes) -> int | None:
    for kind, _, _, payload in _frames(raw):
        if kind == 7:
            return int.from_bytes(payload[4:8], "big")
    return None


@pytest.mark.parametrize(
    ("frames", "size"),
    [(200, 0), (200, 10), (8, 16384)],
    ids=["many-empty", "many-small", "few-large"],
)
def test_continuation_flood(frames: int, size: int) -> None:
    # CVE-2024-27316 and kin: a header block that never ends. Bounded in frames (32)
    # and in bytes (--http2-max-header-list-size), before any decoding.
    with run_server(slow_app) as url, H2Client(url) as client:
        first = HeadersFrame(1, b"\x82")  # :method GET, no END_HEADERS
        client.send_raw(first.serialize())
        sent = 0
        try:
            for _ in range(frames):
                client.sock.sendall(ContinuationFrame(1, b"\x00" * size).serialize())
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = _read_all(client)
        assert _goaway_code(raw) == CALM
        assert sent <= frames
    with run_server(slow_app) as url:
        _still_serves(url)


def test_hpack_bomb() -> None:
    # One 4 KB field goes into the dynamic table, then 100 one-byte references to it:
    # 400 KB decoded from 4 KB sent. The decoder stops at the header list limit.
    with run_server(slow_app, http2_max_header_list_size=16384) as url, H2Client(url) as client:
        encoder = Encoder()
        fields = _request_fields(client) + [(b"x-bomb", b"a" * 4000)] * 100
        block = encoder.encode(fields)
        assert len(block) < 4200
        frame = HeadersFrame(1, block)
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        client.send_raw(frame.serialize())
        assert _goaway_code(_read_all(client)) == CALM


def test_header_list_under_the_limit_is_served() -> None:
    with run_server(slow_app, http2_max_header_list_size=16384) as url, H2Client(url) as client:
        stream_id = client.request("GET", "/", headers=[(b"x-big", b"b" * 8000)])
        assert client.response(stream_id)[0] == 200


@pytest.mark.parametrize("kind", ["settings", "ping", "priority", "empty-data"])
def test_control_frame_floods(kind: str) -> None:
    # CVE-2019-9515 (SETTINGS), -9512 (PING), -9513 (PRIORITY), -9518 (empty frames).
    with run_server(slow_app, http2_max_control_frames=100) as url, H2Client(url) as client:
        if kind == "empty-data":
            stream_id = client.request("POST", "/slow", end_stream=False)
            frame = DataFrame(stream_id, b"").serialize()
        elif kind == "settings":
            frame = SettingsFrame(0, {}).serialize()
        elif kind == "ping":
            frame = PingFrame(0, b"12345678").serialize()
        else:
            frame = PriorityFrame(101, depends_on=0, stream_weight=10).serialize()
        try:
            client.send_raw(frame * 300)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _goaway_code(_read_all(client)) == CALM


def test_control_frames_within_the_budget_are_fine() -> None:
    with run_server(slow_app, http2_max_control_frames=100) as url, H2Client(url) as client:
        client.send_raw(PingFrame(0, b"12345678").serialize() * 50)
        stream_id = client.request("GET", "/")
        assert client.response(stream_id)[0::2] == (200, b"ok")
        pings = [e for e in client.received if isinstance(e, h2.events.PingAckReceived)]
        assert len(pings) == 50


def test_a_peer_that_does_not_read_stops_being_read() -> None:
    # PINGs make us write PING ACKs; a peer that never reads them fills the socket
    # buffers and is then not read either (flow_control.py): memory stays bounded.
    budget = {"http2_max_control_frames": 10**9}
    with run_server(slow_app, **budget) as url, H2Client(url) as client:
        client.sock.setblocking(False)
        frames = PingFrame(0, b"12345678").serialize() * 1000
        view = memoryview(frames)
        sent = 0
        stuck_since = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                n = client.sock.send(view)
            except BlockingIOError:
                stuck_since = stuck_since or time.monotonic()
                if time.monotonic() - stuck_since > 1.0:
                    break  # the server has stopped reading us
                time.sleep(0.02)
                continue
            stuck_since = None
            sent += n
            view = view[n:] or memoryview(frames)
        # The server stopped reading while its PING ACKs went unread: what we got in is
        # bounded by the socket buffers, not by how long we kept sending.
        assert stuck_since is not None
        assert sent < 64 * 1024 * 1024


def test_zero_window_stall_is_reset() -> None:
    gave_up = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"d" * 1000, "more_body": True})
        except OSError:
            gave_up.set()

    with run_server(app, http2_window_timeout=0.5) as url, H2Client(url) as client:
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        client.flush()
        stream_id = client.request("GET", "/")
        events = client.until(h2.events.StreamReset, stream_id, limit=5)
        resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
        assert resets and resets[0].error_code == h2.errors.ErrorCodes.CANCEL
        assert gave_up.wait(5)
        # The connection itself goes on.
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
        client.flush()
        assert not client.closed


def test_idle_connection_is_closed_with_goaway() -> None:
    with run_server(slow_app, timeout_keep_alive=0.5) as url, H2Client(url) as client:
        events = client.until(h2.events.ConnectionTerminated, limit=5)
        event = goaway(events)
        assert event is not None and event.error_code == h2.errors.ErrorCodes.NO_ERROR


def test_a_slow_reader_is_not_a_stall() -> None:
    # The window opens a little at a time: every opening restarts the stall clock.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"s" * 6000})

    with run_server(app, http2_window_timeout=0.6) as url, H2Client(url) as client:
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
        client.flush()
        stream_id = client.request("GET", "/")
        got = 0
        ended = False
        deadline = time.monotonic() + 10
        while not ended and time.monotonic() < deadline:
            for event in client.read_once(0.3):
                if isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                    got += len(event.data)
                    if event.stream_ended is not None:
                        continue
                    # Each opening comes within the stall timeout; the whole body takes
                    # several timeouts.
                    time.sleep(0.4)
                    client.conn.increment_flow_control_window(len(event.data), stream_id)
                    client.flush()
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
                elif isinstance(event, h2.events.StreamReset):
                    raise AssertionError("a slow reader was reset")
        assert ended and got == 6000
