"""Usage errors have one form: ``asgi-magic: error: ...``, one line, exit status 2.

Before, ``--log-config``, ``--env-file`` and ``--reload-dir`` wrote ``Error: ...``
(and the first two exited 1), and values only the server checked at startup
(``--ssl-version 3``, ``--ssl-ciphers``, ``--access-log-format``, a bad
``--forwarded-allow-ips`` from the environment) exited 1 with a log line; a TOML
``port = "8000"`` was taken as a port; swapped ``--ssl-keyfile``/``--ssl-certfile``
gave OpenSSL's ``PEM lib``. Problems of the machine (the app, the socket, the TLS
files) stay exit status 1: the command line was right.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from asgi_magic.config import SETTINGS, Config, ConfigError, values_from_toml
from asgi_magic.server.server import TLSSetupError, create_ssl_context
from tests.support.subprocess_server import ROOT

APP = "sample_apps.hello:app"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgi_magic", APP, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("asgi-magic: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--log-config", "/nonexistent/log.json"), ("--log-config", "log.json")),
        (("--env-file", "/nonexistent/.env"), ("--env-file", ".env")),
        (("--reload", "--reload-dir", "/nonexistent/src"), ("--reload-dir", "no such directory")),
        (("--ssl-version", "3"), ("--ssl-version 3", "RFC 8996")),
        (("--ssl-version", "9"), ("--ssl-version 9", "not a server protocol")),
        (("--ssl-ciphers", "NO-SUCH-CIPHER"), ("--ssl-ciphers", "no cipher matches")),
        (("--access-log-format", "%(zz)s"), ("unknown atom %(zz)s",)),
        (("--port", "x"), ("--port",)),
    ],
)
def test_bad_flags_are_usage_errors(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_usage_error(cli(*args), *words)


def test_values_checked_at_startup_are_usage_errors_from_every_source(tmp_path: Path) -> None:
    # The flag is checked by argparse; the same value from a variable or the file
    # used to reach the server and exit 1.
    env = {"ASGI_MAGIC_FORWARDED_ALLOW_IPS": "bogus", "ASGI_MAGIC_PROXY_HEADERS": "true"}
    assert_usage_error(cli(env=env), "bogus")
    toml = tmp_path / "c.toml"
    toml.write_text('ssl-version = 3\naccess-log-format = "%(h)s"\n')
    assert_usage_error(cli("--config", str(toml)), "--ssl-version 3")


def test_toml_port_as_a_string_is_a_usage_error(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('port = "8000"\n')
    assert_usage_error(cli("--config", str(toml)), str(toml), "port", "expected an integer")


# A value of the wrong TOML type for each kind in the settings table.
_WRONG = {
    "int": ("'1'", "an integer"),
    "float": ("'1.5'", "a number"),
    "bool": ("'true'", "a boolean"),
    "flag": ("'true'", "a boolean"),
    "str": ("1", "a string"),
    "choice": ("1", "a string"),
    "list": ("[1, 2]", "an array of strings"),
    "headers": ("1", "an array of"),
}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_toml_key_needs_its_type(setting: object, tmp_path: Path) -> None:
    from asgi_magic.config import Setting

    assert isinstance(setting, Setting)
    raw, expected = _WRONG[setting.kind]
    if setting.name == "log_level":
        raw, expected = "true", "a level name or an integer"
    key = setting.option[2:]
    toml = tmp_path / "c.toml"
    toml.write_text(f"{key} = {raw}\n")
    with pytest.raises(ConfigError) as info:
        values_from_toml(str(toml))
    message = str(info.value)
    assert str(toml) in message and f"{key}: expected {expected}" in message, message


def test_toml_values_of_the_right_type_still_load(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        'port = 8001\ntimeout-keep-alive = 7\nproxy-headers = false\nlog-level = "debug"\n'
        'reload-dir = "src"\nheader = { X-A = "1" }\n'
    )
    assert values_from_toml(str(toml)) == {
        "port": 8001,
        "timeout_keep_alive": 7.0,
        "proxy_headers": False,
        "log_level": "debug",
        "reload_dirs": ["src"],
        "headers": [("X-A", "1")],
    }


# --- TLS files holding the wrong thing ----------------------------------------------------


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    cert = trustme.CA().issue_cert("localhost")
    folder = tmp_path_factory.mktemp("pem")
    key, chain = folder / "server.key", folder / "server.pem"
    cert.private_key_pem.write_to_path(str(key))
    cert.cert_chain_pems[0].write_to_path(str(chain))
    return str(key), str(chain)


def test_swapped_key_and_certificate_are_named(pem_files: tuple[str, str]) -> None:
    key, crt = pem_files
    with pytest.raises(TLSSetupError) as info:
        create_ssl_context(Config(app="m:a", ssl_certfile=key, ssl_keyfile=crt))
    assert str(info.value) == (
        f"TLS key file {crt} holds a certificate, where a private key was expected: "
        "--ssl-keyfile and --ssl-certfile are swapped"
    )
    result = cli("--ssl-certfile", key, "--ssl-keyfile", crt)
    assert result.returncode == 1, result.stderr  # the files, not the command line
    assert "are swapped" in result.stderr and "PEM lib" not in result.stderr


def test_certificate_file_without_a_certificate_is_named(
    pem_files: tuple[str, str], tmp_path: Path
) -> None:
    key, _ = pem_files
    with pytest.raises(TLSSetupError, match="holds only a private key, where a certificate"):
        create_ssl_context(Config(app="m:a", ssl_certfile=key))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(TLSSetupError, match=f"TLS key file {garbage} holds no PEM private key"):
        create_ssl_context(Config(app="m:a", ssl_certfile=pem_files[1], ssl_keyfile=str(garbage)))
