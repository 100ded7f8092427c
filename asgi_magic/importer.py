"""Loading ``"module:attr"`` import strings with a one-line error for each failure."""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["ImportFromStringError", "import_from_string"]


class ImportFromStringError(Exception):
    """The import string is malformed, or its module or attribute cannot be loaded."""


def import_from_string(import_str: Any, app_dir: str | None = None) -> Any:
    """Return the object named by ``"package.module:attr.sub"``.

    Non-string values are returned unchanged so callers can pass an app or a string.
    """
    if not isinstance(import_str, str):
        return import_str
    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise ImportFromStringError(
            f'Import string "{import_str}" must be in format "<module>:<attribute>".'
        )
    if app_dir is not None and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        # Only "the module itself is missing" gets the short message; a missing module
        # imported *by* the app module is a bug in the app, reported with its cause.
        if (
            exc.name is not None
            and module_str.startswith(exc.name)
            and (module_str == exc.name or module_str.startswith(exc.name + "."))
        ):
            raise ImportFromStringError(f'Could not import module "{module_str}".') from None
        raise ImportFromStringError(
            f'Error importing module "{module_str}": {type(exc).__name__}: {exc}'
        ) from exc
    except Exception as exc:
        raise ImportFromStringError(
            f'Error importing module "{module_str}": {type(exc).__name__}: {exc}'
        ) from exc
    instance: Any = module
    try:
        for attr in attrs_str.split("."):
            instance = getattr(instance, attr)
    except AttributeError:
        raise ImportFromStringError(
            f'Attribute "{attrs_str}" not found in module "{module_str}".'
        ) from None
    return instance
