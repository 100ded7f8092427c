"""sample_apps/typed_api.py through the real asgi_magic server over 127.0.0.1 (httpx)."""

from __future__ import annotations

import httpx

from tests.support.live_server import run_server


def test_typed_api_sample() -> None:
    from sample_apps import typed_api

    app = typed_api.create_app(api_key="k3y")
    with (
        run_server(app) as base_url,
        httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client,
    ):
        created = client.post(
            "/books",
            json={"title": " Dubliners ", "genre": "stories", "price": 9.5, "tags": ["short"]},
        )
        assert created.status_code == 201
        assert created.json() == {
            "title": "Dubliners",
            "genre": "stories",
            "price": 9.5,
            "tags": ["short"],
            "id": 1,
        }
        client.post("/books", json={"title": "Ulysses", "genre": "novel", "price": 25})

        assert [b["id"] for b in client.get("/books").json()] == [1, 2]
        assert [b["id"] for b in client.get("/books?genre=novel").json()] == [2]
        assert [b["id"] for b in client.get("/books?max_price=10&tag=short").json()] == [1]
        assert len(client.get("/books?page-size=1").json()) == 1

        bad = client.get("/books?genre=epic&max_price=cheap")
        assert bad.status_code == 422
        assert [e["loc"] for e in bad.json()["detail"]] == [
            ["query", "genre"],
            ["query", "max_price"],
        ]
        invalid = client.post("/books", json={"title": "  ", "genre": "novel", "price": 1})
        assert invalid.status_code == 422
        assert "title must be" in invalid.json()["detail"][0]["msg"]
        assert client.post("/books", content=b"{}").status_code == 415

        # the class endpoint: GET and DELETE, 405 with Allow for the rest
        assert client.get("/books/1").json()["title"] == "Dubliners"
        assert client.get("/books/9").status_code == 404
        refused = client.put("/books/1", json={})
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD, DELETE, OPTIONS"
        assert client.delete("/books/1").status_code == 403
        assert client.delete("/books/1", headers={"x-api-key": "wrong"}).status_code == 403
        assert client.delete("/books/1", headers={"x-api-key": "k3y"}).status_code == 204
        assert client.get("/books/1").status_code == 404
