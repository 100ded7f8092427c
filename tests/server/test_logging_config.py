"""--log-config (JSON, YAML, INI, a dict to run()), --log-level trace, colours, and
the framework's loggers following --log-level. Each runs the real command."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from asgi_magic.config import Config
from asgi_magic.server.logging import ColourFormatter, LogConfigError, configure_logging
from tests.support.subprocess_server import ROOT, serve_subprocess

APP = """\
import logging
log = logging.getLogger("asgi_magic.web.test_app")

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    log.info("framework logger says hello")
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"ok"})
"""

DICT_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"custom": {"format": "CUSTOM[%(name)s] %(levelname)s %(message)s"}},
    "handlers": {
        "err": {
            "class": "logging.StreamHandler",
            "formatter": "custom",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {"asgi_magic": {"handlers": ["err"], "level": "INFO", "propagate": False}},
}

YAML_CONFIG = """\
version: 1
disable_existing_loggers: false
formatters:
  custom:
    format: "CUSTOM[%(name)s] %(levelname)s %(message)s"
handlers:
  err:
    class: logging.StreamHandler
    formatter: custom
    stream: ext://sys.stderr
loggers:
  asgi_magic:
    handlers: [err]
    level: INFO
    propagate: false
"""

INI_CONFIG = """\
[loggers]
keys=root,asgi_magic

[handlers]
keys=err

[formatters]
keys=custom

[logger_root]
level=WARNING
handlers=

[logger_asgi_magic]
level=INFO
handlers=err
propagate=0
qualname=asgi_magic

[handler_err]
class=StreamHandler
formatter=custom
args=(sys.stderr,)

[formatter_custom]
format=CUSTOM[%(name)s] %(levelname)s %(message)s
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "log_app.py").write_text(APP)
    return tmp_path


def serve_and_log(app_dir: Path, *args: str) -> str:
    with serve_subprocess("log_app:app", "--app-dir", str(app_dir), *args) as server:
        assert httpx.get(server.url).text == "ok"
        server.signal()
        assert server.proc.wait(timeout=15) == 0
        return server.proc.stderr.read().decode()  # type: ignore[union-attr]


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".ini"])
def test_log_config_file_formats_a_line(app_dir: Path, suffix: str) -> None:
    path = app_dir / f"logging{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(DICT_CONFIG))
    elif suffix == ".ini":
        path.write_text(INI_CONFIG)
    else:
        path.write_text(YAML_CONFIG)
    # serve_subprocess passes --log-level warning; a later --log-level info wins.
    err = serve_and_log(app_dir, "--log-config", str(path), "--log-level", "info")
    assert "CUSTOM[asgi_magic.error] INFO asgi-magic running on" in err
    assert "CUSTOM[asgi_magic.access] INFO 127.0.0.1:" in err
    assert "CUSTOM[asgi_magic.web.test_app] INFO framework logger says hello" in err


def test_log_config_errors_are_one_line(app_dir: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "asgi_magic", "log_app:app", "--app-dir", str(app_dir), *args],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            capture_output=True,
            text=True,
            timeout=30,
        )

    missing = run("--log-config", str(app_dir / "nope.ini"))
    # A usage error (exit 2, "asgi-magic: error:"), as every bad flag.
    assert missing.returncode == 2 and "nope.ini: no such file" in missing.stderr
    assert missing.stderr.startswith("asgi-magic: error: --log-config ")
    bad = app_dir / "bad.json"
    bad.write_text("{not json")
    result = run("--log-config", str(bad))
    assert result.returncode == 2 and "invalid JSON" in result.stderr
    assert result.stderr.count("\n") == 1


def test_yaml_without_pyyaml_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.yaml"
    path.write_text(YAML_CONFIG)
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    with pytest.raises(LogConfigError, match="YAML files need PyYAML: pip install pyyaml"):
        configure_logging(Config(app="m:a", log_config=str(path)))


def test_log_config_dict_in_run(tmp_path: Path) -> None:
    (tmp_path / "run_log.py").write_text(
        APP + "if __name__ == '__main__':\n"
        "    import asgi_magic, json, sys\n"
        "    asgi_magic.run('run_log:app', port=int(sys.argv[1]), app_dir=sys.argv[2],\n"
        "                   limit_max_requests=1, log_config=json.loads(sys.argv[3]))\n"
    )
    from tests.support.subprocess_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(tmp_path / "run_log.py"),
            str(port),
            str(tmp_path),
            json.dumps(DICT_CONFIG),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stderr=subprocess.PIPE,
    )
    import time

    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "CUSTOM[asgi_magic.error] INFO Started server process" in err.decode()


def test_trace_level_is_named_and_shows_lifespan_messages(app_dir: Path) -> None:
    err = serve_and_log(app_dir, "--log-level", "trace")
    assert "TRACE:    ASGI [lifespan] receive lifespan.startup" in err
    assert "TRACE:    ASGI [lifespan] send lifespan.startup.complete" in err
    assert "Level 5" not in err


def test_web_loggers_follow_log_level(app_dir: Path) -> None:
    assert "framework logger says hello" in serve_and_log(app_dir, "--log-level", "info")
    assert "framework logger says hello" not in serve_and_log(app_dir, "--log-level", "warning")


def test_startup_lines(app_dir: Path) -> None:
    err = serve_and_log(app_dir, "--log-level", "info")
    assert "INFO:     Started server process [" in err
    assert "asgi-magic running on http://127.0.0.1:" in err and "(Press CTRL+C to quit)" in err


def test_colours_only_when_asked_or_on_a_tty(app_dir: Path) -> None:
    plain = serve_and_log(app_dir, "--log-level", "info")
    assert "\x1b[" not in plain  # stderr is a pipe here
    coloured = serve_and_log(app_dir, "--log-level", "info", "--use-colors")
    assert "\x1b[32mINFO\x1b[0m:" in coloured
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "m", None, None)
    assert ColourFormatter(use_colors=False).format(record) == "WARNING:  m"
    assert ColourFormatter(use_colors=True).format(record) == "\x1b[33mWARNING\x1b[0m:  m"


# The shape of uvicorn's own LOGGING_CONFIG (plain formatters, so uvicorn is not needed):
# a deployment's file written for uvicorn names uvicorn's loggers, not ours.
UVICORN_STYLE = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {"format": "UV[%(name)s] %(levelname)s %(message)s"},
        "access": {"format": "UVACCESS %(message)s"},
    },
    "handlers": {
        "default": {
            "formatter": "default",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def test_a_uvicorn_log_config_file_works_unchanged(app_dir: Path) -> None:
    path = app_dir / "uvicorn-logging.json"
    path.write_text(json.dumps({**UVICORN_STYLE, "disable_existing_loggers": True}))
    err = serve_and_log(app_dir, "--log-config", str(path), "--log-level", "info")
    assert "UV[asgi_magic.error] INFO asgi-magic running on" in err, err
    assert "UVACCESS 127.0.0.1:" in err, err
