"""The real server on 127.0.0.1: raw sockets for what a client library would hide."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest

from tests.support.live_server import run_server


def hostport(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def raw(url: str, data: bytes, timeout: float = 5.0, until_close: bool = True) -> bytes:
    with socket.create_connection(hostport(url), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not until_close:
                break
        return b"".join(chunks)


async def echo(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = b"%s %s %s|" % (scope["method"].encode(), scope["raw_path"], scope["query_string"]) + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(out)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": out})


def test_httpx_get_post_and_stream() -> None:
    with run_server(echo) as url, httpx.Client() as client:
        r = client.get(url + "/p?q=1")
        assert r.status_code == 200 and r.text == "GET /p q=1|"
        r = client.post(url + "/u", content=b"x" * 100_000)
        assert r.text == "POST /u |" + "x" * 100_000
        r = client.post(url + "/c", content=iter([b"ab", b"cd"]))  # chunked upload
        assert r.text == "POST /c |abcd"
        assert r.headers["server"] == "asgi-magic"


def test_pipelining_over_raw_socket() -> None:
    with run_server(echo) as url:
        req = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n"
        out = raw(
            url, req % 1 + req % 2 + b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.index(b"GET /1") < out.index(b"GET /2") < out.index(b"GET /3")


def test_expect_100_continue_raw() -> None:
    with run_server(echo) as url, socket.create_connection(hostport(url), timeout=5) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        assert sock.recv(1000) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        assert sock.recv(1000).endswith(b"POST / |hello")


def test_malformed_request_gets_400_and_server_keeps_serving() -> None:
    with run_server(echo) as url:
        out = raw(url, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 ")
        assert b"connection: close" in out.lower()
        assert httpx.get(url + "/").status_code == 200


@pytest.mark.parametrize(
    ("config", "request_bytes", "status"),
    [
        ({"limit_request_line": 100}, b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (
            {"limit_request_fields": 3},
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(5))
            + b"\r\n",
            431,
        ),
        (
            {"limit_request_head": 1024},
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 2000 + b"\r\n\r\n",
            431,
        ),
        (
            {"limit_request_body": 10},
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
            413,
        ),
    ],
)
def test_limits(config: dict[str, Any], request_bytes: bytes, status: int) -> None:
    with run_server(echo, **config) as url:
        out = raw(url, request_bytes)
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:100]


def test_slowloris_gets_408() -> None:
    with (
        run_server(echo, timeout_request_head=0.3) as url,
        socket.create_connection(hostport(url), timeout=5) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\n")
        start = time.monotonic()
        out = sock.recv(1000)
        assert out.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - start < 3
        assert sock.recv(1000) == b""  # closed


def test_idle_keep_alive_closes() -> None:
    with (
        run_server(echo, timeout_keep_alive=0.2) as url,
        socket.create_connection(hostport(url), timeout=5) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200")
        assert sock.recv(1000) == b""  # closed after the idle timeout, without a response


def test_client_disconnect_reaches_app() -> None:
    seen: list[Any] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(await receive())
        seen.append(await receive())
        done.set()

    with run_server(app) as url:
        with socket.create_connection(hostport(url), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert seen == [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]


def test_app_failures_over_the_wire() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/raise":
            raise RuntimeError("boom")
        if scope["path"] == "/mid":
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            raise RuntimeError("boom")

    with run_server(app, log_level="critical") as url:
        out = raw(url, b"GET /raise HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 500 ")
        out = raw(url, b"GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 500 ")
        out = raw(url, b"GET /mid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 ") and not out.endswith(b"0\r\n\r\n")


def test_custom_headers_and_no_server_no_date() -> None:
    with run_server(
        echo, headers=[("X-Env", "test")], server_header=False, date_header=False
    ) as url:
        r = httpx.get(url + "/")
    assert r.headers["x-env"] == "test"
    assert "server" not in r.headers and "date" not in r.headers


def test_http10_closes() -> None:
    with run_server(echo) as url:
        out = raw(url, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") or out.startswith(b"HTTP/1.0 200")
    assert out.endswith(b"GET / |")


def test_uds(tmp_path: Any) -> None:
    path = str(tmp_path / "s.sock")
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["client"], scope["server"]))
        await echo(scope, receive, send)

    with run_server(app, uds=path), httpx.Client(transport=httpx.HTTPTransport(uds=path)) as c:
        assert c.get("http://x/u").text == "GET /u |"
    assert seen == [(None, None)]


def test_lifespan_state_shared_into_requests() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["db"] = "connected"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        state = scope["state"]
        body = state["db"].encode() + (b"|leaked" if "mutated" in state else b"")
        state["mutated"] = True  # a shallow copy per request: never seen by the next one
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": body})

    with run_server(app, lifespan="on") as url:
        assert httpx.get(url).text == "connected"
        assert httpx.get(url).text == "connected"
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_lifespan_auto_tolerates_http_only_app() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "http only"
        await echo(scope, receive, send)

    with run_server(app, lifespan="auto", log_level="critical") as url:
        assert httpx.get(url).status_code == 200


def test_lifespan_startup_failed_stops_server() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no db"})

    with (
        pytest.raises(RuntimeError, match="failed to start"),
        run_server(app, lifespan="on", log_level="critical"),
    ):
        pass


def test_asgi2_app() -> None:
    class App:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            if self.scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"asgi2"})

    with run_server(App, lifespan="off") as url:
        assert httpx.get(url).text == "asgi2"


def test_factory_and_limit_max_requests() -> None:
    def factory() -> Any:
        return echo

    from asgi_magic.config import Config
    from asgi_magic.server import Server

    server = Server(
        Config(app=factory, factory=True, port=0, limit_max_requests=2, log_level="critical")
    )

    import threading

    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/a").text == "GET /a |"
    assert httpx.get(url + "/b").text == "GET /b |"
    thread.join(timeout=10)
    assert not thread.is_alive()  # exited on its own after two requests


def test_fd_socket() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        with run_server(echo, fd=listener.fileno()):
            assert httpx.get(f"http://127.0.0.1:{port}/fd").text == "GET /fd |"
    finally:
        listener.close()
