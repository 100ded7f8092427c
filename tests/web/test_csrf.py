"""CSRFMiddleware: session-bound and signed double-submit tokens (issue 13)."""

from __future__ import annotations

import base64
import itertools
import logging
import re
import secrets
from typing import Any

import pytest

from asgi_magic.asgi_types import Receive, Scope, Send
from asgi_magic.web import App, Mount, Request, SessionMiddleware, UploadFile
from asgi_magic.web.csrf import CSRFMiddleware, csrf_exempt, csrf_token
from asgi_magic.web.testclient import TestClient


def make_app(session: bool = True, **options: Any) -> App:
    app = App()

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/submit")
    async def submit(request: Request) -> dict[str, Any]:
        form = await request.form()
        return {"name": form.get("name")}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        form = await request.form(max_file_size=10_000_000)
        file = form["file"]
        assert isinstance(file, UploadFile)
        return {"size": file.size, "head": (await file.read(8)).decode(), "note": form.get("note")}

    @app.post("/json")
    async def json_body(request: Request) -> Any:
        return await request.json()

    @app.post("/hook")
    @csrf_exempt
    async def hook(request: Request) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    @app.post("/by-path")
    async def by_path(request: Request) -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/login")
    async def login(request: Request) -> dict[str, str]:
        request.session.regenerate()
        request.session["user"] = "alice"
        return {"token": csrf_token(request)}

    @app.post("/logout")
    async def logout(request: Request) -> dict[str, str]:
        request.session.clear()
        return {}

    options.setdefault("exempt_paths", ["/by-path"])
    app.add_middleware(CSRFMiddleware, secret_key="csrf-secret", **options)
    if session:
        app.add_middleware(SessionMiddleware, secret_key="session-secret")
    return app


def _token(client: Any) -> str:
    r = client.get("/token")
    assert r.status_code == 200
    return str(r.json()["token"])


@pytest.mark.parametrize("session", [True, False])
def test_form_with_token_passes_and_the_handler_still_reads_the_body(
    client_factory: Any, session: bool
) -> None:
    with client_factory(make_app(session)) as client:
        token = _token(client)
        r = client.post("/submit", data={"csrf_token": token, "name": "ann"})
        assert r.status_code == 200, r.text
        assert r.json() == {"name": "ann"}
        r = client.post("/json", json={"a": 1}, headers={"X-CSRF-Token": token})
        assert r.json() == {"a": 1}


def test_tokens_differ_per_response_but_all_verify() -> None:
    with TestClient(make_app()) as client:
        first, second = _token(client), _token(client)
        assert first != second  # masked: BREACH cannot read the secret off the page
        for token in (first, second):
            assert client.post("/submit", data={"csrf_token": token}).status_code == 200


@pytest.mark.parametrize("session", [True, False])
def test_missing_token_is_403_with_one_log_line(
    session: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(make_app(session)) as client:
        _token(client)
        with caplog.at_level(logging.WARNING, logger="asgi_magic.web.csrf"):
            r = client.post("/submit", data={"name": "ann"})
        assert r.status_code == 403
        assert r.text == "CSRF check failed: CSRF token missing"
        records = [rec for rec in caplog.records if rec.name == "asgi_magic.web.csrf"]
        assert len(records) == 1 and "POST /submit" in records[0].getMessage()
        # no token issued at all yet, in a fresh client
    with TestClient(make_app(session)) as fresh:
        assert fresh.post("/submit", data={"name": "x"}).status_code == 403


@pytest.mark.parametrize("session", [True, False])
@pytest.mark.parametrize(
    "forged",
    [
        "",
        "x",
        "A" * 86,
        base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("="),
        "é" * 10,
        "%00",
    ],
)
def test_forged_tokens_are_refused(session: bool, forged: str) -> None:
    with TestClient(make_app(session)) as client:
        _token(client)
        assert client.post("/submit", data={"csrf_token": forged}).status_code == 403
        r = client.post("/json", json={}, headers={"X-CSRF-Token": forged.encode("utf-8")})
        assert r.status_code == 403


def test_a_token_from_another_session_is_refused() -> None:
    app = make_app()
    with TestClient(app) as mallory, TestClient(app) as alice:
        stolen = _token(mallory)
        _token(alice)  # alice has a session and a secret of her own
        assert alice.post("/submit", data={"csrf_token": stolen}).status_code == 403


def test_a_token_from_another_browser_is_refused_without_sessions() -> None:
    app = make_app(session=False)
    with TestClient(app) as mallory, TestClient(app) as alice:
        stolen = _token(mallory)
        _token(alice)
        assert alice.post("/submit", data={"csrf_token": stolen}).status_code == 403


def test_a_token_in_the_wrong_place_is_refused() -> None:
    with TestClient(make_app()) as client:
        token = _token(client)
        # the query string leaks into logs and Referer: never accepted
        assert client.post(f"/submit?csrf_token={token}", data={"a": "b"}).status_code == 403
        # a file part named csrf_token is not a form field
        r = client.post("/upload", files={"csrf_token": ("t.txt", token.encode(), "text/plain")})
        assert r.status_code == 403
        # another header name
        assert client.post("/json", json={}, headers={"X-CSRFToken": token}).status_code == 403
        # a JSON body field is not looked at
        assert client.post("/json", json={"csrf_token": token}).status_code == 403
        # a cookie named like the field
        client.cookies.set("csrf_token", token)
        assert client.post("/json", json={}).status_code == 403


def test_token_replayed_after_logout_or_login_is_refused() -> None:
    with TestClient(make_app()) as client:
        before_login = _token(client)
        r = client.post("/login", headers={"X-CSRF-Token": before_login})
        assert r.status_code == 200
        after_login = r.json()["token"]
        # session.regenerate() rotated the secret: the pre-login token is dead
        assert client.post("/submit", data={"csrf_token": before_login}).status_code == 403
        assert client.post("/submit", data={"csrf_token": after_login}).status_code == 200
        assert client.post("/logout", data={"csrf_token": after_login}).status_code == 200
        assert client.post("/submit", data={"csrf_token": after_login}).status_code == 403


def test_tampered_csrf_cookie_is_refused() -> None:
    with TestClient(make_app(session=False)) as client:
        token = _token(client)
        cookie = client.cookies["csrftoken"]
        # Replace the cookie, not add a second one beside it (cookie jars differ on
        # whether set() without a domain replaces the server's cookie).
        client.cookies.clear()
        client.cookies.set("csrftoken", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
        assert client.post("/submit", data={"csrf_token": token}).status_code == 403


def test_cookie_over_https_has_the_host_prefix() -> None:
    with TestClient(make_app(session=False), base_url="https://testserver") as client:
        r = client.get("/token")
        set_cookie = r.headers["set-cookie"]
        assert set_cookie.startswith("__Host-csrftoken=")
        assert "; Secure" in set_cookie and "; Path=/" in set_cookie
        assert "Domain" not in set_cookie and "HttpOnly" in set_cookie
        token = r.json()["token"]
        assert client.post("/submit", data={"csrf_token": token}).status_code == 200
        # an unprefixed cookie (which a subdomain could plant) does not count
        client.cookies.clear()
        client.cookies.set("csrftoken", set_cookie.split(";")[0].split("=", 1)[1])
        assert client.post("/submit", data={"csrf_token": token}).status_code == 403


def test_multipart_upload_with_token_first(client_factory: Any) -> None:
    content = b"PNGDATA!" + b"x" * 300_000
    with client_factory(make_app()) as client:
        token = _token(client)
        r = client.post(
            "/upload",
            data={"csrf_token": token, "note": "hi"},
            files={"file": ("a.bin", content, "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"size": len(content), "head": "PNGDATA!", "note": "hi"}


def test_multipart_token_after_a_small_file_is_found() -> None:
    boundary = "b0undary"
    with TestClient(make_app()) as client:
        token = _token(client)
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
            f"PNGDATA! small\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token}\r\n--{boundary}--\r\n"
        ).encode()
        r = client.post(
            "/upload",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["head"] == "PNGDATA!"


def test_multipart_token_beyond_the_scan_limit_is_refused() -> None:
    with TestClient(make_app(max_scan_size=10_000)) as client:
        token = _token(client)
        files = [
            ("file", ("a.bin", b"x" * 50_000, "application/octet-stream")),
            ("csrf_token", (None, token.encode(), None)),  # type: ignore[list-item]
        ]
        r = client.post("/upload", files=files)
        assert r.status_code == 403
        assert "before file inputs" in r.text


def test_oversized_urlencoded_body_is_413() -> None:
    with TestClient(make_app(max_form_size=1000)) as client:
        token = _token(client)
        r = client.post("/submit", data={"csrf_token": token, "name": "x" * 2000})
        assert r.status_code == 413


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_are_not_checked(method: str) -> None:
    app = App()

    @app.route("/", methods=["GET", "OPTIONS", "TRACE"])
    async def index() -> str:
        return "ok"

    app.add_middleware(CSRFMiddleware, secret_key="k")
    with TestClient(app) as client:
        assert client.request(method, "/").status_code in (200, 204)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_methods_are_checked(method: str) -> None:
    app = App()

    @app.route("/", methods=[method])
    async def index() -> str:
        return "ok"

    app.add_middleware(CSRFMiddleware, secret_key="k")
    with TestClient(app) as client:
        assert client.request(method, "/").status_code == 403


def test_exempt_routes(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        r = client.post("/hook", content=b'{"event": "push"}')
        assert r.status_code == 200 and r.json() == {"body": '{"event": "push"}'}
        assert client.post("/by-path").json() == {"ok": "yes"}
        assert client.post("/submit").status_code == 403


def test_exempt_pattern_and_decorator_through_a_mount() -> None:
    inner = App()

    @inner.post("/hook")
    @csrf_exempt
    async def hook() -> str:
        return "hooked"

    @inner.post("/other")
    async def other() -> str:
        return "other"

    app = App(routes=[Mount("/api", app=inner)])
    app.add_middleware(CSRFMiddleware, secret_key="k", exempt_paths=[re.compile(r"/p/.*")])

    @app.post("/p/{x}")
    async def p(x: str) -> str:
        return x

    with TestClient(app) as client:
        assert client.post("/api/hook").text == "hooked"
        assert client.post("/api/other").status_code == 403
        assert client.post("/p/abc").text == "abc"


async def test_a_raw_asgi_app_gets_the_body_replayed() -> None:
    received: list[bytes] = []

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = CSRFMiddleware(raw, secret_key="k")
    signer_cookie = middleware.signer.sign(b"s" * 32)
    from asgi_magic.web.csrf import _mask

    token = _mask(b"s" * 32)
    boundary = b"xyz"
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b'\r\n--xyz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
        + b"D" * 5000
        + b"\r\n--xyz--\r\n"
    )
    chunks = [body[:100], body[100:3000], body[3000:]]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < 2} for i, c in enumerate(chunks)
    ]

    async def receive() -> Any:
        return messages.pop(0)

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "scheme": "http",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=" + boundary),
            (b"cookie", b"csrftoken=" + signer_cookie.encode()),
        ],
    }
    await middleware(scope, receive, send)
    assert sent[0]["status"] == 204
    assert b"".join(received) == body  # every byte, once, in order
    # only the messages up to the token's end were read ahead, then the live stream
    assert received[0] == body[:3000]
    assert received[1:] == [body[3000:]]


def test_csrf_token_without_the_middleware_is_a_clear_error() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> str:
        return csrf_token(request)

    with TestClient(app) as client, pytest.raises(RuntimeError, match="CSRFMiddleware"):
        client.get("/")


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        CSRFMiddleware(make_app(), secret_key="k", same_site="none")
    with pytest.raises(ValueError):
        CSRFMiddleware(make_app(), secret_key="")


async def _verdict(middleware: CSRFMiddleware, cookie: str, body: bytes, cuts: list[int]) -> int:
    edges = [0, *cuts, len(body)]
    messages = [
        {"type": "http.request", "body": body[a:b], "more_body": i < len(edges) - 2}
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    ]

    async def receive() -> Any:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "scheme": "http",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=xyz"),
            (b"cookie", b"csrftoken=" + cookie.encode()),
        ],
    }
    await middleware(scope, receive, send)
    return int(sent[0]["status"])


async def test_scan_limit_verdict_does_not_depend_on_the_split() -> None:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    from asgi_magic.web.csrf import _mask

    secret = b"s" * 32
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + _mask(secret).encode()
        + b"\r\n--xyz--\r\n"
    )
    end_of_token = body.index(b"\r\n--xyz--") + len(b"\r\n--xyz")
    for limit, expected in ((end_of_token, 200), (end_of_token - 1, 403)):
        middleware = CSRFMiddleware(ok, secret_key="k", max_scan_size=limit)
        cookie = middleware.signer.sign(secret)
        verdicts = {await _verdict(middleware, cookie, body, [])}
        verdicts.add(await _verdict(middleware, cookie, body, list(range(1, len(body)))))
        for cut in range(1, len(body)):
            verdicts.add(await _verdict(middleware, cookie, body, [cut]))
        assert verdicts == {expected}, (limit, verdicts)


def test_session_middleware_inside_csrf_falls_back_to_the_cookie_mode() -> None:
    app = App()

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/submit")
    async def submit(request: Request) -> str:
        return "ok"

    # the wrong order: the session is loaded after the CSRF check
    app.add_middleware(SessionMiddleware, secret_key="s")
    app.add_middleware(CSRFMiddleware, secret_key="k")
    with TestClient(app) as client:
        token = _token(client)
        assert "csrftoken" in client.cookies
        assert client.post("/submit", data={"csrf_token": token}).text == "ok"
        assert client.post("/submit").status_code == 403
