"""SessionMiddleware with signed cookies: round trip, forgery, expiry, rotation, limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import pytest

from asgi_magic.asgi_types import Receive, Send
from asgi_magic.web.sessions import (
    CookieSigner,
    MemorySessionBackend,
    Session,
    SessionCookieTooLarge,
    SessionMiddleware,
    _cookie_values,
)

SECRET = "a-test-secret-that-is-long-enough"


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol so these raw ASGI apps run under any client."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def session_app(scope: Any, receive: Receive, send: Send) -> None:
    """/set?k=v, /clear, /regenerate, /pop?key=k, /big; every route answers the session."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    session: Session = scope["session"]
    path = scope["path"]
    query = dict(parse_qsl(scope["query_string"].decode()))
    if path == "/set":
        session.update(query)
    elif path == "/clear":
        session.clear()
    elif path == "/regenerate":
        session.regenerate()
    elif path == "/pop":
        session.pop(query["key"], None)
    elif path == "/big":
        session["big"] = "x" * 5000
    body = json.dumps({"session": dict(session), "id": session.id}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def make_app(**options: Any) -> SessionMiddleware:
    options.setdefault("secret_key", SECRET)
    return SessionMiddleware(session_app, **options)


def set_cookies(response: Any) -> list[str]:
    return list(response.headers.get_list("set-cookie"))


def test_round_trip_and_cookie_attributes(client_factory: Callable[..., Any]) -> None:
    with client_factory(make_app()) as client:
        response = client.get("/set?user=alice&role=admin")
        assert response.json()["session"] == {"user": "alice", "role": "admin"}
        [cookie] = set_cookies(response)
        attributes = [part.strip() for part in cookie.split(";")]
        assert attributes[0].startswith("session=")
        assert "Path=/" in attributes
        assert "HttpOnly" in attributes
        assert "SameSite=Lax" in attributes
        assert f"Max-Age={14 * 24 * 3600}" in attributes
        assert any(a.startswith("Expires=") for a in attributes)
        assert "Secure" not in attributes
        # The data is signed, not hidden: but it is bound to the signature.
        assert client.get("/").json()["session"] == {"user": "alice", "role": "admin"}


def test_cookie_only_resent_when_modified(client_factory: Callable[..., Any]) -> None:
    with client_factory(make_app()) as client:
        assert set_cookies(client.get("/")) == []  # empty new session: no cookie
        assert len(set_cookies(client.get("/set?a=1"))) == 1
        assert set_cookies(client.get("/")) == []  # unchanged: no Set-Cookie
        assert set_cookies(client.get("/pop?key=missing")) == []  # no-op pop
        assert len(set_cookies(client.get("/set?a=2"))) == 1
        assert client.get("/").json()["session"] == {"a": "2"}


def test_clearing_sends_a_deleting_cookie(client_factory: Callable[..., Any]) -> None:
    with client_factory(make_app()) as client:
        client.get("/set?a=1")
        response = client.get("/clear")
        [cookie] = set_cookies(response)
        assert cookie.startswith("session=;")
        assert "Max-Age=0" in cookie
        assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in cookie
        assert client.get("/").json()["session"] == {}
        assert "session" not in client.cookies


def test_https_only_domain_samesite_and_name(client_factory: Callable[..., Any]) -> None:
    app = make_app(
        https_only=True,
        same_site="strict",
        cookie_name="sid",
        domain="example.test",
        path="/app",
        max_age=None,
    )
    with client_factory(app) as client:
        [cookie] = set_cookies(client.get("/set?a=1"))
        assert cookie.startswith("sid=")
        for part in ("Secure", "SameSite=Strict", "Domain=example.test", "Path=/app"):
            assert part in cookie
        assert "Max-Age" not in cookie  # browser session
        assert "Expires" not in cookie


def signed_value(data: object, secret: str = SECRET, issued: int | None = None) -> str:
    return CookieSigner(secret).sign(json.dumps(data).encode(), issued)


def forged_cookies() -> list[str]:
    good = signed_value({"user": "alice"})
    payload, issued, signature = good.split(".")
    evil_payload = base64.urlsafe_b64encode(b'{"user":"admin"}').rstrip(b"=").decode()
    return [
        "",
        "garbage",
        "...",
        "a.b.c",
        "a.b",
        good + "x",
        good[:-1],
        good.replace(".", ""),
        f"{evil_payload}.{issued}.{signature}",  # payload swapped, old signature
        f"{payload}.{int(issued) + 1}.{signature}",  # timestamp changed
        f"{payload}.{issued}.{signature[::-1]}",
        f"{payload}.{issued}.",
        f"{payload}.{issued}.!!!!",
        f"{payload}.-{issued}.{signature}",
        f"{payload}.{issued}0000000000000000.{signature}",
        f"{payload}.{issued}.{signature}=",
        f"{payload}.{issued}.{signature}.{signature}",
        f".{issued}.{signature}",
        f"{payload}..{signature}",
        "\u00e9\u00e9.1.\u00e9",  # non-ASCII
        "%00%00.1.AAAA",
        signed_value({"user": "alice"}, secret="another-secret"),  # wrong key
        signed_value({"user": "alice"}, issued=int(time.time()) - 15 * 24 * 3600),  # expired
        signed_value({"user": "alice"}, issued=int(time.time()) + 3600),  # from the future
        signed_value(["not", "a", "dict"]),  # valid signature, wrong shape
        signed_value("string"),
        CookieSigner(SECRET).sign(b"\xff\xfe not json"),
        CookieSigner(SECRET).sign(b'{"a": 1'),
        "A" * 5000,
    ]


FORGED = forged_cookies()


@pytest.mark.parametrize("value", FORGED, ids=[f"forged-{i}" for i in range(len(FORGED))])
def test_forged_tampered_expired_cookies_give_an_empty_session(
    client_factory: Callable[..., Any], value: str
) -> None:
    with client_factory(make_app()) as client:
        response = client.get("/", headers={"cookie": f"session={value}".encode()})
        assert response.status_code == 200
        assert response.json()["session"] == {}
        assert set_cookies(response) == []


def test_signer_rejects_everything_forged_directly() -> None:
    signer = CookieSigner(SECRET)
    for value in FORGED:
        unsigned = signer.unsign(value, 14 * 24 * 3600)
        if unsigned is not None:  # a valid signature is fine only for the non-dict payloads
            try:
                decoded = json.loads(unsigned[0])
            except ValueError:
                continue
            assert not isinstance(decoded, dict)


def test_first_valid_cookie_wins_over_garbage(client_factory: Callable[..., Any]) -> None:
    with client_factory(make_app()) as client:
        value = signed_value({"user": "alice"})
        response = client.get("/", headers={"cookie": f"session=junk; other=1; session={value}"})
        assert response.json()["session"] == {"user": "alice"}


def test_key_rotation(client_factory: Callable[..., Any]) -> None:
    old_cookie = signed_value({"user": "alice"}, secret="old-secret")
    with client_factory(make_app(secret_key=["new-secret", "old-secret"])) as client:
        response = client.get("/", headers={"cookie": f"session={old_cookie}"})
        assert response.json()["session"] == {"user": "alice"}
        # A changed session is re-signed with the first (newest) key.
        response = client.get("/set?x=1", headers={"cookie": f"session={old_cookie}"})
        [cookie] = set_cookies(response)
        value = cookie.split(";")[0].split("=", 1)[1]
        assert CookieSigner("new-secret").unsign(value, None) is not None
        assert CookieSigner("old-secret").unsign(value, None) is None
    with client_factory(make_app(secret_key="new-secret")) as client:
        response = client.get("/", headers={"cookie": f"session={old_cookie}"})
        assert response.json()["session"] == {}


def test_old_cookie_is_refreshed_after_half_its_max_age(client_factory: Callable[..., Any]) -> None:
    fresh = signed_value({"user": "alice"}, issued=int(time.time()) - 10)
    older = signed_value({"user": "alice"}, issued=int(time.time()) - 600)
    with client_factory(make_app(max_age=1000)) as client:
        assert set_cookies(client.get("/", headers={"cookie": f"session={fresh}"})) == []
        response = client.get("/", headers={"cookie": f"session={older}"})
        assert response.json()["session"] == {"user": "alice"}
        assert len(set_cookies(response)) == 1


def test_regenerate_forces_a_fresh_cookie_for_cookie_sessions(
    client_factory: Callable[..., Any],
) -> None:
    with client_factory(make_app()) as client:
        client.get("/set?user=alice")
        response = client.get("/regenerate")
        assert len(set_cookies(response)) == 1
        assert response.json()["session"] == {"user": "alice"}


def test_oversized_session_is_a_clear_error(client_factory: Callable[..., Any]) -> None:
    with client_factory(make_app()) as client:
        try:
            response = client.get("/big")
        except SessionCookieTooLarge as exc:  # in-process client re-raises app errors
            assert "4096" in str(exc)
        else:
            assert response.status_code == 500
            assert set_cookies(response) == []


def test_session_middleware_without_sessions_is_transparent(
    client_factory: Callable[..., Any],
) -> None:
    with client_factory(make_app()) as client:
        response = client.get("/")
        assert response.json() == {"session": {}, "id": None}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret_key": ""}, "secret_key"),
        ({"secret_key": []}, "secret_key"),
        ({"secret_key": SECRET, "same_site": "none"}, "https_only"),
        ({"secret_key": SECRET, "same_site": "sometimes"}, "same_site"),
        ({"secret_key": SECRET, "max_age": 0}, "max_age"),
        ({"secret_key": SECRET, "cookie_name": "bad name"}, "cookie name"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionMiddleware(session_app, **options)


def test_session_tracks_every_mutation() -> None:
    mutations: list[Callable[[Session], object]] = [
        lambda s: s.__setitem__("k", 1),
        lambda s: s.__delitem__("a"),
        lambda s: s.clear(),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.setdefault("new", 1),
        lambda s: s.update(b=2),
        lambda s: s.__ior__({"c": 3}),
        lambda s: s.regenerate(),
    ]
    for mutate in mutations:
        session = Session({"a": 1})
        assert not session.modified
        mutate(session)
        assert session.modified
    untouched = Session({"a": 1})
    untouched.get("a")
    untouched.setdefault("a", 2)
    untouched.pop("missing", None)
    assert not untouched.modified


def test_cookie_parsing_handles_multiple_headers() -> None:
    headers: Iterable[tuple[bytes, bytes]] = [
        (b"cookie", b"a=1; session=first"),
        (b"cookie", b'session="second"; sessionx=no'),
        (b"x-other", b"session=not-a-cookie"),
    ]
    assert _cookie_values(headers, b"session") == ["first", "second"]


def test_memory_backend_sessions_keep_only_an_id_in_the_cookie(
    client_factory: Callable[..., Any],
) -> None:
    backend = MemorySessionBackend()
    with client_factory(make_app(backend=backend)) as client:
        response = client.get("/set?user=alice")
        assert response.json()["id"] is None  # the id is assigned when the response starts
        session_id = client.get("/").json()["id"]
        assert session_id is not None and len(session_id) >= 43  # 256 bits, base64url
        [cookie] = set_cookies(response)
        payload = cookie.split(";")[0].split("=", 1)[1].split(".")[0]
        assert base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) == session_id.encode()
        assert client.get("/").json() == {"session": {"user": "alice"}, "id": session_id}
        # Regenerate: new id, same data, the old id is dead (session fixation).
        assert len(set_cookies(client.get("/regenerate"))) == 1
        response = client.get("/")
        new_id = response.json()["id"]
        assert new_id != session_id
        assert response.json()["session"] == {"user": "alice"}
        assert session_id not in backend._data and new_id in backend._data
        client.get("/clear")
        assert backend._data == {}
