"""Graceful shutdown reaches long responses: an SSE stream gets http.disconnect at once
and ends cleanly (its chunked body terminated), a WebSocket gets close 1012, and the
process exits long before --timeout-graceful-shutdown."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import httpx
import pytest

from tests.support.subprocess_server import serve_subprocess

websockets_client = pytest.importorskip("websockets.asyncio.client")


def test_sigterm_ends_sse_and_websocket_within_a_second() -> None:
    with serve_subprocess(
        "tests.integration.apps.streams:app", "--timeout-graceful-shutdown", "30"
    ) as server:
        sse_result: dict[str, object] = {}
        sse_started = threading.Event()

        def read_sse() -> None:
            events = 0
            try:
                with httpx.stream("GET", server.url + "/events", timeout=10) as response:
                    for line in response.iter_lines():
                        if line.startswith("data:"):
                            events += 1
                            sse_started.set()
                # iter_lines ended without an error: the chunked body was terminated.
                sse_result["clean"] = True
            except httpx.HTTPError as exc:
                sse_result["error"] = repr(exc)
            sse_result["ended"] = time.monotonic()
            sse_result["events"] = events

        ws_result: dict[str, object] = {}
        ws_open = threading.Event()

        async def ws_client() -> None:
            url = server.url.replace("http://", "ws://") + "/ws"
            async with websockets_client.connect(url) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
                ws_open.set()
                try:
                    await ws.recv()
                except Exception:
                    pass
                ws_result["code"] = ws.close_code
                ws_result["ended"] = time.monotonic()

        sse_thread = threading.Thread(target=read_sse)
        ws_thread = threading.Thread(target=lambda: asyncio.run(ws_client()))
        sse_thread.start()
        ws_thread.start()
        assert sse_started.wait(10) and ws_open.wait(10)
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        sse_thread.join(10)
        ws_thread.join(10)
        assert server.proc.wait(timeout=10) == 0
        exited = time.monotonic() - start
    assert sse_result.get("clean"), sse_result
    assert float(sse_result["ended"]) - start < 1.0  # type: ignore[arg-type]
    assert ws_result["code"] == 1012, ws_result
    assert float(ws_result["ended"]) - start < 1.0  # type: ignore[arg-type]
    assert exited < 3.0, exited
