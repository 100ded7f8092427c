"""Flash messages over the session (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_magic.web import App, Request, SessionMiddleware, flash, get_flashed_messages
from asgi_magic.web.flash import MAX_FLASHES
from asgi_magic.web.testclient import TestClient


def make_app() -> App:
    app = App()

    @app.post("/do")
    async def do(request: Request) -> str:
        for category, message in (await request.form()).multi_items():
            flash(request, str(message), category)
        return "queued"

    @app.get("/show")
    async def show(request: Request) -> Any:
        cats = request.query_params.getlist("only")
        return {
            "all": get_flashed_messages(request, with_categories=True, category_filter=cats),
            "again": get_flashed_messages(request, category_filter=cats),
        }

    app.add_middleware(SessionMiddleware, secret_key="s")
    return app


def test_flash_survives_a_redirect_and_is_shown_once(client_factory: Any) -> None:
    with client_factory(make_app()) as client:
        client.post("/do", data={"message": "hello", "error": "bad <thing>"})
        first = client.get("/show").json()
        assert first["all"] == [["message", "hello"], ["error", "bad <thing>"]]
        assert first["again"] == ["hello", "bad <thing>"]  # cached for the request
        assert client.get("/show").json() == {"all": [], "again": []}


def test_category_filter_keeps_the_others_queued() -> None:
    with TestClient(make_app()) as client:
        client.post("/do", data={"info": "i", "error": "e"})
        assert client.get("/show", params={"only": "error"}).json()["all"] == [["error", "e"]]
        assert client.get("/show").json()["all"] == [["info", "i"]]


def test_flashes_are_bounded() -> None:
    with TestClient(make_app()) as client:
        client.post("/do", data={"message": [str(i) for i in range(MAX_FLASHES + 10)]})
        shown = client.get("/show").json()["again"]
        assert shown == [str(i) for i in range(10, MAX_FLASHES + 10)]


def test_without_a_session() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> Any:
        return {"messages": get_flashed_messages(request)}

    @app.get("/flash")
    async def do(request: Request) -> str:
        flash(request, "x")
        return "never"

    with TestClient(app) as client:
        assert client.get("/").json() == {"messages": []}
        with pytest.raises(AssertionError, match="SessionMiddleware"):
            client.get("/flash")


def test_flash_takes_text() -> None:
    with pytest.raises(TypeError):
        flash(None, b"bytes")  # type: ignore[arg-type]
