"""Starlette, FastAPI and Django apps run unchanged through the real server."""

from __future__ import annotations

import httpx

from tests.support.live_server import run_server


def test_starlette() -> None:
    from tests.integration.apps.starlette_app import app

    with run_server(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/echo?q=hi", content=b"body" * 1000).text == "body" * 1000 + "|hi"
        r = client.get("/stream?n=4")
        assert r.text == "chunk0;chunk1;chunk2;chunk3;"
        assert r.headers["transfer-encoding"] == "chunked"
        assert client.get("/info/a%20b/c?x=1&y=2").json() == {
            "path": "/info/a b/c",
            "query": {"x": "1", "y": "2"},
        }


def test_fastapi() -> None:
    from tests.integration.apps.fastapi_app import app

    with run_server(app) as url, httpx.Client(base_url=url) as client:
        r = client.post("/items?discount=1.5", json={"name": "pen", "price": 3.0})
        assert r.json() == {"name": "pen", "price": 1.5}
        assert client.post("/items", json={"name": 1}).status_code == 422
        assert client.get("/search", params={"q": "a b", "limit": 3}).json() == {
            "q": "a b",
            "limit": 3,
        }
        assert client.get("/stream").text == "0,1,2,3,4,"


def test_django() -> None:
    from tests.integration.apps.django_app import app

    with run_server(app, lifespan="off") as url, httpx.Client(base_url=url) as client:
        assert client.post("/echo?q=x", content=b"payload").text == "payload|x"
        r = client.get("/stream")
        assert r.status_code == 200 and r.text == "part0;part1;part2;"
        assert client.get("/missing").status_code == 404
