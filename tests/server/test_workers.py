"""``--workers N``: the supervisor, run for real as ``python -m asgi_magic`` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_magic.server.supervisor import APP_STRING_REQUIRED
from tests.support.subprocess_server import ROOT, ServerProcess, serve_subprocess

PID_APP = """\
import os

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if os.environ.get("FAIL_STARTUP"):
                    await send({"type": "lifespan.startup.failed", "message": "no db"})
                    return
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "pid_app.py").write_text(PID_APP)
    return tmp_path


@pytest.fixture
def workers(app_dir: Path) -> Iterator[ServerProcess]:
    with serve_subprocess(
        "pid_app:app",
        "--app-dir",
        str(app_dir),
        "--workers",
        "2",
        "--timeout-graceful-shutdown",
        "3",
    ) as server:
        yield server


def get_pid(url: str) -> int | None:
    """One request on a fresh connection; None if it failed (a worker just died)."""
    try:
        response = httpx.get(url, headers={"connection": "close"}, timeout=5)
    except httpx.HTTPError:
        return None
    assert response.status_code == 200
    return int(response.text)


def collect_pids(
    url: str, want: int, timeout: float = 20.0, exclude: frozenset[int] | set[int] = frozenset()
) -> set[int]:
    """Request until ``want`` distinct worker PIDs (not in ``exclude``) answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen - exclude) < want and time.monotonic() < deadline:
        pid = get_pid(url)
        if pid is not None:
            seen.add(pid)
        else:
            time.sleep(0.05)
    return seen - exclude


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop(server: ServerProcess, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    server.signal(sig)
    return server.proc.wait(timeout=timeout)


def test_two_workers_serve_from_two_pids(workers: ServerProcess) -> None:
    pids = collect_pids(workers.url, 2)
    assert len(pids) == 2, pids
    assert workers.proc.pid not in pids  # the supervisor itself serves nothing
    assert stop(workers) == 0
    assert not any(alive(pid) for pid in pids)


def test_killed_worker_is_replaced(workers: ServerProcess) -> None:
    pids = collect_pids(workers.url, 2)
    assert len(pids) == 2
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    # Service continues, and a new worker (a third PID) appears beside the survivor.
    new = collect_pids(workers.url, 1, exclude=pids)
    assert len(new) == 1, "no replacement worker answered"
    assert get_pid(workers.url) is not None
    assert stop(workers) == 0
    stderr = workers.proc.stderr.read().decode()  # type: ignore[union-attr]
    assert f"Worker [{victim}] died unexpectedly" in stderr


def test_sigterm_stops_all_workers_gracefully(workers: ServerProcess) -> None:
    pids = collect_pids(workers.url, 2)
    assert len(pids) == 2
    started = time.monotonic()
    assert stop(workers, signal.SIGTERM) == 0
    # Graceful timeout 3 s + margin: idle workers stop well before that.
    assert time.monotonic() - started < 8.0
    assert not any(alive(pid) for pid in pids)


def test_sigint_stops_all_workers(workers: ServerProcess) -> None:
    pids = collect_pids(workers.url, 2)
    assert stop(workers, signal.SIGINT) == 0
    assert not any(alive(pid) for pid in pids)


def test_sighup_rolls_every_worker(workers: ServerProcess) -> None:
    old = collect_pids(workers.url, 2)
    assert len(old) == 2
    workers.signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in old) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in old), "old workers still running after SIGHUP"
    new = collect_pids(workers.url, 2, exclude=old)
    assert len(new) == 2
    assert workers.proc.poll() is None
    assert stop(workers) == 0


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgi_magic", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_startup_failure_in_workers_exits_with_its_code(app_dir: Path) -> None:
    result = run_cli(
        "pid_app:app", "--app-dir", str(app_dir), "--workers", "2", "--port", "0",
        env={"FAIL_STARTUP": "1"},
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "failed to start" in result.stderr


def test_import_error_in_workers_exits_1(app_dir: Path) -> None:
    result = run_cli("nope_mod:app", "--app-dir", str(app_dir), "--workers", "2", "--port", "0")
    assert result.returncode == 1, result.stderr
    assert "Error loading ASGI app" in result.stderr


def test_app_object_with_workers_is_a_one_line_error() -> None:
    code = "import asgi_magic\nasgi_magic.run(lambda scope, receive, send: None, workers=2)\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == APP_STRING_REQUIRED


def test_workers_flag_and_web_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    from asgi_magic.cli import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args(["m:app", "--workers", "3"])).workers == 3
    # WEB_CONCURRENCY is read when the server starts, after --env-file was loaded
    # (tests/server/test_config_sources.py runs that end to end).
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert config_from_args(build_parser().parse_args(["m:app"])).workers is None
    result = run_cli("m:app", "--workers", "0")
    assert result.returncode == 2 and "--workers" in result.stderr


def test_limit_max_requests_recycles_workers(app_dir: Path) -> None:
    with serve_subprocess(
        "pid_app:app", "--app-dir", str(app_dir), "--workers", "2", "--limit-max-requests", "2",
        "--log-level", "info",
    ) as server:  # fmt: skip
        first = collect_pids(server.url, 2)
        # Each worker exits after 2 responses; the supervisor starts fresh ones.
        fresh = collect_pids(server.url, 1, exclude=first)
        assert fresh, "no recycled worker answered"
        assert server.proc.poll() is None
        assert stop(server) == 0
        stderr = server.proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "exited; starting a new one" in stderr


def test_workers_stop_when_supervisor_is_killed(workers: ServerProcess) -> None:
    pids = collect_pids(workers.url, 2)
    assert len(pids) == 2
    workers.proc.kill()
    workers.proc.wait(timeout=5)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), "orphaned workers kept running"
