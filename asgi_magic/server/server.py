"""``Server``: bind sockets, run lifespan, serve connections, shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import threading
from typing import Any

from asgi_magic.config import Config
from asgi_magic.importer import import_from_string
from asgi_magic.server._sockets import bind_sockets, describe_socket
from asgi_magic.server.http_protocol import HTTPProtocol, http2_enabled, limits_from_config
from asgi_magic.server.lifespan import Lifespan
from asgi_magic.server.logging import set_levels
from asgi_magic.server.proxy_headers import trust_from_config
from asgi_magic.server.state import ServerState

__all__ = ["Server", "load_app", "default_headers"]

logger = logging.getLogger("asgi_magic.error")

_POLL_INTERVAL = 0.1


def load_app(config: Config) -> Any:
    """Import (``module:attr``), call a factory, and adapt ASGI 2 apps to ASGI 3.

    Raises ``ImportFromStringError`` with a one-line message for import failures.
    """
    app = import_from_string(config.app, config.app_dir)
    if config.factory:
        if not callable(app):
            raise TypeError("--factory given but the app is not callable")
        app = app()
    if config.interface == "asgi2":
        from asgiref.compatibility import double_to_single_callable

        return double_to_single_callable(app)  # type: ignore[no-untyped-call]
    if config.interface == "auto":
        from asgiref.compatibility import guarantee_single_callable

        return guarantee_single_callable(app)  # type: ignore[no-untyped-call]
    return app


def default_headers(config: Config) -> list[tuple[bytes, bytes]]:
    """Headers the server adds to every response: ``server`` then ``--header`` ones."""
    headers: list[tuple[bytes, bytes]] = []
    names = {name.lower() for name, _ in config.headers}
    if config.server_header and "server" not in names:
        headers.append((b"server", b"asgi-magic"))
    for name, value in config.headers:
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return headers


def create_ssl_context(config: Config, http2: bool = False) -> ssl.SSLContext | None:
    if config.ssl_certfile is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(config.ssl_certfile, config.ssl_keyfile, config.ssl_keyfile_password)
    ctx.verify_mode = ssl.VerifyMode(config.ssl_cert_reqs)
    if config.ssl_ca_certs:
        ctx.load_verify_locations(config.ssl_ca_certs)
    # RFC 7301 §3.2: we pick our first choice the client offers; HTTP/2 when it is on.
    ctx.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return ctx


class Server:
    """Serve ``config.app`` in the running event loop: ``await Server(config).serve()``.

    ``should_exit`` may be set from any thread: the server notices within 0.1 s and
    shuts down gracefully. ``servers`` holds the listening ``asyncio.Server`` objects.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.server_state = ServerState()
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.servers: list[asyncio.Server] = []
        self.exit_code = 0
        self._lifespan: Lifespan | None = None
        self._signals_installed: list[int] = []

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        config = self.config
        set_levels(config.log_level, config.access_log)
        if config.proxy_headers:
            try:  # a bad --forwarded-allow-ips is a startup error, not a per-request one
                trust_from_config(config)
            except ValueError as exc:
                logger.error("%s", exc)
                self.exit_code = 1
                return
        app = load_app(config)
        self.server_state.default_headers = default_headers(config)
        loop = asyncio.get_running_loop()
        self._install_signal_handlers(loop)
        try:
            state: dict[str, Any] = {}
            if config.lifespan != "off":
                self._lifespan = Lifespan(app, config.lifespan)
                await self._lifespan.startup()
                if self._lifespan.should_exit:
                    self.exit_code = 3
                    return
                state = self._lifespan.state
            await self._startup(loop, app, state, sockets)
            if self.should_exit:
                return
            self.started = True
            await self._main_loop()
            await self._shutdown()
        finally:
            self._remove_signal_handlers(loop)

    async def _startup(
        self,
        loop: asyncio.AbstractEventLoop,
        app: Any,
        state: dict[str, Any],
        sockets: list[socket.socket] | None,
    ) -> None:
        config = self.config
        server_state = self.server_state
        server_state.http2 = http2_enabled(config)
        ssl_context = create_ssl_context(config, server_state.http2)
        limits = limits_from_config(config)

        def protocol_factory() -> HTTPProtocol:
            return HTTPProtocol(config, server_state, app, state, limits, loop)

        try:
            socks = sockets if sockets is not None else bind_sockets(config)
        except OSError as exc:
            logger.error("could not bind: %s", exc)
            self.should_exit = True
            self.exit_code = 1
            return
        for sock in socks:
            server = await loop.create_server(
                protocol_factory, sock=sock, backlog=config.backlog, ssl=ssl_context
            )
            self.servers.append(server)
            logger.info(
                "asgi-magic running on %s (Press CTRL+C to quit)",
                describe_socket(sock, ssl_context is not None),
            )

    async def _main_loop(self) -> None:
        limit = self.config.limit_max_requests
        state = self.server_state
        while not self.should_exit:
            await asyncio.sleep(_POLL_INTERVAL)
            if limit is not None and state.total_requests >= limit:
                logger.warning("Maximum request limit of %d exceeded. Terminating.", limit)
                self.should_exit = True

    async def _shutdown(self) -> None:
        logger.info("Shutting down")
        # 1. Stop accepting: new connections are refused from here on.
        for server in self.servers:
            server.close()
        state = self.server_state
        # 2. Idle keep-alive connections close now; busy ones after their response.
        for connection in list(state.connections):
            connection.shutdown()
        # 3. Let in-flight requests finish, up to the graceful timeout (or a 2nd signal).
        timeout = self.config.timeout_graceful_shutdown
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while (state.connections or state.tasks) and not self.force_exit:
            if deadline is not None and loop.time() >= deadline:
                logger.error(
                    "Cancel %d running task(s), timeout graceful shutdown exceeded",
                    len(state.tasks),
                )
                break
            await asyncio.sleep(_POLL_INTERVAL / 2)
        # 4. Cancel what is left.
        for task in list(state.tasks):
            task.cancel()
        for connection in list(state.connections):
            abort = getattr(connection, "abort", None)
            if abort is not None:
                abort()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=1.0)
        for server in self.servers:
            try:
                await asyncio.wait_for(server.wait_closed(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
        # 5. Lifespan shutdown last: the app's resources outlive its requests.
        if self._lifespan is not None and not self.force_exit:
            await self._lifespan.shutdown()
        if self.config.uds and os.path.exists(self.config.uds):
            try:
                os.remove(self.config.uds)
            except OSError:
                pass

    # --- signals -------------------------------------------------------------------

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed in the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.handle_exit, sig)
            except (NotImplementedError, RuntimeError):
                continue
            self._signals_installed.append(sig)

    def _remove_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in self._signals_installed:
            loop.remove_signal_handler(sig)
        self._signals_installed.clear()

    def handle_exit(self, sig: int) -> None:
        """First signal: graceful shutdown. Second: stop waiting for requests."""
        if self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True
