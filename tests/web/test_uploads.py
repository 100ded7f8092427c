"""Uploads through the framework (Request.form()) over the test client and the real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asgi_magic.web import App, Request
from asgi_magic.web.multipart import UploadFile, safe_filename
from asgi_magic.web.testclient import TestClient

seen: list[UploadFile] = []


def make_app(upload_dir: Path | None = None, **limits: Any) -> App:
    app = App()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        form = await request.form(**limits)
        result: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                seen.append(value)
                content = await value.read()
                result[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": value.size,
                    "content": content.decode("latin-1"),
                }
                if upload_dir is not None:
                    await value.save(upload_dir / safe_filename(value.filename))
            else:
                result.setdefault(key, []).append(value)
        return result

    return app


def test_fields_and_files(client_factory: Any, tmp_path: Path) -> None:
    seen.clear()
    with client_factory(make_app(tmp_path)) as client:
        r = client.post(
            "/upload",
            data={"name": "Ada", "tags": ["a", "é"]},
            files={
                "doc": ("../../etc/report.txt", b"file content\r\n--not-a-boundary", "text/plain"),
                "img": ("pic.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"),
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["name"] == ["Ada"]
        assert body["tags"] == ["a", "é"]
        assert body["doc"] == {
            "filename": "../../etc/report.txt",  # kept as sent
            "content_type": "text/plain",
            "size": 30,
            "content": "file content\r\n--not-a-boundary",
        }
        assert body["img"]["size"] == 8 + 256
    # saved under a safe name, inside the upload directory
    assert (tmp_path / "report.txt").read_bytes() == b"file content\r\n--not-a-boundary"
    assert (tmp_path / "pic.png").stat().st_size == 264
    # the framework closed the uploads after the response
    assert seen and all(u.file.closed for u in seen)


def test_large_file_field(client_factory: Any) -> None:
    content = bytes(range(256)) * 8192  # 2 MiB: spooled to disk
    with client_factory(make_app()) as client:
        r = client.post("/upload", files={"f": ("big.bin", content)})
        assert r.status_code == 200
        assert r.json()["f"]["size"] == len(content)
        assert r.json()["f"]["content"].encode("latin-1") == content


@pytest.mark.parametrize(
    "limits, data, files, status, detail",
    [
        (
            {"max_fields": 2},
            {"a": "1", "b": "2", "c": "3"},
            {"f": ("f", b"x")},
            400,
            "Too many form fields",
        ),
        ({"max_files": 1}, None, [("f", ("a", b"1")), ("f", ("b", b"2"))], 400, "Too many files"),
        ({"max_part_size": 10}, {"a": "x" * 11}, {"f": ("f", b"x")}, 413, "larger than 10 bytes"),
    ],
)
def test_limits(
    client_factory: Any, limits: dict[str, int], data: Any, files: Any, status: int, detail: str
) -> None:
    with client_factory(make_app(**limits)) as client:
        r = client.post("/upload", data=data, files=files)
        assert r.status_code == status
        assert detail in r.text
        assert "Traceback" not in r.text


MALFORMED = [
    ("multipart/form-data", b"--x\r\n\r\n--x--", "boundary missing"),
    ("multipart/form-data; boundary=" + "b" * 71, b"", "longer than 70"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end',
        "not terminated",
    ),
    (
        "multipart/form-data; boundary=x",
        b'--x\nContent-Disposition: form-data; name="a"\n\nv\n--x--\n',
        "CRLF",
    ),
    (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: inline\r\n\r\nv\r\n--x--",
        "form-data",
    ),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\nX-Injected\r\n\r\nv\r\n--x--',
        "malformed multipart part header",
    ),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\nX: '
        + b"h" * 20000
        + b"\r\n\r\nv\r\n--x--",
        "too large",
    ),
]


@pytest.mark.parametrize("content_type, body, detail", MALFORMED)
def test_malformed_bodies(client_factory: Any, content_type: str, body: bytes, detail: str) -> None:
    with client_factory(make_app()) as client:
        r = client.post("/upload", content=body, headers={"content-type": content_type})
        assert r.status_code in (400, 413)
        assert r.status_code == (413 if detail == "too large" else 400)
        assert detail in r.text
        assert "Traceback" not in r.text


def test_uploaded_files_are_closed_when_the_handler_raises() -> None:
    app = App()
    seen: list[Any] = []

    @app.post("/boom")
    async def boom(request: Request) -> None:
        form = await request.form()
        seen.append(form["f"])
        raise RuntimeError("handler failed after reading the form")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/boom", files={"f": ("a.bin", b"x" * 2_000_000)})
    assert r.status_code == 500
    assert seen[0].file.closed
