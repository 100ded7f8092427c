"""RedisSessionBackend against a real redis-server: only an id in the cookie, TTL,
deletion on clear, and regenerate() killing the old id (session fixation)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import redis

from asgi_magic.asgi_types import Receive, Send
from asgi_magic.web.sessions import CookieSigner, RedisSessionBackend, SessionMiddleware
from tests.support.redis_server import run_redis

SECRET = "a-test-secret-that-is-long-enough"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with run_redis() as url:
        yield url


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def make_app(backend: RedisSessionBackend, **options: Any) -> SessionMiddleware:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    # Close the client on the loop that opened it.
                    await backend.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        session = scope["session"]
        query = dict(parse_qsl(scope["query_string"].decode()))
        if scope["path"] == "/set":
            session.update(query)
        elif scope["path"] == "/clear":
            session.clear()
        elif scope["path"] == "/login":
            session["user"] = query["user"]
            session.regenerate()
        body = json.dumps({"session": dict(session), "id": session.id}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return SessionMiddleware(app, secret_key=SECRET, backend=backend, **options)


def cookie_session_id(response: Any) -> str:
    [cookie] = response.headers.get_list("set-cookie")
    value = cookie.split(";")[0].split("=", 1)[1]
    unsigned = CookieSigner(SECRET).unsign(value, None)
    assert unsigned is not None
    return unsigned[0].decode()


def test_cookie_holds_only_a_signed_random_id(
    client_factory: Callable[..., Any], redis_url: str, store: redis.Redis
) -> None:
    backend = RedisSessionBackend(redis_url, ttl=300)
    with client_factory(make_app(backend)) as client:
        response = client.get("/set?user=alice&secret=s3cr3t")
        session_id = cookie_session_id(response)
        assert len(session_id) == 43  # secrets.token_urlsafe(32): 256 bits
        assert "alice" not in response.headers["set-cookie"]
        assert json.loads(store.get(f"session:{session_id}") or "null") == {
            "user": "alice",
            "secret": "s3cr3t",
        }
        assert 0 < store.ttl(f"session:{session_id}") <= 300
        assert client.get("/").json() == {
            "session": {"user": "alice", "secret": "s3cr3t"},
            "id": session_id,
        }


def test_ttl_is_refreshed_on_access(
    client_factory: Callable[..., Any], redis_url: str, store: redis.Redis
) -> None:
    backend = RedisSessionBackend(redis_url, ttl=300)
    with client_factory(make_app(backend)) as client:
        session_id = cookie_session_id(client.get("/set?a=1"))
        store.expire(f"session:{session_id}", 5)
        assert client.get("/").json()["session"] == {"a": "1"}
        assert store.ttl(f"session:{session_id}") > 5


def test_expired_or_unknown_ids_give_an_empty_session(
    client_factory: Callable[..., Any], redis_url: str, store: redis.Redis
) -> None:
    backend = RedisSessionBackend(redis_url, prefix="app1:")
    with client_factory(make_app(backend)) as client:
        session_id = cookie_session_id(client.get("/set?a=1"))
        assert store.exists(f"app1:{session_id}")
        store.delete(f"app1:{session_id}")  # as if the TTL had run out
        assert client.get("/").json() == {"session": {}, "id": None}
        # A correctly signed id that was never issued, and a forged unsigned one.
        unknown = CookieSigner(SECRET).sign(b"never-issued")
        for value in (unknown, "forged-id", "x.1.y"):
            response = client.get("/", headers={"cookie": f"session={value}"})
            assert response.json() == {"session": {}, "id": None}


def test_clear_deletes_the_key(
    client_factory: Callable[..., Any], redis_url: str, store: redis.Redis
) -> None:
    backend = RedisSessionBackend(redis_url)
    with client_factory(make_app(backend)) as client:
        session_id = cookie_session_id(client.get("/set?a=1"))
        response = client.get("/clear")
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert not store.exists(f"session:{session_id}")
        assert store.keys("*") == []


def test_regenerate_on_login_defeats_session_fixation(
    client_factory: Callable[..., Any], redis_url: str, store: redis.Redis
) -> None:
    backend = RedisSessionBackend(redis_url)
    with client_factory(make_app(backend)) as client:
        # The attacker obtains a session id and plants it in the victim's browser.
        planted_cookie = client.get("/set?cart=1").headers["set-cookie"].split(";")[0]
        planted_id = cookie_session_id(client.get("/set?cart=2"))
        response = client.get("/login?user=victim")
        new_id = cookie_session_id(response)
        assert new_id != planted_id
        assert not store.exists(f"session:{planted_id}")
        assert json.loads(store.get(f"session:{new_id}") or "null") == {
            "cart": "2",
            "user": "victim",
        }
        # The planted id now leads nowhere.
        client.cookies.clear()
        response = client.get("/", headers={"cookie": planted_cookie})
        assert response.json() == {"session": {}, "id": None}
