"""HTTP/2 end to end: curl and httpx over TLS (ALPN) and cleartext (prior knowledge),
many streams on one connection, flow control both ways, shutdown, failing apps, and
Starlette, FastAPI and Django apps unchanged."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.events
import httpx
import pytest

from asgi_magic.config import Config
from asgi_magic.server import Server
from tests.support.h2_client import H2Client, goaway
from tests.support.live_server import run_server

trustme = pytest.importorskip("trustme")

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(
    CURL is None
    or "HTTP2" not in subprocess.run([CURL or "curl", "-V"], capture_output=True, text=True).stdout,
    reason="curl with HTTP/2 not installed",
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("certs")
    paths = {
        "ca": str(folder / "ca.pem"),
        "key": str(folder / "key.pem"),
        "cert": str(folder / "cert.pem"),
    }
    ca.cert_pem.write_to_path(paths["ca"])
    cert.private_key_pem.write_to_path(paths["key"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    return paths


def _tls(certs: dict[str, str]) -> dict[str, Any]:
    return {"ssl_keyfile": certs["key"], "ssl_certfile": certs["cert"]}


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """``/`` says the version; ``/echo`` returns the body; ``/big?n=`` sends n bytes."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/big":
        size = int(scope["query_string"].split(b"=")[1])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % size)],
            }
        )
        chunk = b"x" * 65536
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": sent < size})
        return
    text = f"{scope['http_version']} {scope['scheme']} {scope['method']} {scope['path']}"
    text += f" {scope['query_string'].decode()} {dict(scope['headers']).get(b'host', b'').decode()}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"connection", b"keep-alive")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=20
    )


# --- negotiation -------------------------------------------------------------------------


@needs_curl
def test_curl_http2_over_tls_alpn(certs: dict[str, str]) -> None:
    with run_server(echo_app, **_tls(certs)) as url:
        url = url.replace("http://", "https://")
        done = _curl("--http2", "--cacert", certs["ca"], "-w", " %{http_version}", url + "/a?b=1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2 https GET /a b=1 " + url.split("//")[1] + " 2"


@needs_curl
def test_curl_http2_prior_knowledge() -> None:
    with run_server(echo_app) as url:
        done = _curl("--http2-prior-knowledge", "-w", " %{http_version}", url + "/x")
        plain = _curl("-w", " %{http_version}", url + "/x")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 http GET /x") and done.stdout.endswith(" 2")
    assert plain.stdout.startswith("1.1 http GET /x") and plain.stdout.endswith(" 1.1")


@needs_curl
def test_curl_upload_over_tls(certs: dict[str, str], tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: many windows' worth
    upload = tmp_path / "up.bin"
    upload.write_bytes(data)
    out = tmp_path / "out.bin"
    with run_server(echo_app, **_tls(certs)) as url:
        url = url.replace("http://", "https://")
        done = _curl(
            "--http2", "--cacert", certs["ca"], "--data-binary", f"@{upload}", "-o", str(out),
            url + "/echo",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == data


def test_no_http2_keeps_alpn_to_http11(certs: dict[str, str]) -> None:
    with run_server(echo_app, http2=False, **_tls(certs)) as url:
        url = url.replace("http://", "https://")
        with httpx.Client(
            verify=ssl.create_default_context(cafile=certs["ca"]), http2=True
        ) as client:
            response = client.get(url + "/")
    assert response.http_version == "HTTP/1.1"
    assert response.text.startswith("1.1 https")


def test_no_http2_refuses_the_cleartext_preface() -> None:
    with run_server(echo_app, http2=False) as url:
        host, port = url.split("//")[1].split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            sock.settimeout(5)
            # Parsed as HTTP/1.1: "HTTP/2.0" is a version we do not speak.
            assert sock.recv(100).startswith(b"HTTP/1.1 505 ")


def test_upgrade_h2c_is_served_as_http11() -> None:
    # RFC 7540 §3.2 Upgrade: h2c is not offered (RFC 9113 §3.1 deprecates it): the
    # request is answered over HTTP/1.1, as the RFC lets a server do.
    with run_server(echo_app) as url:
        response = httpx.get(
            url + "/u",
            headers={
                "Connection": "Upgrade, HTTP2-Settings",
                "Upgrade": "h2c",
                "HTTP2-Settings": "AAMAAABkAAQAAP__",
            },
        )
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.text.startswith("1.1 http GET /u")


def test_preface_split_across_reads() -> None:
    with run_server(echo_app) as url:
        host, port = url.split("//")[1].split(":")
        with socket.create_connection((host, int(port))) as sock:
            for piece in (b"PRI * HT", b"TP/2.0\r\n", b"\r\nSM\r", b"\n\r\n"):
                sock.sendall(piece)
                time.sleep(0.05)
            sock.settimeout(5)
            # Our SETTINGS frame (type 4) comes back: HTTP/2 was recognised.
            head = sock.recv(9)
        assert head[3] == 0x4


# --- httpx, many streams ---------------------------------------------------------------


def test_httpx_http2_over_tls(certs: dict[str, str]) -> None:
    with run_server(echo_app, **_tls(certs)) as url:
        url = url.replace("http://", "https://")
        with httpx.Client(
            verify=ssl.create_default_context(cafile=certs["ca"]), http2=True
        ) as client:
            first = client.get(url + "/p?q=1")
            second = client.post(url + "/echo", content=b"abc" * 10000)
    assert first.http_version == "HTTP/2"
    assert first.text.startswith("2 https GET /p q=1")
    # RFC 9113 §8.2.2: the app's Connection header does not reach the wire.
    assert "connection" not in first.headers
    assert second.content == b"abc" * 10000


def test_many_concurrent_streams_on_one_connection() -> None:
    seen_ports: set[int] = set()
    active = 0
    peak = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal active, peak
        if scope["type"] != "http":
            return
        seen_ports.add(scope["client"][1])
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async def main(url: str) -> list[str]:
        async with httpx.AsyncClient(http1=False, http2=True, base_url=url) as client:
            responses = await asyncio.gather(*(client.get(f"/r{i}") for i in range(250)))
        assert all(r.http_version == "HTTP/2" for r in responses)
        return [r.text for r in responses]

    with run_server(app) as url:
        texts = asyncio.run(main(url))
    assert texts == [f"/r{i}" for i in range(250)]
    assert len(seen_ports) == 1  # one connection
    assert 10 < peak <= 100  # concurrent, and within SETTINGS_MAX_CONCURRENT_STREAMS


# --- flow control --------------------------------------------------------------------------


def test_large_download_waits_for_the_window() -> None:
    size = 8 * 1024 * 1024
    with run_server(echo_app) as url, httpx.Client(http1=False, http2=True) as client:
        response = client.get(url + f"/big?n={size}")
    assert response.status_code == 200 and len(response.content) == size


def test_large_upload_and_echo() -> None:
    data = bytes(range(256)) * 16384  # 4 MiB
    with run_server(echo_app) as url, httpx.Client(http1=False, http2=True) as client:
        response = client.post(url + "/echo", content=data)
    assert response.content == data


def test_app_that_does_not_read_closes_the_window() -> None:
    """The peer's window closes when the app does not take the body: it cannot send
    more than one stream window, and the server acknowledges nothing meanwhile."""
    release = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while not release.is_set():
            await asyncio.sleep(0.02)
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": str(total).encode()})

    with run_server(app) as url, H2Client(url) as client:
        client.events(quiet=0.3)  # SETTINGS both ways
        stream_id = client.request("POST", "/", end_stream=False)
        sent = 0
        for _ in range(40):
            window = client.conn.local_flow_control_window(stream_id)
            if not window:
                client.events(quiet=0.3)  # a WINDOW_UPDATE would arrive here
                if not client.conn.local_flow_control_window(stream_id):
                    break
                continue
            part = min(window, 16384)
            client.conn.send_data(stream_id, b"u" * part)
            client.flush()
            sent += part
        # Only the initial stream window could be sent: nothing was acknowledged.
        assert sent == 65535
        updates = [e for e in client.received if isinstance(e, h2.events.WindowUpdated)]
        assert not [e for e in updates if e.stream_id == stream_id]
        release.set()
        # Once the app reads, the window opens and the rest of the body goes through.
        rest = 200_000
        while rest:
            window = client.conn.local_flow_control_window(stream_id)
            if window == 0:
                client.read_once(1.0)
                continue
            part = min(window, rest, 16384)
            client.conn.send_data(stream_id, b"v" * part, end_stream=part == rest)
            client.flush()
            rest -= part
        status, _, body = client.response(stream_id)
    assert status == 200 and int(body) == sent + 200_000


def test_send_waits_for_a_closed_window_then_the_stall_is_timed_out() -> None:
    outcome: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        try:
            # The first send returns once the stream is gone; the next one raises.
            for _ in range(3):
                await send({"type": "http.response.body", "body": b"z" * 100, "more_body": True})
        except OSError as exc:
            outcome.append(type(exc).__name__)
            raise

    with run_server(app, http2_window_timeout=0.5) as url, H2Client(url) as client:
        # The client never opens its window beyond 10 bytes and never acknowledges.
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
        client.flush()
        stream_id = client.request("GET", "/")
        started = time.monotonic()
        events = client.until(h2.events.StreamReset, stream_id, limit=10)
        resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
        assert resets and resets[0].error_code == h2.errors.ErrorCodes.CANCEL
        assert time.monotonic() - started < 5
        data = sum(len(e.data) for e in events if isinstance(e, h2.events.DataReceived))
        assert data == 10
    deadline = time.monotonic() + 5
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcome == ["ClientDisconnected"]


# --- errors, 100-continue, shutdown ------------------------------------------------------


def test_app_failure_after_start_resets_only_its_stream() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/boom":
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            raise RuntimeError("boom")
        if scope["path"] == "/early":
            raise RuntimeError("early")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"fine"})

    with run_server(app) as url, H2Client(url) as client:
        boom = client.request("GET", "/boom")
        events = client.until(h2.events.StreamReset, boom)
        reset = [e for e in events if isinstance(e, h2.events.StreamReset)]
        assert reset and reset[0].error_code == h2.errors.ErrorCodes.INTERNAL_ERROR
        early = client.request("GET", "/early")
        assert client.response(early)[0] == 500
        fine = client.request("GET", "/")
        assert client.response(fine)[0::2] == (200, b"fine")
        assert not client.closed


def test_invalid_response_header_is_the_apps_error() -> None:
    errors: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb")]}
            )
        except RuntimeError as exc:
            errors.append(str(exc))
            raise

    with run_server(app) as url, httpx.Client(http1=False, http2=True) as client:
        assert client.get(url + "/").status_code == 500
    assert errors and "CR" in errors[0]


def test_expect_100_continue() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": message["body"]})

    with run_server(app) as url, H2Client(url) as client:
        stream_id = client.request(
            "POST", "/", headers=[(b"expect", b"100-continue")], end_stream=False
        )
        events = client.until(h2.events.InformationalResponseReceived, stream_id)
        interim = [e for e in events if isinstance(e, h2.events.InformationalResponseReceived)]
        assert interim and dict(interim[0].headers)[b":status"] == b"100"
        client.conn.send_data(stream_id, b"go", end_stream=True)
        client.flush()
        assert client.response(stream_id)[0::2] == (200, b"go")


def test_request_errors_answer_on_the_stream_only() -> None:
    with run_server(echo_app, limit_request_body=10) as url, H2Client(url) as client:
        bad_path = client.request("GET", "/a b")
        assert client.response(bad_path)[0] == 400
        too_big = client.request(
            "POST", "/echo", headers=[(b"content-length", b"11")], body=b"x" * 11
        )
        assert client.response(too_big)[0] == 413
        streamed = client.request("POST", "/echo", body=b"y" * 11)
        assert client.response(streamed)[0] == 413
        connect = client.request(
            pseudo=[(b":method", b"CONNECT"), (b":authority", b"example.com:443")]
        )
        assert client.response(connect)[0] == 501
        ok = client.request("GET", "/fine")
        assert client.response(ok)[0] == 200
        assert not client.closed


def test_graceful_shutdown_sends_goaway_and_lets_streams_finish() -> None:
    started = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started.set()
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"finished"})

    server = Server(Config(app=app, port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    late = 0
    with H2Client(f"http://{host}:{port}") as client:
        stream_id = client.request("GET", "/")
        assert started.wait(5)
        server.should_exit = True
        events = client.until(h2.events.ConnectionTerminated, limit=5)
        first = goaway(events)
        assert first is not None and first.error_code == 0
        assert first.last_stream_id == stream_id
        # A stream the client opens after our GOAWAY is refused (RFC 9113 §6.8). The
        # client's h2 would not send it: the frame goes out by hand.
        late = stream_id + 2
        client.send_raw(
            client.headers_frame(
                late,
                [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/late"),
                 (b":authority", client.authority)],
            )
        )  # fmt: skip
        raw = b""
        client.sock.settimeout(5)
        while True:
            data = client.sock.recv(65536)
            if not data:
                break
            raw += data
    # The in-flight response, the refusal of the late stream (RST_STREAM, type 3,
    # REFUSED_STREAM = 7), then the final GOAWAY and the close.
    assert b"finished" in raw
    assert bytes([0, 0, 4, 3, 0]) + late.to_bytes(4, "big") + (7).to_bytes(4, "big") in raw
    thread.join(10)
    assert not thread.is_alive()


# --- third-party apps ----------------------------------------------------------------------


@pytest.fixture
def h2_client() -> Iterator[httpx.Client]:
    with httpx.Client(http1=False, http2=True) as client:
        yield client


def test_starlette_over_http2(h2_client: httpx.Client) -> None:
    from tests.integration.apps.starlette_app import app

    with run_server(app) as url:
        r = h2_client.post(url + "/echo?q=hi", content=b"body" * 1000)
        assert r.http_version == "HTTP/2" and r.text == "body" * 1000 + "|hi"
        r = h2_client.get(url + "/stream?n=4")
        assert r.text == "chunk0;chunk1;chunk2;chunk3;"
        assert "transfer-encoding" not in r.headers  # RFC 9113 §8.2.2
        assert h2_client.get(url + "/info/a%20b/c?x=1&y=2").json() == {
            "path": "/info/a b/c",
            "query": {"x": "1", "y": "2"},
        }


def test_fastapi_over_http2(h2_client: httpx.Client) -> None:
    from tests.integration.apps.fastapi_app import app

    with run_server(app) as url:
        r = h2_client.post(url + "/items?discount=1.5", json={"name": "pen", "price": 3.0})
        assert r.http_version == "HTTP/2" and r.json() == {"name": "pen", "price": 1.5}
        assert h2_client.post(url + "/items", json={"name": 1}).status_code == 422
        assert h2_client.get(url + "/stream").text == "0,1,2,3,4,"


def test_django_over_http2(h2_client: httpx.Client) -> None:
    from tests.integration.apps.django_app import app

    with run_server(app, lifespan="off") as url:
        r = h2_client.post(url + "/echo?q=x", content=b"payload")
        assert r.http_version == "HTTP/2" and r.text == "payload|x"
        r = h2_client.get(url + "/stream")
        assert r.status_code == 200 and r.text == "part0;part1;part2;"
        assert h2_client.get(url + "/missing").status_code == 404


def test_ssl_context_offers_h2_then_http11(certs: dict[str, str]) -> None:
    from asgi_magic.server.server import create_ssl_context

    context = create_ssl_context(Config(app=None, **_tls(certs)), http2=True)
    assert isinstance(context, ssl.SSLContext)


# --- the scheme ------------------------------------------------------------------------------


def _scheme_request(
    client: H2Client, scheme: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, bytes]:
    pseudo = [
        (b":method", b"GET"),
        (b":scheme", scheme),
        (b":authority", client.authority),
        (b":path", b"/s"),
    ]
    stream_id = client.request(pseudo=pseudo, headers=headers)
    status, _, body = client.response(stream_id)
    return status, body


def test_scheme_is_the_requests_not_the_connections() -> None:
    # RFC 9113 §8.3.1: a proxy that terminated TLS and speaks cleartext HTTP/2 to us
    # says https in :scheme; the app must see https (as for an absolute-form
    # https:// target over HTTP/1.1).
    with run_server(echo_app) as url, H2Client(url) as client:
        assert _scheme_request(client, b"https")[1].startswith(b"2 https GET /s")
        assert _scheme_request(client, b"http")[1].startswith(b"2 http GET /s")
        assert _scheme_request(client, b"HTTPS")[1].startswith(b"2 https GET /s")


def test_scheme_http_over_tls(certs: dict[str, str]) -> None:
    tls = ssl.create_default_context(cafile=certs["ca"])
    tls.set_alpn_protocols(["h2"])
    with run_server(echo_app, **_tls(certs)) as url, H2Client(url, tls=tls) as client:
        assert _scheme_request(client, b"http")[1].startswith(b"2 http GET /s")
        assert _scheme_request(client, b"https")[1].startswith(b"2 https GET /s")


@pytest.mark.parametrize("scheme", [b"ftp", b"wss", b"javascript", b"http:"])
def test_other_schemes_get_400_on_their_stream(scheme: bytes) -> None:
    with run_server(echo_app) as url, H2Client(url) as client:
        assert _scheme_request(client, scheme) == (400, b"unsupported :scheme\n")
        assert not client.closed
        assert _scheme_request(client, b"http")[0] == 200


def test_trusted_proxy_headers_override_the_scheme_pseudo_field() -> None:
    # The same order as HTTP/1.1: the request's scheme first, a trusted proxy's
    # X-Forwarded-Proto / Forwarded proto last.
    xfp = [(b"x-forwarded-proto", b"http")]
    forwarded = [(b"forwarded", b"for=1.2.3.4;proto=https")]
    with run_server(echo_app, forwarded_allow_ips="127.0.0.1") as url, H2Client(url) as client:
        assert _scheme_request(client, b"https", xfp)[1].startswith(b"2 http GET /s")
        assert _scheme_request(client, b"http", forwarded)[1].startswith(b"2 https GET /s")
    with run_server(echo_app, forwarded_allow_ips="10.9.9.9") as url, H2Client(url) as client:
        assert _scheme_request(client, b"https", xfp)[1].startswith(b"2 https GET /s")
