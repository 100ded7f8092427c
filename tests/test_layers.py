"""The layer rule of DESIGN.md, checked by walking every module's imports.

Protocol code (http11/, websocket/) is sans-IO: no asyncio, sockets, TLS or logging.
The framework (web/) speaks only ASGI: it never imports the server or protocol code.
The leaf modules (status.py, asgi_types.py) import nothing from asgi_magic, so every
layer may import them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "asgi_magic"

FORBIDDEN = {
    "http11": (
        "asyncio",
        "socket",
        "ssl",
        "logging",
        "selectors",
        "uvloop",
        "asgi_magic.server",
        "asgi_magic.web",
        "asgi_magic.websocket",
    ),
    "websocket": (
        "asyncio",
        "socket",
        "ssl",
        "logging",
        "selectors",
        "uvloop",
        "asgi_magic.server",
        "asgi_magic.web",
    ),
    "web": ("asgi_magic.server", "asgi_magic.http11", "asgi_magic.websocket", "uvloop"),
}


# Modules any layer may import: they must import nothing from the package.
LEAVES = ("status.py", "asgi_types.py")


def imported_modules(path: Path) -> list[str]:
    """Absolute names of everything a module imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    # The package a module lives in: a relative import of level 1 resolves against it.
    package_parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imported_modules(path):
            for bad in FORBIDDEN[layer]:
                if name == bad or name.startswith(bad + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_rule(layer: str) -> None:
    assert (PACKAGE / layer).is_dir()
    assert violations(layer) == []


def leaf_violations(leaf: str) -> list[str]:
    return [
        f"{leaf} imports {name}"
        for name in imported_modules(PACKAGE / leaf)
        if name == "asgi_magic" or name.startswith("asgi_magic.")
    ]


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_modules_import_nothing_from_the_package(leaf: str) -> None:
    assert (PACKAGE / leaf).is_file()
    assert leaf_violations(leaf) == []


def test_the_checker_can_fail(tmp_path: Path) -> None:
    fake = tmp_path / "asgi_magic"
    (fake / "http11").mkdir(parents=True)
    (fake / "web").mkdir()
    (fake / "http11" / "bad.py").write_text("import asyncio\nfrom ..server import x\n")
    (fake / "web" / "bad.py").write_text("from asgi_magic.server.state import ServerState\n")
    (fake / "status.py").write_text("from .http11 import ProtocolError\n")
    globals()["PACKAGE"], saved = fake, PACKAGE
    try:
        assert violations("http11") == [
            "asgi_magic/http11/bad.py imports asyncio",
            "asgi_magic/http11/bad.py imports asgi_magic.server",
            "asgi_magic/http11/bad.py imports asgi_magic.server.x",
        ]
        assert violations("web") == [
            "asgi_magic/web/bad.py imports asgi_magic.server.state",
            "asgi_magic/web/bad.py imports asgi_magic.server.state.ServerState",
        ]
        assert leaf_violations("status.py") == [
            "status.py imports asgi_magic.http11",
            "status.py imports asgi_magic.http11.ProtocolError",
        ]
    finally:
        globals()["PACKAGE"] = saved
