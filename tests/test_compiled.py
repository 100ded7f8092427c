"""The two builds of the hot path: compiled (mypyc + C) and pure Python.

`make test` runs the whole suite twice: once with ``ASGI_MAGIC_REQUIRE_COMPILED=1``
(where a compiler exists) and once with ``ASGI_MAGIC_NO_EXTENSIONS=1``. The first tests
here prove each run really exercises the build it claims to; the rest check the
machinery that chooses between them, and that the C masking twin agrees with the
pure-Python one.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import asgi_magic
from asgi_magic import _extensions
from asgi_magic.http11 import _events
from asgi_magic.websocket import _frames

ROOT = Path(__file__).resolve().parent.parent


def _loaded_from_extension(module: str) -> bool:
    spec = importlib.import_module(module).__spec__
    return isinstance(getattr(spec, "loader", None), importlib.machinery.ExtensionFileLoader)


# --- the build each run claims -------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("ASGI_MAGIC_REQUIRE_COMPILED") != "1",
    reason="only the compiled run of `make test` requires the compiled build",
)
def test_compiled_run_really_runs_the_compiled_build() -> None:
    assert asgi_magic.compiled, (
        f"expected the compiled build, got: {asgi_magic.build_info()}. "
        "See why with `.venv/bin/pip install -v -e .` (lines starting 'asgi-magic build:')."
    )
    for module in (*_extensions.COMPILED_MODULES, *_extensions.C_EXTENSIONS):
        assert _loaded_from_extension(module), module
    assert _frames.apply_mask is not _frames._apply_mask_python


@pytest.mark.skipif(not _extensions.env_forces_pure(), reason="only in the pure-Python run")
def test_pure_run_really_runs_pure_python() -> None:
    assert asgi_magic.compiled is False
    assert asgi_magic.build_info() == "pure Python (ASGI_MAGIC_NO_EXTENSIONS=1)"
    for module in _extensions.COMPILED_MODULES:
        assert not _loaded_from_extension(module), module
        assert importlib.import_module(module).__file__.endswith(".py")  # type: ignore[union-attr]
    assert _frames.apply_mask is _frames._apply_mask_python
    with pytest.raises(ModuleNotFoundError, match="ASGI_MAGIC_NO_EXTENSIONS"):
        importlib.import_module("asgi_magic.websocket._cmask")


def test_in_place_build_is_not_stale() -> None:
    """An edited .py next to an old .so is never used silently: the hash check falls
    back to pure Python, and this test fails in the compiled run until a rebuild."""
    stale = _extensions.stale_sources()
    assert stale == [], f"rebuild the compiled modules (make venv): {stale} changed since"


# --- choosing the build ----------------------------------------------------------------


def _run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != _extensions.NO_EXTENSIONS_ENV}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env=environment,
        cwd=ROOT,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_environment_variable_selects_pure_python_at_run_time(value: str) -> None:
    out = _run(
        "import asgi_magic, asgi_magic.http11._parser as p, asgi_magic.websocket._frames as f\n"
        "print(asgi_magic.compiled, p.__file__.endswith('.py'), f.apply_mask.__name__)\n"
        "print(asgi_magic.build_info())",
        ASGI_MAGIC_NO_EXTENSIONS=value,
    )
    assert out.splitlines() == [
        "False True _apply_mask_python",
        "pure Python (ASGI_MAGIC_NO_EXTENSIONS=1)",
    ]


def test_without_the_variable_the_installed_build_runs() -> None:
    out = _run("import asgi_magic; print(asgi_magic.compiled); print(asgi_magic.build_info())")
    compiled, info = out.splitlines()
    expected = all(_extensions.extension_path(m) for m in _extensions.COMPILED_MODULES)
    if expected and not _extensions.stale_sources():
        assert (compiled, info) == ("True", "compiled (mypyc + C)")
    else:
        assert (compiled, info[:11]) == ("False", "pure Python")


def test_stale_check_compares_source_hashes(tmp_path: Path) -> None:
    module = "asgi_magic.http11._parser"
    source = tmp_path / "asgi_magic" / "http11" / "_parser.py"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"x = 1\n")
    stamp = tmp_path / "asgi_magic" / _extensions.STAMP_NAME
    # No compiled file and no stamp: nothing can be stale.
    assert _extensions.stale_sources(str(tmp_path)) == []
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (source.parent / f"_parser{suffix}").write_bytes(b"")
    # A compiled file without a stamp is an installed wheel: trusted, not hashed.
    assert _extensions.stale_sources(str(tmp_path)) == []
    digest = _extensions.source_digest(str(source))
    stamp.write_text(json.dumps({"sources": {module: digest}}))
    assert _extensions.stale_sources(str(tmp_path)) == []
    source.write_bytes(b"x = 2\n")  # edited after the build
    assert _extensions.stale_sources(str(tmp_path)) == [module]
    stamp.write_text("not json")
    assert _extensions.stale_sources(str(tmp_path)) == []


def test_pure_source_finder_loads_sources_and_refuses_c_modules() -> None:
    finder = _extensions.PureSourceFinder("testing")
    spec = finder.find_spec("asgi_magic.http11._parser", None)
    assert spec is not None and spec.origin == _extensions.source_path("asgi_magic.http11._parser")
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("asgi_magic.http11", None) is None  # not a compiled module
    assert finder.find_spec("json", None) is None
    with pytest.raises(ModuleNotFoundError, match="disabled: testing"):
        finder.find_spec("asgi_magic.websocket._cmask", None)


def test_makefile_source_list_names_existing_files() -> None:
    out = subprocess.run(
        [sys.executable, "asgi_magic/_extensions.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.split()
    assert len(out) == len(_extensions.COMPILED_MODULES) + len(_extensions.C_EXTENSIONS)
    for path in out:
        assert (ROOT / path).is_file(), path


# --- source written for mypyc keeps its pure-Python behaviour ----------------------------


@pytest.mark.parametrize("cls", [_events.Request, _events.Data, _events.EndOfMessage])
def test_event_init_matches_the_dataclass_fields(cls: type) -> None:
    """The events spell out __init__ (mypyc compiles it; a dataclass-generated one
    would run as interpreted code): its parameters must stay the dataclass fields."""
    # Read from the source: a compiled __init__ has no introspectable signature.
    tree = ast.parse(Path(_extensions.source_path(_events.__name__)).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = [arg.arg for arg in init.args.args[1:]]
    assert params == [f.name for f in dataclasses.fields(cls)]


def test_events_keep_dataclass_equality_and_defaults() -> None:
    assert _events.Data(b"x") == _events.Data(b"x") != _events.Data(b"y")
    assert _events.EndOfMessage() == _events.EndOfMessage([])
    assert _events.EndOfMessage().trailers is not _events.EndOfMessage().trailers
    request = _events.Request(b"GET", b"/", b"/", b"", "1.1", [])
    assert (request.host, request.keep_alive, request.chunked) == (None, True, False)
    assert "method=b'GET'" in repr(request)


# --- the masking twins ------------------------------------------------------------------


def _naive_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))  # RFC 6455 §5.3, literally


def _c_apply_mask() -> object:
    """The C twin, loaded from its file even in the pure run (bypassing the finder)."""
    path = _extensions.extension_path("asgi_magic.websocket._cmask")
    if path is None:
        pytest.skip("the C extension was not built")
    loader = importlib.machinery.ExtensionFileLoader("asgi_magic.websocket._cmask", path)
    spec = importlib.machinery.ModuleSpec("asgi_magic.websocket._cmask", loader, origin=path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[attr-defined]
    loader.exec_module(module)
    return module.apply_mask


SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 511, 512, 513, 4097, 65536, 65539, 70001]


@pytest.mark.parametrize("n", SIZES)
def test_mask_twins_agree_with_the_definition(n: int) -> None:
    data = os.urandom(n)
    mask = os.urandom(4)
    expected = _naive_mask(data, mask)
    assert _frames._apply_mask_python(data, mask) == expected
    c_mask = _c_apply_mask()
    assert c_mask(data, mask) == expected  # type: ignore[operator]
    # Every buffer the connection hands over: bytearray, and views at odd offsets.
    view = memoryview(b"\x00\x01\x02" + data)[3:]
    assert c_mask(view, mask) == expected  # type: ignore[operator]
    assert c_mask(bytearray(data), mask) == expected  # type: ignore[operator]
    assert _frames._apply_mask_python(view, mask) == expected


def test_c_mask_refuses_bad_arguments() -> None:
    c_mask = _c_apply_mask()
    with pytest.raises(ValueError, match="mask must be 4 bytes"):
        c_mask(b"abc", b"\x01\x02\x03")  # type: ignore[operator]
    with pytest.raises(TypeError):
        c_mask("text", b"\x01\x02\x03\x04")  # type: ignore[operator]
    with pytest.raises(TypeError):
        c_mask(b"abc")  # type: ignore[operator]
    # A non-contiguous view is not a payload the connection produces: refused, not misread.
    with pytest.raises(BufferError):
        c_mask(memoryview(b"abcdef")[::2], b"\x01\x02\x03\x04")  # type: ignore[operator]
