"""Routing: converters, precedence, 404/405/HEAD/OPTIONS, slashes, mounts, url_for."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import pytest

from asgi_magic.web import (
    App,
    Convertor,
    HTTPException,
    JSONResponse,
    Mount,
    NoMatchFound,
    Request,
    Route,
    Router,
    register_converter,
)
from asgi_magic.web import routing as routing_module
from asgi_magic.web.responses import PlainTextResponse
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


def make_app(**options: Any) -> App:
    app = App(**options)

    @app.get("/")
    async def home() -> str:
        return "home"

    @app.get("/users/me")
    async def me() -> str:
        return "static me"

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": type(user_id).__name__}

    @app.get("/users/{name}")
    async def user_by_name(name: str) -> dict[str, Any]:
        return {"name": name}

    @app.delete("/users/{user_id:int}")
    async def delete_user(user_id: int) -> None:
        return None

    @app.get("/price/{value:float}")
    async def price(value: float) -> dict[str, Any]:
        return {"value": value}

    @app.get("/items/{item_id:uuid}")
    async def item(item_id: uuid.UUID) -> dict[str, Any]:
        return {"uuid": str(item_id), "is_uuid": isinstance(item_id, uuid.UUID)}

    @app.get("/files/{rest:path}")
    async def files(rest: str) -> dict[str, Any]:
        return {"rest": rest}

    @app.get("/posts/{slug:slug}", name="post")
    async def post(slug: str, request: Request) -> dict[str, Any]:
        return {"slug": slug, "params": request.path_params}

    @app.route("/form", methods=["GET", "POST"])
    async def form(request: Request) -> str:
        return request.method

    @app.post("/only-post")
    async def only_post() -> str:
        return "posted"

    @app.get("/trailing/")
    async def trailing() -> str:
        return "trailing"

    @app.route("/explicit-options", methods=["OPTIONS"])
    async def explicit_options() -> PlainTextResponse:
        return PlainTextResponse("mine", headers={"x-own": "1"})

    return app


def test_static_and_typed_dynamic_routes(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        assert client.get("/").text == "home"
        # static before dynamic, even though "/users/{name}" would match "me"
        assert client.get("/users/me").text == "static me"
        assert client.get("/users/42").json() == {"id": 42, "type": "int"}
        assert client.get("/users/bob").json() == {"name": "bob"}
        assert client.get("/price/1.5").json() == {"value": 1.5}
        uid = uuid.uuid4()
        assert client.get(f"/items/{uid}").json() == {"uuid": str(uid), "is_uuid": True}
        assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}
        assert client.get("/posts/hello-world_1").json() == {
            "slug": "hello-world_1",
            "params": {"slug": "hello-world_1"},
        }


def test_404_and_converter_mismatch(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.get("/nowhere")
        assert r.status_code == 404
        assert r.text == "Not Found"
        assert client.get("/items/not-a-uuid").status_code == 404
        assert client.get("/posts/not a slug").status_code == 404
        assert client.get("/price/abc").status_code == 404


def test_405_has_allow(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.put("/only-post")
        assert r.status_code == 405
        assert r.headers["allow"] == "POST, OPTIONS"
        r = client.post("/users/5")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD, DELETE, OPTIONS"
        # the DELETE route is found although the GET route with the same path came first
        assert client.delete("/users/5").status_code == 204


def test_head_is_get_without_body(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.head("/users/42")
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["content-length"] == str(len(b'{"id":42,"type":"int"}'))
        assert r.headers["content-type"] == "application/json"


def test_options_answered_with_allow(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.options("/form")
        assert r.status_code == 204
        assert r.headers["allow"] == "GET, HEAD, POST, OPTIONS"
        assert r.content == b""
        r = client.options("/explicit-options")
        assert r.text == "mine"
        assert r.headers["x-own"] == "1"
        assert client.options("/nowhere").status_code == 404


def test_trailing_slash_redirect(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        r = client.get("/users/42/?x=1", follow_redirects=False)
        assert r.status_code == 308
        assert r.headers["location"] == "/users/42?x=1"
        r = client.get("/trailing", follow_redirects=False)
        assert r.status_code == 308
        assert r.headers["location"] == "/trailing/"
        assert client.get("/trailing").text == "trailing"
        # a POST keeps its method through a 308 (RFC 9110 §15.4.9)
        assert client.post("/only-post/").text == "posted"


def test_trailing_slash_redirect_can_be_switched_off(client_factory: ClientFactory) -> None:
    with client_factory(make_app(redirect_slashes=False)) as client:
        assert client.get("/users/42/", follow_redirects=False).status_code == 404


def test_no_open_redirect_through_double_slash() -> None:
    app = App()

    @app.get("/{name}")
    async def any_name(name: str) -> str:
        return name

    with TestClient(app) as client:
        r = client.get("//evil.example/", follow_redirects=False)
        assert r.status_code == 404
        assert "location" not in r.headers


def test_mount_sets_root_path_and_keeps_path(client_factory: ClientFactory) -> None:
    seen: dict[str, Any] = {}

    async def raw_app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(path=scope["path"], root_path=scope["root_path"])
        await PlainTextResponse("raw")(scope, receive, send)

    sub = App()

    @sub.get("/hello/{who}", name="hello")
    async def hello(who: str, request: Request) -> dict[str, Any]:
        return {
            "who": who,
            "url": str(request.url),
            "url_for": str(request.url_for("hello", who="x")),
            "root_path": request.scope["root_path"],
        }

    app = App()
    app.mount("/raw", raw_app)
    app.mount("/sub", sub, name="sub")

    with client_factory(app) as client:
        assert client.get("/raw/a/b").text == "raw"
        assert seen == {"path": "/raw/a/b", "root_path": "/raw"}
        body = client.get("/sub/hello/ann?q=1").json()
        assert body["who"] == "ann"
        assert body["root_path"] == "/sub"
        assert body["url"].endswith("/sub/hello/ann?q=1")
        assert body["url_for"].endswith("/sub/hello/x")
        assert client.get("/sub/nothing").status_code == 404
    assert app.url_for("sub:hello", who="z") == "/sub/hello/z"


def test_mount_with_routes_and_path_params() -> None:
    async def detail(request: Request) -> dict[str, Any]:
        return dict(request.path_params)

    app = App(
        routes=[
            Mount("/orgs/{org}", routes=[Route("/repos/{repo}", detail, name="repo")], name="org"),
        ]
    )
    with TestClient(app) as client:
        assert client.get("/orgs/acme/repos/site").json() == {"org": "acme", "repo": "site"}
    assert app.url_for("org:repo", org="acme", repo="x") == "/orgs/acme/repos/x"


def test_url_for_and_converters() -> None:
    app = make_app()
    assert app.url_for("user", user_id=7) == "/users/7"
    assert app.url_for("files", rest="a/b c") == "/files/a/b%20c"
    assert app.url_for("post", slug="abc") == "/posts/abc"
    # a {str} value cannot smuggle a path separator or query string
    with pytest.raises(ValueError):
        app.url_for("user_by_name", name="a/b")
    assert app.url_for("user_by_name", name="a?b") == "/users/a%3Fb"
    with pytest.raises(NoMatchFound):
        app.url_for("user")
    with pytest.raises(NoMatchFound):
        app.url_for("missing")


def test_url_for_mounted_static_style_app() -> None:
    async def files(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse(scope["path"])(scope, receive, send)

    app = App()
    app.mount("/static", files, name="static")
    assert app.url_for("static", path="/css/a.css") == "/static/css/a.css"


class HexConvertor(Convertor[int]):
    regex = "[0-9a-f]+"

    def convert(self, value: str) -> int:
        return int(value, 16)

    def to_string(self, value: int) -> str:
        return format(value, "x")


def test_user_registered_converter(client_factory: ClientFactory) -> None:
    register_converter("hex", HexConvertor())
    app = App()

    @app.get("/color/{value:hex}")
    async def color(value: int) -> dict[str, int]:
        return {"value": value}

    with client_factory(app) as client:
        assert client.get("/color/ff").json() == {"value": 255}
        assert client.get("/color/zz").status_code == 404
    assert app.url_for("color", value=255) == "/color/ff"


def test_bad_route_definitions_fail_at_registration() -> None:
    app = App()
    with pytest.raises(ValueError, match="unknown path convertor"):
        app.add_route("/x/{a:nope}", lambda: None)
    with pytest.raises(ValueError, match="must start with"):
        app.add_route("x", lambda: None)

    # a parameter that is neither a path parameter nor the request comes from the query
    # string (tests/web/test_parameters.py); one whose type cannot come from a request
    # is refused here, not answered 500 later
    async def needs_unknown(missing: object) -> None:
        return None

    with pytest.raises(TypeError, match=r"needs_unknown.*'missing'"):
        app.add_route("/y", needs_unknown)


def test_many_routes_use_one_combined_matcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dispatch among 200 dynamic routes must not try the routes one by one."""
    app = App()
    for i in range(200):

        async def handler(item_id: int, i: int = i) -> dict[str, int]:
            return {"route": i, "id": item_id}

        app.add_route(f"/r{i}/items/{{item_id:int}}", handler, name=f"r{i}")

    # matches_path is the per-route matcher; the router must never need it for a hit
    def forbidden(self: Any, path: str) -> None:
        raise AssertionError("linear per-route matching used")

    monkeypatch.setattr(routing_module._PathRoute, "matches_path", forbidden)
    with TestClient(app) as client:
        assert client.get("/r199/items/5").json() == {"route": 199, "id": 5}
        assert client.get("/r0/items/1").json() == {"route": 0, "id": 1}
    router = app.router
    static, groups, fallback, _ = router._tables["http"]
    assert static == {}
    # one compiled regex per first segment, each holding only the routes that can match
    assert len(groups) == 200
    assert all(len(group.entries) == 1 for group in groups.values())
    assert fallback.regex is None


def test_wildcard_first_segment_routes_keep_registration_order() -> None:
    app = App()

    @app.get("/{lang}/about")
    async def about(lang: str) -> str:
        return f"about {lang}"

    @app.get("/docs/{page}")
    async def docs(page: str) -> str:
        return f"docs {page}"

    with TestClient(app) as client:
        # "/{lang}/about" was registered first and matches "/docs/about" too
        assert client.get("/docs/about").text == "about docs"
        assert client.get("/docs/intro").text == "docs intro"
        assert client.get("/fr/about").text == "about fr"


def test_router_used_alone_is_an_asgi_app() -> None:
    async def hi(request: Request) -> str:
        return "hi"

    router = Router([Route("/hi", hi)])
    with TestClient(router) as client:
        assert client.get("/hi").text == "hi"
        assert client.get("/nope").status_code == 404


def test_routes_added_after_the_first_request_are_found() -> None:
    app = App()

    @app.get("/a")
    async def a() -> str:
        return "a"

    with TestClient(app) as client:
        assert client.get("/a").text == "a"

        @app.get("/b/{x:int}")
        async def b(x: int) -> dict[str, int]:
            return {"x": x}

        async def c() -> str:
            return "c"

        app.routes.append(Route("/c", c))
        assert client.get("/c").text == "c"
        assert client.get("/b/1").json() == {"x": 1}


# --- the dispatch fast paths (Router.__call__ → Route._dispatch) ----------------------


async def _call(app: Any, method: str, path: str, **extra: Any) -> list[dict[str, Any]]:
    """Drive ``app`` with one plain ASGI request and return every message it sent."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        **extra,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 5)
    return sent


def _json_twins() -> App:
    """Each path twice: returning the value (fast path) and a JSONResponse of it."""
    app = App()
    values: dict[str, Any] = {
        "dict": {"id": 42, "name": "user42", "é": [1.5, None, True]},
        "list": [1, "two", {"three": 3}],
        "empty": {},
        "exp": {"small": 1e-7},  # the orjson/stdlib exponent difference
    }
    for key, value in values.items():

        async def plain(n: int, value: Any = value) -> Any:
            return value

        async def explicit(n: int, value: Any = value) -> JSONResponse:
            return JSONResponse(value)

        app.add_route(f"/plain/{key}/{{n:int}}", plain, methods=["GET"])
        app.add_route(f"/explicit/{key}/{{n:int}}", explicit, methods=["GET"])

        async def static(value: Any = value) -> Any:
            return value

        app.add_route(f"/static/plain/{key}", static, methods=["GET"])
    return app


@pytest.mark.parametrize("key", ["dict", "list", "empty", "exp"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_returned_json_is_byte_identical_to_jsonresponse(key: str, method: str) -> None:
    app = _json_twins()
    fast = await _call(app, method, f"/plain/{key}/7")
    slow = await _call(app, method, f"/explicit/{key}/7")
    static = await _call(app, method, f"/static/plain/{key}")
    assert fast == slow == static
    assert [m["type"] for m in fast] == ["http.response.start", "http.response.body"]
    start, body = fast
    assert start["status"] == 200
    assert start["headers"][1] == (b"content-type", b"application/json")
    get_body = (await _call(app, "GET", f"/plain/{key}/7"))[1]["body"]
    # HEAD: the GET headers (Content-Length of the GET body) and no content
    assert start["headers"][0] == (b"content-length", str(len(get_body)).encode())
    assert body["body"] == (b"" if method == "HEAD" else get_body)


async def test_each_fast_response_gets_its_own_header_list() -> None:
    # a middleware may append to the list it is given; that must not leak into the next
    app = _json_twins()
    first = await _call(app, "GET", "/plain/dict/1")
    first[0]["headers"].append((b"x-leak", b"1"))
    second = await _call(app, "GET", "/plain/dict/1")
    assert (b"x-leak", b"1") not in second[0]["headers"]


async def test_dict_subclass_response_class_and_sync_handlers_keep_their_paths() -> None:
    class Ordered(dict[str, Any]):
        pass

    class Upper(PlainTextResponse):
        def render(self, content: Any) -> bytes:
            return str(content).upper().encode()

    app = App()

    @app.get("/sub/{n:int}")
    async def sub(n: int) -> Ordered:
        return Ordered(n=n)

    @app.get("/custom/{n:int}", response_class=Upper)
    async def custom(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/sync/{n:int}")
    def sync(n: int) -> dict[str, int]:
        return {"n": n}

    assert (await _call(app, "GET", "/sub/3"))[1]["body"] == b'{"n":3}'
    assert (await _call(app, "GET", "/custom/3"))[1]["body"] == b"{'N': 3}"
    assert (await _call(app, "GET", "/sync/3"))[1]["body"] == b'{"n":3}'


async def test_handler_kwargs_for_every_signature_shape() -> None:
    app = App()

    @app.get("/both/{a:int}/{b}")
    async def both(b: str, a: int) -> dict[str, Any]:
        return {"a": a, "b": b}

    @app.get("/some/{a:int}/{b}")
    async def some(a: int) -> dict[str, Any]:
        return {"a": a}

    @app.get("/none/{a:int}")
    async def none() -> str:
        return "none"

    @app.get("/var/{a:int}")
    async def var(request: Request, **kw: Any) -> dict[str, Any]:
        kw["added"] = True  # must not reach the scope's path_params
        return {"kw": kw, "path_params": request.path_params}

    assert (await _call(app, "GET", "/both/1/x"))[1]["body"] == b'{"a":1,"b":"x"}'
    assert (await _call(app, "GET", "/some/1/x"))[1]["body"] == b'{"a":1}'
    assert (await _call(app, "GET", "/none/1"))[1]["body"] == b"none"
    body = (await _call(app, "GET", "/var/5"))[1]["body"]
    assert body == b'{"kw":{"a":5,"added":true},"path_params":{"a":5}}'


async def test_route_handle_is_still_a_public_entry_point() -> None:
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    route = Route("/users/{user_id:int}", user)
    sent = await _call(route.handle, "GET", "/users/9", path_params={"user_id": 9, "other": 1})
    assert sent[1]["body"] == b'{"id":9}'


async def test_handler_errors_still_reach_exception_handlers() -> None:
    app = App()

    class Teapot(Exception):
        pass

    @app.exception_handler(Teapot)
    async def teapot(request: Request, exc: Teapot) -> JSONResponse:
        return JSONResponse({"teapot": request.path_params["n"]}, status_code=418)

    @app.get("/tea/{n:int}")
    async def tea(n: int) -> dict[str, int]:
        raise Teapot()

    @app.get("/gone/{n:int}")
    async def gone(n: int) -> dict[str, int]:
        raise HTTPException(410)

    @app.get("/boom/{n:int}")
    async def boom(n: int) -> dict[str, int]:
        raise RuntimeError("boom")

    sent = await _call(app, "GET", "/tea/4")
    assert sent[0]["status"] == 418 and sent[1]["body"] == b'{"teapot":4}'
    assert (await _call(app, "GET", "/gone/4"))[0]["status"] == 410
    sent = await _call(app, "GET", "/boom/4")
    assert sent[0]["status"] == 500 and sent[1]["body"] == b"Internal Server Error"


async def test_static_path_with_the_method_on_a_later_route() -> None:
    app = App()

    @app.get("/thing")
    async def read() -> str:
        return "read"

    @app.post("/thing")
    async def write() -> str:
        return "write"

    assert (await _call(app, "GET", "/thing"))[1]["body"] == b"read"
    assert (await _call(app, "POST", "/thing"))[1]["body"] == b"write"
    sent = await _call(app, "PUT", "/thing")
    assert sent[0]["status"] == 405


async def test_int_over_the_digit_limit_is_not_a_match() -> None:
    # int() refuses more than sys.get_int_max_str_digits() digits with ValueError: that
    # must be a 404 (or the next matching route), never a 500
    digits = "1" * (sys.get_int_max_str_digits() + 1)
    only_int = App()

    @only_int.get("/users/{user_id:int}")
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    sent = await _call(only_int, "GET", "/users/" + digits)
    assert sent[0]["status"] == 404
    assert (await _call(only_int, "GET", "/users/12"))[1]["body"] == b'{"id":12}'
    # the next route in order whose pattern matches still gets the request
    sent = await _call(make_app(), "GET", "/users/" + digits)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"name":"' + digits.encode() + b'"}'
    # the same in a mount prefix
    outer = App()
    outer.mount("/org/{org:int}", only_int)
    assert (await _call(outer, "GET", f"/org/{digits}/users/1"))[0]["status"] == 404
    assert (await _call(outer, "GET", "/org/3/users/1"))[1]["body"] == b'{"id":1}'
