"""asgi_magic: a fast ASGI server with its own HTTP/1.1 stack, and a small framework."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgi_magic import _extensions

# Before anything imports a compiled module: with ASGI_MAGIC_NO_EXTENSIONS=1 (or a stale
# in-place build) the pure-Python source of every compiled module is loaded instead.
_extensions.select_build()

from asgi_magic.config import Config  # noqa: E402

if TYPE_CHECKING:
    from asgi_magic.server import Server

__version__ = "0.1.0"

__all__ = ["Config", "Server", "__version__", "build_info", "compiled", "run"]

compiled: bool
"""True when the compiled (mypyc + C) build of the protocol hot path is the one running;
False under ``ASGI_MAGIC_NO_EXTENSIONS=1`` or where nothing was compiled. Computed on
first access (it imports the protocol modules)."""


def build_info() -> str:
    """Which build runs, in one line: ``compiled (mypyc + C)`` or ``pure Python (<why>)``."""
    return _extensions.build_info()


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` (an ASGI app or ``"module:attr"``) until SIGINT/SIGTERM.

    Keyword arguments are ``Config`` fields, which include every keyword of
    ``uvicorn.run`` (``reload``, ``workers``, ``log_config`` as a dict or a file path,
    ``ssl_context_factory`` ...): ``run("main:app", port=8080)``. A bad value raises
    ``ConfigError`` (a ``ValueError``) before anything starts. Exits the process with
    status 1 when the app cannot be imported or the socket bound, 3 when the lifespan
    startup fails. ``reload=True`` and ``workers > 1`` need an import string.
    """
    from asgi_magic.cli import run_config

    run_config(Config(app=app, **kwargs))


def __getattr__(name: str) -> Any:
    # The server pulls in asyncio and uvloop: import it only when asked for, so the
    # framework (asgi_magic.web) stays light and never loads the server.
    if name == "Server":
        from asgi_magic.server import Server

        return Server
    if name == "compiled":
        return _extensions.is_compiled()
    raise AttributeError(f"module 'asgi_magic' has no attribute {name!r}")
