"""A 1 GiB upload through the real server in a subprocess: RSS must stay flat (< 20 MB).

The server runs in its own process so its memory can be read from /proc; the peak is
measured with VmHWM after resetting it (``clear_refs`` 5) once the server is warm.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status"),
]

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = b"----asgimagicLargeUpload9f3k2"
MIB = 1024 * 1024

SERVER = r"""
import asyncio

from asgi_magic.config import Config
from asgi_magic.server import Server
from asgi_magic.web.requests import Request
from asgi_magic.web.responses import JSONResponse


async def app(scope, receive, send):
    assert scope["type"] == "http"
    request = Request(scope, receive)
    form = await request.form()
    upload = form["f"]
    head = await upload.read(16)
    await upload.seek(max(0, upload.size - 16))
    tail = await upload.read(16)
    result = {"size": upload.size, "head": head.hex(), "tail": tail.hex(), "field": form["field"]}
    await form.close()
    await JSONResponse(result)(scope, receive, send)


async def main():
    server = Server(Config(app=app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    print(server.servers[0].sockets[0].getsockname()[1], flush=True)
    await task


asyncio.run(main())
"""


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def _upload(port: int, size: int, chunk: bytes) -> dict[str, object]:
    prefix = (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    suffix = b"\r\n--" + BOUNDARY + b"--\r\n"
    assert size % len(chunk) == 0
    head = (
        b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % (len(prefix) + size + len(suffix))
    )
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head + prefix)
        for _ in range(size // len(chunk)):  # the body comes from a generator-like loop
            sock.sendall(chunk)
        sock.sendall(suffix)
        response = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 200"), response[:500]
    return json.loads(rest.partition(b"\r\n\r\n")[2])  # type: ignore[no-any-return]


@pytest.mark.timeout(120)
def test_one_gib_upload_keeps_rss_flat() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else b""
        if not line.strip():
            proc.kill()
            raise AssertionError(f"server did not start: {proc.communicate()[1].decode()[-2000:]}")
        port = int(line)
        chunk = os.urandom(MIB)
        # warm up (imports, thread pool, spooling path), then reset the peak-RSS counter
        warm = _upload(port, 4 * MIB, chunk)
        assert warm["size"] == 4 * MIB
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
        baseline = _status(proc.pid, "VmRSS")

        started = time.monotonic()
        result = _upload(port, 1024 * MIB, chunk)
        elapsed = time.monotonic() - started
        peak = _status(proc.pid, "VmHWM")

        assert result["size"] == 1024 * MIB
        assert result["field"] == "value"
        assert result["head"] == chunk[:16].hex()
        assert result["tail"] == chunk[-16:].hex()
        growth = peak - baseline
        print(
            f"1 GiB upload in {elapsed:.1f} s ({1024 / elapsed:.0f} MiB/s), RSS growth {growth / MIB:.1f} MiB"
        )
        assert growth < 20 * MIB, f"RSS grew by {growth / MIB:.1f} MiB"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
