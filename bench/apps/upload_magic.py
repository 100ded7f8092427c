"""The upload scenario in asgi_magic.web: read the multipart form, answer the file size."""

from __future__ import annotations

from asgi_magic.web import App, PlainTextResponse, Request
from bench.apps._data import UPLOAD_MAX_PART_SIZE

app = App()


@app.post("/upload")
async def upload(request: Request) -> PlainTextResponse:
    form = await request.form(max_part_size=UPLOAD_MAX_PART_SIZE)
    part = form.get("file")
    if part is None or isinstance(part, str):
        return PlainTextResponse("no file part", status_code=400)
    # The framework closes the form (and its spooled file) after the response.
    return PlainTextResponse(str(part.size))
