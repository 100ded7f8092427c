"""Zero-copy ``http.response.pathsend`` on real sockets, on both event loops."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from asgi_magic.config import Config
from asgi_magic.server import Server
from asgi_magic.server.http_cycle import ClientDisconnected
from asgi_magic.server.http_protocol import HTTPProtocol
from asgi_magic.server.loops import loop_factory

SIZE = 50 * 1024 * 1024

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("pathsend") / "big.bin"
    # Not a repeating pattern: an offset mistake would change the digest.
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for i in range(SIZE // len(block)):
            f.write(bytes([i & 0xFF]) + block[1:])
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def serve(app: Any, loop: str) -> Iterator[int]:
    server = Server(
        Config(app=app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", loop=loop)
    )
    errors: list[BaseException] = []

    def target() -> None:
        try:
            with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                runner.run(server.serve())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert not errors and thread.is_alive(), errors
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "server did not stop"
        if errors:
            raise errors[0]


def file_app(path: Path, length: int | None, done: threading.Event, outcome: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [] if length is None else [(b"content-length", str(length).encode())]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.pathsend", "path": str(path)})
            outcome.append("sent")
        except ClientDisconnected:
            outcome.append("disconnected")
        except Exception as exc:
            outcome.append(type(exc).__name__)
            raise
        finally:
            done.set()

    return app


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of a response with a Content-Length; reads exactly its body."""
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the head: {bytes(buf)!r}"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = bytearray(rest)
    view = memoryview(bytearray(1024 * 1024))
    while len(body) < length:
        n = sock.recv_into(view)
        assert n, "closed before the end of the body"
        body += view[:n]
    assert len(body) == length
    return head, bytes(body)


def read_all(sock: socket.socket) -> bytes:
    buf = bytearray()
    while True:
        chunk = sock.recv(1024 * 1024)
        if not chunk:
            return bytes(buf)
        buf += chunk


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original: Callable[..., Any] = HTTPProtocol.sendfile

    async def spy(self: HTTPProtocol, file: Any, offset: int, count: int) -> int:
        calls.append(count)
        result: int = await original(self, file, offset, count)
        return result

    monkeypatch.setattr(HTTPProtocol, "sendfile", spy)
    return calls


@pytest.mark.parametrize("loop", LOOPS)
def test_50mb_file_arrives_byte_identical_and_connection_is_reused(
    loop: str, big_file: tuple[Path, str], sendfile_calls: list[int]
) -> None:
    path, digest = big_file
    done = threading.Event()
    outcome: list[str] = []
    with serve(file_app(path, SIZE, done, outcome), loop) as port, connect(port) as sock:
        for _ in range(2):  # keep-alive: the second response follows the first intact
            done.clear()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert hashlib.sha256(body).hexdigest() == digest
            assert done.wait(10)
    assert outcome == ["sent", "sent"]
    assert sendfile_calls == [SIZE, SIZE]  # the zero-copy path, not the chunked one


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("declared", [SIZE - 1, SIZE + 1])
def test_content_length_is_enforced_and_nothing_past_the_head_is_sent(
    loop: str, declared: int, big_file: tuple[Path, str], sendfile_calls: list[int]
) -> None:
    path, _ = big_file
    done = threading.Event()
    outcome: list[str] = []
    with serve(file_app(path, declared, done, outcome), loop) as port, connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_all(sock)  # the server closes: the framing could not be honoured
        assert done.wait(10)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == b""
    assert outcome == ["RuntimeError"]  # http11 errors never reach the app (spec: RuntimeError)
    assert sendfile_calls == []


def open_fds_to(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("loop", LOOPS)
def test_client_disconnect_mid_file_releases_the_file_and_does_not_hang(
    loop: str, big_file: tuple[Path, str]
) -> None:
    path, _ = big_file
    done = threading.Event()
    outcome: list[str] = []
    with serve(file_app(path, SIZE, done, outcome), loop) as port:
        sock = connect(port)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        received = 0
        while received < 1024 * 1024:
            chunk = sock.recv(65536)
            assert chunk
            received += len(chunk)
        # Reset, not FIN: the server's next send fails at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        assert done.wait(10), "the app never returned from pathsend"
        deadline = time.monotonic() + 5
        while open_fds_to(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert open_fds_to(path) == 0
    assert outcome == ["disconnected"]


@pytest.mark.parametrize("loop", LOOPS)
def test_small_file_and_chunked_response_use_the_framed_path(
    loop: str, tmp_path: Path, big_file: tuple[Path, str], sendfile_calls: list[int]
) -> None:
    small = tmp_path / "small.txt"
    small.write_bytes(b"tiny\n")
    path, digest = big_file
    done = threading.Event()
    outcome: list[str] = []
    with serve(file_app(small, 5, done, outcome), loop) as port, connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[1] == b"tiny\n"
    assert done.wait(10)
    # Without a Content-Length the body is chunked: framed pieces, still intact.
    done.clear()
    with serve(file_app(path, None, done, outcome), loop) as port, connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_all(sock)
    assert done.wait(10)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    out = bytearray()
    pos = 0
    while True:
        line_end = body.index(b"\r\n", pos)
        size = int(body[pos:line_end], 16)
        if size == 0:
            break
        out += body[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2
    assert hashlib.sha256(out).hexdigest() == digest
    assert outcome == ["sent", "sent"]
    assert sendfile_calls == []


@pytest.mark.parametrize("loop", LOOPS)
def test_pathsend_after_body_bytes_waits_for_them_to_leave_first(
    loop: str, big_file: tuple[Path, str], sendfile_calls: list[int]
) -> None:
    # Body bytes still in the transport's buffer must reach the client before the file.
    path, _ = big_file
    prefix = b"p" * (4 * 1024 * 1024)
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        length = str(len(prefix) + SIZE).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
        )
        await send({"type": "http.response.body", "body": prefix, "more_body": True})
        await send({"type": "http.response.pathsend", "path": str(path)})
        done.set()

    with serve(app, loop) as port, connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)  # let the server's write buffer fill up before reading
        _, body = read_response(sock)
        assert done.wait(10)
    assert body[: len(prefix)] == prefix
    assert body[len(prefix) :] == path.read_bytes()
    assert sendfile_calls == [SIZE]
