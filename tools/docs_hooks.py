"""MkDocs hooks: the CLI & settings page is generated from the code, so it cannot drift.

``docs/cli.md`` holds two markers, replaced when the site is built:

- ``<!-- generated: cli-options -->``: one table per argparse group of
  ``asgi_magic.cli.build_parser()`` (option strings, default, choices, help and the
  ``Config`` field the option sets), read through argparse's own objects, so a new
  flag, group or help text shows up without touching the docs.
- ``<!-- generated: config-fields -->``: every ``Config`` dataclass field with its
  type, default and the docstring written under it in ``asgi_magic/config.py``.

Wired in ``mkdocs.yml`` as ``hooks: [tools/docs_hooks.py]``; ``render_cli_options`` and
``render_config_fields`` are plain functions so a test can call them.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
from typing import Any

CLI_MARKER = "<!-- generated: cli-options -->"
CONFIG_MARKER = "<!-- generated: config-fields -->"


def _cell(text: str) -> str:
    # A Markdown table cell: no raw pipes or newlines.
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _default(action: argparse.Action, fallback: Any = None) -> str:
    default = action.default
    if default is argparse.SUPPRESS or default is None:
        # A parser that leaves defaults to Config (default=SUPPRESS) shows Config's.
        default = fallback
    if default is None:
        return "—"
    if isinstance(action, argparse._StoreConstAction | argparse._StoreTrueAction):
        return "off" if not default else "on"
    if isinstance(action, argparse.BooleanOptionalAction):
        return "on" if default else "off"
    if default == [] or default == ():
        return "—"
    return _code(repr(default) if isinstance(default, str) else str(default))


def _option_strings(action: argparse.Action) -> str:
    if not action.option_strings:
        return _code(action.metavar or action.dest)  # type: ignore[arg-type]
    strings = []
    takes_value = action.nargs != 0 and not isinstance(action, argparse.BooleanOptionalAction)
    for option in action.option_strings:
        if takes_value:
            if action.choices is not None:
                value = "{" + ",".join(str(c) for c in action.choices) + "}"
            else:
                metavar = action.metavar or action.dest.upper()
                value = metavar if isinstance(metavar, str) else " ".join(metavar)
            strings.append(_code(f"{option} {value}"))
        else:
            strings.append(_code(option))
    return "<br>".join(strings)


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%" in text:
        # Expand %(default)s and friends the way argparse's formatter would.
        params = dict(vars(action), prog="asgi-magic")
        for name in list(params):
            if params[name] is argparse.SUPPRESS:
                del params[name]
        if params.get("choices") is not None:
            params["choices"] = ", ".join(str(c) for c in params["choices"])
        try:
            text = text % params
        except (KeyError, TypeError, ValueError):
            pass
    return text


def render_cli_options(
    parser: argparse.ArgumentParser, config_fields: set[str], defaults: dict[str, Any] | None = None
) -> str:
    """Markdown tables, one per argument group of ``parser``, in the parser's order.

    ``defaults`` (``Config`` field → default) fills the default column of options whose
    argparse default is ``SUPPRESS`` or ``None``.
    """
    defaults = defaults or {}
    out: list[str] = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
        ]
        if not actions:
            continue
        title = (group.title or "options").strip()
        out += [f"### {title[:1].upper()}{title[1:]}", ""]
        if group.description:
            out += [group.description.strip(), ""]
        out += ["| option | default | meaning | `Config` field |", "| --- | --- | --- | --- |"]
        for action in actions:
            field = action.dest if action.dest in config_fields else ""
            out.append(
                f"| {_option_strings(action)} | {_default(action, defaults.get(action.dest))} "
                f"| {_cell(_help(action))} | {_code(field)} |"
            )
        out.append("")
    return "\n".join(out)


def _field_docstrings(cls: type) -> dict[str, str]:
    """The string literal written under each annotated attribute of ``cls``."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in zip(body, [*body[1:], None], strict=True):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def config_defaults(config_cls: type) -> dict[str, Any]:
    """``{field: default}`` for the dataclass fields that have one."""
    found: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            found[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            found[f.name] = f.default_factory()
    return found


def flags_by_dest(parser: argparse.ArgumentParser) -> dict[str, tuple[str, str]]:
    """``{dest: (first option string, help)}`` for every documented option."""
    found: dict[str, tuple[str, str]] = {}
    for action in parser._actions:
        if action.option_strings and action.help is not argparse.SUPPRESS:
            found.setdefault(action.dest, (action.option_strings[0], _help(action)))
    return found


def render_config_fields(config_cls: type, flags: dict[str, tuple[str, str]] | None = None) -> str:
    """A Markdown table of the dataclass ``config_cls``: field, type, default, meaning.

    The meaning is the docstring written under the field, else the help of the flag
    that sets it (``flags``, from ``flags_by_dest``).
    """
    docs = _field_docstrings(config_cls)
    flags = flags or {}
    rows = ["| field | type | default | flag | meaning |", "| --- | --- | --- | --- | --- |"]
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = _code(repr(f.default))
        elif f.default_factory is not dataclasses.MISSING:
            default = _code(repr(f.default_factory()))
        else:
            default = "required"
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        flag, flag_help = flags.get(f.name, ("", ""))
        meaning = docs.get(f.name) or flag_help
        rows.append(
            f"| `{f.name}` | {_code(_cell(str(kind)))} | {default} | {_code(flag)} "
            f"| {_cell(meaning)} |"
        )
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the markers of any page that has them."""
    if CLI_MARKER not in markdown and CONFIG_MARKER not in markdown:
        return markdown
    from asgi_magic.cli import build_parser
    from asgi_magic.config import Config

    parser = build_parser()
    fields = {f.name for f in dataclasses.fields(Config)}
    markdown = markdown.replace(
        CLI_MARKER, render_cli_options(parser, fields, config_defaults(Config))
    )
    return markdown.replace(CONFIG_MARKER, render_config_fields(Config, flags_by_dest(parser)))
