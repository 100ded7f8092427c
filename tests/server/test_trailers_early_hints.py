"""http.response.trailers and http.response.early_hint (asgiref extensions.rst) through
the real server: raw sockets, curl, and the framework's send_early_hints."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from asgi_magic.web import App
from asgi_magic.web.requests import Request
from asgi_magic.web.responses import PlainTextResponse
from tests.support.live_server import run_server
from tests.support.wire import open_socket, read_until_close

errors: list[str] = []
extensions: list[Any] = []


async def with_trailers(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    extensions.append(scope["extensions"])
    await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
    await send({"type": "http.response.body", "body": b"hello", "more_body": True})
    await send({"type": "http.response.body", "body": b" world", "more_body": False})
    if scope["path"] == "/bad":
        for fields in ([(b"content-length", b"5")], [(b"x-a", b"1\r\nx-b: 2")], [(b"host", b"x")]):
            try:
                await send({"type": "http.response.trailers", "headers": fields})
            except RuntimeError as exc:
                errors.append(str(exc))
    await send(
        {
            "type": "http.response.trailers",
            "headers": [(b"x-checksum", b"abc")],
            "more_trailers": True,
        }
    )
    await send({"type": "http.response.trailers", "headers": [(b"server-timing", b"db;dur=5")]})


GET = b"GET / HTTP/1.1\r\nHost: x\r\n"


def test_trailers_sent_when_te_trailers() -> None:
    extensions.clear()
    with run_server(with_trailers) as url, open_socket(url) as sock:
        sock.sendall(GET + b"TE: trailers\r\n\r\n" + GET + b"Connection: close\r\n\r\n")
        data, _ = read_until_close(sock)
    first, second = data.split(b"HTTP/1.1 200 OK", 2)[1:]
    assert b"transfer-encoding: chunked" in first.lower()
    assert first.endswith(
        b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\nserver-timing: db;dur=5\r\n\r\n"
    )
    # Without TE: trailers the fields are dropped; the body ends with the last chunk.
    assert second.endswith(b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert "http.response.trailers" in extensions[0]
    assert "http.response.early_hint" in extensions[0]


def test_forbidden_or_malformed_trailers_raise_and_write_nothing() -> None:
    errors.clear()
    with run_server(with_trailers) as url, open_socket(url) as sock:
        sock.sendall(b"GET /bad HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(sock)
    assert len(errors) == 3, errors
    assert data.endswith(b"0\r\nx-checksum: abc\r\nserver-timing: db;dur=5\r\n\r\n")
    assert b"content-length" not in data.split(b"\r\n\r\n", 1)[1]
    assert b"x-b" not in data


def test_trailers_before_body_end_is_an_error() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "trailers": False})
        try:
            await send({"type": "http.response.trailers", "headers": []})
        except RuntimeError as exc:
            seen.append(str(exc))
        await send({"type": "http.response.body", "body": b"ok"})

    with run_server(app) as url, open_socket(url) as sock:
        sock.sendall(GET + b"TE: trailers\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(sock)
    assert data.endswith(b"ok\r\n0\r\n\r\n")
    assert seen and "not announced" in seen[0]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_sees_trailers() -> None:
    with run_server(with_trailers) as url:
        out = subprocess.run(
            ["curl", "-sS", "--raw", "-H", "TE: trailers", url + "/"],
            capture_output=True,
            timeout=20,
            check=True,
        )
    assert b"0\r\nx-checksum: abc\r\nserver-timing: db;dur=5\r\n\r\n" in out.stdout


# --- early hints ------------------------------------------------------------------------

web = App()


@web.get("/page")
async def page(request: Request) -> PlainTextResponse:
    sent = await request.send_early_hints(
        ["</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]
    )
    return PlainTextResponse(f"sent={sent}")


@web.get("/evil")
async def evil(request: Request) -> PlainTextResponse:
    try:
        await request.send_early_hints(["</x>\r\nSet-Cookie: a=b"])
    except RuntimeError:
        return PlainTextResponse("refused")
    return PlainTextResponse("sent")


def test_framework_early_hints_before_the_response() -> None:
    with run_server(web) as url, open_socket(url) as sock:
        sock.sendall(b"GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(sock)
    assert data.startswith(
        b"HTTP/1.1 103 Early Hints\r\n"
        b"link: </style.css>; rel=preload; as=style\r\n"
        b"link: </app.js>; rel=preload; as=script\r\n\r\n"
        b"HTTP/1.1 200 OK\r\n"
    ), data[:300]
    assert data.endswith(b"sent=True")


def test_no_103_for_http10() -> None:
    with run_server(web) as url, open_socket(url) as sock:
        sock.sendall(b"GET /page HTTP/1.0\r\nHost: x\r\n\r\n")
        data, _ = read_until_close(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200]
    assert b" 103 " not in data


def test_early_hint_injection_refused() -> None:
    with run_server(web) as url, open_socket(url) as sock:
        sock.sendall(b"GET /evil HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200]
    assert data.endswith(b"refused")
    assert b"set-cookie" not in data.lower()


def test_early_hint_after_start_before_body_and_after_body() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        # The head is still buffered: the 103 can still come first.
        await send({"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        # The head is out: too late for a 103, dropped.
        await send({"type": "http.response.early_hint", "links": [b"</b.css>; rel=preload"]})
        await send({"type": "http.response.body", "body": b"y"})

    with run_server(app) as url, open_socket(url) as sock:
        sock.sendall(GET + b"Connection: close\r\n\r\n")
        data, _ = read_until_close(sock)
    assert data.startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n")
    assert data.count(b" 103 ") == 1 and b"b.css" not in data


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_prints_103() -> None:
    with run_server(web) as url:
        out = subprocess.run(
            ["curl", "-sS", "-v", url + "/page"], capture_output=True, timeout=20, check=True
        )
    err = out.stderr.decode("latin-1")
    assert "< HTTP/1.1 103 Early Hints" in err
    assert "< link: </style.css>; rel=preload; as=style" in err
    assert "< HTTP/1.1 200 OK" in err
    assert out.stdout == b"sent=True"
