"""--reload: restarts within 2 s of a change, survives a syntax error, debounces, and
works with watchfiles and with stat polling. Real ``python -m asgi_magic`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from asgi_magic.config import Config
from asgi_magic.server.reload import FileFilter, FileWatcher
from tests.support.subprocess_server import ROOT, free_port

VERSION_APP = """\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"%s"})
"""

# Forces the stat-polling backend in the supervisor, as if watchfiles were missing.
NO_WATCHFILES = (
    "import sys; sys.modules['watchfiles'] = None; "
    "from asgi_magic.cli import main; main(sys.argv[1:])"
)


@contextmanager
def reloading(
    app_dir: Path, *args: str, stat: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    launcher = ["-c", NO_WATCHFILES] if stat else ["-m", "asgi_magic"]
    proc = subprocess.Popen(
        [
            sys.executable,
            *launcher,
            "ver_app:app",
            "--reload",
            "--reload-dir",
            str(app_dir),
            "--app-dir",
            str(app_dir),
            "--port",
            str(port),
            "--log-level",
            "info",
            *args,
        ],
        cwd=app_dir,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_for(url, "v1", proc, timeout=20) is not None
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def wait_for(url: str, body: str, proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Seconds until ``url`` answers ``body``, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, "the reloader exited"
        try:
            if httpx.get(url, timeout=1).text == body:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return None


def write_version(app_dir: Path, version: str) -> None:
    (app_dir / "ver_app.py").write_text(VERSION_APP % version.encode().decode())


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    write_version(tmp_path, "v1")
    return tmp_path


@pytest.mark.parametrize("stat", [False, True], ids=["watchfiles", "stat"])
def test_reload_restarts_within_two_seconds_and_survives_a_syntax_error(
    app_dir: Path, stat: bool
) -> None:
    with reloading(app_dir, stat=stat) as (url, proc):
        write_version(app_dir, "v2")
        elapsed = wait_for(url, "v2", proc, timeout=10)
        assert elapsed is not None and elapsed < 2.0, elapsed
        # A syntax error: the error is printed once, the reloader keeps waiting.
        (app_dir / "ver_app.py").write_text("def broken(:\n")
        time.sleep(2.5)
        assert proc.poll() is None
        write_version(app_dir, "v3")
        assert wait_for(url, "v3", proc, timeout=10) is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
    backend = "stat polling" if stat else "watchfiles"
    assert f"Will watch for changes in these directories: {app_dir} ({backend})" in err
    assert err.count("Error loading ASGI app") == 1  # printed once, not retried in a loop
    assert 'File "' + str(app_dir / "ver_app.py") + '", line 1' in err
    assert "failed to start; waiting for a file change" in err


def test_reload_debounces_a_burst_of_writes(app_dir: Path) -> None:
    with reloading(app_dir, "--reload-delay", "0.5") as (url, proc):
        for n in range(5):
            write_version(app_dir, f"b{n}")
            time.sleep(0.05)
        assert wait_for(url, "b4", proc, timeout=10) is not None
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert err.count("Detected changes in") == 1, err


def test_reload_include_and_exclude(app_dir: Path) -> None:
    flags = ("--reload-include", "*.txt", "--reload-exclude", "skip_*.py")
    with reloading(app_dir, *flags) as (_, proc):
        (app_dir / "skip_me.py").write_text("x = 1\n")
        time.sleep(1.5)
        (app_dir / "notes.txt").write_text("watched now\n")
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "Detected changes in" in err and "notes.txt" in err
    assert "skip_me.py" not in err


def test_file_filter_rules() -> None:
    default = FileFilter(Config(app="m:a"))
    assert default.accepts("app.py") and default.accepts("pkg/mod.py")
    for path in ("notes.txt", ".hidden.py", "mod.pyc", ".mod.py.swp", "~backup.py"):
        assert not default.accepts(path), path
    for path in (".venv/lib/x.py", ".git/hooks/h.py", "pkg/__pycache__/m.py", "node_modules/a.py"):
        assert not default.accepts(path), path
    custom = FileFilter(
        Config(app="m:a", reload_includes=["*.html", ".*"], reload_excludes=["legacy_*.py"])
    )
    assert custom.accepts("templates/index.html") and custom.accepts("app.py")
    assert not custom.accepts("legacy_views.py")
    assert custom.accepts(".env")  # an include removes the same default exclude


@pytest.mark.parametrize("backend", ["watchfiles", "stat"])
def test_file_watcher_reports_changes(tmp_path: Path, backend: str) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    batches: list[list[str]] = []
    seen = threading.Event()

    def on_change(paths: list[str]) -> None:
        batches.append(paths)
        seen.set()

    watcher = FileWatcher(
        Config(app="m:a", reload_dirs=[str(tmp_path)], reload_delay=0.1), on_change
    )
    watcher.backend = backend
    watcher.start()
    try:
        time.sleep(0.5)
        (tmp_path / "ignored.txt").write_text("x")
        (tmp_path / "a.py").write_text("a = 2  # longer\n")
        assert seen.wait(5), "no change reported"
    finally:
        watcher.stop()
    assert str(tmp_path / "a.py") in batches[0]
    assert all(not p.endswith(".txt") for batch in batches for p in batch)


def test_reload_dir_must_exist(app_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "asgi_magic",
            "ver_app:app",
            "--reload",
            "--reload-dir",
            str(app_dir / "missing"),
        ],
        cwd=app_dir,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--reload-dir" in result.stderr and "no such directory" in result.stderr
