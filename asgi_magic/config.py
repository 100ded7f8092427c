"""The one ``Config`` object, and the table of settings every other source derives from.

``Config`` holds the defaults (written once, as dataclass field defaults) and validates
every value it is given: ``Config(app, lifespan="bogus")`` raises ``ConfigError``.

``SETTINGS`` describes each setting once (its flag, help group, type and help text).
From it come the ``asgi-magic`` command's parser (``cli.build_parser``), the
``ASGI_MAGIC_*`` / ``UVICORN_*`` environment variables (``values_from_env``), the TOML
file reader (``values_from_toml``) and the documentation table (``settings_table()``).
Field names match uvicorn's where a setting means the same thing, so
``asgi_magic.run(app, **uvicorn_kwargs)`` works.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import os
import re
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

__all__ = [
    "ENV_PREFIX",
    "SETTINGS",
    "UVICORN_ENV_PREFIX",
    "Config",
    "ConfigError",
    "Setting",
    "parse_bool",
    "settings_markdown",
    "settings_table",
    "usage_error",
    "values_from_env",
    "values_from_toml",
]

LoopSetting = Literal["auto", "uvloop", "asyncio", "zuvloop", "none"]
LifespanSetting = Literal["auto", "on", "off"]
WSSetting = Literal["auto", "websockets", "websockets-sansio", "wsproto", "none"]
HTTPSetting = Literal["auto", "h11", "httptools", "zttp"]
InterfaceSetting = Literal["auto", "asgi3", "asgi2", "wsgi"]

ENV_PREFIX = "ASGI_MAGIC_"
UVICORN_ENV_PREFIX = "UVICORN_"

# --- Limits (each one settable by a flag of the same name) -----------------------------
# RFC 9112 §3: a server that receives a request-target longer than it wishes to parse
# MUST respond 414; 8 KiB is the common floor (RFC 9110 §4.1 recommends supporting at
# least 8000 octets of request-line).
DEFAULT_LIMIT_REQUEST_LINE = 8192
# RFC 6585 §5: 431 when the header section is too large.
DEFAULT_LIMIT_REQUEST_HEAD = 64 * 1024
DEFAULT_LIMIT_REQUEST_FIELDS = 100
# Seconds a client may take to send a whole request head (slowloris defence).
DEFAULT_TIMEOUT_REQUEST_HEAD = 10.0
DEFAULT_TIMEOUT_KEEP_ALIVE = 5.0
# Seconds without a request body byte while the app waits for one (nginx's
# client_body_timeout is 60 s, Apache's mod_reqtimeout 20 s).
DEFAULT_TIMEOUT_REQUEST_BODY = 30.0
# Seconds a client may take to complete the TLS handshake (a half-open TLS connection
# would otherwise hold a socket and its buffers forever).
DEFAULT_TIMEOUT_SSL_HANDSHAKE = 10.0
DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024
# HTTP/2 (docs/server/http2.md). RFC 9113 §6.5.2 leaves concurrency unlimited by
# default; 100 is what RFC 9113 §5.1.2 recommends as the minimum to allow.
DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS = 100
DEFAULT_HTTP2_MAX_HEADER_LIST_SIZE = 64 * 1024
DEFAULT_HTTP2_MAX_FRAME_SIZE = 16384  # RFC 9113 §6.5.2: the initial value
DEFAULT_HTTP2_INITIAL_WINDOW_SIZE = 65535  # RFC 9113 §6.5.2: the initial value
# Per 10 s: client resets of streams still running (rapid reset, CVE-2023-44487) and
# control frames (SETTINGS, PING, PRIORITY, unknown, empty DATA).
DEFAULT_HTTP2_MAX_RESETS = 200
DEFAULT_HTTP2_MAX_CONTROL_FRAMES = 1000
DEFAULT_HTTP2_WINDOW_TIMEOUT = 30.0
DEFAULT_WS_MAX_QUEUE = 32
# Threads that run a WSGI app (--interface wsgi): a WSGI request holds its thread
# until the response is sent, so this bounds concurrent WSGI requests per worker.
DEFAULT_WSGI_THREADS = 40

LOG_LEVEL_NAMES = ("critical", "error", "warning", "info", "debug", "trace")


class ConfigError(ValueError):
    """A setting has a value it cannot take; the message names the setting."""


def usage_error(message: str) -> NoReturn:
    """Stop the command: ``asgi-magic: error: MESSAGE`` on stderr, exit status 2.

    The one form of every mistake in what the command was given (a flag, a variable,
    a ``--config`` key, a file or directory a flag names), as argparse's own errors.
    """
    sys.stderr.write(f"asgi-magic: error: {message}\n")
    raise SystemExit(2)


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case), as click reads booleans."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "t", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false, 1/0, yes/no, on/off), got {text!r}")


# RFC 9110 §5.1: a field name is a token; §5.5: a field value has no CR, LF or NUL
# (and no other control but HTAB). Checked here so a --header can never split a
# response, whichever source it came from.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _check_header(name: str, value: str) -> tuple[str, str]:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"header name {name!r} is not a token (RFC 9110 §5.1)")
    if _BAD_VALUE.search(value):
        raise ValueError(f"header {name} value has control characters (RFC 9110 §5.5)")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header {name} value is not Latin-1") from None
    return (name, value)


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip(" \t")
    if not sep or not name:
        raise ValueError(f"expected NAME:VALUE, got {text!r}")
    return _check_header(name, value.strip(" \t"))


@dataclass(frozen=True)
class Setting:
    """One setting: the ``Config`` field, how it is spelled and parsed everywhere.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool`` (``--x/--no-x``), ``flag``
    (``--x`` alone), ``choice``, ``list`` (repeatable flag), ``headers``.
    """

    name: str
    group: str
    help: str
    kind: str = "str"
    flag: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    metavar: str | None = None
    nullable: bool = False
    env: bool = True
    cli: bool = True

    @property
    def option(self) -> str:
        """The command-line spelling, ``--limit-request-body``."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def env_names(self) -> tuple[str, str]:
        """``(ASGI_MAGIC_X, UVICORN_X)``: uvicorn's click names its variables by field."""
        upper = self.name.upper()
        return (ENV_PREFIX + upper, UVICORN_ENV_PREFIX + upper)

    @property
    def default(self) -> Any:
        """The default, read from the ``Config`` field (the one place it is written)."""
        spec = _FIELDS[self.name]
        if spec.default_factory is not dataclasses.MISSING:
            return spec.default_factory()
        return spec.default

    def parse(self, text: str) -> Any:
        """Turn one string (a flag's argument, an env variable) into a value.

        Raises ``ValueError`` with a short reason.
        """
        if self.kind == "int":
            if self.nullable and text.strip().lower() in ("", "none"):
                return None
            try:
                value: Any = int(text)
            except ValueError:
                raise ValueError(f"invalid integer: {text!r}") from None
        elif self.kind == "float":
            if self.nullable and text.strip().lower() in ("", "none"):
                return None
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"invalid number: {text!r}") from None
        elif self.kind in ("bool", "flag"):
            value = parse_bool(text)
        elif self.kind == "headers":
            return _parse_header(text)  # one item; the flag repeats
        elif self.kind == "list":
            return text  # one item; the flag repeats
        elif self.name == "log_level" and text.strip().isdigit():
            value = int(text)
        else:
            value = text
        return self.check(value)

    def parse_many(self, text: str) -> Any:
        """An environment variable: lists are whitespace-separated (as click splits
        them), headers one per line; anything else is one value."""
        if self.kind == "list":
            return text.split()
        if self.kind == "headers":
            return [self.parse(line) for line in text.splitlines() if line.strip()]
        return self.parse(text)

    def check(self, value: Any) -> Any:
        """Validate (and normalise) a typed value; raise ``ValueError`` if it is wrong."""
        if value is None:
            if self.kind in ("list", "headers"):
                return []  # uvicorn.run(headers=None, reload_dirs=None)
            if self.nullable:
                return None
            raise ValueError("must not be None")
        kind = self.kind
        if self.name == "log_level":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in LOG_LEVEL_NAMES:
                return value.lower()
            raise ValueError(f"must be one of {', '.join(LOG_LEVEL_NAMES)} or an int")
        if kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{value!r} is not one of {', '.join(self.choices)}")
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be an integer, got {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum:g}, got {value}")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"must be finite, got {value}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum:g}, got {value:g}")
        elif kind in ("bool", "flag"):
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {value!r}")
        elif kind == "list":
            if isinstance(value, (str, os.PathLike)):
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"must be a list of strings, got {value!r}")
            value = [os.fspath(item) for item in value]
        elif kind == "headers":
            out: list[tuple[str, str]] = []
            for item in value:
                if isinstance(item, str):
                    item = _parse_header(item)
                if not (isinstance(item, (list, tuple)) and len(item) == 2):
                    raise ValueError(f"expected (name, value) pairs, got {item!r}")
                out.append(_check_header(str(item[0]), str(item[1])))
            value = out
        elif kind == "str":
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {value!r}")
        return value


# --- the Config object -----------------------------------------------------------------


@dataclass
class Config:
    """Every setting of the server; see ``SETTINGS`` (or ``docs/configuration.md``).

    Raises ``ConfigError`` (a ``ValueError``) naming the first bad setting.
    """

    app: Any
    """An ASGI application, or an import string ``"module:attr"``."""
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    loop: LoopSetting = "auto"
    http: HTTPSetting = "auto"
    lifespan: LifespanSetting = "auto"
    interface: InterfaceSetting = "auto"
    """``auto`` detects ASGI 3, ASGI 2 and WSGI (2-argument) callables."""
    wsgi_threads: int = DEFAULT_WSGI_THREADS
    """Size of the thread pool that runs a WSGI app."""
    factory: bool = False
    app_dir: str | None = "."
    env_file: str | None = None
    root_path: str = ""
    reset_contextvars: bool = False

    # reload (server/reload.py)
    reload: bool = False
    reload_dirs: list[str] = field(default_factory=list)
    reload_includes: list[str] = field(default_factory=list)
    reload_excludes: list[str] = field(default_factory=list)
    reload_delay: float = 0.25

    # logging
    log_config: dict[str, Any] | str | None = None
    log_level: str | int | None = None
    """None: ``info``, unless ``log_config`` sets the levels."""
    access_log: bool = True
    access_log_format: str | None = None
    """None: the default line; ``"json"``; or gunicorn atoms (server/access_log.py)."""
    use_colors: bool | None = None

    # response headers added by the server
    server_header: bool = True
    date_header: bool = True
    headers: list[tuple[str, str]] = field(default_factory=list)

    # connection behaviour
    backlog: int = 2048
    limit_concurrency: int | None = None
    limit_max_requests: int | None = None
    limit_max_requests_jitter: int = 0
    timeout_keep_alive: float = DEFAULT_TIMEOUT_KEEP_ALIVE
    timeout_request_head: float = DEFAULT_TIMEOUT_REQUEST_HEAD
    timeout_graceful_shutdown: float | None = 30.0
    # Slow request bodies (docs/server/timeouts.md): 408 after this long without a body
    # byte while the app waits for one (0/None: off) ...
    timeout_request_body: float | None = DEFAULT_TIMEOUT_REQUEST_BODY
    # ... or when, after the grace period of waiting, the body arrives slower than this
    # many bytes per second (None: off).
    min_request_body_rate: float | None = None
    min_request_body_rate_grace: float = 5.0
    # 503 and cancel when the app has not started a response after this long (None: off).
    timeout_app: float | None = None
    # A path the server answers itself (200 serving, 503 draining); None: off.
    health_path: str | None = None
    # Seconds between the shutdown signal and closing the listeners, while the health
    # path answers 503 (0: close at once).
    shutdown_delay: float = 0.0
    timeout_worker_healthcheck: float = 5.0

    # HTTP/1.1 limits, passed to http11.Limits
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_head: int = DEFAULT_LIMIT_REQUEST_HEAD
    limit_request_fields: int = DEFAULT_LIMIT_REQUEST_FIELDS
    limit_request_body: int | None = None
    h11_max_incomplete_event_size: int | None = None
    """uvicorn's name for the head limit: when set, it replaces ``limit_request_head``."""

    # WebSocket
    ws: WSSetting = "auto"
    ws_max_size: int = DEFAULT_WS_MAX_SIZE
    ws_max_queue: int = DEFAULT_WS_MAX_QUEUE
    ws_ping_interval: float | None = 20.0
    ws_ping_timeout: float | None = 20.0
    ws_per_message_deflate: bool = True

    # TLS (stdlib ssl); the scope then says https/wss
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile_password: str | None = None
    ssl_version: int = int(ssl.PROTOCOL_TLS_SERVER)
    ssl_cert_reqs: int = int(ssl.CERT_NONE)
    ssl_ca_certs: str | None = None
    timeout_ssl_handshake: float = DEFAULT_TIMEOUT_SSL_HANDSHAKE
    ssl_ciphers: str | None = None
    ssl_context_factory: Callable[..., ssl.SSLContext] | None = None
    """uvicorn's hook: ``factory(config, default_factory) -> SSLContext``."""

    # HTTP/2 (server/h2_protocol.py): None means on when the h2 package is installed
    # (ALPN "h2" over TLS, the cleartext preface otherwise).
    http2: bool | None = None
    http2_max_concurrent_streams: int = DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS
    http2_max_header_list_size: int = DEFAULT_HTTP2_MAX_HEADER_LIST_SIZE
    http2_max_frame_size: int = DEFAULT_HTTP2_MAX_FRAME_SIZE
    http2_initial_window_size: int = DEFAULT_HTTP2_INITIAL_WINDOW_SIZE
    http2_max_resets: int = DEFAULT_HTTP2_MAX_RESETS
    http2_max_control_frames: int = DEFAULT_HTTP2_MAX_CONTROL_FRAMES
    http2_window_timeout: float = DEFAULT_HTTP2_WINDOW_TIMEOUT

    # processes
    workers: int | None = None

    # proxy headers (server/proxy_headers.py): rewrite client/scheme from
    # X-Forwarded-For/-Proto and RFC 7239 Forwarded, only for a trusted peer.
    proxy_headers: bool = True
    forwarded_allow_ips: list[str] | str | None = None
    """IPs, CIDR networks, ``*`` or ``unix:``; None: $FORWARDED_ALLOW_IPS else 127.0.0.1."""
    # Every connection starts with a PROXY protocol v1/v2 preamble (HAProxy, AWS NLB);
    # accepted only from --forwarded-allow-ips, anything else is closed.
    proxy_protocol: bool = False

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            if setting.name in _NOT_CHECKED:
                continue
            try:
                value = setting.check(getattr(self, setting.name))
            except ValueError as exc:
                raise ConfigError(f"{setting.name} ({setting.option}): {exc}") from None
            setattr(self, setting.name, value)
        if not (isinstance(self.port, int) and 0 <= self.port <= 65535):
            raise ConfigError(f"port (--port): out of range 0-65535: {self.port!r}")
        if self.log_config is not None and not isinstance(self.log_config, (dict, str)):
            if isinstance(self.log_config, os.PathLike):
                self.log_config = os.fspath(self.log_config)
            else:
                raise ConfigError("log_config: must be a dict or a file path")
        if self.h11_max_incomplete_event_size is not None:
            self.limit_request_head = self.h11_max_incomplete_event_size
        # A key without its certificate would otherwise serve plain HTTP to clients that
        # expect TLS. (A certificate file alone is fine when it holds the key too; the
        # TLS setup says so when it does not.)
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError(
                "--ssl-keyfile given without --ssl-certfile: TLS needs the certificate too"
            )
        if self.ssl_cert_reqs not in (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED):
            raise ConfigError(
                f"ssl_cert_reqs (--ssl-cert-reqs): must be 0 (none), 1 (optional) or "
                f"2 (required), got {self.ssl_cert_reqs}"
            )
        if self.ssl_cert_reqs != ssl.CERT_NONE and not self.ssl_ca_certs:
            raise ConfigError(
                "--ssl-cert-reqs asks for client certificates: give --ssl-ca-certs, "
                "the CA bundle that signs them"
            )
        if self.health_path is not None and not _HEALTH_PATH.fullmatch(self.health_path):
            # Compared with the raw request path: an origin-form path of visible ASCII.
            raise ConfigError(
                f"health_path (--health-path): expected a path such as /healthz, "
                f"got {self.health_path!r}"
            )
        # RFC 9113 §6.5.2: the largest frame size a peer may advertise, and the largest
        # flow-control window (§6.9.1).
        if self.http2_max_frame_size > 16_777_215:
            raise ConfigError(
                "http2_max_frame_size (--http2-max-frame-size): at most 16777215 "
                f"(RFC 9113 §6.5.2), got {self.http2_max_frame_size}"
            )
        if self.http2_initial_window_size > 2**31 - 1:
            raise ConfigError(
                "http2_initial_window_size (--http2-initial-window-size): at most 2147483647 "
                f"(RFC 9113 §6.9.1), got {self.http2_initial_window_size}"
            )
        if self.reload and self.workers is not None and self.workers > 1:
            raise ConfigError(
                "--reload and --workers cannot be used together: reload runs one worker "
                "and restarts it on change; drop one of the two"
            )


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# Fields whose check needs more than the table: validated in __post_init__ itself.
# RFC 3986 §3.3 path characters, without "%" (compared raw, never decoded).
_HEALTH_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
_NOT_CHECKED = frozenset({"port", "log_config", "forwarded_allow_ips"})


# --- the table ---------------------------------------------------------------------------

APP, SOCKET, HTTP, WS, TLS, WORKERS, RELOAD, LOGGING, LIMITS, TIMEOUTS, CONFIG = (
    "Application",
    "Socket",
    "HTTP",
    "WebSocket",
    "TLS",
    "Workers",
    "Reload",
    "Logging",
    "Limits",
    "Timeouts",
    "Configuration sources",
)
GROUPS = (APP, SOCKET, HTTP, WS, TLS, WORKERS, RELOAD, LOGGING, LIMITS, TIMEOUTS, CONFIG)


def _s(name: str, group: str, help: str, kind: str = "str", **kw: Any) -> Setting:
    return Setting(name=name, group=group, help=help, kind=kind, **kw)


SETTINGS: tuple[Setting, ...] = (
    # application
    _s("factory", APP, "treat APP as a factory: call it with no arguments", "flag"),
    _s("app_dir", APP, "look for APP's module in this directory", nullable=True, metavar="DIR"),
    _s(
        "interface",
        APP,
        "application interface (auto detects ASGI 2, ASGI 3 and WSGI)",
        "choice",
        choices=("auto", "asgi3", "asgi2", "wsgi"),
    ),
    _s(
        "wsgi_threads",
        APP,
        "threads that run a WSGI app (--interface wsgi): at most this many WSGI "
        "requests at once per worker",
        "int",
        minimum=1,
        metavar="N",
    ),
    _s("lifespan", APP, "lifespan protocol", "choice", choices=("auto", "on", "off")),
    _s("root_path", APP, "ASGI root_path for an app mounted below /", metavar="PATH"),
    _s(
        "reset_contextvars",
        APP,
        "run each request in a fresh contextvars context (hides context set in the lifespan)",
        "flag",
    ),
    _s(
        "loop",
        APP,
        "event loop (zuvloop: uvloop when installed; none: asyncio)",
        "choice",
        choices=("auto", "asyncio", "uvloop", "zuvloop", "none"),
    ),
    # socket
    _s("host", SOCKET, "bind to this address", metavar="ADDRESS"),
    _s("port", SOCKET, "bind to this port (0: any free port)", "int", minimum=0),
    _s("uds", SOCKET, "bind to a UNIX domain socket", nullable=True, metavar="PATH"),
    _s("fd", SOCKET, "serve on an inherited socket fd", "int", minimum=0, nullable=True),
    _s("backlog", SOCKET, "listen() backlog", "int", minimum=1),
    # HTTP
    _s(
        "http",
        HTTP,
        "accepted for uvicorn compatibility: always asgi_magic's own HTTP/1.1 parser",
        "choice",
        choices=("auto", "h11", "httptools", "zttp"),
    ),
    _s(
        "http2",
        HTTP,
        "serve HTTP/2 (ALPN h2 over TLS, the connection preface in cleartext); "
        "default: on when the h2 package (the http2 extra) is installed",
        "bool",
        nullable=True,
    ),
    _s(
        "http2_max_concurrent_streams",
        HTTP,
        "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, and running apps per connection",
        "int",
        minimum=1,
        metavar="N",
    ),
    _s(
        "http2_max_header_list_size",
        HTTP,
        "HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE: largest decoded header list, in bytes",
        "int",
        minimum=1024,
        metavar="BYTES",
    ),
    _s(
        "http2_max_frame_size",
        HTTP,
        "HTTP/2 SETTINGS_MAX_FRAME_SIZE: largest frame accepted, 16384 to 16777215 bytes",
        "int",
        minimum=16384,
        metavar="BYTES",
    ),
    _s(
        "http2_initial_window_size",
        HTTP,
        "HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE: request body a stream may send unread, bytes",
        "int",
        minimum=1,
        metavar="BYTES",
    ),
    _s(
        "http2_max_resets",
        HTTP,
        "HTTP/2 client stream resets per 10 s before GOAWAY ENHANCE_YOUR_CALM",
        "int",
        minimum=1,
        metavar="N",
    ),
    _s(
        "http2_max_control_frames",
        HTTP,
        "HTTP/2 SETTINGS, PING, PRIORITY and empty frames per 10 s before ENHANCE_YOUR_CALM",
        "int",
        minimum=1,
        metavar="N",
    ),
    _s(
        "http2_window_timeout",
        HTTP,
        "reset an HTTP/2 stream whose flow-control window stays shut this long, seconds",
        "float",
        minimum=0,
        metavar="SECONDS",
    ),
    _s("server_header", HTTP, "send 'server: asgi-magic'", "bool"),
    _s("date_header", HTTP, "send a Date header", "bool"),
    _s(
        "headers",
        HTTP,
        "add a header to every response (repeatable)",
        "headers",
        flag="--header",
        metavar="NAME:VALUE",
    ),
    _s(
        "proxy_headers",
        HTTP,
        "take client address and scheme from X-Forwarded-For/-Proto and Forwarded "
        "when the peer is in --forwarded-allow-ips",
        "bool",
    ),
    _s(
        "forwarded_allow_ips",
        HTTP,
        "comma-separated IPs, CIDR networks, 'unix:' or '*' trusted to send proxy "
        "headers (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)",
        nullable=True,
        metavar="IPS",
    ),
    _s(
        "proxy_protocol",
        HTTP,
        "expect a PROXY protocol v1/v2 preamble on every connection, from "
        "--forwarded-allow-ips only (HAProxy, AWS NLB; not with TLS)",
        "flag",
    ),
    _s(
        "health_path",
        HTTP,
        "answer GET/HEAD on this path in the server, without the app: 200 while serving, "
        "503 once shutting down (default: off)",
        nullable=True,
        metavar="PATH",
    ),
    # WebSocket
    _s(
        "ws",
        WS,
        "WebSocket support: 'none' turns it off; any other value means asgi_magic's own",
        "choice",
        choices=("auto", "websockets", "websockets-sansio", "wsproto", "none"),
    ),
    _s("ws_max_size", WS, "largest WebSocket message in bytes", "int", minimum=1, metavar="BYTES"),
    _s("ws_max_queue", WS, "WebSocket messages queued before reading pauses", "int", minimum=1),
    _s(
        "ws_ping_interval",
        WS,
        "seconds between WebSocket pings",
        "float",
        minimum=0,
        nullable=True,
    ),
    _s(
        "ws_ping_timeout",
        WS,
        "seconds to wait for a pong before closing",
        "float",
        minimum=0,
        nullable=True,
    ),
    _s(
        "ws_per_message_deflate",
        WS,
        "offer permessage-deflate (RFC 7692); takes an optional BOOL as uvicorn does",
        "bool",
    ),
    # TLS
    _s("ssl_keyfile", TLS, "TLS private key file", nullable=True, metavar="FILE"),
    _s("ssl_certfile", TLS, "TLS certificate chain file", nullable=True, metavar="FILE"),
    _s("ssl_keyfile_password", TLS, "password of the TLS key", nullable=True),
    _s(
        "ssl_version",
        TLS,
        "stdlib ssl protocol number: 17 or 2 (any TLS >= 1.2), 5 (TLS 1.2 only)",
        "int",
        minimum=0,
    ),
    _s(
        "ssl_cert_reqs",
        TLS,
        "client certificates: 0 none, 1 optional, 2 required (needs --ssl-ca-certs)",
        "int",
        minimum=0,
    ),
    _s("ssl_ca_certs", TLS, "CA bundle that signs client certificates", nullable=True),
    _s(
        "ssl_ciphers",
        TLS,
        "OpenSSL cipher string (default: OpenSSL's)",
        nullable=True,
        metavar="CIPHERS",
    ),
    _s(
        "timeout_ssl_handshake",
        TLS,
        "drop a connection whose TLS handshake takes longer than this many seconds "
        "(0: asyncio's 60 s)",
        "float",
        minimum=0,
    ),
    # workers
    _s(
        "workers",
        WORKERS,
        "worker processes (default: $WEB_CONCURRENCY, else 1); not with --reload",
        "int",
        minimum=1,
        nullable=True,
    ),
    _s(
        "timeout_worker_healthcheck",
        WORKERS,
        "seconds a worker's event loop may stay unresponsive before it is replaced",
        "float",
        minimum=0.1,
    ),
    # reload
    _s("reload", RELOAD, "restart the server when a watched file changes", "flag"),
    _s(
        "reload_dirs",
        RELOAD,
        "directory to watch (repeatable; default: the current directory)",
        "list",
        flag="--reload-dir",
        metavar="DIR",
    ),
    _s(
        "reload_includes",
        RELOAD,
        "glob of files to watch, besides *.py (repeatable)",
        "list",
        flag="--reload-include",
        metavar="GLOB",
    ),
    _s(
        "reload_excludes",
        RELOAD,
        "glob of files to ignore, besides .*, .py[cod], .sw.*, ~* (repeatable)",
        "list",
        flag="--reload-exclude",
        metavar="GLOB",
    ),
    _s(
        "reload_delay",
        RELOAD,
        "seconds between checks; changes within it are one restart",
        "float",
        minimum=0,
    ),
    # logging
    _s(
        "log_config",
        LOGGING,
        "logging configuration file: .json, .yaml/.yml (dictConfig) or .ini (fileConfig)",
        nullable=True,
        metavar="FILE",
    ),
    _s(
        "log_level",
        LOGGING,
        "log level (default: info, unless --log-config sets the levels)",
        "choice",
        choices=LOG_LEVEL_NAMES,
        nullable=True,
    ),
    _s("access_log", LOGGING, "log one line per response", "bool"),
    _s(
        "access_log_format",
        LOGGING,
        'access-log line: a format of gunicorn\'s atoms (docs: access log), or "json"',
        nullable=True,
        metavar="FORMAT",
    ),
    _s(
        "use_colors",
        LOGGING,
        "colour the log level names (default: only on a terminal)",
        "bool",
        nullable=True,
    ),
    # limits
    _s(
        "limit_concurrency",
        LIMITS,
        "answer 503 above this many connections or tasks",
        "int",
        minimum=1,
        nullable=True,
    ),
    _s(
        "limit_max_requests",
        LIMITS,
        "exit after serving this many requests (workers are replaced)",
        "int",
        minimum=1,
        nullable=True,
    ),
    _s(
        "limit_max_requests_jitter",
        LIMITS,
        "add a random 0..N to --limit-max-requests per process, so workers restart apart",
        "int",
        minimum=0,
    ),
    _s("limit_request_line", LIMITS, "longest request-line in bytes (414 above)", "int", minimum=1),
    _s("limit_request_head", LIMITS, "largest request head in bytes (431 above)", "int", minimum=1),
    _s(
        "h11_max_incomplete_event_size",
        LIMITS,
        "uvicorn's name for --limit-request-head (replaces it when given)",
        "int",
        minimum=1,
        nullable=True,
    ),
    _s(
        "limit_request_fields",
        LIMITS,
        "most header fields per request (431 above)",
        "int",
        minimum=1,
    ),
    _s(
        "limit_request_body",
        LIMITS,
        "largest request body in bytes (413 above; default: unlimited)",
        "int",
        minimum=0,
        nullable=True,
    ),
    # timeouts
    _s(
        "timeout_keep_alive",
        TIMEOUTS,
        "close idle keep-alive connections after this many seconds (HTTP/1.1 and HTTP/2)",
        "float",
        minimum=0,
    ),
    _s(
        "timeout_request_head",
        TIMEOUTS,
        "answer 408 when a request head takes longer than this many seconds (HTTP/2: the "
        "client preface)",
        "float",
        minimum=0,
    ),
    _s(
        "timeout_graceful_shutdown",
        TIMEOUTS,
        "on shutdown, wait this many seconds for in-flight requests",
        "float",
        minimum=0,
        nullable=True,
    ),
    _s(
        "timeout_request_body",
        TIMEOUTS,
        "answer 408 when a request body sends nothing for this many seconds while the app "
        "waits for it (0: off; HTTP/1.1 and, per stream, HTTP/2)",
        "float",
        minimum=0,
        nullable=True,
    ),
    _s(
        "min_request_body_rate",
        TIMEOUTS,
        "answer 408 when a request body arrives slower than this many bytes per second of "
        "waiting (default: off; HTTP/1.1 and, per stream, HTTP/2)",
        "float",
        minimum=0,
        nullable=True,
        metavar="BYTES_PER_S",
    ),
    _s(
        "min_request_body_rate_grace",
        TIMEOUTS,
        "seconds of waiting for a body before --min-request-body-rate applies",
        "float",
        minimum=0,
    ),
    _s(
        "timeout_app",
        TIMEOUTS,
        "answer 503 and cancel the request when the app has not started a response after "
        "this many seconds (default: off; HTTP/1.1 and, per stream, HTTP/2)",
        "float",
        minimum=0,
        nullable=True,
    ),
    _s(
        "shutdown_delay",
        TIMEOUTS,
        "on shutdown, keep serving this many seconds (the health path says 503) before "
        "closing the listeners",
        "float",
        minimum=0,
    ),
    # configuration sources
    _s(
        "env_file",
        CONFIG,
        "load environment variables from this file (before the other variables are read)",
        nullable=True,
        metavar="FILE",
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# TOML keys: the flag spelling (``reload-dir``) or the field name (``reload_dirs``).
_TOML_KEYS: dict[str, Setting] = {
    **{s.name: s for s in SETTINGS},
    **{s.option[2:]: s for s in SETTINGS},
    **{s.option[2:].replace("-", "_"): s for s in SETTINGS},
}


def _toml_literal(value: Any) -> str:
    """A default as it would be written in the TOML file ("" when there is none)."""
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def settings_table() -> list[dict[str, str]]:
    """One row per setting, in help order, for the docs' settings table.

    Keys: ``group``, ``flag``, ``env``, ``toml``, ``default`` (a TOML literal, empty
    when there is none), ``help``. ``settings_markdown()`` renders it.
    """
    rows = []
    for group in GROUPS:
        for s in SETTINGS:
            if s.group != group:
                continue
            default = s.default
            rows.append(
                {
                    "group": group,
                    "flag": s.option + (f"/--no-{s.option[2:]}" if s.kind == "bool" else ""),
                    "env": s.env_names[0],
                    "toml": s.option[2:],
                    "default": _toml_literal(default),
                    "help": s.help,
                }
            )
    return rows


def settings_markdown() -> str:
    """``settings_table()`` as Markdown tables, one per group (docs/configuration.md)."""
    lines: list[str] = []
    group = ""
    for row in settings_table():
        if row["group"] != group:
            group = row["group"]
            if lines:
                lines.append("")
            lines += [
                f"### {group}",
                "",
                "| Flag | Environment | TOML key | Default | Meaning |",
                "| --- | --- | --- | --- | --- |",
            ]
        default = f"`{row['default']}`" if row["default"] else "—"
        meaning = row["help"].replace("|", "\\|")
        lines.append(
            f"| `{row['flag']}` | `{row['env']}` | `{row['toml']}` | {default} | {meaning} |"
        )
    return "\n".join(lines) + "\n"


def values_from_env(
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Settings from ``ASGI_MAGIC_*``, else ``UVICORN_*`` variables.

    Returns ``(values, uvicorn_names_used)``. ``ASGI_MAGIC_APP``/``UVICORN_APP`` give
    the app under the key ``app``. An empty variable counts as unset (as click reads
    uvicorn's). Raises ``ConfigError`` naming the variable.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    used_uvicorn: list[str] = []
    for setting in SETTINGS:
        if not setting.env:
            continue
        ours, theirs = setting.env_names
        # An empty variable counts as unset, as click treats uvicorn's.
        if env.get(ours):
            name, text = ours, env[ours]
        elif env.get(theirs):
            name, text = theirs, env[theirs]
            used_uvicorn.append(theirs)
        else:
            continue
        try:
            values[setting.name] = setting.parse_many(text)
        except ValueError as exc:
            raise ConfigError(f"environment variable {name}: {exc}") from None
    for name in (ENV_PREFIX + "APP", UVICORN_ENV_PREFIX + "APP"):
        if env.get(name):
            values["app"] = env[name]
            if name.startswith(UVICORN_ENV_PREFIX):
                used_uvicorn.append(name)
            break
    return values, used_uvicorn


def values_from_toml(path: str) -> dict[str, Any]:
    """Settings from a TOML file whose keys are the flag names (``port = 8001``).

    Keys may also be spelled with underscores (``ssl_certfile``); ``app`` names the
    application. Raises ``ConfigError`` for a missing file, bad TOML, an unknown key
    (with the closest known one) or a value of the wrong type.
    """
    try:
        tomllib: Any = importlib.import_module("tomllib")
    except ImportError:  # pragma: no cover - Python 3.10
        raise ConfigError("--config needs Python 3.11+ (tomllib)") from None

    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "app":
            values["app"] = raw
            continue
        setting = _TOML_KEYS.get(key)
        if setting is None:
            close = difflib.get_close_matches(key, list(_TOML_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"config file {path}: unknown setting {key!r}{hint}")
        expected = _toml_type_error(setting, raw)
        if expected is not None:
            raise ConfigError(
                f"config file {path}: {key}: expected {expected}, "
                f"got {_TOML_TYPE_NAMES.get(type(raw), type(raw).__name__)} {raw!r}"
            )
        try:
            if setting.kind == "headers" and isinstance(raw, dict):
                value = setting.check(list(raw.items()))
            else:
                value = setting.check(raw)
        except ValueError as exc:
            raise ConfigError(f"config file {path}: {key}: {exc}") from None
        values[setting.name] = value
    return values


# The TOML types a value can come in (tomllib's Python types), by name.
_TOML_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a float",
    bool: "a boolean",
    list: "an array",
    dict: "a table",
}


def _toml_type_error(setting: Setting, raw: Any) -> str | None:
    """The type ``setting`` needs in a TOML file, when ``raw`` does not have it.

    TOML has types, so a value must come in the one ``SETTINGS`` gives (``port =
    "8000"`` is a mistake, not a port); the check then validates the value itself.
    """
    kind = setting.kind
    if setting.name == "log_level":
        ok = isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool))
        return None if ok else "a level name or an integer"
    if kind == "int":
        ok = isinstance(raw, int) and not isinstance(raw, bool)
        return None if ok else "an integer"
    if kind == "float":
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        return None if ok else "a number"
    if kind in ("bool", "flag"):
        return None if isinstance(raw, bool) else "a boolean (true or false)"
    if kind in ("str", "choice"):
        return None if isinstance(raw, str) else "a string"
    if kind == "list":
        ok = isinstance(raw, str) or (
            isinstance(raw, list) and all(isinstance(item, str) for item in raw)
        )
        return None if ok else "an array of strings"
    if kind == "headers":
        ok = isinstance(raw, dict) or (
            isinstance(raw, list) and all(isinstance(item, str) for item in raw)
        )
        return None if ok else 'an array of "name: value" strings or a table'
    return None
