"""Run the real asgi_magic server on 127.0.0.1 in a background thread for a test.

    with run_server(app) as base_url:          # e.g. "http://127.0.0.1:40321"
        httpx.get(base_url + "/")

The server binds port 0 (the kernel picks a free port), so tests never collide.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgi_magic.config import Config
from asgi_magic.server import Server


@contextmanager
def run_server(app: Any, **config: Any) -> Iterator[str]:
    config.setdefault("host", "127.0.0.1")
    config.setdefault("port", 0)
    config.setdefault("log_level", "warning")
    config.setdefault("lifespan", "auto")
    server = Server(Config(app=app, **config))
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=target, name="asgi-magic-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"server failed to start: {errors!r}")
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start within 10 s")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():
            raise RuntimeError("server did not stop within 15 s")
        if errors:
            raise errors[0]
