"""Start a throw-away ``redis-server`` on 127.0.0.1 for a test.

    with run_redis() as url:        # e.g. "redis://127.0.0.1:40321/0"
        ...

Persistence is off (``--save ''``, ``--appendonly no``), so nothing is written to disk.
Tests are skipped with a clear reason when ``redis-server`` is not installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["run_redis"]


def _free_port() -> int:
    # Bind port 0 so the kernel picks a free port, then hand the number to redis-server.
    # (A tiny race remains between close() and redis binding; the retry loop covers it.)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def run_redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed: apt-get install redis-server")
    for _attempt in range(3):
        port = _free_port()
        with tempfile.TemporaryDirectory(prefix="asgi-magic-redis-") as workdir:
            process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                    "--loglevel",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                deadline = time.monotonic() + 10
                while process.poll() is None and time.monotonic() < deadline:
                    if _ping(port):
                        break
                    time.sleep(0.02)
                else:
                    continue  # exited (port taken?) or too slow: try another port
                yield f"redis://127.0.0.1:{port}/0"
                return
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                if process.stderr is not None:
                    process.stderr.close()
    raise RuntimeError("could not start redis-server on 127.0.0.1")
