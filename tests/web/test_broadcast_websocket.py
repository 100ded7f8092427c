"""A chat room: WebSocket routes of asgi_magic.web fanned out through Broadcast.

Runs in process through TestClient.websocket_connect, and over the real server with
the `websockets` client, for both the memory and the Redis backend (two apps sharing
one Redis play two workers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from asgi_magic.web import App, WebSocket, WebSocketDisconnect
from asgi_magic.web.broadcast import Broadcast
from asgi_magic.web.testclient import TestClient
from tests.support.redis_server import run_redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with run_redis() as url:
        yield url


def chat_app(broadcast: Broadcast) -> App:
    app = App(on_startup=[broadcast.connect], on_shutdown=[broadcast.disconnect])

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with broadcast.subscribe(room) as subscriber:

            async def forward() -> None:
                async for event in subscriber:
                    await websocket.send_text(event.message)

            task = asyncio.ensure_future(forward())
            # Tell the client it is subscribed, so its first message cannot be missed.
            await websocket.send_text(f"joined {room}")
            try:
                while True:
                    text = await websocket.receive_text()
                    await broadcast.publish(room, text)
            except WebSocketDisconnect:
                pass
            finally:
                task.cancel()

    return app


def test_chat_room_in_process() -> None:
    client = TestClient(chat_app(Broadcast("memory://")))
    with (
        client,
        client.websocket_connect("/rooms/lobby") as alice,
        client.websocket_connect("/rooms/lobby") as bob,
        client.websocket_connect("/rooms/other") as carol,
    ):
        assert alice.receive_text() == "joined lobby"
        assert bob.receive_text() == "joined lobby"
        assert carol.receive_text() == "joined other"
        alice.send_text("hi from alice")
        assert alice.receive_text() == "hi from alice"
        assert bob.receive_text() == "hi from alice"
        bob.send_text("hello alice")
        assert alice.receive_text() == "hello alice"
        assert bob.receive_text() == "hello alice"
        carol.send_text("anyone?")
        assert carol.receive_text() == "anyone?"  # only her own room


def test_chat_room_across_two_workers_over_redis_and_the_real_server(redis_url: str) -> None:
    from tests.support.live_server import run_server

    worker_a = chat_app(Broadcast(redis_url))
    worker_b = chat_app(Broadcast(redis_url))
    with run_server(worker_a, lifespan="on") as url_a, run_server(worker_b, lifespan="on") as url_b:
        ws_a = url_a.replace("http://", "ws://") + "/rooms/lobby"
        ws_b = url_b.replace("http://", "ws://") + "/rooms/lobby"
        with connect(ws_a, open_timeout=5) as alice, connect(ws_b, open_timeout=5) as bob:
            assert alice.recv(timeout=5) == "joined lobby"
            assert bob.recv(timeout=5) == "joined lobby"
            alice.send("hi from worker a")
            assert bob.recv(timeout=5) == "hi from worker a"
            assert alice.recv(timeout=5) == "hi from worker a"
            bob.send("hi from worker b")
            assert alice.recv(timeout=5) == "hi from worker b"
            assert bob.recv(timeout=5) == "hi from worker b"
