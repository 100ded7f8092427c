"""The flags of issue 14 reach Config, and bad values are one-line errors."""

from __future__ import annotations

import pytest

from asgi_magic.cli import build_parser, config_from_args


def parse(*argv: str) -> object:
    return config_from_args(build_parser().parse_args(["m:app", *argv]))


def test_defaults() -> None:
    config = parse()
    assert config.timeout_ssl_handshake == 10.0  # type: ignore[attr-defined]
    assert config.timeout_request_body == 30.0  # type: ignore[attr-defined]
    assert config.min_request_body_rate is None  # type: ignore[attr-defined]
    assert config.timeout_app is None  # type: ignore[attr-defined]
    assert config.health_path is None  # type: ignore[attr-defined]
    assert config.shutdown_delay == 0.0  # type: ignore[attr-defined]
    assert config.proxy_protocol is False  # type: ignore[attr-defined]
    assert config.ssl_cert_reqs == 0  # type: ignore[attr-defined]


def test_flags() -> None:
    config = parse(
        "--ssl-cert-reqs",
        "2",
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
        config.ssl_cert_reqs,  # type: ignore[attr-defined]
        config.timeout_ssl_handshake,  # type: ignore[attr-defined]
        config.timeout_request_body,  # type: ignore[attr-defined]
        config.min_request_body_rate,  # type: ignore[attr-defined]
        config.min_request_body_rate_grace,  # type: ignore[attr-defined]
        config.timeout_app,  # type: ignore[attr-defined]
        config.health_path,  # type: ignore[attr-defined]
        config.shutdown_delay,  # type: ignore[attr-defined]
        config.proxy_protocol,  # type: ignore[attr-defined]
    ) == (2, 3.0, 12.0, 240.0, 4.0, 20.0, "/healthz", 5.0, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["--ssl-cert-reqs", "3"],
        ["--timeout-app", "-1"],
        ["--health-path", "healthz"],
        ["--health-path", "/a b"],
        ["--health-path", "/a?b"],
        ["--health-path", "/é"],
        ["--min-request-body-rate", "x"],
    ],
)
def test_bad_values_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
