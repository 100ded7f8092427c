"""The asgi-magic command, run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asgi_magic.cli import build_parser, config_from_args
from asgi_magic.importer import ImportFromStringError, import_from_string

ROOT = Path(__file__).resolve().parent.parent.parent


def cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgi_magic", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_flags() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for flag in (
        "--host",
        "--port",
        "--uds",
        "--fd",
        "--loop",
        "--lifespan",
        "--root-path",
        "--limit-concurrency",
        "--backlog",
        "--timeout-keep-alive",
        "--timeout-graceful-shutdown",
        "--log-level",
        "--no-access-log",
        "--no-server-header",
        "--no-date-header",
        "--header",
        "--factory",
        "--app-dir",
        "--env-file",
        "--version",
        "--ws",
        "--ws-max-size",
        "--limit-request-body",
        "--timeout-request-head",
        "--ssl-certfile",
    ):
        assert flag in result.stdout, flag


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("asgi-magic ")


@pytest.mark.parametrize(
    "args",
    [
        ["x:app", "--bogus"],
        ["x:app", "--port", "abc"],
        ["x:app", "--loop", "tokio"],
        ["x:app", "--port", "70000"],
    ],
)
def test_bad_flags_exit_2_one_line(args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "error" in result.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:app", 'Could not import module "no_such_module_xyz"'),
        ("tests.server.test_cli:no_such_attr", 'Attribute "no_such_attr" not found'),
        ("nocolon", "must be in format"),
    ],
)
def test_import_errors_exit_1_one_line(target: str, message: str) -> None:
    result = cli(target)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_import_that_raises_shows_cause(tmp_path: Path) -> None:
    (tmp_path / "broken_mod.py").write_text("x = 1\nraise ValueError('bad config')\n")
    result = cli("broken_mod:app", "--app-dir", str(tmp_path))
    assert result.returncode == 1
    first, *rest = result.stderr.splitlines()
    assert first.endswith('Error importing module "broken_mod": ValueError: bad config')
    # The traceback names the app's file and line, without importlib's frames.
    assert f'File "{tmp_path / "broken_mod.py"}", line 2, in <module>' in result.stderr
    assert "importlib" not in result.stderr and rest[-1] == "ValueError: bad config"


def test_import_from_string_attr_path() -> None:
    assert import_from_string("os.path:join") is os.path.join
    with pytest.raises(ImportFromStringError):
        import_from_string("os:nope.deeper")


def test_flags_build_config() -> None:
    args = build_parser().parse_args(
        [
            "m:app",
            "--port",
            "9",
            "--header",
            "X-A: b",
            "--no-access-log",
            "--limit-request-body",
            "100",
            "--ws",
            "none",
            "--no-ws-per-message-deflate",
        ]
    )
    config = config_from_args(args)
    assert config.port == 9 and config.headers == [("X-A", "b")]
    assert config.access_log is False and config.limit_request_body == 100
    assert config.ws == "none" and config.ws_per_message_deflate is False


def test_serves_and_exits_on_sigterm_with_startup_line(tmp_path: Path) -> None:
    from tests.support.subprocess_server import serve_subprocess

    (tmp_path / "hello_mod.py").write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n        return\n"
        "    await send({'type': 'http.response.start', 'status': 200})\n"
        "    await send({'type': 'http.response.body', 'body': b'hi'})\n"
    )
    import httpx

    missing = cli(
        "hello_mod:app", "--app-dir", str(tmp_path), "--env-file", str(tmp_path / "missing.env")
    )
    assert missing.returncode == 2 and "--env-file" in missing.stderr  # a usage error
    (tmp_path / ".env").write_text("FOO=bar\n")
    with serve_subprocess(
        "hello_mod:app",
        "--app-dir",
        str(tmp_path),
        "--log-level",
        "info",
        "--env-file",
        str(tmp_path / ".env"),
    ) as server:
        assert httpx.get(server.url).text == "hi"
        server.signal()
        assert server.proc.wait(timeout=10) == 0
        err = server.proc.stderr.read().decode()  # type: ignore[union-attr]
    assert f"asgi-magic running on http://127.0.0.1:{server.port} (Press CTRL+C to quit)" in err
    from asgi_magic import build_info

    assert f"asgi-magic 0.1.0, build: {build_info()}" in err
    assert '"GET / HTTP/1.1" 200' in err


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_loop_choice_serves(loop: str, tmp_path: Path) -> None:
    from tests.support.subprocess_server import serve_subprocess

    (tmp_path / "loop_mod.py").write_text(
        "import asyncio\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n        return\n"
        "    name = type(asyncio.get_running_loop()).__module__.encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200})\n"
        "    await send({'type': 'http.response.body', 'body': name})\n"
    )
    import httpx

    with serve_subprocess("loop_mod:app", "--app-dir", str(tmp_path), "--loop", loop) as server:
        module = httpx.get(server.url).text
    assert module.startswith("uvloop") == (loop == "uvloop")


def test_package_surface() -> None:
    import asgi_magic
    from asgi_magic.server import Server

    assert asgi_magic.Server is Server
    assert asgi_magic.Config.__name__ == "Config"
    assert callable(asgi_magic.run) and asgi_magic.__version__ == "0.1.0"
    assert sorted(asgi_magic.__all__) == [
        "Config",
        "Server",
        "__version__",
        "build_info",
        "compiled",
        "run",
    ]


def test_run_function_serves_import_string(tmp_path: Path) -> None:
    (tmp_path / "run_mod.py").write_text(
        "import asgi_magic, sys\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n        return\n"
        "    await send({'type': 'http.response.start', 'status': 200})\n"
        "    await send({'type': 'http.response.body', 'body': b'run'})\n"
        "if __name__ == '__main__':\n"
        "    asgi_magic.run('run_mod:app', port=int(sys.argv[1]), app_dir=sys.argv[2],\n"
        "                   limit_max_requests=1, log_level='warning')\n"
    )
    import time

    import httpx

    from tests.support.subprocess_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "run_mod.py"), str(port), str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/").text == "run"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert proc.wait(timeout=10) == 0  # --limit-max-requests 1: exits by itself
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
