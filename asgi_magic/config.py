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
# Seconds without a request body byte while the app waits for one (nginx's
# client_body_timeout is 60 s, Apache's mod_reqtimeout 20 s).
DEFAULT_TIMEOUT_REQUEST_BODY = 30.0
# Seconds a client may take to complete the TLS handshake (a half-open TLS connection
# would otherwise hold a socket and its buffers forever).
DEFAULT_TIMEOUT_SSL_HANDSHAKE = 10.0
DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024
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
    ssl_cert_reqs: int = 0  # ssl.CERT_NONE; 1 optional, 2 required client certificate
    timeout_ssl_handshake: float = DEFAULT_TIMEOUT_SSL_HANDSHAKE

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
