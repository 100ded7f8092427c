"""Broadcast: the in-process backend and Redis pub/sub between two "workers"."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from asgi_magic.web.broadcast import Broadcast, Event
from tests.support.redis_server import run_redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with run_redis() as url:
        yield url


async def test_memory_publish_reaches_every_subscriber_of_the_channel() -> None:
    async with (
        Broadcast("memory://") as broadcast,
        broadcast.subscribe("room") as first,
        broadcast.subscribe("room") as second,
        broadcast.subscribe("other") as other,
    ):
        await broadcast.publish("room", "hello")
        await broadcast.publish("other", "elsewhere")
        assert await asyncio.wait_for(first.get(), 1) == Event("room", "hello")
        assert await asyncio.wait_for(second.get(), 1) == Event("room", "hello")
        assert (await asyncio.wait_for(other.get(), 1)).message == "elsewhere"
        assert first._queue.empty() and second._queue.empty()


async def test_memory_messages_keep_their_order() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("c") as subscriber:
        for i in range(50):
            await broadcast.publish("c", str(i))
        got = [(await subscriber.get()).message for _ in range(50)]
        assert got == [str(i) for i in range(50)]


async def test_slow_subscriber_drops_oldest_and_never_blocks_the_publisher() -> None:
    async with Broadcast(max_queue_size=3) as broadcast, broadcast.subscribe("c") as slow:
        for i in range(10):
            await asyncio.wait_for(broadcast.publish("c", str(i)), 1)
        assert slow.dropped == 7
        assert [(await slow.get()).message for _ in range(3)] == ["7", "8", "9"]


async def test_unsubscribed_channels_are_forgotten() -> None:
    async with Broadcast() as broadcast:
        async with broadcast.subscribe("c"):
            assert "c" in broadcast._subscribers
        assert broadcast._subscribers == {}
        await broadcast.publish("c", "nobody listens")  # no error


async def test_disconnect_ends_open_iterations() -> None:
    broadcast = Broadcast()
    await broadcast.connect()
    received: list[str] = []

    async def consume() -> None:
        async with broadcast.subscribe("c") as subscriber:
            async for event in subscriber:
                received.append(event.message)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.01)
    await broadcast.publish("c", "one")
    await asyncio.sleep(0.01)
    await broadcast.disconnect()
    await asyncio.wait_for(task, 1)
    assert received == ["one"]


async def test_misuse_is_reported_clearly() -> None:
    broadcast = Broadcast()
    with pytest.raises(RuntimeError, match="not connected"):
        await broadcast.publish("c", "x")
    with pytest.raises(RuntimeError, match="not connected"):
        async with broadcast.subscribe("c"):
            pass
    async with broadcast:
        with pytest.raises(TypeError, match="str"):
            await broadcast.publish("c", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported broadcast URL"):
        Broadcast("kafka://localhost")
    with pytest.raises(ValueError, match="max_queue_size"):
        Broadcast(max_queue_size=0)


async def test_redis_two_workers_exchange_messages(redis_url: str) -> None:
    async with (
        Broadcast(redis_url) as worker_a,
        Broadcast(redis_url) as worker_b,
        worker_a.subscribe("chat") as on_a,
        worker_b.subscribe("chat") as on_b,
    ):
        await worker_a.publish("chat", "from a")
        await worker_b.publish("chat", "from b")
        got_a = [(await asyncio.wait_for(on_a.get(), 5)).message for _ in range(2)]
        got_b = [(await asyncio.wait_for(on_b.get(), 5)).message for _ in range(2)]
        assert got_a == ["from a", "from b"]
        assert got_b == ["from a", "from b"]


async def test_redis_channels_are_separate_and_unsubscribe_works(redis_url: str) -> None:
    async with Broadcast(redis_url) as publisher, Broadcast(redis_url) as listener:
        async with listener.subscribe("one") as one:
            async with listener.subscribe("two") as two:
                await publisher.publish("two", "for two")
                assert (await asyncio.wait_for(two.get(), 5)).message == "for two"
            # "two" is unsubscribed now; "one" still receives, and only its messages.
            await publisher.publish("two", "lost")
            await publisher.publish("one", "for one")
            assert (await asyncio.wait_for(one.get(), 5)) == Event("one", "for one")
            assert one._queue.empty()
        assert listener._subscribers == {}


async def test_redis_unreachable_fails_at_connect() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broadcast = Broadcast(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(Exception, match=r"(?i)connect"):
        await asyncio.wait_for(broadcast.connect(), 10)
    await broadcast._backend._redis.aclose()  # type: ignore[union-attr]
