"""The ``asgi-magic`` command: uvicorn's flag names, one ``Config``, one-line errors.

Where a setting comes from, highest first: a flag, an ``ASGI_MAGIC_*`` environment
variable, a ``UVICORN_*`` one (one startup line says so), the ``--config`` TOML file,
the ``Config`` default. ``--env-file`` is loaded before any variable is read, so the
variables it sets (``WEB_CONCURRENCY``, ``ASGI_MAGIC_PORT`` ...) count; variables
already in the environment win over the file's.

Exit codes: 0 after a clean shutdown; 1 when the app cannot be loaded, the socket
cannot be bound, TLS cannot be set up from its files, or uvloop is asked for but not
installed; 2 for a usage error: a bad flag or value from any source, or a file or
directory the command names for itself (``--config``, ``--env-file``, ``--log-config``,
``--reload-dir``) that cannot be used (argparse's convention, always one line from
``config.usage_error``); 3 when the lifespan startup fails.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from asgi_magic.config import (
    ENV_PREFIX,
    GROUPS,
    SETTINGS,
    Config,
    ConfigError,
    LoopSetting,
    Setting,
    usage_error,
    values_from_env,
    values_from_toml,
)

__all__ = [
    "build_parser",
    "compat_notices",
    "config_from_args",
    "load_env_file",
    "main",
    "resolve",
    "run_config",
]

logger = logging.getLogger("asgi_magic.error")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the user sees what is wrong at a glance.
        usage_error(f"{message} (see --help)")


def _argparse_type(setting: Setting) -> Any:
    def parse(text: str) -> Any:
        try:
            return setting.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = setting.kind  # argparse names the type in some messages
    return parse


def _forwarded_allow_ips(text: str) -> str:
    from asgi_magic.server.proxy_headers import ProxyTrust

    try:
        ProxyTrust(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {text!r}")
    return value


def _help(setting: Setting) -> str:
    default = setting.default
    text = setting.help
    if setting.kind in ("flag", "list", "headers") or default in (None, "") or "default:" in text:
        return text
    if isinstance(default, bool):
        default = "on" if default else "off"
    elif isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"{text} [default: {default}]"


def build_parser() -> argparse.ArgumentParser:
    """The parser, generated from ``config.SETTINGS``; every option defaults to
    "not given" (``argparse.SUPPRESS``) so ``resolve`` can apply the precedence."""
    from asgi_magic import __version__

    p = _Parser(
        prog="asgi-magic",
        usage="%(prog)s [OPTIONS] APP",
        description="Serve an ASGI application with asgi_magic. Every option can also be "
        f"set by an {ENV_PREFIX}<OPTION> environment variable (UVICORN_<OPTION> is read "
        "when that is unset) or a key of the --config TOML file.",
        epilog="Precedence: flag > environment > config file > default. See docs/configuration.md.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "app",
        nargs="?",
        metavar="APP",
        help="the application as module:attribute (or $ASGI_MAGIC_APP, or app in --config)",
    )
    p.add_argument("--version", action="version", version=f"asgi-magic {__version__}")
    groups = {name: p.add_argument_group(name) for name in GROUPS}
    for setting in SETTINGS:
        if not setting.cli:
            continue
        group = groups[setting.group]
        option = setting.option
        kw: dict[str, Any] = {"dest": setting.name, "help": _help(setting)}
        metavar = setting.metavar or {"int": "N", "float": "SECONDS", "str": "TEXT"}.get(
            setting.kind
        )
        if metavar and setting.kind not in ("bool", "flag", "choice"):
            kw["metavar"] = metavar
        kind = setting.kind
        if setting.name == "ws_per_message_deflate":
            # uvicorn spells it "--ws-per-message-deflate BOOL"; --no-... also works.
            group.add_argument(
                option, nargs="?", const=True, type=_argparse_type(setting), metavar="BOOL", **kw
            )
            group.add_argument(
                "--no-" + option[2:],
                action="store_false",
                dest=setting.name,
                help=argparse.SUPPRESS,
            )
        elif kind == "bool":
            group.add_argument(option, action=argparse.BooleanOptionalAction, **kw)
        elif kind == "flag":
            group.add_argument(option, action="store_true", **kw)
        elif kind in ("list", "headers"):
            group.add_argument(option, action="append", type=_argparse_type(setting), **kw)
        elif kind == "choice":
            group.add_argument(option, choices=setting.choices, **kw)
        elif setting.name == "port":
            group.add_argument(option, type=_port, **kw)
        elif setting.name == "forwarded_allow_ips":
            group.add_argument(option, type=_forwarded_allow_ips, **kw)
        else:
            group.add_argument(option, type=_argparse_type(setting), **kw)
        if setting.name == "env_file":
            group.add_argument(
                "--config",
                dest="config_file",
                metavar="FILE",
                help=f"read settings from this TOML file (or ${ENV_PREFIX}CONFIG)",
            )
    return p


def load_env_file(path: str) -> None:
    """KEY=VALUE lines; ``#`` comments, ``export`` prefixes and quotes are allowed.

    Variables already set in the environment are kept (the file gives defaults).
    Raises ``OSError`` when the file cannot be read.
    """
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


def _env_get(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name) or os.environ.get("UVICORN_" + name)


def resolve(args: argparse.Namespace) -> tuple[Config, list[str]]:
    """Merge flags, environment, config file and defaults into one ``Config``.

    Returns the config and the startup notices to log. Raises ``ConfigError``, also
    for the values the server would refuse at startup (``server.check_settings``).
    """
    from asgi_magic.server.server import check_settings

    given = dict(vars(args))
    config_file = given.pop("config_file", None) or os.environ.get(ENV_PREFIX + "CONFIG")
    file_values = values_from_toml(config_file) if config_file else {}
    # The env file first: what it sets must count as environment (issue 10, item 12).
    env_file = given.get("env_file") or _env_get("ENV_FILE") or file_values.get("env_file")
    if env_file:
        try:
            load_env_file(env_file)
        except OSError as exc:
            raise ConfigError(f"--env-file {env_file}: {exc.strerror}") from None
    env_values, uvicorn_names = values_from_env()
    values: dict[str, Any] = {**file_values, **env_values, **given}
    if values.get("app") is None:
        raise ConfigError(
            "the following arguments are required: APP (module:attribute), "
            f"or set ${ENV_PREFIX}APP or app in the --config file"
        )
    notices = []
    if uvicorn_names:
        notices.append(
            "Read uvicorn settings from the environment: "
            + ", ".join(sorted(uvicorn_names))
            + f" (an {ENV_PREFIX}* variable takes precedence)"
        )
    if config_file:
        notices.append(f"Read settings from {config_file}")
    config = Config(**values)
    try:
        check_settings(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config, notices


def config_from_args(args: argparse.Namespace) -> Config:
    """``resolve`` without the notices (for tests and embedders)."""
    return resolve(args)[0]


def compat_notices(config: Config) -> list[str]:
    """Lines saying what uvicorn's implementation choices mean here."""
    notes = []
    if config.http != "auto":
        notes.append(f"--http {config.http}: asgi_magic always uses its own HTTP/1.1 parser")
    if config.ws not in ("auto", "none"):
        notes.append(f"--ws {config.ws}: asgi_magic always uses its own WebSocket stack")
    if config.loop == "zuvloop":
        notes.append("--loop zuvloop: using uvloop when installed, else asyncio")
    return notes


# uvicorn's loop names that have no loop of their own here.
_LOOP_ALIASES: dict[str, LoopSetting] = {"zuvloop": "auto", "none": "asyncio"}


def _web_concurrency() -> int | None:
    # As uvicorn: platforms such as Heroku say how many processes fit.
    value = os.environ.get("WEB_CONCURRENCY", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def run_config(config: Config, notices: Sequence[str] = ()) -> None:
    """Configure logging, pick the loop, serve until a signal; exit with a status code."""
    from asgi_magic.server import Server
    from asgi_magic.server.logging import LogConfigError, configure_logging
    from asgi_magic.server.loops import loop_factory
    from asgi_magic.server.server import load_app_or_report

    try:
        configure_logging(config)
    except LogConfigError as exc:
        usage_error(str(exc))
    if config.env_file is not None:
        try:
            load_env_file(config.env_file)
        except OSError as exc:
            usage_error(f"--env-file {config.env_file}: {exc.strerror}")
    # After the env file: WEB_CONCURRENCY may come from it.
    if config.workers is None and not config.reload:
        config.workers = _web_concurrency()
    for line in (*notices, *compat_notices(config)):
        logger.info("%s", line)
    loop_name: LoopSetting = _LOOP_ALIASES.get(config.loop, config.loop)
    try:
        factory = loop_factory(loop_name)
    except ImportError:
        # Not a usage error: the flag is right, the machine lacks the package.
        logger.error("--loop uvloop: uvloop is not installed (pip install uvloop)")
        sys.exit(1)
    if config.reload or (config.workers is not None and config.workers > 1):
        from asgi_magic.server.supervisor import run_supervisor

        config.loop = loop_name
        code = run_supervisor(config)
        if code:
            sys.exit(code)
        return
    # Import the app before the loop starts so an import error is reported cleanly.
    app = load_app_or_report(config)
    if app is None:
        sys.exit(1)
    config.app = app
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config, notices = resolve(args)
    except ConfigError as exc:
        parser.error(str(exc))
    run_config(config, notices)
