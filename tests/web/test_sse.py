"""EventSourceResponse / ServerSentEvent: encoding, validation, pings, clean stops."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from asgi_magic.asgi_types import Message, Receive, Send
from asgi_magic.web.sse import EventSourceResponse, ServerSentEvent


def lifespan_aware(handler: Callable[[Any, Receive, Send], Any]) -> Any:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await handler(scope, receive, send)

    return app


# --- encoding -------------------------------------------------------------------------


def test_event_fields_are_encoded_per_the_event_stream_format() -> None:
    event = ServerSentEvent("hello", event="greeting", id="42", retry=3000)
    assert event.encode() == b"id: 42\nevent: greeting\nretry: 3000\ndata: hello\n\n"


def test_multi_line_data_becomes_several_data_lines() -> None:
    assert ServerSentEvent("a\nb\r\nc\rd").encode() == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert ServerSentEvent("").encode() == b"data: \n\n"
    assert ServerSentEvent("x\n").encode() == b"data: x\ndata: \n\n"


def test_json_data_comments_and_utf8() -> None:
    assert ServerSentEvent({"a": [1, 2]}).encode() == b'data: {"a":[1,2]}\n\n'
    assert ServerSentEvent(comment="one\ntwo").encode() == b": one\n: two\n\n"
    assert ServerSentEvent("caf\u00e9").encode() == "data: caf\u00e9\n\n".encode()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": "a\nb"},
        {"id": "a\rb"},
        {"id": "a\x00b"},
        {"event": "a\nb"},
        {"event": "a\r"},
        {"retry": -1},
        {"retry": 1.5},
        {"retry": True},
        {"retry": "100"},
    ],
)
def test_invalid_fields_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="SSE"):
        ServerSentEvent("data", **kwargs)


# --- over HTTP ------------------------------------------------------------------------


async def numbers() -> AsyncIterator[Any]:
    yield ServerSentEvent("one", id="1")
    yield {"data": "two", "event": "update"}
    yield "three"


def test_stream_headers_and_body(client_factory: Callable[..., Any]) -> None:
    async def handler(scope: Any, receive: Receive, send: Send) -> None:
        await EventSourceResponse(numbers(), headers={"x-extra": "1"})(scope, receive, send)

    with client_factory(lifespan_aware(handler)) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-extra"] == "1"
        assert "content-length" not in response.headers
        assert response.text == "id: 1\ndata: one\n\nevent: update\ndata: two\n\ndata: three\n\n"


def test_sync_iterables_run_in_the_thread_pool(client_factory: Callable[..., Any]) -> None:
    seen_threads: set[int] = set()

    def sync_events() -> Iterator[str]:
        for i in range(3):
            seen_threads.add(threading.get_ident())
            yield f"event {i}"

    async def handler(scope: Any, receive: Receive, send: Send) -> None:
        await EventSourceResponse(sync_events())(scope, receive, send)

    with client_factory(lifespan_aware(handler)) as client:
        assert client.get("/").text == "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"
    assert seen_threads


def test_pings_are_sent_while_waiting(client_factory: Callable[..., Any]) -> None:
    async def handler(scope: Any, receive: Receive, send: Send) -> None:
        pings = 0
        two_pings = asyncio.Event()

        async def counting_send(message: Message) -> None:
            nonlocal pings
            if message.get("body") == b": ping\n\n":
                pings += 1
                if pings == 2:
                    two_pings.set()
            await send(message)

        async def slow() -> AsyncIterator[str]:
            yield "first"
            # Wait for the keep-alives themselves, not a fixed time: robust on a busy CI.
            await asyncio.wait_for(two_pings.wait(), 10)
            yield "second"

        await EventSourceResponse(slow(), ping_interval=0.05)(scope, receive, counting_send)

    with client_factory(lifespan_aware(handler)) as client:
        text = client.get("/").text
        assert text.startswith("data: first\n\n")
        assert text.endswith("data: second\n\n")
        assert text.count(": ping\n\n") >= 2


def test_bad_ping_interval() -> None:
    with pytest.raises(ValueError):
        EventSourceResponse(numbers(), ping_interval=0)


# --- stopping -------------------------------------------------------------------------


async def test_disconnect_stops_a_waiting_generator() -> None:
    cleaned_up = asyncio.Event()
    sent: list[Message] = []
    disconnect = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.sleep(3600)  # waiting for news that never comes
            yield "never"
        finally:
            cleaned_up.set()

    async def receive() -> Message:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"data: first\n\n":
            disconnect.set()

    response = EventSourceResponse(endless(), ping_interval=None)
    await asyncio.wait_for(response({"type": "http", "method": "GET"}, receive, send), 2)
    assert cleaned_up.is_set()
    # No end-of-body is sent to a client that is gone.
    assert [m.get("body") for m in sent[1:]] == [b"data: first\n\n"]


async def test_iterator_errors_propagate_to_the_server() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "ok"
        raise RuntimeError("boom")

    async def receive() -> Message:
        await asyncio.sleep(3600)
        raise AssertionError

    async def send(message: Message) -> None:
        pass

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(
            EventSourceResponse(broken())({"type": "http", "method": "GET"}, receive, send), 2
        )


async def test_head_sends_headers_only() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await EventSourceResponse(numbers())({"type": "http", "method": "HEAD"}, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b""


def test_client_disconnect_over_the_real_server_stops_the_stream() -> None:
    from tests.support.live_server import run_server

    stopped = threading.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            i = 0
            while True:
                yield f"tick {i}"
                i += 1
                await asyncio.sleep(0.02)
        finally:
            stopped.set()

    async def handler(scope: Any, receive: Receive, send: Send) -> None:
        await EventSourceResponse(endless(), ping_interval=None)(scope, receive, send)

    with run_server(lifespan_aware(handler)) as base_url, httpx.Client(base_url=base_url) as client:
        with client.stream("GET", "/", timeout=5) as response:
            lines = response.iter_lines()
            assert next(lines) == "data: tick 0"
        deadline = time.monotonic() + 5
        while not stopped.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stopped.is_set()
