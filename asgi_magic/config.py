"""The one ``Config`` object: every setting of the server lives here.

The CLI builds it from flags, ``asgi_magic.run(app, **kwargs)`` from keyword
arguments, and embedders construct it directly. Field names match uvicorn's where a
setting means the same thing, so a uvicorn user can guess them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

LoopSetting = Literal["auto", "uvloop", "asyncio"]
LifespanSetting = Literal["auto", "on", "off"]
WSSetting = Literal["auto", "none"]
InterfaceSetting = Literal["auto", "asgi3", "asgi2"]

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


@dataclass
class Config:
    app: Any
    """An ASGI application, or an import string ``"module:attr"``."""
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    loop: LoopSetting = "auto"
    lifespan: LifespanSetting = "auto"
    interface: InterfaceSetting = "auto"
    factory: bool = False
    app_dir: str | None = "."
    env_file: str | None = None
    root_path: str = ""

    # logging
    log_level: str | int | None = "info"
    access_log: bool = True
    use_colors: bool | None = None

    # response headers added by the server
    server_header: bool = True
    date_header: bool = True
    headers: list[tuple[str, str]] = field(default_factory=list)

    # connection behaviour
    backlog: int = 2048
    limit_concurrency: int | None = None
    limit_max_requests: int | None = None
    timeout_keep_alive: float = DEFAULT_TIMEOUT_KEEP_ALIVE
    timeout_request_head: float = DEFAULT_TIMEOUT_REQUEST_HEAD
    timeout_graceful_shutdown: float | None = 30.0

    # HTTP/1.1 limits, passed to http11.Limits
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_head: int = DEFAULT_LIMIT_REQUEST_HEAD
    limit_request_fields: int = DEFAULT_LIMIT_REQUEST_FIELDS
    limit_request_body: int | None = None

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
    ssl_ca_certs: str | None = None
    ssl_cert_reqs: int = 0  # ssl.CERT_NONE

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
