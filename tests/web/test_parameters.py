"""Typed handler parameters: query, header, cookie and JSON body, compiled at registration.

Every HTTP test runs through the TestClient and over the real server (``client_factory``).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from typing import Annotated, Any, Literal, Optional, TypedDict

import pydantic
import pytest

from asgi_magic.web import (
    App,
    Cookie,
    Header,
    HTTPEndpoint,
    JSONResponse,
    Mount,
    Query,
    Request,
    RequestValidationError,
    Route,
    Router,
    WebSocket,
    WebSocketDisconnect,
)
from asgi_magic.web import params as params_module
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Address:
    city: str
    zip: str | None = None


@dataclasses.dataclass
class Item:
    name: str
    price: float
    tags: list[str] = dataclasses.field(default_factory=list)
    address: Address | None = None

    def __post_init__(self) -> None:
        if self.price < 0:
            raise ValueError("price must not be negative")


class Movie(TypedDict):
    title: str
    year: int


class User(pydantic.BaseModel):
    name: str
    age: int


def make_app() -> App:
    app = App()

    @app.get("/search")
    async def search(q: str = "x", page: int = 1) -> dict[str, Any]:
        return {"q": q, "page": page}

    @app.get("/required")
    async def required(q: str) -> dict[str, Any]:
        return {"q": q}

    @app.get("/types")
    async def types(
        f: float = 0.5,
        b: bool = False,
        color: Color = Color.RED,
        level: Level = Level.LOW,
        id: uuid.UUID | None = None,
        day: datetime.date | None = None,
        at: Optional[datetime.datetime] = None,  # noqa: UP045 - Optional[] is tested on purpose
        mode: Literal["fast", "slow"] = "fast",
    ) -> dict[str, Any]:
        return {
            "f": f,
            "b": b,
            "color": color.value,
            "level": int(level),
            "id": str(id) if id else None,
            "day": day.isoformat() if day else None,
            "at": at.isoformat() if at else None,
            "mode": mode,
            "kinds": [type(v).__name__ for v in (f, b, color, level)],
        }

    @app.get("/lists")
    async def lists(
        tag: list[str] | None = None, n: list[int] = Query(default=[])
    ) -> dict[str, Any]:
        n.append(0)  # a mutable default must not leak into the next request
        return {"tag": tag, "n": n}

    @app.get("/alias")
    async def alias(
        page_size: Annotated[int, Query(alias="page-size")] = 10,
        user_agent: str = Header(),
        x_token: Annotated[str | None, Header(alias="X-Token")] = None,
        session: str = Cookie(default="none"),
    ) -> dict[str, Any]:
        return {"size": page_size, "ua": user_agent, "token": x_token, "session": session}

    @app.get("/mixed/{user_id:int}")
    async def mixed(request: Request, user_id: int, verbose: bool = False) -> dict[str, Any]:
        return {"id": user_id, "verbose": verbose, "path": request.url.path}

    @app.post("/items")
    async def create_item(item: Item, dry_run: bool = False) -> JSONResponse:
        return JSONResponse(
            {"item": dataclasses.asdict(item), "dry_run": dry_run, "type": type(item).__name__},
            status_code=201,
        )

    @app.post("/movies")
    async def movie(movie: Movie) -> dict[str, Any]:
        return {"movie": movie}

    @app.post("/users")
    async def user(user: User) -> dict[str, Any]:
        return {"user": user.model_dump(), "type": type(user).__name__}

    @app.post("/optional-body")
    async def optional_body(item: Item | None = None) -> dict[str, Any]:
        return {"item": None if item is None else item.name}

    @app.get("/sync")
    def sync(n: int) -> dict[str, Any]:
        return {"n": n * 2}

    return app


@pytest.fixture
def app() -> App:
    return make_app()


def test_query_parameters_are_filled_and_converted(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        # the bug: `q: str = "x"` was never filled from the query string
        assert client.get("/search?q=hello&page=3").json() == {"q": "hello", "page": 3}
        assert client.get("/search").json() == {"q": "x", "page": 1}
        assert client.get("/search?page=-2&page=7").json() == {"q": "x", "page": 7}  # last wins
        assert client.get("/search?q=caf%C3%A9+au+lait").json()["q"] == "café au lait"
        assert client.get("/required?q=").json() == {"q": ""}
        assert client.get("/sync?n=21").json() == {"n": 42}


def test_every_supported_type(app: App, client_factory: ClientFactory) -> None:
    uid = uuid.uuid4()
    with client_factory(app) as client:
        body = client.get(
            "/types",
            params={
                "f": "2.5",
                "b": "yes",
                "color": "green",
                "level": "2",
                "id": str(uid),
                "day": "2024-02-29",
                "at": "2024-02-29T12:30:00+01:00",
                "mode": "slow",
            },
        ).json()
        assert body == {
            "f": 2.5,
            "b": True,
            "color": "green",
            "level": 2,
            "id": str(uid),
            "day": "2024-02-29",
            "at": "2024-02-29T12:30:00+01:00",
            "mode": "slow",
            "kinds": ["float", "bool", "Color", "Level"],
        }
        defaults = client.get("/types").json()
        assert defaults["b"] is False and defaults["id"] is None and defaults["mode"] == "fast"
        for text, expected in [
            ("true", True),
            ("ON", True),
            ("1", True),
            ("off", False),
            ("No", False),
            ("0", False),
        ]:
            assert client.get("/types", params={"b": text}).json()["b"] is expected


@pytest.mark.parametrize(
    ("query", "loc", "kind"),
    [
        ("f=abc", ["query", "f"], "float_parsing"),
        ("f=nan", ["query", "f"], "float_parsing"),
        ("f=1e999", ["query", "f"], "finite_number"),
        ("b=maybe", ["query", "b"], "bool_parsing"),
        ("color=blue", ["query", "color"], "enum"),
        ("level=3", ["query", "level"], "enum"),
        ("id=not-a-uuid", ["query", "id"], "uuid_parsing"),
        ("day=2024-02-30", ["query", "day"], "date_parsing"),
        ("at=yesterday", ["query", "at"], "datetime_parsing"),
        ("mode=medium", ["query", "mode"], "literal_error"),
    ],
)
def test_unconvertible_values_are_a_422_naming_the_parameter(
    app: App, client_factory: ClientFactory, query: str, loc: list[str], kind: str
) -> None:
    with client_factory(app) as client:
        response = client.get("/types?" + query)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert error["type"] == kind
    assert error["msg"]


def test_missing_and_malformed_integers(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        missing = client.get("/required")
        assert missing.status_code == 422
        assert missing.json() == {
            "detail": [{"loc": ["query", "q"], "msg": "Field required", "type": "missing"}]
        }
        # int() alone would take these; a query value is exactly an integer
        for bad in [" 3", "3 ", "1_000", "0x10", "", "1.0", "9" * 5000]:
            response = client.get("/search", params={"page": bad})
            assert response.status_code == 422, bad
            assert response.json()["detail"][0]["type"] == "int_parsing"


def test_lists_and_fresh_mutable_defaults(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        assert client.get("/lists?tag=a&tag=b&n=1&n=2").json() == {
            "tag": ["a", "b"],
            "n": [1, 2, 0],
        }
        assert client.get("/lists").json() == {"tag": None, "n": [0]}
        assert client.get("/lists").json() == {"tag": None, "n": [0]}
        bad = client.get("/lists?n=1&n=x&n=y")
        assert bad.status_code == 422
        assert [e["loc"] for e in bad.json()["detail"]] == [["query", "n", 1], ["query", "n", 2]]


def test_header_cookie_and_alias(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        response = client.get(
            "/alias?page-size=5",
            headers={"User-Agent": "probe/1", "x-token": "t0k", "cookie": "session=abc"},
        )
        assert response.json() == {"size": 5, "ua": "probe/1", "token": "t0k", "session": "abc"}
        # the name in the URL is the alias, not the Python name
        assert client.get("/alias?page_size=5", headers={"user-agent": "u"}).json()["size"] == 10
        missing = client.get("/alias", headers={"user-agent": ""})
        assert missing.status_code == 200  # an empty header is a value


def test_missing_header_is_a_422() -> None:
    app = make_app()
    with TestClient(app) as client:
        # httpx always sends User-Agent; an ASGI request without it shows the 422
        response = client.get("/alias", headers={"user-agent": ""})
        assert response.status_code == 200
    router = app.router

    async def call() -> tuple[int, Any]:
        sent: list[Any] = []

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/alias",
            "raw_path": b"/alias",
            "query_string": b"",
            "headers": [],
            "root_path": "",
        }
        await router(scope, receive, send)  # a bare Router answers the 422 itself
        return sent[0]["status"], sent[1]["body"]

    import asyncio
    import json

    status, body = asyncio.run(call())
    assert status == 422
    assert json.loads(body) == {
        "detail": [{"loc": ["header", "user-agent"], "msg": "Field required", "type": "missing"}]
    }


def test_path_parameters_keep_their_convertors(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        assert client.get("/mixed/7?verbose=true").json() == {
            "id": 7,
            "verbose": True,
            "path": "/mixed/7",
        }
        assert client.get("/mixed/x").status_code == 404  # convertor refused: not a 422


def test_dataclass_body(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        created = client.post(
            "/items?dry_run=1",
            json={
                "name": "pen",
                "price": 2,
                "tags": ["a"],
                "address": {"city": "Oslo"},
                "extra": 1,
            },
        )
        assert created.status_code == 201
        assert created.json() == {
            "item": {
                "name": "pen",
                "price": 2.0,
                "tags": ["a"],
                "address": {"city": "Oslo", "zip": None},
            },
            "dry_run": True,
            "type": "Item",
        }
        invalid = client.post("/items", json={"price": "cheap", "tags": [1], "address": {}})
        assert invalid.status_code == 422
        assert sorted(tuple(e["loc"]) for e in invalid.json()["detail"]) == [
            ("body", "address", "city"),
            ("body", "name"),
            ("body", "price"),
            ("body", "tags", 0),
        ]
        # __post_init__ refusing a value is a 422 too
        negative = client.post("/items", json={"name": "pen", "price": -1})
        assert negative.status_code == 422
        assert negative.json()["detail"][0]["type"] == "value_error"
        assert "negative" in negative.json()["detail"][0]["msg"]


def test_body_errors(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        bad_json = client.post(
            "/items", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 422
        assert bad_json.json()["detail"][0]["type"] == "json_invalid"
        empty = client.post("/items")
        assert empty.status_code == 422
        assert empty.json()["detail"] == [
            {"loc": ["body"], "msg": "Field required", "type": "missing"}
        ]
        not_object = client.post("/items", json=[1, 2])
        assert not_object.status_code == 422
        assert not_object.json()["detail"][0]["type"] == "model_type"
        # a JSON body needs a JSON content type: text/plain is a CORS "simple request"
        # another site could send without a preflight
        plain = client.post(
            "/items", content=b'{"name":"x","price":1}', headers={"content-type": "text/plain"}
        )
        assert plain.status_code == 415
        vendor = client.post(
            "/items",
            content=b'{"name":"x","price":1}',
            headers={"content-type": "application/vnd.x+json"},
        )
        assert vendor.status_code == 201
        # query and body problems are reported together
        both = client.post("/items?dry_run=perhaps", json={"price": 1})
        assert {e["loc"][0] for e in both.json()["detail"]} == {"query", "body"}


def test_typeddict_pydantic_and_optional_bodies(app: App, client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        assert client.post("/movies", json={"title": "Up", "year": 2009}).json() == {
            "movie": {"title": "Up", "year": 2009}
        }
        bad = client.post("/movies", json={"title": "Up", "year": "2009x"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "year"]
        assert client.post("/users", json={"name": "ann", "age": "41"}).json() == {
            "user": {"name": "ann", "age": 41},
            "type": "User",
        }
        invalid = client.post("/users", json={"name": "ann", "age": "old"})
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["loc"] == ["body", "age"]
        assert client.post("/optional-body").json() == {"item": None}
        assert client.post("/optional-body", json={"name": "a", "price": 1}).json() == {"item": "a"}


def test_validation_error_can_be_handled_by_the_app(client_factory: ClientFactory) -> None:
    app = make_app()

    @app.exception_handler(RequestValidationError)
    async def handler(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"errors": len(exc.errors)}, status_code=400)

    with client_factory(app) as client:
        response = client.get("/required")
    assert response.status_code == 400
    assert response.json() == {"errors": 1}


# --- registration-time errors ---------------------------------------------------------


class Opaque:
    pass


@dataclasses.dataclass
class Holder:
    thing: Opaque


def test_unbindable_parameters_fail_when_the_route_is_registered() -> None:
    app = App()

    async def unknown(thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match=r"handler 'unknown' for '/u'.*'thing'.*Opaque"):
        app.add_route("/u", unknown)

    async def positional(x: int, /) -> None: ...

    with pytest.raises(TypeError, match=r"'x' is positional-only"):
        app.add_route("/p", positional)

    async def star(*args: str) -> None: ...

    with pytest.raises(TypeError, match=r"cannot bind \*args"):
        app.add_route("/s", star)

    async def two_bodies(a: Item, b: Movie) -> None: ...

    with pytest.raises(TypeError, match="only one parameter can be the JSON body"):
        app.add_route("/b", two_bodies)

    async def union(x: int | str) -> None: ...

    with pytest.raises(TypeError, match="'x'"):
        app.add_route("/x", union)

    async def cookie_list(c: list[str] = Cookie()) -> None: ...

    with pytest.raises(TypeError, match="a cookie has one value"):
        app.add_route("/c", cookie_list)

    async def bad_dict_keys(body: dict[int, str]) -> None: ...

    # a dict annotation is not a body type: it cannot come from the query either
    with pytest.raises(TypeError, match="'body'"):
        app.add_route("/d", bad_dict_keys)

    async def nested(h: Holder) -> None: ...

    with pytest.raises(TypeError, match=r"'h'.*thing.*Opaque"):
        app.add_route("/n", nested)

    @dataclasses.dataclass
    class Local:
        x: int

    async def local(body: Local) -> None: ...

    # with `from __future__ import annotations` a class local to a function cannot be
    # resolved from the handler's module: said now, not guessed per request
    with pytest.raises(
        TypeError, match=r"cannot resolve the annotation 'Local' of parameter 'body'"
    ):
        app.add_route("/l", local)

    async def ws(websocket: WebSocket, item: Item) -> None: ...

    with pytest.raises(TypeError, match="websocket handler has no request body"):
        app.add_websocket_route("/w", ws)

    # nothing was registered by the failed attempts
    assert app.routes == []


def test_binding_is_compiled_once_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    original = params_module.compile_binder

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr("asgi_magic.web.routing.compile_binder", counting)
    app = make_app()
    registered = len(calls)
    assert registered > 0
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/search?q=a").status_code == 200
    assert len(calls) == registered


def test_handlers_without_extra_parameters_keep_the_direct_path() -> None:
    async def only_path(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    async def only_request(request: Request) -> str:
        return "ok"

    for route in (Route("/u/{user_id:int}", only_path), Route("/r", only_request)):
        assert route.binder is None


def test_mount_and_route_objects_bind_too(client_factory: ClientFactory) -> None:
    async def hello(name: str = "world", shout: bool = False) -> str:
        text = f"hello {name}"
        return text.upper() if shout else text

    async def in_org(org: str, q: str = "") -> dict[str, str]:
        # `org` is a parameter of the enclosing Mount, not of the query string
        return {"org": org, "q": q}

    app = App(
        routes=[
            Route("/hello", hello),
            Mount("/orgs/{org}", routes=[Route("/search", in_org)]),
        ]
    )
    with client_factory(app) as client:
        assert client.get("/hello?name=ann&shout=on").text == "HELLO ANN"
        assert client.get("/orgs/acme/search?q=x&org=evil").json() == {"org": "acme", "q": "x"}


def test_websocket_handlers_bind_query_and_headers(client_factory: ClientFactory) -> None:
    app = App()

    @app.websocket("/ws/{room}")
    async def ws(websocket: WebSocket, room: str, token: str, limit: int = 3) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room, "token": token, "limit": limit})
        await websocket.close()

    with TestClient(app) as client:
        with client.websocket_connect("/ws/lobby?token=t&limit=5") as conn:
            assert conn.receive_json() == {"room": "lobby", "token": "t", "limit": 5}
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/ws/lobby?limit=x"),
        ):
            pass
        assert info.value.code == 1008  # RFC 6455 §7.4.1: policy violation


def test_http_endpoint_methods_take_typed_parameters(client_factory: ClientFactory) -> None:
    class Items(HTTPEndpoint):
        async def get(
            self, request: Request, item_id: int, fields: list[str] | None = None
        ) -> dict[str, Any]:
            return {"id": item_id, "fields": fields}

        async def put(self, request: Request, item_id: int, item: Item) -> dict[str, Any]:
            return {"id": item_id, "name": item.name}

    app = App(routes=[Route("/items/{item_id:int}", Items)])
    with client_factory(app) as client:
        assert client.get("/items/3?fields=a&fields=b").json() == {"id": 3, "fields": ["a", "b"]}
        assert client.put("/items/3", json={"name": "pen", "price": 1}).json() == {
            "id": 3,
            "name": "pen",
        }
        assert client.put("/items/3", json={"price": 1}).status_code == 422


def test_bare_router_answers_422() -> None:
    async def need(n: int) -> dict[str, int]:
        return {"n": n}

    router = Router([Route("/n", need)])
    with TestClient(router) as client:
        response = client.get("/n?n=x")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "n"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"a=1&a=2&b=",
        b"a&&b=%20x+y&c=%zz&=v&k=",
        b"caf%C3%A9=th%C3%A9&x=%FF&plus=a%2Bb&sp=a+b",
        b"a=1;b=2&%3D=%26",
    ],
)
def test_the_binders_query_parser_agrees_with_query_params(raw: bytes) -> None:
    from asgi_magic.web.datastructures import QueryParams

    reference = QueryParams(raw)
    parsed = params_module._Query(raw)
    assert sorted(parsed) == sorted(set(reference.keys()))
    for key in reference:
        assert parsed.getlist(key) == reference.getlist(key)
        assert parsed.last(key) == reference[key]


def test_the_binders_query_parser_agrees_on_random_input() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    from asgi_magic.web.datastructures import QueryParams

    alphabet = st.sampled_from([*b"ab=&+%;2F0eC3A9", 0xFF, 0x20])

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(alphabet, max_size=40).map(bytes))
    def check(raw: bytes) -> None:
        reference = QueryParams(raw)
        parsed = params_module._Query(raw)
        assert {k: parsed.getlist(k) for k in parsed} == {
            k: reference.getlist(k) for k in reference
        }

    check()


def test_bodies_work_without_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic is optional: with it not importable, dataclass bodies still bind
    import sys

    monkeypatch.setitem(sys.modules, "pydantic", None)
    app = App()

    @app.post("/items")
    async def create(item: Item) -> dict[str, Any]:
        return {"name": item.name}

    with TestClient(app) as client:
        assert client.post("/items", json={"name": "a", "price": 1}).json() == {"name": "a"}


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


def test_hostile_bodies_are_a_422_not_a_500(client_factory: ClientFactory) -> None:
    app = App()

    @app.post("/tree")
    async def tree(node: Node) -> dict[str, Any]:
        depth = 0
        while node.children:
            node, depth = node.children[0], depth + 1
        return {"depth": depth}

    @app.post("/items")
    async def create(item: Item) -> dict[str, Any]:
        return {"price": item.price}

    # 400 nodes: 800 levels of JSON, which the parser takes (orjson allows 1024), but
    # deeper than the Python stack a recursive validator would need
    deep = '{"name":"n","children":[' * 400 + '{"name":"leaf"}' + "]}" * 400
    with client_factory(app) as client:
        assert client.post("/tree", json={"name": "a", "children": [{"name": "b"}]}).json() == {
            "depth": 1
        }
        response = client.post(
            "/tree", content=deep.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 422  # not a 500 from a RecursionError
        assert response.json()["detail"][0]["type"] in ("too_deep", "json_invalid")
        huge = client.post(
            "/items",
            content=b'{"name": "x", "price": 1' + b"0" * 400 + b"}",
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 422
