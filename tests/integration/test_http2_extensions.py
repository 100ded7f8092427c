"""http.response.trailers and http.response.early_hint (asgiref extensions.rst) over
HTTP/2: trailers as the last HEADERS frame (END_STREAM), 103 as an interim HEADERS
frame before the final one (RFC 9113 §8.1), with the raw-frame client, httpx and curl."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import h2.errors
import h2.events
import httpx
import pytest

from tests.support.h2_client import H2Client
from tests.support.live_server import run_server

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(
    CURL is None
    or "HTTP2" not in subprocess.run([CURL or "curl", "-V"], capture_output=True, text=True).stdout,
    reason="curl with HTTP/2 not installed",
)

LINK = b"</style.css>; rel=preload; as=style"

# What the app saw, for the test that runs it (cleared before each test).
state: dict[str, list[Any]] = {}


@pytest.fixture(autouse=True)
def _clear_state() -> None:
    state.clear()


async def app(scope: Any, receive: Any, send: Any) -> None:
    """``/trailers``, ``/no-body``, ``/empty``, ``/bad``, ``/hints``: see the tests."""
    if scope["type"] != "http":
        return
    state.setdefault("extensions", []).append(scope["extensions"])
    path = scope["path"]
    if path == "/hints":
        await send({"type": "http.response.early_hint", "links": [LINK]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        # After start, before the first body: the final head is still held back.
        await send({"type": "http.response.early_hint", "links": [b"</a.js>; rel=preload"]})
        await send({"type": "http.response.body", "body": b"hi", "more_body": True})
        # Too late (the final head is out): dropped, not an error.
        await send({"type": "http.response.early_hint", "links": [b"</late>; rel=preload"]})
        await send({"type": "http.response.body", "body": b"!"})
        return
    if path == "/bad-hint":
        try:
            await send({"type": "http.response.early_hint", "links": [b"</a>\r\nx-evil: 1"]})
        except RuntimeError as exc:
            state.setdefault("errors", []).append(str(exc))
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"trailer", b"x-checksum")],
            "trailers": True,
        }
    )
    if path == "/big":
        for _ in range(4):  # 200,000 bytes: more than the client's 65,535-byte window
            await send({"type": "http.response.body", "body": b"x" * 50_000, "more_body": True})
    if path != "/no-body":
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
    await send({"type": "http.response.body", "body": b" world" if path != "/no-body" else b""})
    if path == "/bad":
        for fields in ([(b"content-length", b"5")], [(b"x-a", b"1\r\nx-b: 2")]):
            try:
                await send({"type": "http.response.trailers", "headers": fields})
            except RuntimeError as exc:
                state.setdefault("errors", []).append(str(exc))
        if scope["query_string"] == b"fail":
            raise RuntimeError("gave up after a refused trailer")
    if path == "/empty":
        await send({"type": "http.response.trailers", "headers": []})
        return
    await send(
        {
            "type": "http.response.trailers",
            "headers": [(b"X-Checksum", b"5d41402a")],
            "more_trailers": True,
        }
    )
    await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})


def _of(events: list[Any], stream_id: int) -> list[Any]:
    return [e for e in events if getattr(e, "stream_id", None) == stream_id]


def test_trailers_after_the_data_end_the_stream() -> None:
    with run_server(app) as url, H2Client(url) as client:
        # No "TE: trailers" in the request: HTTP/2 sends them all the same.
        sid = client.request("GET", "/trailers")
        events = _of(client.until(h2.events.StreamEnded, sid), sid)
    kinds = [type(e) for e in events]
    assert kinds[0] is h2.events.ResponseReceived
    data = [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert b"".join(e.data for e in data) == b"hello world"
    assert all(e.stream_ended is None for e in data)  # the DATA does not end it
    trailers = [e for e in events if isinstance(e, h2.events.TrailersReceived)]
    assert len(trailers) == 1  # one section, both messages' fields
    assert trailers[0].headers == [(b"x-checksum", b"5d41402a"), (b"grpc-status", b"0")]
    assert trailers[0].stream_ended is not None  # END_STREAM on the trailers HEADERS
    assert kinds.index(h2.events.TrailersReceived) > kinds.index(h2.events.DataReceived)
    assert kinds[-1] is h2.events.StreamEnded


def test_trailers_wait_for_the_flow_control_window() -> None:
    with run_server(app) as url, H2Client(url) as client:
        sid = client.request("GET", "/big")
        events: list[Any] = []
        size = 0
        deadline = time.monotonic() + 10
        while not any(isinstance(e, h2.events.StreamEnded) for e in events):
            assert time.monotonic() < deadline and not client.closed
            got = _of(client.read_once(0.2), sid)
            events += got
            for event in got:
                if isinstance(event, h2.events.DataReceived):
                    size += len(event.data)
                    # Open the window only as the data is read: the server has to wait.
                    client.conn.acknowledge_received_data(event.flow_controlled_length, sid)
            client.flush()
    assert size == 200_000 + len(b"hello world")
    kinds = [type(e) for e in events]
    last_data = max(i for i, k in enumerate(kinds) if k is h2.events.DataReceived)
    assert kinds.index(h2.events.TrailersReceived) > last_data
    assert kinds[-1] is h2.events.StreamEnded


def test_trailers_without_a_body() -> None:
    with run_server(app) as url, H2Client(url) as client:
        sid = client.request("GET", "/no-body")
        events = _of(client.until(h2.events.StreamEnded, sid), sid)
        head = client.request("HEAD", "/trailers")
        head_events = _of(client.until(h2.events.StreamEnded, head), head)
        empty = client.request("GET", "/empty")
        empty_events = _of(client.until(h2.events.StreamEnded, empty), empty)
    # HEADERS, then the trailers' HEADERS with END_STREAM: no DATA at all.
    assert [type(e) for e in events][:2] == [
        h2.events.ResponseReceived,
        h2.events.TrailersReceived,
    ]
    assert not [e for e in events if isinstance(e, h2.events.DataReceived)]
    # HEAD has no content, so no trailer section either (checked, then dropped).
    assert not [e for e in head_events if isinstance(e, h2.events.TrailersReceived)]
    assert isinstance(head_events[0], h2.events.ResponseReceived)
    # No fields to send: the stream ends on the DATA as usual.
    assert not [e for e in empty_events if isinstance(e, h2.events.TrailersReceived)]
    assert (
        b"".join(e.data for e in empty_events if isinstance(e, h2.events.DataReceived))
        == b"hello world"
    )


def test_forbidden_trailer_is_refused_and_the_stream_reset() -> None:
    with run_server(app) as url, H2Client(url) as client:
        sid = client.request("GET", "/bad?fail")
        events = _of(client.until(h2.events.StreamReset, sid), sid)
        # The connection goes on; an app that sends valid trailers after a refused
        # one still completes.
        ok = client.request("GET", "/bad")
        ok_events = _of(client.until(h2.events.StreamEnded, ok), ok)
        assert not client.closed
    errors = state.get("errors", [])
    assert len(errors) == 4
    assert "content-length is not allowed in trailers" in errors[0]
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert resets and resets[0].error_code == h2.errors.ErrorCodes.INTERNAL_ERROR
    assert not [e for e in events if isinstance(e, h2.events.TrailersReceived)]
    data = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert data == b"hello world"
    trailers = [e for e in ok_events if isinstance(e, h2.events.TrailersReceived)]
    assert trailers and (b"content-length", b"5") not in trailers[0].headers


def test_early_hints_before_the_final_response() -> None:
    with run_server(app) as url, H2Client(url) as client:
        sid = client.request("GET", "/hints")
        events = _of(client.until(h2.events.StreamEnded, sid), sid)
        bad = client.request("GET", "/bad-hint")
        bad_events = _of(client.until(h2.events.StreamEnded, bad), bad)
    kinds = [type(e) for e in events]
    hints = [e for e in events if isinstance(e, h2.events.InformationalResponseReceived)]
    assert [h.headers for h in hints] == [
        [(b":status", b"103"), (b"link", LINK)],
        [(b":status", b"103"), (b"link", b"</a.js>; rel=preload")],
    ]
    final = kinds.index(h2.events.ResponseReceived)
    assert (
        max(i for i, k in enumerate(kinds) if k is h2.events.InformationalResponseReceived) < final
    )
    assert dict(events[final].headers)[b":status"] == b"200"
    body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert body == b"hi!"
    # A Link value with CR LF: send() raises, nothing goes out, the response follows.
    assert "invalid 'http.response.early_hint'" in state["errors"][0]
    assert not [e for e in bad_events if isinstance(e, h2.events.InformationalResponseReceived)]
    assert dict(bad_events[0].headers)[b":status"] == b"204"


def test_extensions_advertised_over_http2() -> None:
    with run_server(app) as url, H2Client(url) as client:
        client.response(client.request("GET", "/hints"))
    extensions = state["extensions"][0]
    assert "http.response.trailers" in extensions
    assert "http.response.early_hint" in extensions


def test_httpx_reads_a_response_with_trailers_and_hints() -> None:
    pytest.importorskip("h2")
    with (
        run_server(app) as url,
        httpx.Client(http1=False, http2=True, base_url=url, timeout=10) as client,
    ):
        response = client.get("/trailers")
        assert (response.http_version, response.status_code) == ("HTTP/2", 200)
        assert response.content == b"hello world"
        response = client.get("/hints")
        assert (response.status_code, response.content) == (200, b"hi!")


@needs_curl
def test_curl_shows_the_103_and_the_trailers() -> None:
    assert CURL is not None
    with run_server(app) as url:
        done = subprocess.run(
            [CURL, "-sS", "-v", "--max-time", "10", "--http2-prior-knowledge", url + "/hints"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        trailers = subprocess.run(
            [CURL, "-sS", "-v", "--max-time", "10", "--http2-prior-knowledge", url + "/trailers"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hi!"
    lines = done.stderr.splitlines()
    early = lines.index("< HTTP/2 103 ")
    assert lines[early + 1] == "< link: " + LINK.decode()
    assert early < lines.index("< HTTP/2 200 ")
    assert trailers.returncode == 0, trailers.stderr
    assert trailers.stdout == "hello world"
    assert "< x-checksum: 5d41402a" in trailers.stderr.splitlines()
