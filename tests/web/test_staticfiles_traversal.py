"""Path traversal: every payload is a 404 (or a protocol-level 400) and never leaks a byte.

The payloads go three ways: as raw request targets over a raw socket to the real
server (so no client normalises ``..`` away), straight into the ASGI app with the path
decoded as a server decodes it, and through the test client.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest

from asgi_magic.web.staticfiles import StaticFiles

SECRET = b"TOP SECRET"

# (raw request target, may the server refuse it as a malformed request-target?)
PAYLOADS: list[tuple[str, bool]] = [
    ("/../secret.txt", False),
    ("/../../../../../../etc/passwd", False),
    ("/..%2fsecret.txt", False),
    ("/..%2Fsecret.txt", False),
    ("/%2e%2e/secret.txt", False),
    ("/%2E%2E/secret.txt", False),
    ("/%2e%2e%2fsecret.txt", False),
    ("/.%2e/secret.txt", False),
    ("/%2e./secret.txt", False),
    ("/css/../../secret.txt", False),
    ("/css/%2e%2e/%2e%2e/secret.txt", False),
    ("/css/..%2f..%2fsecret.txt", False),
    ("/css/./../../secret.txt", False),
    ("/dir/../../secret.txt", False),
    ("/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", False),
    ("/..%2F..%2F..%2Fetc%2Fpasswd", False),
    ("/%252e%252e/secret.txt", False),  # double encoding stays literal
    ("/..%252fsecret.txt", False),
    ("/..%5csecret.txt", False),
    ("/%5c..%5csecret.txt", False),
    ("/%2e%2e%5csecret.txt", False),
    ("/..\\secret.txt", True),  # a raw backslash is not valid in a request-target
    ("/\\..\\secret.txt", True),
    ("//etc/passwd", False),
    ("/%2fetc%2fpasswd", False),
    ("/%2Fetc/passwd", False),
    ("/a.txt%00.html", True),  # NUL
    ("/%00../secret.txt", True),
    ("/.%00./secret.txt", True),
    ("/%c0%ae%c0%ae/secret.txt", True),  # overlong UTF-8 "."
    ("/..%c0%afsecret.txt", True),
    ("/..%ef%bc%8fsecret.txt", False),  # fullwidth solidus is just a character
    ("/%u002e%u002e/secret.txt", False),
    ("/..;/secret.txt", False),
    ("/..../secret.txt", False),
    ("/.../secret.txt", False),
    ("/link_out.txt", False),  # symlink to outside the root
    ("/link_dir/secret.txt", False),  # symlinked directory outside the root
    ("/link_dir", False),
    ("/fifo", False),  # not a regular file (opening it would block)
    ("/" + "../" * 50 + "etc/passwd", False),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "css").mkdir(parents=True)
    (root / "dir").mkdir()
    (root / "a.txt").write_bytes(b"public")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", root / "link_out.txt")
    os.symlink(tmp_path / "outside", root / "link_dir")
    os.mkfifo(root / "fifo")
    return root


def test_enough_payloads() -> None:
    assert len(PAYLOADS) >= 30


def _decoded_path(target: str) -> str:
    # what a server puts in scope["path"]: percent-decoded, then UTF-8 decoded
    return unquote_to_bytes(target).decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("target, _", PAYLOADS)
async def test_payload_in_process(root: Path, target: str, _: bool, html: bool) -> None:
    app = StaticFiles(directory=root, html=html)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": _decoded_path(target),
        "raw_path": target.encode("latin-1"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await asyncio.wait_for(app(scope, receive, send), 5)  # type: ignore[arg-type]
    assert messages[0]["status"] == 404
    assert SECRET not in b"".join(m.get("body", b"") for m in messages[1:])


@pytest.mark.parametrize("target, _", PAYLOADS)
def test_payload_through_client(client_factory: Any, root: Path, target: str, _: bool) -> None:
    with client_factory(StaticFiles(directory=root)) as client:
        r = client.get(target)
        assert r.status_code == 404, target
        assert SECRET not in r.content


def _raw_get(host: str, port: int, target: str) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_payloads_as_raw_targets_through_the_real_server(root: Path) -> None:
    from tests.support.live_server import run_server

    app = StaticFiles(directory=root)
    with run_server(app) as base_url:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        assert _raw_get(host, int(port), "/a.txt").startswith(b"HTTP/1.1 200 ")
        for target, may_be_400 in PAYLOADS:
            response = _raw_get(host, int(port), target)
            status = response.split(b" ", 2)[1]
            allowed = {b"404", b"400"} if may_be_400 else {b"404"}
            assert status in allowed, (target, response[:200])
            assert SECRET not in response, target
