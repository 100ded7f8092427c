"""Request: url, headers, query params, cookies, client, body/json/form/stream, state."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.web import App, Headers, QueryParams, Request
from asgi_magic.web.datastructures import URL, MutableHeaders
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


def make_app() -> App:
    app = App()

    @app.get("/info")
    async def info(request: Request) -> dict[str, Any]:
        url = request.url
        return {
            "method": request.method,
            "scheme": url.scheme,
            "hostname": url.hostname,
            "path": url.path,
            "query": url.query,
            "x_many": request.headers.getlist("x-many"),
            "x_case": request.headers.get("X-CASE"),
            "has_x_case": "x-Case" in request.headers,
            "tags": request.query_params.getlist("tag"),
            "blank": request.query_params.get("blank"),
            "cookies": request.cookies,
            "client_is_tuple": request.client is not None and len(request.client) == 2,
            "base_url": str(request.base_url),
        }

    @app.post("/body")
    async def body(request: Request) -> dict[str, Any]:
        data = await request.body()
        again = await request.body()
        return {"len": len(data), "same": data == again}

    @app.post("/json")
    async def json_echo(request: Request) -> Any:
        return await request.json()

    @app.post("/form")
    async def form(request: Request) -> dict[str, Any]:
        data = await request.form()
        return {"items": data.multi_items(), "name": data.get("name")}

    @app.post("/form-limited")
    async def form_limited(request: Request) -> dict[str, Any]:
        data = await request.form(max_fields=2)
        return {"n": len(data.multi_items())}

    @app.post("/form-small")
    async def form_small(request: Request) -> dict[str, Any]:
        data = await request.form(max_part_size=8, max_body_size=64)
        return {"n": len(data.multi_items())}

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, Any]:
        sizes = [len(chunk) async for chunk in request.stream()]
        try:
            await request.body()
        except RuntimeError as exc:
            return {"total": sum(sizes), "error": str(exc)}
        return {"total": sum(sizes), "error": None}

    return app


def test_request_properties(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.get(
            "/info?tag=a&tag=b&blank=",
            headers=[
                ("x-many", "1"),
                ("x-many", "2"),
                ("X-Case", "yes"),
                ("cookie", "session=abc; theme=dark"),
            ],
        )
        body = r.json()
        assert body["method"] == "GET"
        assert body["scheme"] == "http"
        assert body["path"] == "/info"
        assert body["query"] == "tag=a&tag=b&blank="
        assert body["x_many"] == ["1", "2"]
        assert body["x_case"] == "yes"
        assert body["has_x_case"] is True
        assert body["tags"] == ["a", "b"]
        assert body["blank"] == ""
        assert body["cookies"] == {"session": "abc", "theme": "dark"}
        assert body["client_is_tuple"] is True
        assert body["base_url"].endswith("/")


def test_body_json_and_bad_json(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        assert client.post("/body", content=b"x" * 100_000).json() == {"len": 100_000, "same": True}
        assert client.post("/json", json={"a": [1, "é"]}).json() == {"a": [1, "é"]}
        r = client.post("/json", content=b"{not json")
        assert r.status_code == 400
        assert r.text == "Invalid JSON body"
        r = client.post("/json", content=b"{", headers={"accept": "application/json"})
        assert r.status_code == 400
        assert r.json() == {"detail": "Invalid JSON body"}


def test_urlencoded_form(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.post("/form", data={"name": "Zoë", "tag": ["a", "b"]})
        assert r.json() == {
            "items": [["name", "Zoë"], ["tag", "a"], ["tag", "b"]],
            "name": "Zoë",
        }
        # WHATWG URL §5.1: invalid UTF-8 decodes to U+FFFD, as the browser would (issue 13)
        r = client.post(
            "/form",
            content=b"name=%FF",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        assert r.json()["name"] == "\ufffd"
        r = client.post(
            "/form-limited",
            content=b"a=1&b=2&c=3",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 400
        assert "Too many form fields" in r.text


def test_urlencoded_form_has_the_multipart_size_limits(client_factory: ClientFactory) -> None:
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    with client_factory(make_app()) as client:
        assert client.post("/form-small", content=b"a=12345678", headers=urlencoded).json() == {
            "n": 1
        }
        r = client.post("/form-small", content=b"a=123456789", headers=urlencoded)
        assert r.status_code == 413
        assert "Form field too large" in r.text
        r = client.post("/form-small", content=b"a=1&" * 20, headers=urlencoded)
        assert r.status_code == 413
        assert "Request body too large" in r.text


def test_stream_reads_chunks_and_cannot_be_read_twice(client_factory: ClientFactory) -> None:
    def chunks() -> Any:
        for _ in range(5):
            yield b"y" * 1000

    with client_factory(make_app()) as client:
        r = client.post("/stream", content=chunks())
        assert r.json() == {
            "total": 5000,
            "error": "the request body stream was already consumed",
        }


def test_root_path_is_honoured_in_url() -> None:
    app = App()

    @app.get("/where", name="where")
    async def where(request: Request) -> dict[str, str]:
        return {"url": str(request.url), "for": str(request.url_for("where"))}

    with TestClient(app, root_path="/prefix") as client:
        body = client.get("/where").json()
    assert body == {
        "url": "http://testserver/prefix/where",
        "for": "http://testserver/prefix/where",
    }


def test_session_requires_middleware() -> None:
    app = App()

    @app.get("/")
    async def home(request: Request) -> str:
        return str(request.session)

    with TestClient(app) as client, pytest.raises(AssertionError, match="SessionMiddleware"):
        client.get("/")


def test_datastructures() -> None:
    headers = Headers(raw=[(b"a", b"1"), (b"a", b"2"), (b"b", b"3")])
    assert headers["A"] == "1"
    assert headers.getlist("a") == ["1", "2"]
    assert list(headers) == ["a", "a", "b"]
    mutable = MutableHeaders()
    mutable["X-One"] = "1"
    mutable.append("set-cookie", "a=1")
    mutable.append("set-cookie", "b=2")
    assert mutable.raw == [(b"x-one", b"1"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    with pytest.raises(ValueError):
        mutable["x-bad"] = "a\r\nInjected: yes"
    with pytest.raises(ValueError):
        mutable.append("x-bad", "a\nb")
    mutable.add_vary_header("Origin")
    mutable.add_vary_header("Accept-Encoding")
    mutable.add_vary_header("origin")
    assert mutable["vary"] == "Origin, Accept-Encoding"
    params = QueryParams("a=1&a=2&b=")
    assert params["a"] == "2"
    assert params.getlist("a") == ["1", "2"]
    assert str(params) == "a=1&a=2&b="
    url = URL("https://user:pw@example.com:8443/p?q=1")
    assert (url.scheme, url.hostname, url.port, url.path, url.query) == (
        "https",
        "example.com",
        8443,
        "/p",
        "q=1",
    )
    assert url.is_secure
    assert "pw" not in repr(url)
    assert str(url.replace(path="/x")) == "https://user:pw@example.com:8443/x?q=1"
    assert str(url.include_query_params(r="2")) == "https://user:pw@example.com:8443/p?q=1&r=2"


@pytest.mark.parametrize("host", ["[::1", "example.com:99999", "a@evil.example", "ex ample"])
def test_malformed_host_header_does_not_break_request_url(host: str) -> None:
    app = App()

    @app.get("/u")
    async def u(request: Request) -> dict[str, Any]:
        return {"url": str(request.url), "hostname": request.url.hostname}

    with TestClient(app) as client:
        r = client.get("/u", headers={"host": host})
    assert r.status_code == 200
    assert r.json() == {"url": "http://testserver/u", "hostname": "testserver"}
