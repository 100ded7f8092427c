"""A second Ctrl-C means "stop now, quietly": one log line, no traceback, status 0.

The first SIGINT starts the graceful shutdown; a second one, while a request is still
running or while the app's lifespan shutdown is, cancels what is left. Before the fix
the app's lifespan task was left for the event loop's teardown to cancel, which our
framework logged as ``Lifespan shutdown failed: CancelledError`` and Starlette as a
failed-shutdown traceback; a shutdown handler that hung kept the server up however
often Ctrl-C was pressed.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.subprocess_server import ServerProcess, serve_subprocess

APPS = "tests.integration.apps.lifespan_apps"


def wait_for(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never happened"
        time.sleep(0.02)


def listener_closed(port: int, timeout: float = 15.0) -> None:
    """Wait until connecting is refused: the graceful shutdown has begun (its first step
    closes the listening socket). Signals are not queued: a second one sent before the
    first was handled would merge with it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the first signal was not handled"
        time.sleep(0.02)


def stop_twice(server: ServerProcess) -> tuple[int, str, float]:
    """SIGINT, SIGINT; the exit status, stderr and how long the exit took after the 2nd."""
    server.signal(signal.SIGINT)
    listener_closed(server.port)
    server.signal(signal.SIGINT)
    start = time.monotonic()
    code = server.proc.wait(timeout=20)
    took = time.monotonic() - start
    assert server.proc.stderr is not None
    return code, server.proc.stderr.read().decode(), took


def assert_quiet(stderr: str) -> None:
    assert stderr.count("stopping now") == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert "CancelledError" not in stderr, stderr
    assert "ERROR" not in stderr, stderr


@pytest.mark.parametrize("app", ["web_app", "starlette_app"])
def test_second_sigint_during_a_request_stops_quietly(
    app: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFESPAN_TEST_MARKS", str(tmp_path))
    with (
        serve_subprocess(f"{APPS}:{app}") as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(tmp_path / "slow")  # the request is in the app: the drain waits for it
        code, stderr, took = stop_twice(server)
    assert code == 0
    assert_quiet(stderr)
    assert took < 5
    # A forced exit skips the app's shutdown, as uvicorn's does.
    assert not (tmp_path / "shutdown").exists()


def test_second_sigint_ends_a_hanging_lifespan_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFESPAN_TEST_MARKS", str(tmp_path))
    with serve_subprocess(f"{APPS}:slow_shutdown_app") as server:
        server.signal(signal.SIGINT)
        wait_for(tmp_path / "shutdown")  # the app's 30 s shutdown handler is running
        server.signal(signal.SIGINT)
        start = time.monotonic()
        code = server.proc.wait(timeout=20)
        assert time.monotonic() - start < 5  # not the handler's 30 s
        assert server.proc.stderr is not None
        stderr = server.proc.stderr.read().decode()
    assert code == 0
    assert_quiet(stderr)
    assert not (tmp_path / "shutdown-done").exists()


def test_one_sigint_still_runs_the_app_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFESPAN_TEST_MARKS", str(tmp_path))
    with serve_subprocess(f"{APPS}:web_app") as server:
        server.signal(signal.SIGINT)
        assert server.proc.wait(timeout=20) == 0
        assert server.proc.stderr is not None
        stderr = server.proc.stderr.read().decode()
    assert (tmp_path / "shutdown-done").exists()
    assert "stopping now" not in stderr
    assert "Traceback" not in stderr, stderr


def test_second_sigint_ends_a_hanging_lifespan_startup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFESPAN_TEST_MARKS", str(tmp_path))
    # The socket is bound before the lifespan startup, so the fixture sees it listen.
    with serve_subprocess(f"{APPS}:slow_startup_app") as server:
        wait_for(tmp_path / "startup")  # the app's 30 s startup handler is running
        # Nothing shows that the first signal was handled (the startup goes on), and
        # signals are not queued: send one every 0.2 s until two have counted.
        start = time.monotonic()
        while server.proc.poll() is None:
            assert time.monotonic() - start < 10, "Ctrl-C does not end a hanging startup"
            server.signal(signal.SIGINT)
            time.sleep(0.2)
        assert server.proc.stderr is not None
        stderr = server.proc.stderr.read().decode()
    assert server.proc.returncode == 0
    assert_quiet(stderr)
    assert not (tmp_path / "startup-done").exists()
