"""HTTPEndpoint and WebSocketEndpoint with app.route, Route, Mount and websocket routes.

HTTP tests run through the TestClient and over the real server (``client_factory``);
the websocket ones through the TestClient and the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asgi_magic.web import (
    App,
    HTTPEndpoint,
    Mount,
    PlainTextResponse,
    Request,
    Response,
    Route,
    WebSocket,
    WebSocketDisconnect,
    WebSocketEndpoint,
    WebSocketRoute,
)
from asgi_magic.web.testclient import TestClient

from .conftest import ClientFactory


class Greeting(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        name = request.path_params.get("name", "world")
        return PlainTextResponse(f"hello {name}")

    def post(self, request):  # type: ignore[no-untyped-def]  # sync, untyped: Starlette style
        return {"method": request.method, "sync": True}


class Counter(HTTPEndpoint):
    count = 0

    async def get(self, req: Request, start: int = 0) -> dict[str, int]:
        return {"count": type(self).count + start}

    async def put(self, request: Request) -> None:
        type(self).count = (await request.json())["count"]

    async def delete(self, request: Request) -> Response:
        type(self).count = 0
        return Response(status_code=204)


def make_app() -> App:
    app = App(
        routes=[
            Route("/route", Greeting),
            Route("/route/{name}", Greeting, name="greet"),
            Mount("/mounted", app=Greeting),
        ]
    )
    app.route("/counter")(Counter)
    return app


def test_http_endpoint_with_route_app_route_and_mount(client_factory: ClientFactory) -> None:
    with client_factory(make_app()) as client:
        assert client.get("/route").text == "hello world"
        assert client.get("/route/ann").text == "hello ann"
        assert client.post("/route").json() == {"method": "POST", "sync": True}
        assert client.get("/mounted").text == "hello world"
        assert client.post("/mounted/").json() == {"method": "POST", "sync": True}
        assert client.put("/counter", json={"count": 5}).status_code == 204
        assert client.get("/counter?start=2").json() == {"count": 7}
        assert client.get("/counter?start=x").status_code == 422
        assert client.delete("/counter").status_code == 204
        head = client.head("/route")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len("hello world"))


def test_unsupported_method_is_a_405_listing_the_class_methods(
    client_factory: ClientFactory,
) -> None:
    with client_factory(make_app()) as client:
        # under a Route the router answers (and adds OPTIONS, which it also answers)
        response = client.patch("/route")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, POST, OPTIONS"
        counter = client.post("/counter")
        assert counter.status_code == 405
        assert counter.headers["allow"] == "GET, HEAD, PUT, DELETE, OPTIONS"
        options = client.options("/counter")
        assert options.status_code == 204
        assert options.headers["allow"] == "GET, HEAD, PUT, DELETE, OPTIONS"
        # mounted, the endpoint answers itself: exactly the methods it defines
        mounted = client.delete("/mounted")
        assert mounted.status_code == 405
        assert mounted.headers["allow"] == "GET, HEAD, POST"


def test_endpoint_as_a_bare_asgi_app() -> None:
    with TestClient(Greeting) as client:
        assert client.get("/anything").text == "hello world"
        response = client.put("/")
        assert response.status_code == 405
        assert response.text == "Method Not Allowed"
        assert response.headers["allow"] == "GET, HEAD, POST"


def test_explicit_methods_restrict_an_endpoint(client_factory: ClientFactory) -> None:
    app = App(routes=[Route("/only-get", Greeting, methods=["GET"])])
    with client_factory(app) as client:
        assert client.get("/only-get").status_code == 200
        assert client.post("/only-get").status_code == 405


def test_endpoint_url_for_and_registration_errors() -> None:
    app = make_app()
    assert app.url_for("greet", name="a b") == "/route/a%20b"

    class Broken(HTTPEndpoint):
        async def get(self, request: Request, thing: object) -> None: ...

    with pytest.raises(TypeError, match=r"Broken\.get.*'thing'"):
        app.add_route("/broken", Broken)

    class KwArgs(HTTPEndpoint):
        async def get(self, request: Request, **kw: Any) -> None: ...

    with pytest.raises(TypeError, match=r"KwArgs\.get.*\*\*kw"):
        Route("/kw", KwArgs)


def test_a_class_endpoint_no_longer_answers_500(client_factory: ClientFactory) -> None:
    """The issue's first finding: a class endpoint registered and then answered 500."""
    app = App()

    @app.route("/thing")
    class Thing(HTTPEndpoint):
        async def get(self, request: Request) -> str:
            return "thing"

    with client_factory(app) as client:
        assert client.get("/thing").text == "thing"


# --- WebSocketEndpoint ------------------------------------------------------------------

EVENTS: list[Any] = []


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        EVENTS.append("connect")
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(f"echo {data}")

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        EVENTS.append(("disconnect", close_code))


class JSONEcho(WebSocketEndpoint):
    encoding = "json"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"got": data})


class BytesEcho(WebSocketEndpoint):
    encoding = "bytes"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_bytes(data[::-1])


class Raw(WebSocketEndpoint):
    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(type(data).__name__)


def ws_app() -> App:
    app = App(routes=[WebSocketRoute("/json", JSONEcho), WebSocketRoute("/raw", Raw)])
    app.websocket_route("/text")(Echo)
    app.add_websocket_route("/bytes", BytesEcho)
    return app


def test_websocket_endpoint_encodings() -> None:
    EVENTS.clear()
    with TestClient(ws_app()) as client:
        with client.websocket_connect("/text") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "echo hi"
        with client.websocket_connect("/json") as ws:
            ws.send_json({"a": 1})
            assert ws.receive_json() == {"got": {"a": 1}}
            ws.send_bytes(b'[1, "x"]')  # a UTF-8 binary frame is JSON too
            assert ws.receive_json() == {"got": [1, "x"]}
        with client.websocket_connect("/bytes") as ws:
            ws.send_bytes(b"abc")
            assert ws.receive_bytes() == b"cba"
        with client.websocket_connect("/raw") as ws:
            ws.send_text("x")
            assert ws.receive_text() == "str"
            ws.send_bytes(b"x")
            assert ws.receive_text() == "bytes"
    assert EVENTS[0] == "connect"
    assert EVENTS[1] == ("disconnect", 1000)


@pytest.mark.parametrize(
    ("path", "send"),
    [
        ("/text", lambda ws: ws.send_bytes(b"not text")),
        ("/bytes", lambda ws: ws.send_text("not bytes")),
        ("/json", lambda ws: ws.send_text("{not json")),
        ("/json", lambda ws: ws.send_bytes(b"\xff\xfe")),
    ],
)
def test_a_bad_payload_closes_with_1003(path: str, send: Any) -> None:
    EVENTS.clear()
    with TestClient(ws_app()) as client, client.websocket_connect(path) as ws:
        send(ws)
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1003  # RFC 6455 §7.4.1: data it cannot accept
    if path == "/text":
        assert EVENTS[-1] == ("disconnect", 1003)


def test_websocket_endpoint_over_the_real_server() -> None:
    websockets_client = pytest.importorskip("websockets.asyncio.client")
    from tests.support.live_server import run_server

    async def talk(base: str) -> list[Any]:
        out: list[Any] = []
        async with websockets_client.connect(base + "/json", open_timeout=5) as ws:
            await ws.send('{"n": 1}')
            out.append(await ws.recv())
        async with websockets_client.connect(base + "/text", open_timeout=5) as ws:
            await ws.send("hey")
            out.append(await ws.recv())
            await ws.send(b"\x00")
            try:
                await ws.recv()
            except Exception as exc:  # ConnectionClosedError carries the close frame
                out.append(getattr(getattr(exc, "rcvd", None), "code", None))
        return out

    with run_server(ws_app()) as base_url:
        base = base_url.replace("http://", "ws://")
        result = asyncio.run(asyncio.wait_for(talk(base), 10))
    assert result == ['{"got":{"n":1}}', "echo hey", 1003]


def test_unsupported_encoding_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(ValueError, match=r"Bad\.encoding must be"):

        class Bad(WebSocketEndpoint):
            encoding = "xml"  # type: ignore[assignment]


def test_a_mounted_endpoint_is_checked_when_mounted() -> None:
    class Broken(HTTPEndpoint):
        async def get(self, request: Request, thing: object) -> None: ...

    with pytest.raises(TypeError, match=r"Broken\.get.*'thing'"):
        Mount("/broken", app=Broken)


def test_partial_and_decorated_handlers_bind(client_factory: ClientFactory) -> None:
    import functools

    async def greet(greeting: str, name: str = "you") -> str:
        return f"{greeting} {name}"

    def logged(func: Any) -> Any:
        @functools.wraps(func)
        async def wrapper(**kwargs: Any) -> Any:
            return await func(**kwargs)

        return wrapper

    app = App(
        routes=[
            Route("/partial", functools.partial(greet, "hi")),
            Route("/wrapped", logged(greet)),
        ]
    )
    with client_factory(app) as client:
        assert client.get("/partial?name=ann").text == "hi ann"
        assert client.get("/wrapped?greeting=yo").text == "yo you"
