"""The settings of issue 14 reach Config from flags, and bad values are one-line errors."""

from __future__ import annotations

import pytest

from asgi_magic.cli import build_parser, config_from_args, main
from asgi_magic.config import Config, ConfigError


def parse(*argv: str) -> Config:
    return config_from_args(build_parser().parse_args(["m:app", *argv]))


def test_defaults() -> None:
    config = parse()
    assert config.timeout_ssl_handshake == 10.0
    assert config.timeout_request_body == 30.0
    assert config.min_request_body_rate is None
    assert config.min_request_body_rate_grace == 5.0
    assert config.timeout_app is None
    assert config.health_path is None
    assert config.shutdown_delay == 0.0
    assert config.proxy_protocol is False


def test_flags() -> None:
    config = parse(
        "--timeout-ssl-handshake",
        "3",
        "--timeout-request-body",
        "12",
        "--min-request-body-rate",
        "240",
        "--min-request-body-rate-grace",
        "4",
        "--timeout-app",
        "20",
        "--health-path",
        "/healthz",
        "--shutdown-delay",
        "5",
        "--proxy-protocol",
    )
    assert (
        config.timeout_ssl_handshake,
        config.timeout_request_body,
        config.min_request_body_rate,
        config.min_request_body_rate_grace,
        config.timeout_app,
        config.health_path,
        config.shutdown_delay,
        config.proxy_protocol,
    ) == (3.0, 12.0, 240.0, 4.0, 20.0, "/healthz", 5.0, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout-app", "-1"],
        ["--timeout-request-body", "x"],
        ["--health-path", "healthz"],
        ["--health-path", "/a b"],
        ["--health-path", "/a?b"],
        ["--health-path", "/a%2f"],
        ["--health-path", "/é"],
        ["--min-request-body-rate", "x"],
        ["--shutdown-delay", "inf"],
    ],
)
def test_bad_values_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["m:app", *argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_config_checks_health_path() -> None:
    with pytest.raises(ConfigError, match="health_path"):
        Config(app="m:app", health_path="/x\r\nSet-Cookie: a")
