"""--health-path: answered by the server without calling the app; 503 once draining."""

from __future__ import annotations

import signal
import time
from typing import Any

import httpx

from tests.support.live_server import run_server
from tests.support.subprocess_server import serve_subprocess

calls: list[str] = []


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    calls.append(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def test_health_path_does_not_call_the_app() -> None:
    calls.clear()
    with run_server(app, health_path="/healthz") as url, httpx.Client() as client:
        response = client.get(url + "/healthz")
        assert response.status_code == 200
        assert response.text == "ok\n"
        assert response.headers["cache-control"] == "no-store"
        head = client.head(url + "/healthz")
        assert head.status_code == 200 and head.content == b""
        # Keep-alive works after it, and other methods and paths reach the app.
        assert client.get(url + "/").text == "app"
        assert client.post(url + "/healthz").text == "app"
        assert client.get(url + "/healthz/x").text == "app"
        assert client.get(url + "/healthz?full=1").text == "ok\n"
    assert calls == ["/", "/healthz", "/healthz/x"]


def test_health_path_over_http2() -> None:
    # The same answer over HTTP/2 (prior knowledge here; ALPN over TLS alike).
    calls.clear()
    with (
        run_server(app, health_path="/healthz") as url,
        httpx.Client(http1=False, http2=True) as client,
    ):
        response = client.get(url + "/healthz")
        assert response.http_version == "HTTP/2"
        assert (response.status_code, response.text) == (200, "ok\n")
        assert response.headers["cache-control"] == "no-store"
        assert client.head(url + "/healthz").status_code == 200
        assert client.post(url + "/healthz").text == "app"
    assert calls == ["/healthz"]


def test_health_503_while_draining_over_http2() -> None:
    with (
        serve_subprocess(
            "tests.server.test_health:app", "--health-path", "/healthz", "--shutdown-delay", "1.5"
        ) as server,
        httpx.Client(http1=False, http2=True) as client,
    ):
        assert client.get(server.url + "/healthz").status_code == 200
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        # During the delay the server still serves, and the probe says draining.
        draining = client.get(server.url + "/healthz")
        assert server.proc.wait(timeout=10) == 0
    assert (draining.http_version, draining.status_code) == ("HTTP/2", 503)
    assert draining.text == "draining\n"


def test_health_path_off_by_default() -> None:
    calls.clear()
    with run_server(app) as url:
        assert httpx.get(url + "/healthz").text == "app"


def test_health_503_while_draining() -> None:
    with serve_subprocess(
        "tests.server.test_health:app", "--health-path", "/healthz", "--shutdown-delay", "1.5"
    ) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        draining = httpx.get(server.url + "/healthz")
        # Still serving during the delay: requests reach the app.
        served = httpx.get(server.url + "/")
        assert server.proc.wait(timeout=10) == 0
    assert draining.status_code == 503
    assert draining.text == "draining\n"
    assert served.text == "app"
