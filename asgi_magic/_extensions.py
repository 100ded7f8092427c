"""Which modules have a compiled build, and choosing between it and pure Python.

One list, read by ``setup.py`` at build time (it runs this file without importing the
package, so this module imports only the standard library) and by ``asgi_magic`` at
run time. The compiled modules are built by mypyc from the same typed source as the
pure-Python ones: there is no second implementation, only a second build of the same
code. ``C_EXTENSIONS`` are the few small C modules whose pure-Python twin lives behind
one function in the module that imports them (``websocket._frames.apply_mask``).

Pure Python is chosen at run time, even when the compiled modules are installed, when

* ``ASGI_MAGIC_NO_EXTENSIONS=1`` is set in the environment, or
* the package runs from a source checkout whose compiled modules were built from other
  sources than the ones on disk (an edited ``.py`` next to an old ``.so``): the stamp
  that ``setup.py`` writes beside them records a hash of every source it compiled.

Either way ``PureSourceFinder`` goes first on ``sys.meta_path`` and loads the ``.py``
file of every compiled module, and refuses the C-only modules, so their importers take
the pure-Python twin. ``build_info()`` says which build runs and why.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from types import ModuleType

# The modules mypyc compiles, all in one group (one shared library, so calls between
# them are C calls). Adding a module is one line here; it must pass ``mypy --strict``
# and must not be subclassed or monkeypatched from interpreted code.
COMPILED_MODULES: tuple[str, ...] = (
    "asgi_magic.http11._abnf",
    "asgi_magic.http11._errors",
    "asgi_magic.http11._events",
    "asgi_magic.http11._headers",
    "asgi_magic.http11._parser",
    "asgi_magic.http11._writer",
    "asgi_magic.websocket._frames",
    "asgi_magic.websocket._connection",
    "asgi_magic.server.closing",
    "asgi_magic.server.proxy_headers",
    "asgi_magic.server.scope",
    "asgi_magic.server.ws_protocol",
    # Subclasses ws_protocol's WebSocketProtocol (WebSocket over HTTP/2): a compiled
    # class cannot have an interpreted subclass.
    "asgi_magic.server.h2_websocket",
)
# The server modules with coroutines that await the app or a future. On CPython 3.12+
# a mypyc coroutine passes throw() on to what it awaits in the (type, value, traceback)
# form that 3.12 deprecates (mypyc/mypyc#1214, open): every cancellation or error
# thrown into an app through them then also raises a DeprecationWarning, which is an
# error wherever warnings are (`-W error`, our test suite: the app saw the warning
# instead of CancelledError). Compiled below 3.12 only, until mypyc is fixed.
if sys.version_info < (3, 12):
    COMPILED_MODULES += (
        "asgi_magic.server.flow_control",
        "asgi_magic.server.http_cycle",
        "asgi_magic.server.http_protocol",
        "asgi_magic.server.ws_session",
    )

# Small C modules (module name → source file, relative to the project root). Each has
# a pure-Python twin with the same behaviour, chosen when the C module cannot be
# imported.
C_EXTENSIONS: dict[str, str] = {
    "asgi_magic.websocket._cmask": "asgi_magic/websocket/_cmask.c",
}

NO_EXTENSIONS_ENV = "ASGI_MAGIC_NO_EXTENSIONS"
# Written by setup.py next to the compiled modules of an in-place (editable) build:
# the sha256 of each source it compiled. Not shipped in wheels.
STAMP_NAME = "_compiled_stamp.json"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_ROOT_DIR = os.path.dirname(_PACKAGE_DIR)


def source_path(module: str, root: str = _ROOT_DIR) -> str:
    """The ``.py`` file of a ``COMPILED_MODULES`` entry, under ``root``."""
    return os.path.join(root, *module.split(".")) + ".py"


def source_digest(path: str) -> str:
    """sha256 hex digest of a file's bytes (what the build stamp records)."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def extension_path(module: str, root: str = _ROOT_DIR) -> str | None:
    """The compiled file (``.so``/``.pyd``) of ``module`` under ``root``, if one exists."""
    base = os.path.join(root, *module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + suffix
    return None


def env_forces_pure() -> bool:
    """``ASGI_MAGIC_NO_EXTENSIONS`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(NO_EXTENSIONS_ENV, "").strip().lower() in ("1", "true", "yes")


def stale_sources(root: str = _ROOT_DIR) -> list[str]:
    """Compiled modules whose source changed since the in-place build (source checkouts).

    Empty when there is no stamp (an installed wheel, or nothing compiled): installed
    files are not edited, and hashing them on every start would be wasted work.
    """
    stamp_file = os.path.join(root, "asgi_magic", STAMP_NAME)
    try:
        with open(stamp_file, encoding="utf-8") as file:
            stamp = json.load(file)
    except (OSError, ValueError):
        return []
    digests = stamp.get("sources", {}) if isinstance(stamp, dict) else {}
    stale: list[str] = []
    for module in COMPILED_MODULES:
        if extension_path(module, root) is None:
            continue
        try:
            current = source_digest(source_path(module, root))
        except OSError:
            continue
        if digests.get(module) != current:
            stale.append(module)
    return stale


class PureSourceFinder(MetaPathFinder):
    """Loads compiled modules from their ``.py`` source; refuses the C-only modules."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in C_EXTENSIONS:
            raise ModuleNotFoundError(f"{fullname} is disabled: {self.reason}", name=fullname)
        if fullname not in COMPILED_MODULES:
            return None
        location = source_path(fullname)
        if not os.path.exists(location):
            return None
        return importlib.util.spec_from_file_location(fullname, location)


_pure_reason: str | None = None


def select_build() -> None:
    """Install ``PureSourceFinder`` when pure Python is asked for or the build is stale.

    Called once by ``asgi_magic/__init__.py``, before any compiled module is imported.
    """
    global _pure_reason
    if env_forces_pure():
        _pure_reason = f"{NO_EXTENSIONS_ENV}=1"
    else:
        stale = stale_sources()
        if stale:
            names = ", ".join(m.rsplit(".", 1)[-1] for m in stale)
            _pure_reason = (
                f"compiled modules older than their source ({names}): "
                "rebuild with `pip install -e .` or `make venv`"
            )
    if _pure_reason is not None and not any(isinstance(f, PureSourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PureSourceFinder(_pure_reason))


def compiled_modules_loaded() -> dict[str, bool]:
    """Import every compiled module; map each to whether its compiled build is loaded."""
    loaded: dict[str, bool] = {}
    for module in (*COMPILED_MODULES, *C_EXTENSIONS):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            loaded[module] = False
            continue
        loader = getattr(mod.__spec__, "loader", None)
        loaded[module] = isinstance(loader, importlib.machinery.ExtensionFileLoader)
    return loaded


def is_compiled() -> bool:
    """True when every compiled module and C extension runs from its compiled build."""
    return all(compiled_modules_loaded().values())


def build_info() -> str:
    """One line: ``compiled (mypyc)``, or ``pure Python (<why>)``."""
    loaded = compiled_modules_loaded()
    if all(loaded.values()):
        return "compiled (mypyc + C)"
    if _pure_reason is not None:
        return f"pure Python ({_pure_reason})"
    if any(loaded.values()):
        missing = ", ".join(m for m, ok in loaded.items() if not ok)
        return f"partly compiled (pure Python: {missing})"
    return "pure Python (no compiled modules installed)"


def log_build_info() -> None:
    """Log ``asgi-magic <version>, build: <build_info()>`` at INFO (the CLI's startup line)."""
    from asgi_magic import __version__

    # "asgi_magic.error" is server.logging.ERROR_LOGGER, not imported here: this module
    # must stay importable on its own (setup.py runs it).
    logging.getLogger("asgi_magic.error").info(
        "asgi-magic %s, build: %s", __version__, build_info()
    )


if __name__ == "__main__":
    # `python asgi_magic/_extensions.py` lists the sources a build depends on (Makefile).
    print(" ".join([source_path(m, ".") for m in COMPILED_MODULES] + list(C_EXTENSIONS.values())))
