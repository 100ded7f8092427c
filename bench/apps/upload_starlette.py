"""The upload scenario in Starlette (python-multipart): same answer as ``upload_magic``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.apps._data import UPLOAD_MAX_PART_SIZE


async def upload(request: Request) -> PlainTextResponse:
    async with request.form(max_part_size=UPLOAD_MAX_PART_SIZE) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            return PlainTextResponse("no file part", status_code=400)
        return PlainTextResponse(str(part.size))


app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
