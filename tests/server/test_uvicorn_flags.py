"""Replay uvicorn 0.54's ``--help``: every option is accepted, lands in ``Config``, and
has a behaviour test (named in the table, checked to exist).

The option list is uvicorn 0.54.0's (``uvicorn --help``); when the installed uvicorn is
importable, its click options are compared with the list too, so a newer uvicorn with a
new option fails here until it is handled.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asgi_magic.cli import build_parser, resolve
from asgi_magic.config import Config

HERE = Path(__file__).resolve().parent

# option -> (argv after APP, expected Config attributes, behaviour test "module::name")
UVICORN_054: dict[str, tuple[list[str], dict[str, Any], str]] = {
    "--host": (["--host", "0.0.0.0"], {"host": "0.0.0.0"}, "test_startup_errors::test_bad_host_names_the_host"),
    "--port": (["--port", "9001"], {"port": 9001}, "test_startup_errors::test_port_in_use_names_the_address"),
    "--uds": (["--uds", "/tmp/x.sock"], {"uds": "/tmp/x.sock"}, "test_live::test_uds"),
    "--fd": (["--fd", "3"], {"fd": 3}, "test_live::test_fd_socket"),
    "--reload": (["--reload"], {"reload": True}, "test_reload::test_reload_restarts_within_two_seconds_and_survives_a_syntax_error"),
    "--reload-dir": (["--reload-dir", ".", "--reload-dir", "tests"], {"reload_dirs": [".", "tests"]}, "test_reload::test_reload_restarts_within_two_seconds_and_survives_a_syntax_error"),
    "--reload-include": (["--reload-include", "*.html"], {"reload_includes": ["*.html"]}, "test_reload::test_reload_include_and_exclude"),
    "--reload-exclude": (["--reload-exclude", "*.tmp"], {"reload_excludes": ["*.tmp"]}, "test_reload::test_reload_include_and_exclude"),
    "--reload-delay": (["--reload-delay", "0.5"], {"reload_delay": 0.5}, "test_reload::test_reload_debounces_a_burst_of_writes"),
    "--workers": (["--workers", "3"], {"workers": 3}, "test_workers::test_two_workers_serve_from_two_pids"),
    "--loop": (["--loop", "asyncio"], {"loop": "asyncio"}, "test_cli::test_loop_choice_serves"),
    "--http": (["--http", "httptools"], {"http": "httptools"}, "test_startup_errors::test_http_and_ws_choices_are_announced"),
    "--http2": (["--http2"], {"http2": True}, "test_http2::test_curl_http2_prior_knowledge"),
    "--ws": (["--ws", "websockets-sansio"], {"ws": "websockets-sansio"}, "test_startup_errors::test_http_and_ws_choices_are_announced"),
    "--ws-max-size": (["--ws-max-size", "1000"], {"ws_max_size": 1000}, "test_websocket_server::test_malformed_frames_close_with_the_right_code"),
    "--ws-max-queue": (["--ws-max-queue", "4"], {"ws_max_queue": 4}, "test_ws_protocol::test_full_queue_pauses_reading_until_the_app_reads"),
    "--ws-ping-interval": (["--ws-ping-interval", "5"], {"ws_ping_interval": 5.0}, "test_websocket_server::test_unanswered_pings_close_the_connection"),
    "--ws-ping-timeout": (["--ws-ping-timeout", "5"], {"ws_ping_timeout": 5.0}, "test_websocket_server::test_unanswered_pings_close_the_connection"),
    "--ws-per-message-deflate": (["--ws-per-message-deflate", "false"], {"ws_per_message_deflate": False}, "test_uvicorn_flags::test_ws_per_message_deflate_spellings"),
    "--lifespan": (["--lifespan", "on"], {"lifespan": "on"}, "test_live::test_lifespan_startup_failed_stops_server"),
    "--interface": (["--interface", "asgi2"], {"interface": "asgi2"}, "test_live::test_asgi2_app"),
    "--env-file": (["--env-file", "ENV_FILE"], {"env_file": "ENV_FILE"}, "test_config_sources::test_env_file_is_read_before_web_concurrency"),
    "--log-config": (["--log-config", "log.json"], {"log_config": "log.json"}, "test_logging_config::test_log_config_file_formats_a_line"),
    "--log-level": (["--log-level", "trace"], {"log_level": "trace"}, "test_logging_config::test_trace_level_is_named_and_shows_lifespan_messages"),
    "--access-log": (["--no-access-log"], {"access_log": False}, "test_uvicorn_flags::test_no_access_log_silences_the_access_logger"),
    "--use-colors": (["--use-colors"], {"use_colors": True}, "test_logging_config::test_colours_only_when_asked_or_on_a_tty"),
    "--proxy-headers": (["--no-proxy-headers"], {"proxy_headers": False}, "test_proxy_headers::test_live_proxy_headers_off"),
    "--server-header": (["--no-server-header"], {"server_header": False}, "test_live::test_custom_headers_and_no_server_no_date"),
    "--date-header": (["--no-date-header"], {"date_header": False}, "test_live::test_custom_headers_and_no_server_no_date"),
    "--forwarded-allow-ips": (["--forwarded-allow-ips", "10.0.0.1,unix:"], {"forwarded_allow_ips": "10.0.0.1,unix:"}, "test_proxy_headers::test_live_trusted_peer_rewrites_http_scope"),
    "--root-path": (["--root-path", "/api"], {"root_path": "/api"}, "test_protocol_unit::test_scope_contents"),
    "--limit-concurrency": (["--limit-concurrency", "10"], {"limit_concurrency": 10}, "test_protocol_unit::test_limit_concurrency_503"),
    "--backlog": (["--backlog", "10"], {"backlog": 10}, "test_uvicorn_flags::test_backlog_reaches_listen"),
    "--limit-max-requests": (["--limit-max-requests", "10"], {"limit_max_requests": 10}, "test_workers::test_limit_max_requests_recycles_workers"),
    "--limit-max-requests-jitter": (["--limit-max-requests-jitter", "5"], {"limit_max_requests_jitter": 5}, "test_supervisor_ops::test_jitter_applies_to_a_live_server"),
    "--timeout-keep-alive": (["--timeout-keep-alive", "3"], {"timeout_keep_alive": 3.0}, "test_live::test_idle_keep_alive_closes"),
    "--timeout-graceful-shutdown": (["--timeout-graceful-shutdown", "3"], {"timeout_graceful_shutdown": 3.0}, "test_graceful_shutdown::test_graceful_timeout_cancels_stuck_requests"),
    "--timeout-worker-healthcheck": (["--timeout-worker-healthcheck", "3"], {"timeout_worker_healthcheck": 3.0}, "test_supervisor_ops::test_stuck_worker_is_replaced"),
    "--ssl-keyfile": (["--ssl-keyfile", "k.pem", "--ssl-certfile", "c.pem"], {"ssl_keyfile": "k.pem"}, "test_startup_errors::test_tls_key_without_cert_is_refused_never_plain_http"),
    "--ssl-certfile": (["--ssl-certfile", "c.pem"], {"ssl_certfile": "c.pem"}, "test_tls::test_https_scope_scheme"),
    "--ssl-keyfile-password": (["--ssl-keyfile-password", "pw"], {"ssl_keyfile_password": "pw"}, "test_startup_errors::test_tls_wrong_or_missing_password"),
    "--ssl-version": (["--ssl-version", "5"], {"ssl_version": 5}, "test_startup_errors::test_tls_version_and_ciphers"),
    "--ssl-cert-reqs": (["--ssl-cert-reqs", "2", "--ssl-ca-certs", "ca.pem"], {"ssl_cert_reqs": 2}, "test_startup_errors::test_mtls_refuses_a_client_without_certificate"),
    "--ssl-ca-certs": (["--ssl-ca-certs", "ca.pem"], {"ssl_ca_certs": "ca.pem"}, "test_startup_errors::test_mtls_refuses_a_client_without_certificate"),
    "--ssl-ciphers": (["--ssl-ciphers", "ECDHE+AESGCM"], {"ssl_ciphers": "ECDHE+AESGCM"}, "test_startup_errors::test_tls_version_and_ciphers"),
    "--header": (["--header", "X-A: b", "--header", "X-C:d"], {"headers": [("X-A", "b"), ("X-C", "d")]}, "test_live::test_custom_headers_and_no_server_no_date"),
    "--version": (["--version"], {}, "test_cli::test_version"),
    "--app-dir": (["--app-dir", "src"], {"app_dir": "src"}, "test_cli::test_serves_and_exits_on_sigterm_with_startup_line"),
    "--h11-max-incomplete-event-size": (["--h11-max-incomplete-event-size", "1000"], {"limit_request_head": 1000}, "test_startup_errors::test_h11_max_incomplete_event_size_is_the_head_limit"),
    "--reset-contextvars": (["--reset-contextvars"], {"reset_contextvars": True}, "test_startup_errors::test_reset_contextvars_gives_each_request_a_fresh_context"),
    "--factory": (["--factory"], {"factory": True}, "test_startup_errors::test_factory_flag_on_an_app_exits_1_one_line"),
    "--help": (["--help"], {}, "test_uvicorn_flags::test_help_is_grouped_without_noise"),
}  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("ASGI_MAGIC_", "UVICORN_")) or name == "WEB_CONCURRENCY":
            monkeypatch.delenv(name)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("option", sorted(UVICORN_054))
def test_uvicorn_option_is_accepted(option: str, tmp_path: Path) -> None:
    argv, expected, _ = UVICORN_054[option]
    if option in ("--version", "--help"):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(["m:app", *argv])
        assert info.value.code == 0
        return
    env_file = tmp_path / "x.env"
    env_file.write_text("")
    argv = [str(env_file) if arg == "ENV_FILE" else arg for arg in argv]
    config, _ = resolve(build_parser().parse_args(["m:app", *argv]))
    for name, value in expected.items():
        if value == "ENV_FILE":
            value = str(env_file)
        assert getattr(config, name) == value, (option, name)


@pytest.mark.parametrize("option", sorted(UVICORN_054))
def test_uvicorn_option_has_a_behaviour_test(option: str) -> None:
    module_name, test_name = UVICORN_054[option][2].split("::")
    candidates = [
        f"tests.{package}.{module_name}" for package in ("server", "websocket", "integration")
    ]
    for candidate in candidates:
        try:
            module = importlib.import_module(candidate)
        except ModuleNotFoundError:
            continue
        assert callable(getattr(module, test_name, None)), f"{option}: {module_name}::{test_name}"
        return
    pytest.fail(f"{option}: no module {module_name}")


def test_list_matches_the_installed_uvicorn() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    from uvicorn.main import main as uvicorn_main

    theirs = {opt for param in uvicorn_main.params for opt in param.opts if opt.startswith("--")}
    theirs.add("--help")
    if uvicorn.__version__ == "0.54.0":
        assert theirs == set(UVICORN_054)
    # Whatever the installed version, each of its options must parse here.
    ours = build_parser()
    known = {s for action in ours._actions for s in action.option_strings}
    missing = {
        opt for opt in theirs if opt not in known and opt.replace("--no-", "--") not in known
    }
    assert not missing, sorted(missing)


def test_help_is_grouped_without_noise() -> None:
    text = build_parser().format_help()
    for group in (
        "Application:",
        "Socket:",
        "HTTP:",
        "WebSocket:",
        "TLS:",
        "Workers:",
        "Reload:",
        "Logging:",
        "Limits:",
        "Timeouts:",
    ):
        assert f"\n{group}\n" in text, group
    assert "(default: None)" not in text and "[default: None]" not in text
    assert "[default: 8000]" in text and "[default: 127.0.0.1]" in text
    # Defaults shown come from Config (written once).
    assert f"[default: {Config(app='m:a').backlog}]" in text


def test_ws_per_message_deflate_spellings() -> None:
    def parsed(*argv: str) -> bool:
        return resolve(build_parser().parse_args(["m:app", *argv]))[0].ws_per_message_deflate

    assert parsed() is True
    assert parsed("--ws-per-message-deflate", "false") is False
    assert parsed("--ws-per-message-deflate", "True") is True
    assert parsed("--ws-per-message-deflate") is True
    assert parsed("--no-ws-per-message-deflate") is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["m:app", "--ws-per-message-deflate", "maybe"])


def test_backlog_reaches_listen(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from asgi_magic.server._sockets import bind_sockets

    backlogs: list[int] = []

    class Recording(socket.socket):
        def listen(self, backlog: int = 0) -> None:
            backlogs.append(backlog)
            super().listen(backlog)

    monkeypatch.setattr(socket, "socket", Recording)
    for sock in bind_sockets(Config(app="m:a", port=0, backlog=7)):
        sock.close()
    assert backlogs == [7]


def test_no_access_log_silences_the_access_logger() -> None:
    import logging

    from asgi_magic.server.logging import ACCESS_LOGGER, set_levels

    access = logging.getLogger(ACCESS_LOGGER)
    before = access.level
    try:
        set_levels("info", access_log=False)
        assert not access.isEnabledFor(logging.CRITICAL)
        set_levels("info", access_log=True)
        assert access.isEnabledFor(logging.INFO)
    finally:
        access.setLevel(before)
