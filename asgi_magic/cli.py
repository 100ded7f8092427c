"""The ``asgi-magic`` command: uvicorn's flag names, one ``Config``, one-line errors.

Exit codes: 0 after a clean shutdown, 1 when the app cannot be loaded or the socket
cannot be bound, 2 for bad flags or values (argparse's convention), 3 when the
lifespan startup fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from asgi_magic.config import Config

__all__ = ["build_parser", "config_from_args", "main", "run_config"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the user sees what is wrong at a glance.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
        if value < minimum:
            rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise argparse.ArgumentTypeError(f"{rule}: {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, got {text!r}")
    return (name, value.strip())


def _forwarded_allow_ips(text: str) -> str:
    from asgi_magic.server.proxy_headers import ProxyTrust

    try:
        ProxyTrust(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _web_concurrency() -> int | None:
    # As uvicorn: platforms such as Heroku say how many processes fit.
    value = os.environ.get("WEB_CONCURRENCY", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def build_parser() -> argparse.ArgumentParser:
    from asgi_magic import __version__

    p = _Parser(
        prog="asgi-magic",
        description="Serve an ASGI application with asgi_magic.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("app", help="the application as module:attribute")
    p.add_argument("--version", action="version", version=f"asgi-magic {__version__}")
    a = p.add_argument
    a("--host", default="127.0.0.1", help="bind to this address")
    a("--port", type=_port, default=8000, help="bind to this port (0: any free port)")
    a("--uds", default=None, help="bind to a UNIX domain socket")
    a("--fd", type=_non_negative_int, default=None, help="serve on an inherited socket fd")
    a("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="event loop")
    a("--lifespan", choices=["auto", "on", "off"], default="auto", help="lifespan protocol")
    a(
        "--interface",
        choices=["auto", "asgi3", "asgi2"],
        default="auto",
        help="application interface",
    )
    a("--root-path", default="", help="ASGI root_path for an app mounted below /")
    a(
        "--limit-concurrency",
        type=_positive_int,
        default=None,
        help="answer 503 above this many connections or tasks",
    )
    a(
        "--limit-max-requests",
        type=_positive_int,
        default=None,
        help="exit after serving this many requests",
    )
    a("--backlog", type=_positive_int, default=2048, help="listen() backlog")
    a(
        "--timeout-keep-alive",
        type=_seconds,
        default=5.0,
        help="close idle keep-alive connections after this many seconds",
    )
    a(
        "--timeout-request-head",
        type=_seconds,
        default=10.0,
        help="answer 408 when a request head takes longer than this",
    )
    a(
        "--timeout-graceful-shutdown",
        type=_seconds,
        default=30.0,
        help="on shutdown, wait this long for in-flight requests",
    )
    a(
        "--limit-request-line",
        type=_positive_int,
        default=8192,
        help="longest request-line in bytes (414 above)",
    )
    a(
        "--limit-request-head",
        type=_positive_int,
        default=65536,
        help="largest request head in bytes (431 above)",
    )
    a(
        "--limit-request-fields",
        type=_positive_int,
        default=100,
        help="most header fields per request (431 above)",
    )
    a(
        "--limit-request-body",
        type=_non_negative_int,
        default=None,
        help="largest request body in bytes (413 above); default: unlimited",
    )
    a(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        default="info",
        help="log level",
    )
    a(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log one line per response",
    )
    a(
        "--server-header",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send 'server: asgi-magic'",
    )
    a(
        "--date-header",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send a Date header",
    )
    a(
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="add a header to every response (repeatable)",
    )
    a("--factory", action="store_true", help="the app is a factory: call it")
    a("--app-dir", default=".", help="look for the app module in this directory")
    a("--env-file", default=None, help="load environment variables from this file")
    a("--ws", choices=["auto", "none"], default="auto", help="WebSocket support")
    a(
        "--ws-max-size",
        type=_positive_int,
        default=16 * 1024 * 1024,
        help="largest WebSocket message in bytes",
    )
    a(
        "--ws-max-queue",
        type=_positive_int,
        default=32,
        help="WebSocket messages queued before reading pauses",
    )
    a("--ws-ping-interval", type=_seconds, default=20.0, help="WebSocket ping interval")
    a("--ws-ping-timeout", type=_seconds, default=20.0, help="WebSocket ping timeout")
    a(
        "--ws-per-message-deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="offer permessage-deflate (RFC 7692)",
    )
    a("--ssl-keyfile", default=None, help="TLS private key file")
    a("--ssl-certfile", default=None, help="TLS certificate chain file")
    a("--ssl-keyfile-password", default=None, help="password of the TLS key")
    a("--ssl-ca-certs", default=None, help="CA bundle to verify client certificates")
    a(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="take client address and scheme from X-Forwarded-For/-Proto and Forwarded "
        "when the peer is in --forwarded-allow-ips",
    )
    a(
        "--forwarded-allow-ips",
        type=_forwarded_allow_ips,
        default=None,
        help="comma-separated IPs, CIDR networks, 'unix:' or '*' trusted to send proxy "
        "headers; default: $FORWARDED_ALLOW_IPS, else 127.0.0.1",
    )
    a(
        "--workers",
        type=_positive_int,
        default=_web_concurrency(),
        help="number of worker processes (default: $WEB_CONCURRENCY, else 1)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    values: dict[str, Any] = dict(vars(args))
    return Config(**values)


def _load_env_file(path: str) -> None:
    """KEY=VALUE lines; ``#`` comments, ``export`` prefixes and quotes are allowed."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[7:].lstrip()
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not key:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            os.environ.setdefault(key, value)


def run_config(config: Config) -> None:
    """Configure logging, pick the loop, serve until a signal; exit with a status code."""
    from asgi_magic.importer import ImportFromStringError
    from asgi_magic.server import Server, load_app
    from asgi_magic.server.logging import configure_logging
    from asgi_magic.server.loops import loop_factory

    configure_logging(config.log_level, config.access_log)
    if config.env_file is not None:
        try:
            _load_env_file(config.env_file)
        except OSError as exc:
            sys.stderr.write(f"Error loading env file: {exc}\n")
            sys.exit(1)
    try:
        factory = loop_factory(config.loop)
    except ImportError:
        sys.stderr.write("Error: --loop uvloop given but uvloop is not installed\n")
        sys.exit(1)
    if config.workers is not None and config.workers > 1:
        # The supervisor binds once and runs the server in worker processes.
        from asgi_magic.server.supervisor import run_supervisor

        code = run_supervisor(config)
        if code:
            sys.exit(code)
        return
    # Import the app before the loop starts so an import error is one clean line.
    try:
        config.app = load_app(config)
    except ImportFromStringError as exc:
        sys.stderr.write(f"Error loading ASGI app. {exc}\n")
        sys.exit(1)
    except Exception as exc:
        sys.stderr.write(f"Error loading ASGI app. {type(exc).__name__}: {exc}\n")
        sys.exit(1)
    from asgi_magic._extensions import log_build_info

    log_build_info()  # one startup line: which build (compiled or pure Python) runs
    # load_app has already applied --factory and the interface adapter.
    config.factory = False
    config.interface = "asgi3"
    server = Server(config)
    try:
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(server.serve())
        else:  # pragma: no cover - Python 3.10 has no Runner
            loop = factory()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(server.serve())
            finally:
                loop.close()
    except KeyboardInterrupt:
        pass
    if server.exit_code:
        sys.exit(server.exit_code)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_config(config_from_args(args))
