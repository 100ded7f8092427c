"""asgi_magic behind a real nginx reverse proxy: plain requests, a POST body, chunked
uploads, streaming (SSE) without buffering, and WebSocket proxying.

The nginx configuration below is the one docs/deployment/nginx.md shows
(plus temp paths so it runs unprivileged in a temp directory).
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from asgi_magic.asgi_types import Receive, Send
from asgi_magic.config import Config
from tests.support.live_server import run_server

NGINX = os.environ.get("ASGI_MAGIC_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason=f"nginx is not installed (looked for {NGINX})"
)

# The location block is the deployment recipe; everything else makes nginx run from a
# temp directory, in the foreground, without touching /var.
NGINX_CONF = """\
daemon off;
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;

events {{
    worker_connections 64;
}}

http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    upstream asgi_magic {{
        server {upstream};
        keepalive 16;
    }}

    # "Connection: upgrade" only when the client asked for an upgrade; otherwise an empty
    # Connection header, so nginx may keep the upstream connection alive.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}

    server {{
        listen {listen};
        client_max_body_size 10m;

        location / {{
            proxy_pass http://asgi_magic;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


async def echo_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Reports what the app saw: method, path, client, scheme, headers, body size."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": "echo:" + message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
    if scope["path"] == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        for number in range(3):
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {number}\n\n".encode(),
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b""})
        return
    size = 0
    digest = hashlib.sha256()
    while True:
        message = await receive()
        body = message.get("body", b"")
        size += len(body)
        digest.update(body)
        if not message.get("more_body"):
            break
    payload = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "client": scope["client"][0] if scope.get("client") else None,
            "scheme": scope["scheme"],
            "http_version": scope["http_version"],
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "size": size,
            "digest": digest.hexdigest(),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {_read(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port} within 10 s: {_read(log)}")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def start_nginx(tmp: Path, upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    # As root, nginx's workers would switch to "nobody", who cannot use our private temp
    # directory; keep them as the current user.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    last_error: Exception | None = None
    for _ in range(3):  # the free port may be taken between probe and bind: retry
        port = _free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(tmp=tmp, user=user, upstream=upstream, listen=f"127.0.0.1:{port}")
        )
        stderr = tmp / "stderr.log"
        with open(stderr, "wb") as err:
            process = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_port(port, process, tmp / "error.log")
            return process, f"http://127.0.0.1:{port}"
        except RuntimeError as exc:
            last_error = exc
            stop_nginx(process)
    raise RuntimeError(f"could not start nginx: {last_error}; {_read(tmp / 'stderr.log')}")


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _proxy_config() -> dict[str, Any]:
    """Trust X-Forwarded-* from nginx, if this server version has that setting."""
    fields = {f.name for f in dataclasses.fields(Config)}
    config: dict[str, Any] = {}
    if "proxy_headers" in fields:
        config["proxy_headers"] = True
    if "forwarded_allow_ips" in fields:
        config["forwarded_allow_ips"] = "127.0.0.1"
    return config


@pytest.fixture(scope="module")
def nginx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("nginx")
    with run_server(echo_app, **_proxy_config()) as base_url:
        process, url = start_nginx(tmp, base_url.removeprefix("http://"))
        try:
            yield url
        finally:
            stop_nginx(process)
        assert process.returncode == 0, _read(tmp / "error.log")


@pytest.fixture
def client(nginx_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=nginx_url, timeout=10, trust_env=False) as c:
        yield c


def test_get_through_nginx(client: httpx.Client) -> None:
    response = client.get("/hello/world?x=1&y=%20", headers={"X-Custom": "abc"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "GET"
    assert seen["path"] == "/hello/world"
    assert seen["query"] == "x=1&y=%20"
    assert seen["headers"]["x-custom"] == "abc"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert seen["headers"]["host"] == client.base_url.netloc.decode().split(":")[0]
    # nginx speaks HTTP/1.1 upstream (proxy_http_version) and so keeps connections alive.
    assert seen["http_version"] == "1.1"
    assert "connection" not in seen["headers"] or seen["headers"]["connection"] == ""


def test_keepalive_requests_reuse_upstream(client: httpx.Client) -> None:
    for number in range(20):
        response = client.get(f"/n/{number}")
        assert response.status_code == 200
        assert response.json()["path"] == f"/n/{number}"


def test_post_body_through_nginx(client: httpx.Client) -> None:
    body = os.urandom(256 * 1024)
    response = client.post(
        "/upload", content=body, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["size"] == len(body)
    assert seen["digest"] == hashlib.sha256(body).hexdigest()
    assert seen["headers"]["content-length"] == str(len(body))


def test_chunked_post_through_nginx(client: httpx.Client) -> None:
    chunks = [b"a" * 1000, b"b" * 70000, b"c"]

    def generate() -> Iterator[bytes]:
        yield from chunks

    response = client.post("/chunked", content=generate())
    assert response.status_code == 200
    seen = response.json()
    assert seen["size"] == sum(map(len, chunks))


def test_body_over_nginx_limit_is_refused_by_nginx(client: httpx.Client) -> None:
    response = client.post("/big", content=b"x" * (11 * 1024 * 1024))
    assert response.status_code == 413


def test_streaming_is_not_buffered(client: httpx.Client) -> None:
    with client.stream("GET", "/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = b"".join(response.iter_bytes()).decode()
    assert text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_websocket_through_nginx(nginx_url: str) -> None:
    ws_url = nginx_url.replace("http://", "ws://") + "/ws"
    with ws_connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "echo:hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=10) == b"\x03\x02\x01"
        big = "z" * 200_000  # several frames' worth through the proxy's buffers
        ws.send(big)
        assert ws.recv(timeout=10) == "echo:" + big


def test_proxy_headers_rewrite_client_when_trusted(client: httpx.Client) -> None:
    if not _proxy_config():
        pytest.skip("this server version has no proxy_headers setting")
    seen = client.get("/", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    # nginx appends its peer: "203.0.113.7, 127.0.0.1"; the server trusts 127.0.0.1
    # (nginx) and takes the address nginx saw, the rightmost untrusted entry.
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["client"] == "203.0.113.7"
