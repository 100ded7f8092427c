"""parse_multipart (limits, errors, cleanup), UploadFile and safe_filename — no HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asgi_magic.web.datastructures import FormData
from asgi_magic.web.exceptions import HTTPException
from asgi_magic.web.multipart import UploadFile, parse_multipart, safe_filename

CT = "multipart/form-data; boundary=BOUNDARY"


def part(name: str, data: bytes, filename: str | None = None, ctype: str | None = None) -> bytes:
    disp = f'form-data; name="{name}"'
    if filename is not None:
        disp += f'; filename="{filename}"'
    head = f"--BOUNDARY\r\nContent-Disposition: {disp}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--BOUNDARY--\r\n"


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
    yield b""


async def test_fields_and_files() -> None:
    data = body(
        part("a", b"1"),
        part("a", "é".encode()),
        part("latin", "é".encode("latin-1"), ctype="text/plain; charset=iso-8859-1"),
        part("f", b"x" * 5000, filename="report.pdf", ctype="application/pdf"),
        part("empty", b"", filename=""),
    )
    form = await parse_multipart(chunks(data, 7), CT)
    try:
        assert isinstance(form, FormData)
        assert form.getlist("a") == ["1", "é"]
        assert form["latin"] == "é"
        upload = form["f"]
        assert isinstance(upload, UploadFile)
        assert upload.filename == "report.pdf"
        assert upload.content_type == "application/pdf"
        assert upload.headers["content-type"] == "application/pdf"
        assert upload.size == 5000
        assert await upload.read() == b"x" * 5000
        empty = form["empty"]
        assert isinstance(empty, UploadFile) and empty.filename == "" and empty.size == 0
        assert empty.content_type == "text/plain"  # RFC 7578 §4.4 default
    finally:
        await form.close()
    assert upload.file.closed


async def test_large_file_spools_to_disk_and_saves(tmp_path: Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    form = await parse_multipart(
        chunks(body(part("f", content, filename="big.bin")), 65536), CT, spool_max_size=1024 * 1024
    )
    upload = form["f"]
    try:
        assert upload.file._rolled  # on disk, not in memory
        assert upload.size == len(content)
        await upload.seek(10)
        assert await upload.read(5) == content[10:15]
        target = tmp_path / safe_filename("../../big.bin")
        await upload.save(target)
        assert target.read_bytes() == content
        assert await upload.read(5) == content[15:20]  # position kept across save()
    finally:
        await form.close()


async def test_upload_file_write() -> None:
    upload = UploadFile(filename="x", max_spool_size=10)
    await upload.write(b"12345")
    await upload.write(b"67890abc")  # crosses the spool threshold
    assert upload.size == 13
    await upload.seek(0)
    assert await upload.read() == b"1234567890abc"
    assert "x" in repr(upload)
    await upload.close()


def malformed_bodies() -> list[tuple[str, bytes, str, int]]:
    ok = part("a", b"1")
    return [
        ("no boundary", ok, "multipart/form-data", 400),
        ("boundary too long", ok, "multipart/form-data; boundary=" + "b" * 71, 400),
        ("unterminated", ok, CT, 400),
        ("no close delimiter", ok + b"--BOUNDARY\r\n", CT, 400),
        (
            "not form-data",
            b"--BOUNDARY\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--BOUNDARY--",
            CT,
            400,
        ),
        (
            "no disposition",
            b"--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nx\r\n--BOUNDARY--",
            CT,
            400,
        ),
        (
            "two dispositions",
            b"--BOUNDARY\r\nContent-Disposition: form-data; name=a\r\n"
            b"Content-Disposition: form-data; name=b\r\n\r\nx\r\n--BOUNDARY--",
            CT,
            400,
        ),
        (
            "no name",
            b"--BOUNDARY\r\nContent-Disposition: form-data\r\n\r\nx\r\n--BOUNDARY--",
            CT,
            400,
        ),
        (
            "header injection",
            b"--BOUNDARY\r\nContent-Disposition: form-data; name=a\rSet-Cookie: x\r\n\r\nx\r\n--BOUNDARY--",
            CT,
            400,
        ),
        (
            "bare LF",
            b"--BOUNDARY\nContent-Disposition: form-data; name=a\n\nx\n--BOUNDARY--\n",
            CT,
            400,
        ),
        ("bad utf-8", body(part("a", b"\xff\xfe")), CT, 400),
        ("unknown charset", body(part("a", b"x", ctype="text/plain; charset=nope")), CT, 400),
    ]


@pytest.mark.parametrize(
    "data, content_type, status",
    [m[1:] for m in malformed_bodies()],
    ids=[m[0] for m in malformed_bodies()],
)
async def test_malformed(data: bytes, content_type: str, status: int) -> None:
    with pytest.raises(HTTPException) as info:
        await parse_multipart(chunks(data), content_type)
    assert info.value.status_code == status
    assert info.value.detail


async def test_limits() -> None:
    three_fields = body(part("a", b"1"), part("b", b"2"), part("c", b"3"))
    with pytest.raises(HTTPException) as info:
        await parse_multipart(chunks(three_fields), CT, max_fields=2)
    assert info.value.status_code == 400 and "Too many form fields" in info.value.detail

    files = body(*(part(f"f{i}", b"x", filename=f"{i}.txt") for i in range(3)))
    with pytest.raises(HTTPException) as info:
        await parse_multipart(chunks(files), CT, max_files=2)
    assert info.value.status_code == 400 and "Too many files" in info.value.detail

    with pytest.raises(HTTPException) as info:
        await parse_multipart(chunks(body(part("a", b"x" * 101))), CT, max_part_size=100)
    assert info.value.status_code == 413 and "'a'" in info.value.detail
    form = await parse_multipart(chunks(body(part("a", b"x" * 100))), CT, max_part_size=100)
    assert form["a"] == "x" * 100

    with pytest.raises(HTTPException) as info:
        await parse_multipart(
            chunks(body(part("f", b"x" * 101, filename="f"))), CT, max_file_size=100
        )
    assert info.value.status_code == 413

    data = body(part("f", b"x" * 5000, filename="f"))
    with pytest.raises(HTTPException) as info:
        await parse_multipart(chunks(data), CT, max_body_size=len(data) - 1)
    assert info.value.status_code == 413
    form = await parse_multipart(chunks(data), CT, max_body_size=len(data))
    await form.close()

    big_header = b"--BOUNDARY\r\nContent-Disposition: form-data; name=a\r\nX: " + b"h" * 20000
    with pytest.raises(HTTPException) as info:
        await parse_multipart(chunks(big_header + b"\r\n\r\nx\r\n--BOUNDARY--"), CT)
    assert info.value.status_code == 413


async def test_uploads_closed_on_error() -> None:
    opened: list[UploadFile] = []
    original_init = UploadFile.__init__

    def spy(self: UploadFile, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    data = part("f", b"x" * 100, filename="a") + part("g", b"y", filename="b")  # unterminated
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(UploadFile, "__init__", spy)
        with pytest.raises(HTTPException):
            await parse_multipart(chunks(data), CT)
    assert len(opened) == 2 and all(u.file.closed for u in opened)


async def test_uploads_closed_when_the_stream_fails() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield part("f", b"x" * 100, filename="a")
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await parse_multipart(broken(), CT)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("C:\\fakepath\\photo.jpg", "photo.jpg"),
        ("..", "upload"),
        ("...", "upload"),
        (".bashrc", "bashrc"),
        ("", "upload"),
        (None, "upload"),
        ("a\x00b\r\n.txt", "ab.txt"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # right-to-left override removed
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("shell.php. ", "shell.php"),
        ("/", "upload"),
        ("résumé.pdf", "résumé.pdf"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name) == expected


def test_safe_filename_length() -> None:
    result = safe_filename("é" * 300 + ".tar.gz")
    assert len(result.encode()) <= 255 and result.endswith(".gz")
    assert safe_filename("a" * 400).startswith("a") and len(safe_filename("a" * 400)) == 255
