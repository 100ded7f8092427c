"""A FastAPI app: JSON body model, streaming response, query parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float


@app.post("/items")
async def create(item: Item, discount: float = 0.0) -> dict[str, object]:
    return {"name": item.name, "price": item.price - discount}


@app.get("/search")
async def search(q: str, limit: int = 10) -> dict[str, object]:
    return {"q": q, "limit": limit}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(5):
            yield b"%d," % i

    return StreamingResponse(gen(), media_type="text/plain")
