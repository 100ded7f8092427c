"""FileResponse: headers, Content-Disposition, pathsend, bounded chunks, errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from asgi_magic.web.background import BackgroundTask
from asgi_magic.web.staticfiles import CHUNK_SIZE, FileResponse


async def call(
    app: Any,
    *,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    extensions: dict[str, Any] | None = None,
) -> tuple[int, dict[bytes, bytes], list[dict[str, Any]]]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers or [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    if extensions is not None:
        scope["extensions"] = extensions
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    assert start["type"] == "http.response.start"
    return start["status"], dict(start["headers"]), messages[1:]


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(5 * CHUNK_SIZE + 1000))
    return path


async def test_streams_in_bounded_chunks(big: Path) -> None:
    status, headers, body = await call(FileResponse(big))
    assert status == 200
    assert headers[b"content-length"] == str(big.stat().st_size).encode()
    assert headers[b"content-type"] == b"application/octet-stream"
    assert all(len(m["body"]) <= CHUNK_SIZE for m in body)
    assert len(body) == 6
    assert [m["more_body"] for m in body] == [True] * 5 + [False]
    assert b"".join(m["body"] for m in body) == big.read_bytes()


async def test_pathsend_when_the_server_offers_it(big: Path) -> None:
    status, headers, body = await call(FileResponse(big), extensions={"http.response.pathsend": {}})
    assert status == 200
    assert body == [{"type": "http.response.pathsend", "path": str(big.resolve())}]
    assert headers[b"content-length"] == str(big.stat().st_size).encode()
    # a range cannot be sent with pathsend (it sends the whole file): it is streamed
    status, headers, body = await call(
        FileResponse(big),
        headers=[(b"range", b"bytes=10-19")],
        extensions={"http.response.pathsend": {}},
    )
    assert status == 206
    assert b"".join(m["body"] for m in body) == big.read_bytes()[10:20]
    # HEAD sends no file either way
    status, _, body = await call(
        FileResponse(big), method="HEAD", extensions={"http.response.pathsend": {}}
    )
    assert status == 200 and body == [{"type": "http.response.body", "body": b""}]


async def test_content_disposition(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x")
    _, headers, _ = await call(FileResponse(path, filename="report 2024.csv"))
    assert headers[b"content-disposition"] == b'attachment; filename="report 2024.csv"'
    assert headers[b"content-type"] == b"text/csv; charset=utf-8"
    _, headers, _ = await call(FileResponse(path, filename="résumé.pdf"))
    assert headers[b"content-disposition"] == (
        b"attachment; filename=\"r?sum?.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )
    _, headers, _ = await call(
        FileResponse(path, filename='a"b\\c.txt', content_disposition_type="inline")
    )
    assert headers[b"content-disposition"] == b'inline; filename="a\\"b\\\\c.txt"'
    _, headers, _ = await call(FileResponse(path, filename="evil\r\nSet-Cookie: x.txt"))
    assert b"\r" not in headers[b"content-disposition"]
    assert b"\n" not in headers[b"content-disposition"]


async def test_media_type_headers_and_status(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"data")
    status, headers, body = await call(
        FileResponse(path, status_code=201, media_type="image/png", headers={"x-a": "1"})
    )
    assert status == 201
    assert headers[b"content-type"] == b"image/png"
    assert headers[b"x-a"] == b"1"
    assert b"".join(m["body"] for m in body) == b"data"
    # a non-200 FileResponse is not subject to conditional requests or ranges
    status, _, _ = await call(
        FileResponse(path, status_code=404), headers=[(b"range", b"bytes=0-1")]
    )
    assert status == 404


async def test_method_argument_and_stat_result(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello")
    st = path.stat()
    status, headers, body = await call(FileResponse(path, method="HEAD", stat_result=st))
    assert status == 200 and headers[b"content-length"] == b"5"
    assert body == [{"type": "http.response.body", "body": b""}]


async def test_missing_file_is_404(tmp_path: Path) -> None:
    status, _, body = await call(FileResponse(tmp_path / "nope"))
    assert status == 404
    assert b"".join(m["body"] for m in body) == b"Not Found"
    status, _, _ = await call(FileResponse(tmp_path))  # a directory is not a file
    assert status == 404


async def test_background_task_runs(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x")
    ran: list[int] = []

    async def task() -> None:
        ran.append(1)

    await call(FileResponse(path, background=BackgroundTask(task)))
    assert ran == [1]


async def test_file_shrinking_while_sent_raises(big: Path) -> None:
    response = FileResponse(big, stat_result=big.stat())
    big.write_bytes(b"short")
    with pytest.raises(RuntimeError, match="changed"):
        await call(response)


def test_file_response_from_a_handler(client_factory: Any, tmp_path: Path) -> None:
    from asgi_magic.web.routing import Route, Router

    path = tmp_path / "doc.txt"
    path.write_bytes(b"document")

    async def download() -> FileResponse:
        return FileResponse(path, filename="doc.txt")

    with client_factory(Router(routes=[Route("/dl", download)])) as client:
        r = client.get("/dl")
        assert r.status_code == 200 and r.content == b"document"
        assert r.headers["content-disposition"] == 'attachment; filename="doc.txt"'
        r = client.get("/dl", headers={"range": "bytes=2-4"})
        assert r.status_code == 206 and r.content == b"cum"
        r = client.get("/dl", headers={"if-none-match": r.headers["etag"]})
        assert r.status_code == 304
