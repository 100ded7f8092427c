"""Body limits for body()/json()/stream()/form(), app-wide and per route (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.web import App, Request
from asgi_magic.web.requests import DEFAULT_FORM_MAX_BODY
from asgi_magic.web.testclient import TestClient


def make_app(app_limit: int | None = 100) -> App:
    app = App(max_body_size=app_limit)

    @app.post("/body")
    async def body(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    @app.post("/json")
    async def json_body(request: Request) -> Any:
        return await request.json()

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, int]:
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return {"n": n}

    @app.post("/form")
    async def form(request: Request) -> dict[str, int]:
        return {"n": len(await request.form())}

    @app.post("/small", max_body_size=5)
    async def small(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    @app.post("/large", max_body_size=10_000)
    async def large(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    @app.post("/nolimit-handler")
    async def no_request() -> str:
        return "ok"

    return app


def _chunks(data: bytes, size: int = 7) -> Any:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("path", ["/body", "/stream"])
def test_app_wide_limit(client_factory: Any, path: str) -> None:
    with client_factory(make_app()) as client:
        assert client.post(path, content=b"x" * 100).json() == {"n": 100}
        r = client.post(path, content=b"x" * 101)
        assert r.status_code == 413
        assert r.text == "Request body too large (maximum 100 bytes)"
        # without Content-Length (chunked): counted as it arrives
        assert client.post(path, content=_chunks(b"x" * 100)).json() == {"n": 100}
        assert client.post(path, content=_chunks(b"x" * 101)).status_code == 413


def test_json_is_limited(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        assert client.post("/json", json={"a": "b"}).json() == {"a": "b"}
        assert client.post("/json", json={"a": "b" * 200}).status_code == 413


def test_route_limit_replaces_the_app_limit(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        assert client.post("/small", content=b"12345").json() == {"n": 5}
        assert client.post("/small", content=b"123456").status_code == 413
        assert client.post("/large", content=b"x" * 5000).json() == {"n": 5000}
        assert client.post("/large", content=b"x" * 10_001).status_code == 413


def test_route_limit_without_an_app_limit() -> None:
    with TestClient(make_app(None)) as client:
        assert client.post("/body", content=b"x" * 50_000).json() == {"n": 50_000}
        assert client.post("/small", content=b"123456").status_code == 413


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    calls: list[int] = []

    async def receive() -> Any:
        calls.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/body",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", b"100000")],
    }
    await make_app()(scope, receive, send)
    assert sent[0]["status"] == 413
    assert calls == []  # refused on the declared length, nothing read


def test_form_is_limited_by_the_app_limit() -> None:
    with TestClient(make_app()) as client:
        assert client.post("/form", data={"a": "1"}).json() == {"n": 1}
        assert client.post("/form", data={"a": "x" * 200}).status_code == 413
        r = client.post("/form", files={"f": ("a.bin", b"x" * 200, "application/octet-stream")})
        assert r.status_code == 413


def test_handlers_that_do_not_read_the_body_are_untouched() -> None:
    with TestClient(make_app()) as client:
        assert client.post("/nolimit-handler", content=b"x" * 1000).text == "ok"


def test_urlencoded_default_cap_is_small() -> None:
    assert DEFAULT_FORM_MAX_BODY == 2 * 1024 * 1024
    app = App()

    @app.post("/form")
    async def form(request: Request) -> dict[str, int]:
        return {"n": len(await request.form(max_part_size=10 * 1024 * 1024))}

    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    with TestClient(app) as client:
        ok = b"a=" + b"x" * (DEFAULT_FORM_MAX_BODY - 2)
        assert client.post("/form", content=ok, headers=urlencoded).json() == {"n": 1}
        r = client.post("/form", content=ok + b"x", headers=urlencoded)
        assert r.status_code == 413


def test_bad_limits() -> None:
    with pytest.raises(ValueError):
        App(max_body_size=-1)
    app = App()
    with pytest.raises(ValueError):
        app.post("/", max_body_size=-1)(lambda: None)
