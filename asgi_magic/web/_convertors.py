"""Path parameter converters: a regex for matching plus parse/format functions."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "CONVERTORS",
    "Convertor",
    "FloatConvertor",
    "IntegerConvertor",
    "PathConvertor",
    "SlugConvertor",
    "StringConvertor",
    "UUIDConvertor",
    "convert_function",
    "register_converter",
]


class Convertor(Generic[T]):
    """Subclass and set ``regex``; ``convert`` parses a match, ``to_string`` formats a value.

    The regex must not contain capturing groups (use ``(?:...)``): the router combines
    every route into one pattern and relies on group numbering.
    """

    regex: ClassVar[str] = ""

    def convert(self, value: str) -> T:
        raise NotImplementedError()  # pragma: no cover

    def to_string(self, value: T) -> str:
        raise NotImplementedError()  # pragma: no cover


class StringConvertor(Convertor[str]):
    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        value = str(value)
        if "/" in value:
            raise ValueError("a {str} path parameter cannot contain '/'")
        if not value:
            raise ValueError("a {str} path parameter cannot be empty")
        return value


class PathConvertor(Convertor[str]):
    regex = ".*"

    def convert(self, value: str) -> str:
        return str(value)

    def to_string(self, value: str) -> str:
        return str(value)


class IntegerConvertor(Convertor[int]):
    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        value = int(value)
        if value < 0:
            raise ValueError("negative integers are not supported by {int}")
        return str(value)


class FloatConvertor(Convertor[float]):
    regex = r"[0-9]+(?:\.[0-9]+)?"

    def convert(self, value: str) -> float:
        return float(value)

    def to_string(self, value: float) -> str:
        value = float(value)
        if value < 0.0 or math.isnan(value) or math.isinf(value):
            raise ValueError("{float} supports finite, non-negative values only")
        return f"{value:0.20f}".rstrip("0").rstrip(".")


class UUIDConvertor(Convertor[uuid.UUID]):
    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: uuid.UUID) -> str:
        return str(value)


class SlugConvertor(Convertor[str]):
    regex = "[-a-zA-Z0-9_]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        value = str(value)
        if not value or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value):
            raise ValueError(f"{value!r} is not a slug")
        return value


CONVERTORS: dict[str, Convertor[Any]] = {
    "str": StringConvertor(),
    "path": PathConvertor(),
    "int": IntegerConvertor(),
    "float": FloatConvertor(),
    "uuid": UUIDConvertor(),
    "slug": SlugConvertor(),
}


# The built-in convertors whose ``convert`` is a plain builtin (or the identity): the
# router calls the builtin directly, one Python frame less per parameter per request.
# Exact types only, so a subclass that overrides ``convert`` keeps its own behaviour.
_BUILTIN_CONVERT: dict[type[Convertor[Any]], Callable[[str], Any] | None] = {
    StringConvertor: None,
    SlugConvertor: None,
    PathConvertor: None,
    IntegerConvertor: int,
    FloatConvertor: float,
    UUIDConvertor: uuid.UUID,
}


def convert_function(convertor: Convertor[Any]) -> Callable[[str], Any] | None:
    """What the router calls on a matched segment; ``None`` means use the text as is.

    A ``ValueError`` from it makes the route not match (the router answers 404), e.g.
    ``int()`` refusing more than ``sys.get_int_max_str_digits()`` digits.
    """
    cls = type(convertor)
    if cls in _BUILTIN_CONVERT:
        return _BUILTIN_CONVERT[cls]
    return convertor.convert


def register_converter(name: str, convertor: Convertor[Any]) -> None:
    """Make ``{param:name}`` available in route paths registered from now on."""
    CONVERTORS[name] = convertor
