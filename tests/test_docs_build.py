"""The documentation site builds with ``mkdocs build --strict``, and its generated
CLI & settings page lists every option the parser has.

``--strict`` turns every warning into a failure: a broken link or anchor, a page
missing from disk, an unresolved mkdocstrings cross-reference. The ``test`` extra
installs mkdocs, so this runs in CI; it is skipped only where mkdocs is absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import docs_hooks  # noqa: E402  (tools/ is not a package)

from asgi_magic.cli import build_parser  # noqa: E402
from asgi_magic.config import Config  # noqa: E402


def _cli_page() -> str:
    parser = build_parser()
    fields = {f.name for f in dataclasses.fields(Config)}
    return docs_hooks.render_cli_options(parser, fields, docs_hooks.config_defaults(Config))


def test_every_option_of_the_parser_is_on_the_cli_page() -> None:
    page = _cli_page()
    for action in build_parser()._actions:
        if action.help is argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            assert f"`{option}" in page, option


def test_every_config_field_is_on_the_settings_table() -> None:
    table = docs_hooks.render_config_fields(Config, docs_hooks.flags_by_dest(build_parser()))
    for f in dataclasses.fields(Config):
        assert f"| `{f.name}` |" in table


def test_groups_help_defaults_and_pipes_are_rendered() -> None:
    parser = argparse.ArgumentParser()
    group = parser.add_argument_group("Limits", "Bytes and counts.")
    group.add_argument("--max", type=int, default=5, help="at most %(default)s | x")
    group.add_argument("--mode", choices=["a", "b"], default=argparse.SUPPRESS, help="mode")
    group.add_argument("--flag", action=argparse.BooleanOptionalAction, default=True, help="f")
    group.add_argument("--secret", help=argparse.SUPPRESS)
    page = docs_hooks.render_cli_options(parser, {"max", "mode"}, {"mode": "b"})
    assert "### Limits\n\nBytes and counts." in page
    assert "| `--max MAX` | `5` | at most 5 \\| x | `max` |" in page
    assert "| `--mode {a,b}` | `'b'` | mode | `mode` |" in page  # Config's default
    assert "`--flag`<br>`--no-flag` | on |" in page
    assert "--secret" not in page


def test_the_hook_fills_the_markers_only() -> None:
    page = f"# CLI\n\n{docs_hooks.CLI_MARKER}\n\n{docs_hooks.CONFIG_MARKER}\n"
    out = docs_hooks.on_page_markdown(page, None, None, None)
    assert docs_hooks.CLI_MARKER not in out and docs_hooks.CONFIG_MARKER not in out
    assert "`--port" in out and "| `limit_request_body` |" in out
    assert docs_hooks.on_page_markdown("plain", None, None, None) == "plain"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cli = (tmp_path / "cli" / "index.html").read_text(encoding="utf-8")
    assert "--limit-request-body" in cli and "generated: cli-options" not in cli
    assert (tmp_path / "reference" / "web" / "index.html").exists()
    assert (tmp_path / "benchmarks" / "chart.svg").exists()
