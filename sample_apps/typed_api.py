"""A small book catalogue: typed handler parameters and a class-based endpoint.

    asgi-magic sample_apps.typed_api:app

    curl -s 'localhost:8000/books?genre=novel&max_price=20&tag=classic&tag=short'
    curl -s localhost:8000/books -H 'content-type: application/json' \\
        -d '{"title": "Dubliners", "genre": "stories", "price": 9.5}'
    curl -s localhost:8000/books/1
    curl -s -X DELETE localhost:8000/books/1 -H 'X-API-Key: secret'
    curl -s 'localhost:8000/books?max_price=cheap'     # 422 naming max_price

Every parameter says where it comes from and what type it has: query values by name
(``genre``, ``max_price``, repeated ``tag``), a header (``X-API-Key``) and the JSON body
(the ``NewBook`` dataclass). Wrong input is a 422 listing each problem; the plan for
each handler is built once, when the route is registered.
"""

from __future__ import annotations

import enum
import hmac
import os
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from asgi_magic.web import (
    App,
    Header,
    HTTPEndpoint,
    HTTPException,
    JSONResponse,
    Query,
    Request,
)

MAX_BOOKS = 1000  # the catalogue lives in memory: one client must not fill it
MAX_TITLE_LENGTH = 200


class Genre(enum.Enum):
    NOVEL = "novel"
    STORIES = "stories"
    POETRY = "poetry"


@dataclass
class NewBook:
    title: str
    genre: Genre
    price: float
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # a ValueError here is answered 422 with this message
        self.title = self.title.strip()
        if not self.title or len(self.title) > MAX_TITLE_LENGTH:
            raise ValueError(f"title must be 1 to {MAX_TITLE_LENGTH} characters")
        if self.price < 0:
            raise ValueError("price must not be negative")
        if len(self.tags) > 10:
            raise ValueError("at most 10 tags")


@dataclass
class Book(NewBook):
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["genre"] = self.genre.value
        return data


def create_app(api_key: str | None = None) -> App:
    key = api_key or os.environ.get("TYPED_API_KEY", "secret")
    books: dict[int, Book] = {}
    next_id = [1]
    app = App()

    @app.get("/books")
    async def list_books(
        genre: Genre | None = None,
        max_price: float | None = None,
        tag: list[str] | None = None,
        limit: Annotated[int, Query(alias="page-size")] = 50,
    ) -> list[dict[str, Any]]:
        found = [
            book
            for book in books.values()
            if (genre is None or book.genre is genre)
            and (max_price is None or book.price <= max_price)
            and (not tag or set(tag) <= set(book.tags))
        ]
        return [book.to_json() for book in found[: max(0, min(limit, 100))]]

    @app.post("/books")
    async def add_book(book: NewBook) -> JSONResponse:
        if len(books) >= MAX_BOOKS:
            raise HTTPException(507, "the catalogue is full")
        created = Book(**asdict(book), id=next_id[0])
        books[created.id] = created
        next_id[0] += 1
        return JSONResponse(created.to_json(), status_code=201)

    @app.route("/books/{book_id:int}")
    class BookResource(HTTPEndpoint):
        """GET and DELETE on one book; any other method is a 405 listing these."""

        async def get(self, request: Request, book_id: int) -> dict[str, Any]:
            return find(book_id).to_json()

        async def delete(
            self, request: Request, book_id: int, x_api_key: str = Header(default="")
        ) -> None:
            # constant-time compare: the time taken must not reveal the key
            if not hmac.compare_digest(x_api_key.encode(), key.encode()):
                raise HTTPException(403, "a valid X-API-Key header is required")
            books.pop(find(book_id).id)

    def find(book_id: int) -> Book:
        try:
            return books[book_id]
        except KeyError:
            raise HTTPException(404, f"no book {book_id}") from None

    return app


app = create_app()

if __name__ == "__main__":
    import asgi_magic

    asgi_magic.run(app)
