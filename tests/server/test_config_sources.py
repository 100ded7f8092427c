"""Where settings come from: flag > ASGI_MAGIC_* > UVICORN_* > --config TOML > default.

Also: ``Config`` validates its values, ``asgi_magic.run`` takes uvicorn.run's keywords,
and --env-file is loaded before WEB_CONCURRENCY and the other variables are read
(issue 10, item 12).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_magic.cli import build_parser, resolve
from asgi_magic.config import SETTINGS, Config, ConfigError, settings_table, values_from_toml
from tests.support.subprocess_server import ROOT, free_port

HELLO = """\
import os
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ASGI_MAGIC_*/UVICORN_* from the outside; restore anything an env file set."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("ASGI_MAGIC_", "UVICORN_")) or name == "WEB_CONCURRENCY":
            monkeypatch.delenv(name)
    yield
    os.environ.clear()
    os.environ.update(saved)


def resolved(*argv: str) -> tuple[Config, list[str]]:
    return resolve(build_parser().parse_args(list(argv)))


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "asgi_magic.toml"
    toml.write_text(
        'app = "file:app"\nport = 7001\nbacklog = 11\nroot-path = "/from-file"\n'
        "timeout_keep_alive = 9\n"
    )
    # file only
    config, notices = resolved("--config", str(toml))
    assert (config.app, config.port, config.backlog, config.root_path) == (
        "file:app",
        7001,
        11,
        "/from-file",
    )
    assert config.timeout_keep_alive == 9.0 and config.host == "127.0.0.1"  # default
    assert f"Read settings from {toml}" in notices
    # env beats the file
    monkeypatch.setenv("ASGI_MAGIC_PORT", "7002")
    monkeypatch.setenv("ASGI_MAGIC_BACKLOG", "12")
    config, _ = resolved("--config", str(toml))
    assert (config.port, config.backlog, config.root_path) == (7002, 12, "/from-file")
    # a flag beats both
    config, _ = resolved("other:app", "--config", str(toml), "--port", "7003")
    assert (config.app, config.port, config.backlog) == ("other:app", 7003, 12)
    # the config file can itself come from the environment
    monkeypatch.setenv("ASGI_MAGIC_CONFIG", str(toml))
    assert resolved()[0].root_path == "/from-file"


def test_every_setting_has_an_env_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = {
        "int": "7",
        "float": "1.5",
        "bool": "false",
        "flag": "true",
        "list": "a b",
        "headers": "X-A: 1\nX-B: 2",
    }
    for setting in SETTINGS:
        if setting.kind in ("int", "float") and setting.minimum is not None:
            text = str(max(int(setting.minimum), 7))  # a value the setting accepts
        elif setting.kind in samples:
            text = samples[setting.kind]
        elif setting.kind == "choice":
            text = setting.choices[-1]
        else:
            text = "value"
        assert setting.env_names[0] == "ASGI_MAGIC_" + setting.name.upper()
        monkeypatch.setenv(setting.env_names[0], text)
        try:
            from asgi_magic.config import values_from_env

            values, _ = values_from_env()
            assert setting.name in values, setting.name
        finally:
            monkeypatch.delenv(setting.env_names[0])


def test_uvicorn_variables_are_read_and_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVICORN_PORT", "7100")
    monkeypatch.setenv("UVICORN_HOST", "0.0.0.0")
    monkeypatch.setenv("UVICORN_ACCESS_LOG", "false")
    monkeypatch.setenv("UVICORN_RELOAD_DIRS", "src lib")
    config, notices = resolved("m:app")
    assert (config.port, config.host, config.access_log) == (7100, "0.0.0.0", False)
    assert config.reload_dirs == ["src", "lib"]
    assert len(notices) == 1
    assert "UVICORN_ACCESS_LOG, UVICORN_HOST, UVICORN_PORT, UVICORN_RELOAD_DIRS" in notices[0]
    # ours wins over theirs
    monkeypatch.setenv("ASGI_MAGIC_PORT", "7200")
    config, notices = resolved("m:app")
    assert config.port == 7200 and "UVICORN_PORT" not in notices[0]
    monkeypatch.setenv("UVICORN_APP", "from_env:app")
    assert resolved()[0].app == "from_env:app"
    # An empty variable is unset (click's rule): the next source applies.
    monkeypatch.setenv("ASGI_MAGIC_PORT", "")
    assert resolved("m:app")[0].port == 7100


def test_container_with_uvicorn_port_listens_there(tmp_path: Path) -> None:
    (tmp_path / "hello_env.py").write_text(HELLO)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UVICORN_", "ASGI_MAGIC_"))}
    env.update(PYTHONPATH=str(ROOT), UVICORN_PORT=str(port), UVICORN_LOG_LEVEL="info")
    proc = subprocess.Popen(
        [sys.executable, "-m", "asgi_magic", "hello_env:app", "--app-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        assert _get_until_up(f"http://127.0.0.1:{port}/", proc).isdigit()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Read uvicorn settings from the environment: UVICORN_LOG_LEVEL, UVICORN_PORT" in (
        err.decode()
    )


def _get_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    import time

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "server exited"
        try:
            return httpx.get(url, timeout=2).text
        except httpx.TransportError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)


def test_env_file_is_read_before_web_concurrency(tmp_path: Path) -> None:
    """Issue 10 item 12: WEB_CONCURRENCY (and ASGI_MAGIC_*) from --env-file count."""
    (tmp_path / "hello_env.py").write_text(HELLO)
    port = free_port()
    env_file = tmp_path / "prod.env"
    env_file.write_text(f"WEB_CONCURRENCY=2\nexport ASGI_MAGIC_PORT={port}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UVICORN_", "ASGI_MAGIC_"))}
    env.pop("WEB_CONCURRENCY", None)
    env.update(PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "asgi_magic", "hello_env:app", "--app-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [*cmd, "--env-file", str(env_file), "--log-level", "info"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        assert _get_until_up(f"http://127.0.0.1:{port}/", proc).isdigit()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "with 2 workers" in err.decode()


def test_app_string_required_message_names_a_real_setting() -> None:
    """Issue 10 item 12: the message advertises 'reload', which now exists."""
    from asgi_magic.server.supervisor import APP_STRING_REQUIRED

    assert "'reload'" in APP_STRING_REQUIRED and "reload" in {
        f.name for f in dataclasses.fields(Config)
    }
    code = (
        "import asgi_magic\n"
        "async def app(scope, receive, send): pass\n"
        "asgi_magic.run(app, reload=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and result.stderr.strip() == APP_STRING_REQUIRED


def test_toml_errors_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 8000\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot' \\(did you mean 'port'\\?\\)"):
        values_from_toml(str(bad))
    bad.write_text('workers = "many"\n')
    with pytest.raises(ConfigError, match="workers: expected an integer, got a string 'many'"):
        values_from_toml(str(bad))
    bad.write_text("lifespan = 3\n")
    with pytest.raises(ConfigError, match="lifespan"):
        values_from_toml(str(bad))
    bad.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        values_from_toml(str(bad))
    with pytest.raises(ConfigError, match="cannot read config file"):
        values_from_toml(str(tmp_path / "missing.toml"))
    good = tmp_path / "good.toml"
    good.write_text('reload-dir = ["a", "b"]\nheader = ["X-A: 1"]\nws_ping_interval = 5\n')
    values = values_from_toml(str(good))
    assert values == {"reload_dirs": ["a", "b"], "headers": [("X-A", "1")], "ws_ping_interval": 5.0}


def test_bad_values_from_each_source_exit_2(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASGI_MAGIC_WORKERS="zero")
    result = subprocess.run(
        [sys.executable, "-m", "asgi_magic", "m:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "environment variable ASGI_MAGIC_WORKERS: invalid integer: 'zero'" in result.stderr
    assert result.stderr.count("\n") == 1
    missing = subprocess.run(
        [sys.executable, "-m", "asgi_magic"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2 and "APP (module:attribute)" in missing.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lifespan": "bogus"}, "lifespan (--lifespan): 'bogus' is not one of auto, on, off"),
        ({"port": 70000}, "out of range"),
        ({"workers": 0}, "workers (--workers): must be at least 1"),
        ({"log_level": "loud"}, "log_level"),
        ({"ws": "tornado"}, "ws (--ws)"),
        ({"loop": "trio"}, "loop (--loop)"),
        ({"timeout_keep_alive": -1}, "must be at least 0"),
        ({"timeout_keep_alive": float("nan")}, "must be finite"),
        ({"access_log": "yes"}, "must be true or false"),
        ({"reload": True, "workers": 2}, "--reload and --workers cannot be used together"),
        ({"ssl_keyfile": "k.pem"}, "--ssl-keyfile given without --ssl-certfile"),
        ({"ssl_cert_reqs": 7}, "ssl_cert_reqs"),
    ],
)
def test_config_validates(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(app="m:app", **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_reload_with_workers_is_refused_on_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asgi_magic", "m:app", "--reload", "--workers", "2"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--reload and --workers cannot be used together" in result.stderr


def test_run_accepts_uvicorn_run_keywords() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    fields = {f.name for f in dataclasses.fields(Config)}
    params = set(inspect.signature(uvicorn.run).parameters) - {"app"}
    assert params <= fields, sorted(params - fields)
    # uvicorn.run's own defaults are valid values here too.
    defaults = {
        name: p.default
        for name, p in inspect.signature(uvicorn.run).parameters.items()
        if name not in ("app", "log_config") and p.default is not p.empty
    }
    Config(app="m:app", **defaults)


@pytest.mark.parametrize(
    "header",
    [
        "X-A: b\r\nSet-Cookie: evil=1",
        "X-A: b\nInjected: 1",
        "X-A: b\x00",
        "Bad Name: v",
        "X-A\r\n: v",
        ": v",
        "X-A: caf\u00e9 \u2603",
    ],
)
def test_headers_cannot_split_a_response(header: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9110 §5: whichever source a --header comes from, CR/LF/NUL and non-token
    names are refused before anything is served."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["m:app", "--header", header])
    name, _, value = header.partition(":")
    with pytest.raises(ConfigError):
        Config(app="m:app", headers=[(name, value)])
    if "\n" not in header and "\x00" not in header:  # one per line; no NUL in environ
        monkeypatch.setenv("ASGI_MAGIC_HEADERS", header)
        with pytest.raises(ConfigError, match="ASGI_MAGIC_HEADERS"):
            resolved("m:app")
    assert Config(app="m:app", headers=[("X-Ok", "a\tb \u00e9")]).headers == [
        ("X-Ok", "a\tb \u00e9")
    ]


def test_settings_table_covers_config() -> None:
    rows = settings_table()
    flags = {row["flag"].split("/")[0] for row in rows}
    fields = {f.name for f in dataclasses.fields(Config)} - {"app", "ssl_context_factory"}
    assert {s.name for s in SETTINGS} == fields
    assert "--reload" in flags and "--header" in flags and "--env-file" in flags
    port = next(row for row in rows if row["flag"] == "--port")
    assert port == {
        "group": "Socket",
        "flag": "--port",
        "env": "ASGI_MAGIC_PORT",
        "toml": "port",
        "default": "8000",
        "help": "bind to this port (0: any free port)",
    }


def test_docs_settings_table_is_current() -> None:
    """docs/configuration.md ends with the generated table (regenerate with
    ``settings_markdown()``)."""
    from asgi_magic.config import settings_markdown

    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page.endswith(settings_markdown())


def test_docs_python_blocks_run(tmp_path: Path) -> None:
    import re

    for name in ("configuration.md", "logging.md"):
        page = (ROOT / "docs" / name).read_text()
        for block in re.findall(r"```python\n(.*?)```", page, re.S):
            exec(compile(block, name, "exec"), {"__name__": "docs_example"})
