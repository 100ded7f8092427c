"""A JSON CRUD API with dynamic routes: a to-do list kept in memory.

    asgi-magic sample_apps.todo_api:app

    curl -s localhost:8000/todos -d '{"title": "write docs"}' -H 'content-type: application/json'
    curl -s localhost:8000/todos -d '{"title": "read mail", "done": true}'
    curl -s localhost:8000/todos/1
    curl -s -X PATCH localhost:8000/todos/1 -d '{"done": true}'
    curl -s -X DELETE localhost:8000/todos/1

Handlers return dicts/lists (sent as JSON) or raise HTTPException for errors; the
``{todo_id:int}`` convertor turns the path segment into an int (and 404s non-numbers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from asgi_magic.web import App, HTTPException, JSONResponse, Request

# A to-do is small; bounding input keeps one client from filling the memory.
MAX_TITLE_LENGTH = 200
MAX_TODOS = 1000


@dataclass
class Todo:
    id: int
    title: str
    done: bool = False


class TodoStore:
    def __init__(self) -> None:
        self._items: dict[int, Todo] = {}
        self._next_id = 1

    def list(self) -> list[Todo]:
        return list(self._items.values())

    def add(self, title: str, done: bool = False) -> Todo:
        if len(self._items) >= MAX_TODOS:
            raise HTTPException(507, "the to-do list is full")
        todo = Todo(self._next_id, title, done)
        self._items[todo.id] = todo
        self._next_id += 1
        return todo

    def get(self, todo_id: int) -> Todo:
        try:
            return self._items[todo_id]
        except KeyError:
            raise HTTPException(404, f"no to-do with id {todo_id}") from None

    def delete(self, todo_id: int) -> None:
        self.get(todo_id)
        del self._items[todo_id]


def _title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HTTPException(422, "'title' must be a non-empty string")
    if len(value) > MAX_TITLE_LENGTH:
        raise HTTPException(422, f"'title' is longer than {MAX_TITLE_LENGTH} characters")
    return value.strip()


def _done(value: Any) -> bool:
    # JSON's true/false only: "yes", 1 or null are a client's mistake, not a truth value.
    if not isinstance(value, bool):
        raise HTTPException(422, "'done' must be true or false")
    return value


async def _object(request: Request) -> dict[str, Any]:
    data = await request.json()  # a malformed body is a 400 raised by the framework
    if not isinstance(data, dict):
        raise HTTPException(422, "expected a JSON object")
    return data


def create_app() -> App:
    app = App()
    store = TodoStore()
    app.state.todos = store

    @app.get("/todos", name="todo_list")
    async def list_todos() -> list[dict[str, Any]]:
        return [asdict(todo) for todo in store.list()]

    @app.post("/todos")
    async def create_todo(request: Request) -> JSONResponse:
        data = await _object(request)
        todo = store.add(_title(data.get("title")), _done(data.get("done", False)))
        location = str(request.url_for("todo_detail", todo_id=todo.id))
        return JSONResponse(asdict(todo), status_code=201, headers={"location": location})

    @app.get("/todos/{todo_id:int}", name="todo_detail")
    async def get_todo(todo_id: int) -> dict[str, Any]:
        return asdict(store.get(todo_id))

    @app.patch("/todos/{todo_id:int}")
    async def update_todo(request: Request, todo_id: int) -> dict[str, Any]:
        todo = store.get(todo_id)
        data = await _object(request)
        if "title" in data:
            todo.title = _title(data["title"])
        if "done" in data:
            todo.done = _done(data["done"])
        return asdict(todo)

    @app.delete("/todos/{todo_id:int}")
    async def delete_todo(todo_id: int) -> None:
        store.delete(todo_id)  # returning None answers 204 No Content

    return app


app = create_app()
