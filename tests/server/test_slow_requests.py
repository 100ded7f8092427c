"""Slow request bodies (408) and slow apps (--timeout-app, 503), through the real server
with raw sockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.support.live_server import run_server
from tests.support.wire import capture_logs, open_socket, read_until_close

pytestmark = pytest.mark.slow

# Short ticks so the checks run often: the timer looks at a busy connection every
# min(keep-alive, head timeout) seconds until it sees a body being waited for.
FAST = {"timeout_keep_alive": 0.5, "timeout_request_head": 0.5}


async def read_body(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%d" % size})


def test_body_gap_gets_408() -> None:
    with (
        capture_logs("asgi_magic.error") as logs,
        run_server(read_body, timeout_request_body=0.6, log_level="info", **FAST) as url,
        open_socket(url, timeout=10) as sock,
    ):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        start = time.monotonic()
        data, _ = read_until_close(sock, timeout=8)
        waited = time.monotonic() - start
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    assert 0.6 <= waited < 2.5, waited
    assert any("request body timeout" in line for line in logs.messages()), logs.messages()


def test_trickle_below_min_rate_gets_408() -> None:
    with (
        capture_logs("asgi_magic.error") as logs,
        run_server(
            read_body,
            timeout_request_body=30,
            min_request_body_rate=1000,
            min_request_body_rate_grace=0.8,
            log_level="info",
            **FAST,
        ) as url,
        open_socket(url, timeout=10) as sock,
    ):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        start = time.monotonic()
        answer = b""
        errors: list[str] = []
        sock.settimeout(0.1)
        # 10 bytes every 0.1 s: 100 bytes/s, never a gap, far below the minimum.
        sending = True
        while time.monotonic() - start < 10:
            if sending:
                try:
                    sock.sendall(b"x" * 10)
                except OSError as exc:
                    sending = False
                    errors.append(repr(exc))
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                errors.append(repr(exc))
                break
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 "), (answer[:200], errors)
    # Never a gap (30 s allowed): the rate rule answered, after the 0.8 s grace and a
    # few timer looks (more under load, when the app is seen waiting less often).
    assert any("request body too slow" in line for line in logs.messages()), logs.messages()
    assert waited < 8, waited


def test_normal_upload_is_never_cut() -> None:
    body = b"y" * 300_000
    with run_server(
        read_body,
        timeout_request_body=0.5,
        min_request_body_rate=50_000,
        min_request_body_rate_grace=0.3,
        **FAST,
    ) as url:

        def chunks() -> Any:
            # Steady 64 KiB pieces every 0.1 s (~640 KB/s), over about half a second.
            for i in range(0, len(body), 65536):
                time.sleep(0.1)
                yield body[i : i + 65536]

        response = httpx.post(url, content=chunks(), timeout=10)
    assert response.status_code == 200
    assert response.text == str(len(body))


async def slow_reader(scope: Any, receive: Any, send: Any) -> None:
    # The app is the slow one: it sleeps before each receive().
    if scope["type"] != "http":
        return
    size = 0
    while True:
        await asyncio.sleep(0.4)
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%d" % size})


def test_slow_app_is_not_a_slow_client() -> None:
    # 1 MiB: reading pauses each time 64 KiB wait for the app; the app takes ~3 s in
    # all, much longer than the 0.3 s gap limit, and the client is never blamed.
    body = b"z" * (1024 * 1024)
    with run_server(slow_reader, timeout_request_body=0.3, **FAST) as url:
        response = httpx.post(url, content=body, timeout=30)
    assert response.status_code == 200
    assert response.text == str(len(body))


def test_body_watch_off_with_zero() -> None:
    with (
        run_server(read_body, timeout_request_body=0, **FAST) as url,
        open_socket(url, timeout=10) as sock,
    ):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(1.5)
        sock.sendall(b"cd")
        data, _ = read_until_close(sock, timeout=3)
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]


# --- --timeout-app --------------------------------------------------------------------

cancelled: list[bool] = []


async def stuck(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/fast":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fast"})
        return
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        cancelled.append(True)
        raise


def test_app_timeout_503_and_cancel() -> None:
    cancelled.clear()
    with (
        capture_logs("asgi_magic.error") as logs,
        run_server(stuck, timeout_app=0.5) as url,
    ):
        assert httpx.get(url + "/fast").text == "fast"
        start = time.monotonic()
        response = httpx.get(url + "/stuck", timeout=10)
        waited = time.monotonic() - start
        assert httpx.get(url + "/fast").text == "fast"
    assert response.status_code == 503
    assert response.headers["connection"] == "close"
    assert 0.5 <= waited < 1.5, waited
    assert cancelled == [True]
    lines = [line for line in logs.messages() if "did not start a response" in line]
    assert len(lines) == 1, logs.messages()


def test_app_timeout_off_by_default() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(1.2)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    with run_server(slow, **FAST) as url:
        assert httpx.get(url, timeout=10).text == "late"


def test_app_timeout_spares_started_responses() -> None:
    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(4):
            await asyncio.sleep(0.3)
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with run_server(streaming, timeout_app=0.5) as url:
        assert httpx.get(url, timeout=10).text == "xxxx"
