"""Logging for the server: two loggers, one default format, nothing on the hot path.

``asgi_magic.error`` carries everything but the access log; ``asgi_magic.access``
carries one line per response::

    127.0.0.1:51234 - "GET /path HTTP/1.1" 200 0.4ms

Embedders keep their own logging configuration: ``Server`` only sets logger levels.
``asgi_magic.run()`` and the CLI also install a stderr handler (``configure_logging``).
"""

from __future__ import annotations

import logging
import sys

__all__ = ["ACCESS_LOGGER", "ERROR_LOGGER", "LOG_LEVELS", "configure_logging", "set_levels"]

ERROR_LOGGER = "asgi_magic.error"
ACCESS_LOGGER = "asgi_magic.access"

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}

_HANDLER_MARK = "_asgi_magic_handler"


def _level(log_level: str | int | None) -> int | None:
    if log_level is None:
        return None
    if isinstance(log_level, int):
        return log_level
    try:
        return LOG_LEVELS[log_level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {log_level!r}") from None


def set_levels(log_level: str | int | None, access_log: bool) -> None:
    """Set the levels of our two loggers; the access logger is silenced when disabled."""
    level = _level(log_level)
    error_logger = logging.getLogger(ERROR_LOGGER)
    access_logger = logging.getLogger(ACCESS_LOGGER)
    if level is not None:
        error_logger.setLevel(level)
        access_logger.setLevel(level)
    if not access_log:
        # Above CRITICAL: isEnabledFor() is False, so the protocol skips the whole
        # access-log path (no clock reads, no formatting) per request.
        access_logger.setLevel(logging.CRITICAL + 1)


def configure_logging(log_level: str | int | None, access_log: bool) -> None:
    """Install the default stderr handler on the ``asgi_magic`` logger (once)."""
    parent = logging.getLogger("asgi_magic")
    if not any(getattr(h, _HANDLER_MARK, False) for h in parent.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        setattr(handler, _HANDLER_MARK, True)
        parent.addHandler(handler)
        # Our handler prints the records; propagating as well would print them twice
        # when the root logger also has a handler.
        parent.propagate = False
    set_levels(log_level, access_log)
