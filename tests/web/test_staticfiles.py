"""StaticFiles: content types, caching (RFC 9110 §13), ranges (§14), html mode, precompressed."""

from __future__ import annotations

import email.utils
import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest

from asgi_magic.web.routing import Mount, Router
from asgi_magic.web.staticfiles import StaticFiles, parse_range

TEXT = b"hello, static world\n"
BROTLI_JS = brotli.compress(b"console.log(1)\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "css").mkdir(parents=True)
    (root / "dir").mkdir()
    (root / "empty_dir").mkdir()
    (root / "a.txt").write_bytes(TEXT)
    (root / "css" / "a.css").write_bytes(b"body { color: red }\n")
    (root / "dir" / "index.html").write_bytes(b"<p>dir index</p>")
    (root / "index.html").write_bytes(b"<p>root index</p>")
    (root / "404.html").write_bytes(b"<p>custom not found</p>")
    (root / "data.json").write_bytes(b"{}")
    (root / "blob.unknownext").write_bytes(b"?")
    (root / "empty.txt").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(1024 * 1024 + 123))
    (root / "app.js").write_bytes(b"console.log(1)\n")
    (root / "app.js.gz").write_bytes(gzip.compress(b"console.log(1)\n"))
    # real brotli bytes: httpx decodes br once the brotli package is installed
    (root / "app.js.br").write_bytes(BROTLI_JS)
    (root / "only_gz.css").write_bytes(b"p{}")
    (root / "only_gz.css.gz").write_bytes(gzip.compress(b"p{}"))
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    os.symlink(root / "a.txt", root / "link_in.txt")
    os.symlink(tmp_path / "secret.txt", root / "link_out.txt")
    return root


def test_get_text_file(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        r = client.get("/a.txt")
        assert r.status_code == 200
        assert r.content == TEXT
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.headers["content-length"] == str(len(TEXT))
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["etag"].startswith('"') and r.headers["etag"].endswith('"')
        mtime = os.stat(root / "a.txt").st_mtime
        assert r.headers["last-modified"] == email.utils.formatdate(mtime, usegmt=True)
        assert "cache-control" not in r.headers
        assert "vary" not in r.headers


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/css/a.css", "text/css; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/blob.unknownext", "application/octet-stream"),
    ],
)
def test_content_types(client_factory: Any, root: Path, path: str, content_type: str) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        assert client.get(path).headers["content-type"] == content_type


def test_head_and_methods(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        r = client.head("/a.txt")
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["content-length"] == str(len(TEXT))
        r = client.post("/a.txt", content=b"x")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD"


def test_empty_file_and_big_file(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        r = client.get("/empty.txt")
        assert r.status_code == 200 and r.content == b""
        r = client.get("/big.bin")
        assert r.status_code == 200 and r.content == (root / "big.bin").read_bytes()


def test_not_found_and_directories(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        assert client.get("/missing.txt").status_code == 404
        assert client.get("/dir").status_code == 404  # html mode off: no index
        assert client.get("/dir/").status_code == 404
        assert client.get("/").status_code == 404


def test_cache_control(client_factory: Any, root: Path) -> None:
    app = StaticFiles(directory=root, cache_control="public, max-age=3600")
    with client_factory(app) as client:
        r = client.get("/a.txt")
        assert r.headers["cache-control"] == "public, max-age=3600"
        r = client.get("/a.txt", headers={"if-none-match": r.headers["etag"]})
        assert r.status_code == 304
        assert r.headers["cache-control"] == "public, max-age=3600"


# --- conditional requests ------------------------------------------------------------


def test_if_none_match(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        etag = client.get("/a.txt").headers["etag"]
        r = client.get("/a.txt", headers={"if-none-match": etag})
        assert r.status_code == 304
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert "content-type" not in r.headers
        for value in (f'"x", {etag}', "*", f"W/{etag}"):
            assert client.get("/a.txt", headers={"if-none-match": value}).status_code == 304
        assert client.head("/a.txt", headers={"if-none-match": etag}).status_code == 304
        assert client.get("/a.txt", headers={"if-none-match": '"other"'}).status_code == 200


def test_if_modified_since(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        last_modified = client.get("/a.txt").headers["last-modified"]
        assert client.get("/a.txt", headers={"if-modified-since": last_modified}).status_code == 304
        old = email.utils.formatdate(os.stat(root / "a.txt").st_mtime - 3600, usegmt=True)
        assert client.get("/a.txt", headers={"if-modified-since": old}).status_code == 200
        assert client.get("/a.txt", headers={"if-modified-since": "garbage"}).status_code == 200
        # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present
        r = client.get(
            "/a.txt", headers={"if-modified-since": last_modified, "if-none-match": '"other"'}
        )
        assert r.status_code == 200


def test_if_match_and_if_unmodified_since(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        etag = client.get("/a.txt").headers["etag"]
        assert client.get("/a.txt", headers={"if-match": etag}).status_code == 200
        assert client.get("/a.txt", headers={"if-match": '"nope"'}).status_code == 412
        assert client.get("/a.txt", headers={"if-match": f"W/{etag}"}).status_code == 412
        old = email.utils.formatdate(os.stat(root / "a.txt").st_mtime - 3600, usegmt=True)
        assert client.get("/a.txt", headers={"if-unmodified-since": old}).status_code == 412


# --- ranges --------------------------------------------------------------------------


def test_single_ranges(client_factory: Any, root: Path) -> None:
    size = len(TEXT)
    with client_factory(StaticFiles(directory=root)) as client:
        for header, first, last in [
            ("bytes=0-4", 0, 4),
            ("bytes=5-", 5, size - 1),
            ("bytes=-6", size - 6, size - 1),
            ("bytes=3-1000", 3, size - 1),
            ("bytes=0-3,2-5", 0, 5),  # overlapping ranges are coalesced
            ("BYTES = 1-2", 1, 2),
        ]:
            r = client.get("/a.txt", headers={"range": header})
            assert r.status_code == 206, header
            assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
            assert r.content == TEXT[first : last + 1]
            assert r.headers["content-length"] == str(last - first + 1)
        r = client.get("/big.bin", headers={"range": "bytes=100000-300000"})
        assert r.status_code == 206
        assert r.content == (root / "big.bin").read_bytes()[100000:300001]


def test_multiple_ranges(client_factory: Any, root: Path) -> None:
    size = len(TEXT)
    with client_factory(StaticFiles(directory=root)) as client:
        r = client.get("/a.txt", headers={"range": "bytes=0-1, 5-6, -2"})
        assert r.status_code == 206
        ctype = r.headers["content-type"]
        assert ctype.startswith("multipart/byteranges; boundary=")
        boundary = ctype.split("boundary=")[1].encode()
        assert int(r.headers["content-length"]) == len(r.content)
        parts = r.content.split(b"--" + boundary)
        assert parts[0] == b"" and parts[-1] == b"--\r\n"
        bodies = []
        for chunk in parts[1:-1]:
            head, _, data = chunk.partition(b"\r\n\r\n")
            assert b"content-type: text/plain; charset=utf-8" in head
            bodies.append((head.split(b"content-range: ")[1].decode(), data[:-2]))
        assert bodies == [
            (f"bytes 0-1/{size}", TEXT[0:2]),
            (f"bytes 5-6/{size}", TEXT[5:7]),
            (f"bytes {size - 2}-{size - 1}/{size}", TEXT[-2:]),
        ]


def test_unsatisfiable_and_ignored_ranges(client_factory: Any, root: Path) -> None:
    size = len(TEXT)
    with client_factory(StaticFiles(directory=root)) as client:
        for header in ("bytes=1000-", "bytes=-0", f"bytes={size}-{size + 5}"):
            r = client.get("/a.txt", headers={"range": header})
            assert r.status_code == 416, header
            assert r.headers["content-range"] == f"bytes */{size}"
        assert client.get("/empty.txt", headers={"range": "bytes=0-"}).status_code == 416
        # invalid syntax or other units: the Range header is ignored (RFC 9110 §14.2)
        for header in ("bytes=5-2", "bytes=abc", "items=0-1", "bytes=", "bytes=1-2-3", "0-1"):
            r = client.get("/a.txt", headers={"range": header})
            assert r.status_code == 200, header
            assert r.content == TEXT
        # too many ranges → the whole file
        many = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 200, 2))
        assert client.get("/big.bin", headers={"range": many}).status_code == 200
        # a satisfiable range that covers the whole file is still a 206 (issue 13, item 4):
        # the client asked for a range and checks Content-Range (RFC 9110 §15.3.7)
        for header in ("bytes=0-,0-", "bytes=0-", f"bytes=0-{size}", f"bytes=0-{size - 1}"):
            r = client.get("/a.txt", headers={"range": header})
            assert r.status_code == 206, header
            assert r.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
            assert r.content == TEXT
        # HEAD ignores Range (RFC 9110 §14.2: defined for GET only)
        assert client.head("/a.txt", headers={"range": "bytes=0-1"}).status_code == 200


def test_if_range(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        first = client.get("/a.txt")
        etag, last_modified = first.headers["etag"], first.headers["last-modified"]
        for value, status in [
            (etag, 206),
            ('"stale"', 200),
            (f"W/{etag}", 200),  # weak tags never match strongly
            (last_modified, 206),
            ("Thu, 01 Jan 1970 00:00:00 GMT", 200),
            ("garbage", 200),
        ]:
            r = client.get("/a.txt", headers={"range": "bytes=0-1", "if-range": value})
            assert r.status_code == status, value


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-0,,2-3", 10) == [(0, 0), (2, 3)]
    assert parse_range("bytes=0-1,1-2,4-5,3-3", 10) == [(0, 5)]
    assert parse_range("bytes=8-,-1", 10) == [(8, 9)]
    assert parse_range("bytes=10-", 10) == []
    assert parse_range("bytes=-", 10) is None
    assert parse_range("bytes=+1-2", 10) is None


# --- html mode -----------------------------------------------------------------------


def test_html_mode(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root, html=True)) as client:
        r = client.get("/")
        assert r.status_code == 200 and r.content == b"<p>root index</p>"
        r = client.get("/dir/")
        assert r.status_code == 200 and r.content == b"<p>dir index</p>"
        r = client.get("/dir?x=1", follow_redirects=False)
        assert r.status_code == 307
        assert r.headers["location"] == "/dir/?x=1"
        r = client.get("/nope")
        assert r.status_code == 404
        assert r.content == b"<p>custom not found</p>"
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert client.get("/empty_dir/").status_code == 404
        # a conditional request for the 404 page still gets the 404, not a 304
        etag = client.get("/404.html").headers["etag"]
        assert client.get("/nope", headers={"if-none-match": etag}).status_code == 404


async def test_html_redirect_never_leaves_the_site(root: Path) -> None:
    (root / "evil.example").mkdir()
    (root / "evil.example" / "index.html").write_bytes(b"x")
    app = StaticFiles(directory=root, html=True)
    for raw in (b"//evil.example", b"/\\evil.example", b"///evil.example"):
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any], messages: list[Any] = messages) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": raw.decode(),
            "raw_path": raw,
            "query_string": b"",
            "root_path": "",
            "headers": [],
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        if b"\\" in raw:  # a backslash is refused outright
            assert messages[0]["status"] == 404
            continue
        assert messages[0]["status"] == 307
        assert dict(messages[0]["headers"])[b"location"] == b"/evil.example/"


# --- precompressed -------------------------------------------------------------------


def test_precompressed(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root, precompressed=True)) as client:
        r = client.get("/app.js", headers={"accept-encoding": "br"})
        assert r.headers["content-encoding"] == "br"
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["content-length"] == str(len(BROTLI_JS))
        assert r.content == b"console.log(1)\n"
        br_etag = r.headers["etag"]

        r = client.get("/app.js", headers={"accept-encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert r.content == b"console.log(1)\n"  # httpx decodes gzip
        gz_etag = r.headers["etag"]

        r = client.get("/app.js", headers={"accept-encoding": "br;q=0, gzip;q=0.5"})
        assert r.headers["content-encoding"] == "gzip"

        r = client.get("/app.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in r.headers
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.content == b"console.log(1)\n"
        assert len({br_etag, gz_etag, r.headers["etag"]}) == 3

        r = client.get("/only_gz.css", headers={"accept-encoding": "br, gzip"})
        assert r.headers["content-encoding"] == "gzip"
        r = client.get("/a.txt", headers={"accept-encoding": "br, gzip"})
        assert "content-encoding" not in r.headers and r.content == TEXT


def test_precompressed_off_by_default(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        r = client.get("/app.js", headers={"accept-encoding": "br, gzip"})
        assert "content-encoding" not in r.headers


# --- symlinks, configuration, mounting -----------------------------------------------


def test_symlinks(client_factory: Any, root: Path) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        assert client.get("/link_in.txt").content == TEXT
        r = client.get("/link_out.txt")
        assert r.status_code == 404 and b"SECRET" not in r.content
    with client_factory(StaticFiles(directory=root, follow_symlink=True)) as client:
        assert client.get("/link_out.txt").content == b"TOP SECRET"


def test_directory_checks(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "missing")
    StaticFiles(directory=tmp_path / "missing", check_dir=False)


def test_missing_directory_at_request_time(client_factory: Any, tmp_path: Path) -> None:
    with client_factory(StaticFiles(directory=tmp_path / "gone", check_dir=False)) as client:
        assert client.get("/a.txt").status_code == 404


def test_packages(client_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "pkgroot" / "my_static_pkg"
    (pkg / "statics").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "statics" / "p.txt").write_bytes(b"from package")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgroot"))
    with client_factory(StaticFiles(packages=["my_static_pkg"])) as client:
        assert client.get("/p.txt").content == b"from package"
    with pytest.raises(RuntimeError):
        StaticFiles(packages=["no_such_package_xyz"])


def test_mounted_with_url_path_for(client_factory: Any, root: Path) -> None:
    router = Router(routes=[Mount("/static", app=StaticFiles(directory=root), name="static")])
    assert router.url_path_for("static", path="/css/a.css") == "/static/css/a.css"
    with client_factory(router) as client:
        r = client.get("/static/css/a.css")
        assert r.status_code == 200 and r.content == b"body { color: red }\n"
        assert client.get("/static/%2e%2e/a.txt").status_code == 404


@pytest.fixture
def fifo(root: Path) -> Iterator[Path]:
    path = root / "fifo"
    os.mkfifo(path)
    yield path


def test_non_regular_files_are_not_served(client_factory: Any, root: Path, fifo: Path) -> None:
    # opening a FIFO would block forever: anything but a regular file is a 404
    with client_factory(StaticFiles(directory=root)) as client:
        assert client.get("/fifo").status_code == 404
