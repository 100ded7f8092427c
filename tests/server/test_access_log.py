"""The access-log formatter: every atom, JSON, escaping, WebSocket lines, and no work when off."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from asgi_magic.config import Config
from asgi_magic.server.access_log import ATOMS, AccessLog, escape_bytes, escape_str, parse_format
from tests.support.live_server import run_server


class Capture(logging.Handler):
    """Records the formatted messages of the access logger (independent of caplog and of
    whether another test switched propagation off)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    logger = logging.getLogger("asgi_magic.access")
    handler = Capture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


SCOPE: dict[str, Any] = {
    "type": "http",
    "http_version": "1.1",
    "method": "POST",
    "path": "/a b/ü",
    "raw_path": b"/a%20b/%C3%BC",
    "query_string": b"x=1&y=2",
    "client": ("10.0.0.7", 40000),
    "headers": [
        (b"host", b"example.com"),
        (b"user-agent", b"curl/8.5"),
        (b"referer", b"https://ref.example/"),
        (b"authorization", b"Basic " + base64.b64encode(b"alice:secret")),
        (b"x-multi", b"1"),
        (b"x-multi", b"2"),
    ],
}
RESPONSE_HEADERS = [(b"Content-Type", b"text/plain"), (b"x-id", b"abc")]


def one(fmt: str | None, scope: dict[str, Any] = SCOPE, **kw: Any) -> str:
    logger = logging.getLogger("test.access.one")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = Capture()
    logger.handlers = [handler]
    args: dict[str, Any] = {
        "status": 201,
        "response_headers": RESPONSE_HEADERS,
        "body_bytes": 1234,
        "duration": 1.2345678,
    }
    args.update(kw)
    AccessLog(fmt, logger=logger).log(scope, **args)
    [line] = handler.lines
    return line


def test_default_line_is_todays() -> None:
    assert one(None) == '10.0.0.7:40000 - "POST /a%20b/%C3%BC?x=1&y=2 HTTP/1.1" 201 1234.6ms'


def test_default_line_without_client_or_query() -> None:
    scope = dict(SCOPE, client=None, query_string=b"")
    assert one(None, scope).startswith('- - "POST /a%20b/%C3%BC HTTP/1.1" 201 ')


def test_default_line_closed_early() -> None:
    assert one(None, closed_early=True).endswith("ms closed-early")


@pytest.mark.parametrize(
    ("atom", "expected"),
    [
        ("h", "10.0.0.7"),
        ("l", "-"),
        ("u", "alice"),
        ("r", "POST /a%20b/%C3%BC?x=1&y=2 HTTP/1.1"),
        ("m", "POST"),
        ("U", "/a b/\\xc3\\xbc"),
        ("q", "x=1&y=2"),
        ("H", "HTTP/1.1"),
        ("s", "201"),
        ("B", "1234"),
        ("b", "1234"),
        ("f", "https://ref.example/"),
        ("a", "curl/8.5"),
        ("T", "1"),
        ("M", "1234"),
        ("D", "1234567"),
        ("L", "1.234568"),
        ("p", f"<{os.getpid()}>"),
    ],
)
def test_every_atom(atom: str, expected: str) -> None:
    assert one(f"%({atom})s") == expected


def test_every_atom_is_tested() -> None:
    tested = {"h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a"}
    tested |= {"T", "M", "D", "L", "p"}
    assert set(ATOMS) == tested


def test_time_atom_is_common_log_format() -> None:
    value = one("%(t)s")
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", value), value


def test_b_is_dash_for_no_body() -> None:
    assert one("%(b)s %(B)s", body_bytes=0) == "- 0"


def test_header_and_environment_atoms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_LOG_TEST_VAR", "blue")
    fmt = "%({Host}i)s %({x-multi}i)s %({missing}i)s %({content-type}o)s %({X-ID}o)s"
    fmt += " %({nothing}o)s %({ACCESS_LOG_TEST_VAR}e)s %({ACCESS_LOG_UNSET_VAR}e)s"
    assert one(fmt) == "example.com 1,2 - text/plain abc - blue -"


def test_gunicorn_default_format_and_percent_literal() -> None:
    fmt = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" 100%%'
    line = one(fmt)
    assert line.startswith("10.0.0.7 - alice [")
    assert line.endswith(
        '] "POST /a%20b/%C3%BC?x=1&y=2 HTTP/1.1" 201 1234 "https://ref.example/" "curl/8.5" 100%'
    )


@pytest.mark.parametrize("bad", ["%(zz)s", "%(h)s %", "%(h)d", "%({}i)s"])
def test_unknown_atom_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError, match="access log format"):
        parse_format(bad)


def test_unknown_atom_stops_the_server_at_startup(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from asgi_magic.server import Server

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not reached")

    server = Server(Config(app=app, port=0, access_log_format="%(nope)s", lifespan="off"))
    with caplog.at_level("ERROR", logger="asgi_magic.error"):
        asyncio.run(server.serve())
    assert server.exit_code == 1
    assert "unknown atom %(nope)s" in caplog.text


# --- escaping: nobody can forge a line or a field --------------------------------------

EVIL = dict(
    SCOPE,
    raw_path=b'/x"\\\n127.0.0.1 - "GET /admin HTTP/1.1" 200\x1b[31m\xff',
    query_string=b'a="b"\r\n',
    client=("evil\nhost", 1),
    headers=[(b"user-agent", b'Moz"illa\n\x00'), (b"referer", b"\\x41")],
)


def test_escaping_in_the_default_line() -> None:
    line = one(None, EVIL)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line == (
        'evil\\x0ahost:1 - "POST /x\\x22\\x5c\\x0a127.0.0.1 - \\x22GET /admin HTTP/1.1\\x22 '
        '200\\x1b[31m\\xff?a=\\x22b\\x22\\x0d\\x0a HTTP/1.1" 201 1234.6ms'
    )
    # Exactly two unescaped quotes: the request-line field stays one field.
    assert line.count('"') == 2


def test_escaping_in_custom_atoms() -> None:
    line = one('%(h)s "%(a)s" "%(f)s" %(U)s', dict(EVIL, path="/\n\u2028"))
    assert line == 'evil\\x0ahost "Moz\\x22illa\\x0a\\x00" "\\x5cx41" /\\x0a\\xe2\\x80\\xa8'


def test_escape_helpers() -> None:
    assert escape_bytes(b"plain /path?x=1") == "plain /path?x=1"
    assert escape_bytes(b'"\\\x7f\x80') == "\\x22\\x5c\\x7f\\x80"
    assert escape_str("ok") == "ok"
    assert escape_str("é\t") == "\\xc3\\xa9\\x09"


def test_json_line_parses_and_cannot_be_injected() -> None:
    line = one("json", EVIL, closed_early=True)
    assert "\n" not in line
    record = json.loads(line)
    assert record["type"] == "http"
    assert record["method"] == "POST"
    assert record["path"] == '/x"\\\n127.0.0.1 - "GET /admin HTTP/1.1" 200\x1b[31m\\xff'
    assert record["query"] == 'a="b"\r\n'
    assert record["client"] == "evil\nhost:1"
    assert record["user_agent"] == 'Moz"illa\n\x00'
    assert record["status"] == 201 and record["bytes"] == 1234
    assert record["duration_ms"] == pytest.approx(1234.568)
    assert record["closed_early"] is True
    assert isinstance(record["time"], float)


def test_json_plain_request() -> None:
    record = json.loads(one("json"))
    assert record["path"] == "/a%20b/%C3%BC" and record["query"] == "x=1&y=2"
    assert record["referer"] == "https://ref.example/" and record["user_agent"] == "curl/8.5"
    assert "closed_early" not in record


def test_websocket_lines() -> None:
    scope = {
        "type": "websocket",
        "http_version": "1.1",
        "path": "/chat",
        "raw_path": b"/chat",
        "query_string": b"room=1",
        "client": ("127.0.0.1", 9),
        "headers": [],
    }
    line = one(None, scope, status=101, body_bytes=0, duration=2.5)
    assert line == '127.0.0.1:9 - "GET /chat?room=1 HTTP/1.1" 101 2500.0ms ws'
    assert one("%(m)s %(r)s %(s)s", scope, status=403) == "GET GET /chat?room=1 HTTP/1.1 403"
    assert json.loads(one("json", scope, status=101))["type"] == "websocket"


# --- disabled means no work --------------------------------------------------------------


def test_disabled_when_config_off_or_logger_above_info() -> None:
    logger = logging.getLogger("asgi_magic.access")
    old = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert AccessLog.from_config(Config(app=None)).enabled
        assert not AccessLog.from_config(Config(app=None, access_log=False)).enabled
        logger.setLevel(logging.WARNING)
        assert not AccessLog.from_config(Config(app=None)).enabled
    finally:
        logger.setLevel(old)


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-id", b"7")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.mark.parametrize("settings", [{"access_log": False}, {"log_level": "warning"}])
def test_disabled_log_is_never_called(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any]
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(AccessLog, "log", lambda *a, **k: calls.append(a))
    import asgi_magic.server.http_cycle as http_cycle

    clock: list[int] = []

    class CountingClock:
        @staticmethod
        def perf_counter() -> float:
            clock.append(1)
            return time.perf_counter()

    monkeypatch.setattr(http_cycle, "_perf_counter", CountingClock.perf_counter)
    settings.setdefault("log_level", "info")
    with run_server(hello, **settings) as url:
        for _ in range(3):
            assert httpx.get(url + "/").status_code == 200
    assert calls == []
    assert clock == []  # not even the clock is read


# --- end to end through the real server -------------------------------------------------


async def crashing(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    if scope["path"] == "/crash":
        raise RuntimeError("boom")
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await receive()
    await receive()  # the disconnect, once the client goes


def test_http_lines_end_to_end(lines: list[str]) -> None:
    fmt = "%(s)s %(r)s %(b)s %({x-id}o)s"
    with run_server(hello, log_level="info", access_log_format=fmt) as url:
        httpx.get(url + "/p?q=1")
    assert lines == ["200 GET /p?q=1 HTTP/1.1 5 7"]


def reset_after(url: str, request: bytes, wait_for: bytes) -> None:
    """Send ``request``, read until ``wait_for`` arrives, then reset the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        received = b""
        if not wait_for:
            time.sleep(0.3)  # no response to wait for: let the server read the request
        while wait_for not in received:
            received += sock.recv(4096)
        # RST rather than FIN: a half-closed client may still read its response.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_500_and_abandoned_requests_are_logged(lines: list[str]) -> None:
    with run_server(crashing, log_level="critical") as url:
        logging.getLogger("asgi_magic.access").setLevel(logging.INFO)
        assert httpx.get(url + "/crash").status_code == 500
        reset_after(url, b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n", b"")
        reset_after(url, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", b"part")
        deadline = time.monotonic() + 5
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(lines) == 3, lines
    assert re.fullmatch(r'127\.0\.0\.1:\d+ - "GET /crash HTTP/1\.1" 500 \d+\.\dms', lines[0])
    assert re.fullmatch(r'.* "GET /hang HTTP/1\.1" 499 \d+\.\dms closed-early', lines[1])
    assert re.fullmatch(r'.* "GET /stream HTTP/1\.1" 200 \d+\.\dms closed-early', lines[2])


def test_websocket_session_logged_at_its_end(lines: list[str]) -> None:
    async def ws_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await receive()
        if scope["path"] == "/deny":
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    with run_server(ws_app, log_level="info") as url:
        ws_url = url.replace("http", "ws")
        with ws_connect(ws_url + "/chat?room=1") as ws:
            ws.send("hi")
        with pytest.raises(Exception):  # noqa: B017 - the handshake is refused with a 403
            ws_connect(ws_url + "/deny").close()
        deadline = time.monotonic() + 5
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(lines) == 2, lines
    session = next(line for line in lines if "/chat" in line)
    assert re.fullmatch(
        r'127\.0\.0\.1:\d+ - "GET /chat\?room=1 HTTP/1\.1" 101 \d+\.\dms ws', session
    )
    denied = next(line for line in lines if "/deny" in line)
    assert re.fullmatch(r'127\.0\.0\.1:\d+ - "GET /deny HTTP/1\.1" 403 \d+\.\dms ws', denied)


def test_cli_flag() -> None:
    from asgi_magic.cli import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(["m:app", "--access-log-format", "json"]))
    assert config.access_log_format == "json"
    assert config_from_args(build_parser().parse_args(["m:app"])).access_log_format is None
