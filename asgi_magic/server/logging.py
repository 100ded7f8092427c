"""Logging for the server: named loggers, one default format, nothing on the hot path.

``asgi_magic.error`` carries everything but the access log; ``asgi_magic.access``
carries one line per response; ``asgi_magic.web.*`` are the framework's loggers::

    127.0.0.1:51234 - "GET /path HTTP/1.1" 200 0.4ms

``--log-level`` sets the level of all three (``trace`` is level 5, named ``TRACE``).
``--log-config FILE`` replaces the default handler: ``.json`` and ``.yaml``/``.yml``
go through ``logging.config.dictConfig`` (YAML needs PyYAML), anything else (``.ini``)
through ``fileConfig``; ``asgi_magic.run(log_config={...})`` takes a dict too. Then
``--log-level`` applies only when given.

Embedders keep their own logging configuration: ``Server`` only sets logger levels.
``asgi_magic.run()`` and the CLI also install a stderr handler (``configure_logging``),
colouring the level name when stderr is a terminal (``--use-colors`` forces it).
"""

from __future__ import annotations

import importlib
import json
import logging
import logging.config
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asgi_magic.config import Config

__all__ = [
    "ACCESS_LOGGER",
    "ERROR_LOGGER",
    "LOG_LEVELS",
    "TRACE",
    "WEB_LOGGER",
    "ColourFormatter",
    "LogConfigError",
    "configure_logging",
    "effective_level",
    "set_levels",
]

ERROR_LOGGER = "asgi_magic.error"
ACCESS_LOGGER = "asgi_magic.access"
WEB_LOGGER = "asgi_magic.web"

TRACE = 5
LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

_HANDLER_MARK = "_asgi_magic_handler"
# ANSI SGR colours per level, as uvicorn shows them.
_COLOURS = {
    TRACE: "\x1b[34m",
    logging.DEBUG: "\x1b[36m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[91m",
}
_RESET = "\x1b[0m"


class LogConfigError(Exception):
    """``--log-config`` names a file that cannot be read or applied (message: one line)."""


class ColourFormatter(logging.Formatter):
    """``LEVEL:     message``, the level name coloured when ``use_colors`` is true.

    Usable from a ``--log-config`` file: ``"()": "asgi_magic.server.logging.ColourFormatter"``.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Any = "%",
        use_colors: bool | None = None,
    ) -> None:
        super().__init__(fmt or "%(levelprefix)s %(message)s", datefmt, style)
        self.use_colors = sys.stderr.isatty() if use_colors is None else use_colors

    def formatMessage(self, record: logging.LogRecord) -> str:
        name = record.levelname
        pad = " " * max(0, 8 - len(name))  # "INFO:     message", as uvicorn aligns it
        if self.use_colors:
            name = f"{_COLOURS.get(record.levelno, '')}{name}{_RESET}"
        record.__dict__["levelprefix"] = f"{name}:{pad}"
        return super().formatMessage(record)


def _level(log_level: str | int | None) -> int | None:
    if log_level is None:
        return None
    if isinstance(log_level, int):
        return log_level
    try:
        return LOG_LEVELS[log_level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {log_level!r}") from None


def effective_level(config: Config) -> str | int | None:
    """``--log-level`` when given; else ``info``, unless a log config sets the levels."""
    if config.log_level is not None:
        return config.log_level
    return "info" if config.log_config is None else None


def set_levels(log_level: str | int | None, access_log: bool) -> None:
    """Set the levels of our loggers; the access logger is silenced when disabled."""
    logging.addLevelName(TRACE, "TRACE")
    level = _level(log_level)
    access_logger = logging.getLogger(ACCESS_LOGGER)
    if level is not None:
        for name in (ERROR_LOGGER, ACCESS_LOGGER, WEB_LOGGER):
            logging.getLogger(name).setLevel(level)
    if not access_log:
        # Above CRITICAL: isEnabledFor() is False, so the protocol skips the whole
        # access-log path (no clock reads, no formatting) per request.
        access_logger.setLevel(logging.CRITICAL + 1)


def _apply_log_config(log_config: dict[str, Any] | str) -> None:
    if isinstance(log_config, dict):
        try:
            logging.config.dictConfig(log_config)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise LogConfigError(f"log_config: {exc}") from None
        return
    path = log_config
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
            logging.config.dictConfig(data)
        elif path.endswith((".yaml", ".yml")):
            try:
                yaml: Any = importlib.import_module("yaml")
            except ImportError:
                raise LogConfigError(
                    f"--log-config {path}: YAML files need PyYAML: pip install pyyaml"
                ) from None
            with open(path, encoding="utf-8") as file:
                data = yaml.safe_load(file)
            logging.config.dictConfig(data)
        else:
            if not os.path.isfile(path):
                raise LogConfigError(f"--log-config {path}: no such file")
            # disable_existing_loggers=False: the app's loggers, created at import,
            # keep working (the note under fileConfig in the logging docs).
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except LogConfigError:
        raise
    except OSError as exc:
        raise LogConfigError(f"--log-config {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise LogConfigError(f"--log-config {path}: invalid JSON: {exc}") from None
    except Exception as exc:  # dictConfig/fileConfig/yaml errors: all one line
        raise LogConfigError(f"--log-config {path}: {type(exc).__name__}: {exc}") from None


# A log config written for uvicorn names uvicorn's loggers; a deployment that moves to
# asgi_magic keeps its file (docs/logging.md, docs/migration-from-uvicorn.md).
_UVICORN_LOGGERS = {
    "uvicorn": "asgi_magic",
    "uvicorn.error": "asgi_magic.error",
    "uvicorn.access": "asgi_magic.access",
}


def _adopt_uvicorn_loggers() -> list[str]:
    """Give ``asgi_magic.*`` what a log config set on the matching ``uvicorn.*``
    logger (handlers, level, propagation), unless the config set ours too. Returns the
    uvicorn names adopted."""
    adopted = []
    known = logging.Logger.manager.loggerDict
    for theirs, ours in _UVICORN_LOGGERS.items():
        if theirs not in known:
            continue
        source = logging.getLogger(theirs)
        if not source.handlers and source.level == logging.NOTSET:
            continue
        target = logging.getLogger(ours)
        if target.handlers:
            continue  # the config names our logger itself: it wins
        target.handlers = list(source.handlers)
        target.setLevel(source.level)
        target.propagate = source.propagate
        adopted.append(theirs)
    for ours in _UVICORN_LOGGERS.values():
        # dictConfig disables loggers that existed and that the config does not name.
        logging.getLogger(ours).disabled = False
    return adopted


def configure_logging(config: Config) -> None:
    """Apply ``config.log_config``, or install the default stderr handler (once).

    Raises ``LogConfigError`` when the log config cannot be applied.
    """
    logging.addLevelName(TRACE, "TRACE")
    if config.log_config is not None:
        _apply_log_config(config.log_config)
        adopted = _adopt_uvicorn_loggers()
        if adopted:
            logging.getLogger("asgi_magic.error").info(
                "log config: %s configure asgi_magic's loggers too", ", ".join(adopted)
            )
    else:
        parent = logging.getLogger("asgi_magic")
        for handler in parent.handlers:
            if getattr(handler, _HANDLER_MARK, False):
                handler.setFormatter(ColourFormatter(use_colors=config.use_colors))
                break
        else:
            new = logging.StreamHandler(sys.stderr)
            new.setFormatter(ColourFormatter(use_colors=config.use_colors))
            setattr(new, _HANDLER_MARK, True)
            parent.addHandler(new)
        # Our handler prints the records; propagating as well would print them twice
        # when the root logger also has a handler.
        parent.propagate = False
    set_levels(effective_level(config), config.access_log)
