"""Build the compiled hot path when possible; otherwise install pure Python.

pyproject.toml holds the metadata; this file only adds the extension modules:

* the modules listed in ``asgi_magic/_extensions.py`` (``COMPILED_MODULES``), compiled
  by mypyc from the same typed source that runs as pure Python, and
* the small C modules listed there (``C_EXTENSIONS``), each with a pure-Python twin.

Pure Python is installed, with one line saying why (``pip install -v`` shows it), when
``ASGI_MAGIC_NO_EXTENSIONS=1`` is set, when the interpreter is not CPython, when no C
compiler is found, when mypyc is missing or rejects the code, or when compiling fails.
A fallback also removes compiled files an earlier in-place (editable) build left in the
source tree, so they can never shadow the ``.py`` files.
"""

from __future__ import annotations

import json
import os
import platform
import runpy
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
_EXT = runpy.run_path(str(ROOT / "asgi_magic" / "_extensions.py"), run_name="asgi_magic_build")
COMPILED_MODULES: tuple[str, ...] = _EXT["COMPILED_MODULES"]
C_EXTENSIONS: dict[str, str] = _EXT["C_EXTENSIONS"]
NO_EXTENSIONS_ENV: str = _EXT["NO_EXTENSIONS_ENV"]
STAMP_NAME: str = _EXT["STAMP_NAME"]
# mypyc puts the code of all compiled modules in one shared library with this name (at
# the top level of the install), and a small shim module per compiled module.
MYPYC_GROUP = "asgi_magic"


# mypyc type-checks what it compiles. The build runs in pip's isolated build
# environment, where the optional extras (h2, watchfiles, ...) that uncompiled modules
# import are not installed: errors in modules mypyc only follows into are not ours to
# fix at build time (`make lint` checks them with everything installed), and a missing
# import there is Any to the compiled code. Without these flags a fresh `pip install`
# failed the type check and silently installed pure Python.
MYPYC_FLAGS = (
    "--follow-imports=silent",
    "--ignore-missing-imports",
    "--allow-subclassing-any",
    "--no-warn-unused-ignores",
    "--no-warn-return-any",
)

# setuptools' PEP 517 hooks run this file once per hook; only these commands build.
_BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}
# Builds whose compiled files land next to the sources (pip install -e, build_ext -i).
_IN_PLACE = bool({"editable_wheel", "develop", "--inplace", "-i"}.intersection(sys.argv[1:]))


def _say(message: str) -> None:
    sys.stderr.write(f"asgi-magic build: {message}\n")
    sys.stderr.flush()


def _rel(module: str) -> str:
    return "/".join(module.split(".")) + ".py"


def _compiler_missing() -> str | None:
    """Why no C compiler can be used, or None when one is on PATH."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    program = cc.split()[0]
    if shutil.which(program) is None:
        return f"no C compiler ({program!r} not found)"
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        return "no Python headers (Python.h not found; install the python3-dev package)"
    return None


def _remove_in_place_artifacts() -> None:
    """Delete compiled modules an earlier in-place build left next to the sources.

    Only for an in-place (editable) build: the one that would otherwise run beside them.
    """
    if not _IN_PLACE:
        return
    suffixes = [".so", ".pyd"]
    names = [*COMPILED_MODULES, *C_EXTENSIONS]
    removed = []
    for module in names:
        base = ROOT.joinpath(*module.split("."))
        for candidate in base.parent.glob(base.name + ".*"):
            if candidate.suffix in suffixes:
                candidate.unlink()
                removed.append(candidate.name)
    for candidate in ROOT.glob(f"{MYPYC_GROUP}__mypyc.*"):
        if candidate.suffix in suffixes:
            candidate.unlink()
            removed.append(candidate.name)
    stamp = ROOT / "asgi_magic" / STAMP_NAME
    if stamp.exists():
        stamp.unlink()
    if removed:
        _say(f"removed stale in-place builds: {', '.join(sorted(removed))}")


def _write_stamp(directory: Path) -> None:
    """Record the hash of every compiled source, for the stale-build check at run time."""
    digests = {}
    for module in COMPILED_MODULES:
        digests[module] = _EXT["source_digest"](str(ROOT / _rel(module)))
    stamp = {"sources": digests, "python": sys.version.split()[0]}
    (directory / STAMP_NAME).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def extensions() -> list[Extension]:
    """The extension modules to build, or [] (pure Python) with the reason printed."""
    if not _BUILD_COMMANDS.intersection(sys.argv[1:]):
        return []  # egg_info, dist_info, sdist: metadata only, mypyc would be wasted work
    if os.environ.get(NO_EXTENSIONS_ENV, "").strip().lower() in ("1", "true", "yes"):
        reason: str | None = f"{NO_EXTENSIONS_ENV}=1"
    elif platform.python_implementation() != "CPython":
        reason = f"{platform.python_implementation()} runs the pure-Python build"
    else:
        reason = _compiler_missing()
    if reason is None:
        try:
            from mypyc.build import mypycify
        except ImportError:
            reason = "mypyc not available (it ships with mypy)"
    if reason is not None:
        _say(f"installing pure Python: {reason}")
        _remove_in_place_artifacts()
        return []
    try:
        compiled: list[Extension] = mypycify(
            [*MYPYC_FLAGS, *(_rel(module) for module in COMPILED_MODULES)],
            opt_level="3",
            group_name=MYPYC_GROUP,
            target_dir=str(Path("build") / "mypyc"),
        )
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error
        _say(f"installing pure Python: mypyc could not compile the modules ({exc})")
        _remove_in_place_artifacts()
        return []
    for module, source in C_EXTENSIONS.items():
        compiled.append(Extension(module, [source], extra_compile_args=["-O3"]))
    _say(f"compiling {len(COMPILED_MODULES)} modules with mypyc, {len(C_EXTENSIONS)} in C")
    return compiled


class OptionalBuildExt(build_ext):
    """build_ext that installs pure Python instead of failing when compiling fails."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if len(detail) > 300:
                detail = detail[:300] + " …"
            _say(f"installing pure Python: compiling failed ({detail})")
            self._discard_outputs()
            return
        # An in-place (editable) build: the compiled files sit next to the sources, so
        # record what they were built from; asgi_magic ignores them once a source changes.
        if self.inplace or getattr(self, "editable_mode", False):
            _write_stamp(ROOT / "asgi_magic")

    def _discard_outputs(self) -> None:
        for output in self.get_outputs():
            Path(output).unlink(missing_ok=True)
        self.extensions = []
        _remove_in_place_artifacts()

    def get_outputs(self) -> list[str]:
        return list(super().get_outputs()) if self.extensions else []

    def get_output_mapping(self) -> dict[str, str]:
        # setuptools' editable install asks for this; nothing to map after a fallback.
        if not self.extensions:
            return {}
        mapping: Any = super().get_output_mapping()  # type: ignore[misc]
        return dict(mapping)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
