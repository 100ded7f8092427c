"""``Server``: bind sockets, run lifespan, serve connections, shut down gracefully."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import random
import signal
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Coroutine
from typing import Any

from asgi_magic.config import Config
from asgi_magic.importer import ImportFromStringError, import_from_string
from asgi_magic.server._sockets import BindError, bind_sockets, describe_socket
from asgi_magic.server.access_log import AccessLog
from asgi_magic.server.http_protocol import HTTPProtocol, http2_enabled, limits_from_config
from asgi_magic.server.lifespan import Lifespan
from asgi_magic.server.logging import effective_level, set_levels
from asgi_magic.server.proxy_headers import trust_from_config
from asgi_magic.server.state import ServerState
from asgi_magic.server.wsgi import WSGIAdapter, is_async_callable, is_wsgi_app

__all__ = [
    "AppFactoryError",
    "Server",
    "TLSSetupError",
    "check_settings",
    "create_ssl_context",
    "default_headers",
    "load_app",
    "load_app_or_report",
]

logger = logging.getLogger("asgi_magic.error")

_POLL_INTERVAL = 0.1


def _takes_no_arguments(obj: Any) -> bool:
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): not a factory we can detect
        return False
    return True


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()  # no "coroutine was never awaited" warning


def load_app(config: Config) -> Any:
    """Import (``module:attr``), call a factory, and adapt ASGI 2 and WSGI apps to ASGI 3.

    A factory passed without ``--factory`` is detected as uvicorn does: a plain
    function (or method) that takes no arguments cannot be an ASGI app, so it is
    called, with a warning, and what it returns must be callable. A callable that
    takes ``(environ, start_response)`` is a WSGI app (``interface`` auto/wsgi).
    Raises ``ImportFromStringError`` for import failures (its ``__cause__`` is the
    app's own exception, if any), ``AppFactoryError`` for a factory mistake, and
    ``ValueError`` for a WSGI app given with ``interface="asgi3"``/``"asgi2"``.
    """
    app = import_from_string(config.app, config.app_dir)
    name = config.app if isinstance(config.app, str) else getattr(app, "__name__", repr(app))
    if config.factory:
        if not callable(app):
            raise AppFactoryError(f"--factory given but {name} is not callable")
        if not _takes_no_arguments(app):
            raise AppFactoryError(
                f"--factory given but {name} takes arguments: it looks like an ASGI app, "
                "not a factory; drop --factory"
            )
        app = app()
        if inspect.isawaitable(app):
            _close(app)
            raise AppFactoryError(
                f"the factory {name} is async: an app factory must be a plain function "
                "that returns the app"
            )
        if not callable(app):
            raise AppFactoryError(
                f"the factory {name} returned {type(app).__name__}, not an ASGI app"
            )
    elif (
        callable(app)
        and (inspect.isfunction(app) or inspect.ismethod(app))
        and _takes_no_arguments(app)
    ):
        # A function with no parameters cannot be an ASGI app: it is a factory.
        product = app()
        if inspect.isawaitable(product):
            _close(product)
            raise AppFactoryError(
                f"{name} is an async function with no arguments: an app factory must be "
                "a plain function that returns the app"
            )
        if not callable(product):
            raise AppFactoryError(
                f"{name} takes no arguments, so it is not an ASGI app, and it returned "
                f"{type(product).__name__}: point at the app itself"
            )
        logger.warning(
            "ASGI app factory detected (%s takes no arguments): using what it returns. "
            "Pass --factory to say so explicitly.",
            name,
        )
        app = product
    if config.interface == "wsgi" and is_async_callable(app):
        # Called as WSGI, an async app would return an un-awaited coroutine per request.
        raise ValueError(
            f"{_describe(config, app)} is an async (ASGI) app, not WSGI: "
            "drop --interface wsgi (or use --interface auto)"
        )
    if config.interface == "wsgi" or (config.interface == "auto" and is_wsgi_app(app)):
        if config.interface == "auto":
            logger.info(
                "%s takes (environ, start_response): serving it as a WSGI app in %d threads "
                "(--interface wsgi says so and skips this check)",
                _describe(config, app),
                config.wsgi_threads,
            )
        return WSGIAdapter(app, config.wsgi_threads, (config.workers or 1) > 1)
    if is_wsgi_app(app):
        # A Flask or Django WSGI app called as ASGI would fail every request with a 500.
        raise ValueError(
            f"{_describe(config, app)} is a WSGI app (it takes environ, start_response), not "
            f"ASGI: run it with --interface wsgi (or --interface auto)"
        )
    if config.interface == "asgi2":
        from asgiref.compatibility import double_to_single_callable

        return double_to_single_callable(app)  # type: ignore[no-untyped-call]
    if config.interface == "auto":
        from asgiref.compatibility import guarantee_single_callable

        return guarantee_single_callable(app)  # type: ignore[no-untyped-call]
    return app


def _describe(config: Config, app: Any) -> str:
    """The app as the user named it: the import string, else module:name."""
    if isinstance(config.app, str):
        return config.app
    name = getattr(app, "__qualname__", None) or f"<{type(app).__qualname__} object>"
    return f"{getattr(app, '__module__', None) or type(app).__module__}:{name}"


class AppFactoryError(Exception):
    """``--factory`` is given for a non-factory, or a factory returns no app."""


def load_app_or_report(config: Config) -> Any | None:
    """``load_app``, logging a failure (one line; the traceback when the app's code
    raised) and returning None. Used by every process that imports the app."""
    try:
        return load_app(config)
    except ImportFromStringError as exc:
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, ModuleNotFoundError):
            # The module raised while importing: the traceback names its file and line.
            logger.error("Error loading ASGI app. %s\n%s", exc, _app_traceback(cause))
        else:
            logger.error("Error loading ASGI app. %s", exc)
    except (AppFactoryError, ValueError) as exc:
        # Our own refusals (a factory mistake, a WSGI app served as ASGI …) are one
        # sentence that says what to do; a traceback would only hide it.
        logger.error("Error loading ASGI app. %s", exc)
    except Exception as exc:
        logger.error("Error loading ASGI app. %s: %s", type(exc).__name__, exc, exc_info=exc)
    return None


def _app_traceback(exc: BaseException) -> str:
    """The traceback without the import machinery's frames: the app's own lines."""
    tb = traceback.TracebackException.from_exception(exc)
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tb.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in tb.stack
            if not (
                frame.filename.startswith("<frozen")
                or os.sep + "importlib" + os.sep in frame.filename
                or frame.filename.startswith(ours)
            )
        ]
    )
    return "".join(tb.format()).rstrip("\n")


def default_headers(config: Config) -> list[tuple[bytes, bytes]]:
    """Headers the server adds to every response: ``server`` then ``--header`` ones."""
    headers: list[tuple[bytes, bytes]] = []
    names = {name.lower() for name, _ in config.headers}
    if config.server_header and "server" not in names:
        headers.append((b"server", b"asgi-magic"))
    for name, value in config.headers:
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return headers


class TLSSetupError(Exception):
    """The TLS settings cannot make a context; the message names the file or setting."""


def _readable(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise TLSSetupError(f"{what} {path}: no such file")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise TLSSetupError(f"{what} {path}: not a readable file")


def _is_encrypted(path: str) -> bool:
    """Whether a PEM key file is password-protected (PKCS#8 or the old Proc-Type form)."""
    try:
        with open(path, "rb") as file:
            return b"ENCRYPTED" in file.read(1 << 16)
    except OSError:
        return False


def _has_private_key(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return b"PRIVATE KEY-----" in file.read(1 << 20)
    except OSError:
        return False


def _pem_kinds(path: str) -> set[str]:
    """What a PEM file holds: ``"certificate"``, ``"private key"``, both or neither."""
    try:
        with open(path, "rb") as file:
            head = file.read(1 << 20)
    except OSError:
        return set()
    kinds = set()
    if b"-----BEGIN CERTIFICATE-----" in head:
        kinds.add("certificate")
    if b"PRIVATE KEY-----" in head:
        kinds.add("private key")
    return kinds


def _pem_mixup(certfile: str, keyfile: str | None) -> str | None:
    """Why OpenSSL could not load the pair, when it is a file holding the wrong thing
    (OpenSSL says only "PEM lib"); None when both hold what they should."""
    cert_kinds = _pem_kinds(certfile)
    if keyfile is not None:
        key_kinds = _pem_kinds(keyfile)
        if "private key" not in key_kinds:
            swapped = "certificate" in key_kinds and "private key" in cert_kinds
            return (
                f"TLS key file {keyfile} holds "
                + ("a certificate" if "certificate" in key_kinds else "no PEM private key")
                + ", where a private key was expected"
                + (": --ssl-keyfile and --ssl-certfile are swapped" if swapped else "")
            )
    if "certificate" not in cert_kinds:
        return (
            f"TLS certificate file {certfile} holds "
            + ("only a private key" if "private key" in cert_kinds else "no PEM certificate")
            + ", where a certificate was expected"
        )
    return None


def _ssl_version_error(version: int) -> str | None:
    if version in (ssl.PROTOCOL_TLSv1, ssl.PROTOCOL_TLSv1_1):
        # RFC 8996: TLS 1.0 and 1.1 MUST NOT be used.
        return (
            f"--ssl-version {version}: TLS 1.0 and 1.1 are deprecated (RFC 8996); "
            "use 17 (TLS 1.2 or newer)"
        )
    if version not in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS, ssl.PROTOCOL_TLSv1_2):
        return (
            f"--ssl-version {version}: not a server protocol; use 17 (TLS 1.2 or newer) "
            "or 5 (TLS 1.2 only)"
        )
    return None


def check_settings(config: Config) -> None:
    """Refuse the values no machine could serve with; raise ``ValueError`` naming the first.

    The CLI calls it once the settings are merged, so such a value is a usage error
    (exit status 2) before anything starts; ``Server.serve`` calls it too (one ERROR
    line, ``exit_code`` 1) for servers built in code. Problems of the machine (a file
    that is missing, a port in use) are found later, when the server starts.
    """
    if config.proxy_protocol or config.proxy_headers:
        trust_from_config(config)  # --forwarded-allow-ips, from any source
    if config.proxy_protocol and config.ssl_certfile is not None:
        # The preamble comes before the TLS handshake, and the loop's TLS transport
        # would read it as a broken ClientHello.
        raise ValueError("--proxy-protocol cannot be combined with TLS on the same listener")
    AccessLog(config.access_log_format)  # an unknown atom
    error = _ssl_version_error(config.ssl_version)
    if error is not None:
        raise ValueError(error)
    if config.ssl_ciphers:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise ValueError(f"--ssl-ciphers {config.ssl_ciphers!r}: no cipher matches") from None


def _default_ssl_context(config: Config, http2: bool = False) -> ssl.SSLContext:
    assert config.ssl_certfile is not None
    version = config.ssl_version
    error = _ssl_version_error(version)
    if error is not None:
        raise TLSSetupError(error)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if version == ssl.PROTOCOL_TLSv1_2:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    certfile, keyfile = config.ssl_certfile, config.ssl_keyfile
    _readable(certfile, "TLS certificate file")
    if keyfile is not None:
        _readable(keyfile, "TLS key file")
    elif not _has_private_key(certfile):
        raise TLSSetupError(
            f"TLS certificate file {certfile} holds no private key: give --ssl-keyfile"
        )
    asked = []

    def no_password() -> bytes:
        # Without this, OpenSSL would prompt on the terminal and the server would hang.
        asked.append(True)
        return b""

    password: Any = config.ssl_keyfile_password
    try:
        ctx.load_cert_chain(certfile, keyfile, password if password is not None else no_password)
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).upper()
        key = keyfile or certfile
        if asked:
            raise TLSSetupError(
                f"TLS key file {key} is encrypted: give --ssl-keyfile-password"
            ) from None
        if "BAD_DECRYPT" in reason or (password is not None and _is_encrypted(key)):
            raise TLSSetupError(f"wrong password for TLS key file {key}") from None
        if "KEY_VALUES_MISMATCH" in reason:
            raise TLSSetupError(
                f"TLS key file {key} does not match certificate {certfile}"
            ) from None
        mixup = _pem_mixup(certfile, keyfile)
        if mixup is not None:
            raise TLSSetupError(mixup) from None
        raise TLSSetupError(
            f"cannot load TLS certificate {certfile} / key {key}: {exc.reason or exc}"
        ) from None
    ctx.verify_mode = ssl.VerifyMode(config.ssl_cert_reqs)
    if config.ssl_ca_certs:
        _readable(config.ssl_ca_certs, "TLS CA file")
        try:
            ctx.load_verify_locations(config.ssl_ca_certs)
        except ssl.SSLError as exc:
            raise TLSSetupError(f"TLS CA file {config.ssl_ca_certs}: {exc.reason or exc}") from None
    if config.ssl_ciphers:
        try:
            ctx.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise TLSSetupError(
                f"--ssl-ciphers {config.ssl_ciphers!r}: no cipher matches"
            ) from None
    # RFC 7301 §3.2: we pick our first choice the client offers; HTTP/2 when it is on.
    ctx.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return ctx


def create_ssl_context(config: Config, http2: bool = False) -> ssl.SSLContext | None:
    """The server's TLS context, or None without ``--ssl-certfile``; with ``http2`` its
    ALPN offers ``h2`` before ``http/1.1`` (RFC 7301, RFC 9113 §3.2).

    Raises ``TLSSetupError`` with one line naming the file or setting at fault.
    ``config.ssl_context_factory(config, default_factory)`` (uvicorn's hook) may
    replace or adjust the default context.
    """
    if config.ssl_certfile is None:
        return None
    if config.ssl_context_factory is not None:
        factory = config.ssl_context_factory
        return factory(config, lambda: _default_ssl_context(config, http2))
    return _default_ssl_context(config, http2)


async def _in_fresh_context(loop: asyncio.AbstractEventLoop, start: Any) -> asyncio.Server:
    async def create() -> asyncio.Server:
        server: asyncio.Server = await start
        return server

    if sys.version_info >= (3, 11):
        return await loop.create_task(create(), context=contextvars.Context())
    return await contextvars.Context().run(loop.create_task, create())  # pragma: no cover


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
        self._lifespan_done = False
        self._signals_installed: list[int] = []
        limit = config.limit_max_requests
        if limit is not None and config.limit_max_requests_jitter:
            # Each process draws its own jitter, so workers started together do not all
            # restart together.
            limit += random.randint(0, config.limit_max_requests_jitter)
        self.max_requests = limit
        """``--limit-max-requests`` plus this process's jitter (None: no limit)."""

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until ``should_exit``; sets ``exit_code`` (1: setup error, 3: lifespan).

        The socket is bound and TLS set up *before* lifespan startup, so a port in use
        never runs the app's startup; once startup ran, shutdown always runs.
        """
        config = self.config
        set_levels(effective_level(config), config.access_log)
        logger.info("Started server process [%d]", os.getpid())
        try:  # bad values are startup errors, not per-request ones
            check_settings(config)
        except ValueError as exc:
            logger.error("%s", exc)
            self.exit_code = 1
            return
        app = load_app(config)
        self.server_state.default_headers = default_headers(config)
        self.server_state.http2 = http2_enabled(config)
        try:
            ssl_context = create_ssl_context(config, self.server_state.http2)
        except TLSSetupError as exc:
            logger.error("%s", exc)
            self.exit_code = 1
            return
        own_sockets = sockets is None
        try:
            socks = sockets if sockets is not None else bind_sockets(config)
        except BindError as exc:
            logger.error("%s", exc)
            self.exit_code = 1
            return
        loop = asyncio.get_running_loop()
        self._install_signal_handlers(loop)
        try:
            state: dict[str, Any] = {}
            if config.lifespan != "off":
                self._lifespan = Lifespan(app, config.lifespan)
                if not await self._unless_forced(self._lifespan.startup()):
                    return  # a startup that hangs is ended by a second signal
                if self._lifespan.should_exit:
                    self.exit_code = 3
                    return
                state = self._lifespan.state
            await self._startup(loop, app, state, socks, ssl_context)
            if self.should_exit:
                return
            self.started = True
            await self._main_loop()
            await self._shutdown()
        finally:
            if (
                self._lifespan is not None
                and not self._lifespan_done
                and not self._lifespan.should_exit
            ):
                # Startup ran but serving did not end normally: the app's resources
                # are released all the same.
                await self._lifespan_shutdown()
            # Removed last: until here a second signal still means "stop now" (after
            # removal SIGINT is KeyboardInterrupt again, raised wherever the loop is).
            self._remove_signal_handlers(loop)
            if own_sockets and not self.servers:
                for sock in socks:
                    sock.close()

    async def _startup(
        self,
        loop: asyncio.AbstractEventLoop,
        app: Any,
        state: dict[str, Any],
        socks: list[socket.socket],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        config = self.config
        server_state = self.server_state
        limits = limits_from_config(config)

        def protocol_factory() -> HTTPProtocol:
            return HTTPProtocol(config, server_state, app, state, limits, loop)

        # asyncio drops a connection whose TLS handshake is not done in time.
        tls_options: dict[str, Any] = (
            {}
            if ssl_context is None
            else {"ssl_handshake_timeout": config.timeout_ssl_handshake or None}
        )
        for sock in socks:
            start = loop.create_server(
                protocol_factory, sock=sock, backlog=config.backlog, ssl=ssl_context, **tls_options
            )
            if config.reset_contextvars:
                # Transports copy the context current when they are created (the accept
                # callback's), and each request task copies the transport's: creating
                # the listener in an empty context gives every request a fresh one,
                # without what the lifespan set (uvicorn's --reset-contextvars).
                server = await _in_fresh_context(loop, start)
            else:
                server = await start
            self.servers.append(server)
            logger.info(
                "asgi-magic running on %s (Press CTRL+C to quit)",
                describe_socket(sock, ssl_context is not None),
            )

    async def _main_loop(self) -> None:
        limit = self.max_requests
        state = self.server_state
        while not self.should_exit:
            await asyncio.sleep(_POLL_INTERVAL)
            if limit is not None and state.total_requests >= limit:
                logger.warning("Maximum request limit of %d exceeded. Terminating.", limit)
                self.should_exit = True

    async def _lifespan_shutdown(self) -> None:
        """The app's lifespan shutdown; after a second signal, its task is cancelled instead.

        Either way the lifespan task has ended when this returns, so the event loop's
        teardown never cancels it behind our back (which apps log as a failed shutdown
        with a traceback).
        """
        self._lifespan_done = True
        lifespan = self._lifespan
        if lifespan is None:
            return
        if self.force_exit or not await self._unless_forced(lifespan.shutdown()):
            await lifespan.cancel()

    async def _unless_forced(self, step: Coroutine[Any, Any, None]) -> bool:
        """Run ``step`` to its end, unless a second signal comes first: then cancel it.

        Returns True when the step ended by itself (its exception, if any, propagates).
        """
        task = asyncio.ensure_future(step)
        while not task.done():
            if self.force_exit:
                task.cancel()
                await asyncio.wait({task})
                return False
            await asyncio.wait({task}, timeout=_POLL_INTERVAL / 2)
        task.result()
        return True

    async def _shutdown(self) -> None:
        logger.info("Shutting down")
        self.server_state.draining = True
        # 0. With --shutdown-delay, keep serving for a while with the health path saying
        # 503, so load balancers take this instance out before the listener closes.
        delay = self.config.shutdown_delay
        if delay:
            loop = asyncio.get_running_loop()
            until = loop.time() + delay
            while loop.time() < until and not self.force_exit:
                await asyncio.sleep(min(_POLL_INTERVAL / 2, max(until - loop.time(), 0)))
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
        # 5. Lifespan shutdown last: the app's resources outlive its requests. After a
        # second signal it is skipped (uvicorn skips it too) and the task is cancelled.
        await self._lifespan_shutdown()
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
        """First signal: graceful shutdown. Second: stop now, quietly (one log line).

        "Now" means: stop waiting for requests (they are cancelled), skip or cancel the
        app's lifespan shutdown, and exit with status 0.
        """
        if self.should_exit:
            if not self.force_exit:
                logger.warning(
                    "Received %s again: stopping now (requests still running are "
                    "cancelled, the application's shutdown is skipped)",
                    signal.Signals(sig).name,
                )
            self.force_exit = True
        else:
            self.should_exit = True
