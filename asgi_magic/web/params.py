"""Typed handler parameters: where each value comes from and how it is converted.

A handler parameter that is not a path parameter and not the request (or websocket)
is filled from the query string by its name and converted by its annotation::

    @app.get("/search")
    async def search(q: str, page: int = 1, tags: list[str] | None = None) -> dict: ...

Markers take the value from elsewhere, as a default or inside ``Annotated``:
``Query(alias=...)``, ``Header()`` (``user_agent`` → ``User-Agent``), ``Cookie()``. A
parameter annotated with a dataclass, a ``TypedDict`` or (when installed) a pydantic
model is the JSON body.

Everything is decided once, when the route is registered (:func:`compile_binder`):
the request only runs the prebuilt converters. A parameter the framework cannot bind
raises ``TypeError`` at registration, naming the handler and the parameter. A missing
or unconvertible value is answered 422 with FastAPI's error shape::

    {"detail": [{"loc": ["query", "page"], "msg": "...", "type": "int_parsing"}]}
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import inspect
import math
import re
import sys
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Union
from urllib.parse import unquote_plus

from .exceptions import HTTPException, RequestValidationError
from .requests import HTTPConnection, Request, _json_loads

__all__ = ["Binder", "Cookie", "Header", "Param", "Query", "compile_binder"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class Param:
    """Base of the source markers; ``default`` REQUIRED means the value must be sent."""

    source: ClassVar[str] = ""

    __slots__ = ("alias", "default")

    def __init__(self, default: Any = REQUIRED, *, alias: str | None = None) -> None:
        if alias is not None and not alias:
            raise ValueError("alias must not be empty")
        self.default = default
        self.alias = alias

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self.default!r}, alias={self.alias!r})"


class Query(Param):
    """The value of query parameter ``alias`` (default: the parameter's name)."""

    source = "query"
    __slots__ = ()


class Header(Param):
    """A request header; the name defaults to the parameter's with ``_`` → ``-``,
    matched case-insensitively (RFC 9110 §5.1)."""

    source = "header"
    __slots__ = ()


class Cookie(Param):
    """The cookie ``alias`` (default: the parameter's name), exact case (RFC 6265 §5.4)."""

    source = "cookie"
    __slots__ = ()


# --- converting one text value ------------------------------------------------------


class _Invalid(Exception):
    """A value failed conversion: pydantic-style ``type`` and a human ``msg``."""

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg


_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _to_str(text: str) -> str:
    return text


def _to_int(text: str) -> int:
    # int() alone would accept " 12 " and "1_000"; a query value is exactly digits
    if _INT_RE.fullmatch(text) is None:
        raise _Invalid(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    try:
        return int(text)
    except ValueError:  # over sys.get_int_max_str_digits()
        raise _Invalid("int_parsing", "Input should be a valid integer, too many digits") from None


def _to_float(text: str) -> float:
    # finite numbers only: NaN and infinity cannot be written back as JSON (RFC 8259 §6)
    if _FLOAT_RE.fullmatch(text) is None:
        raise _Invalid(
            "float_parsing", "Input should be a valid number, unable to parse string as a number"
        )
    value = float(text)
    if math.isinf(value):
        raise _Invalid("finite_number", "Input should be a finite number")
    return value


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Invalid("bool_parsing", "Input should be a valid boolean, unable to interpret input")


def _to_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise _Invalid("uuid_parsing", "Input should be a valid UUID") from None


def _to_date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise _Invalid("date_parsing", "Input should be a valid date in ISO 8601 format") from None


def _to_datetime(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(
            "datetime_parsing", "Input should be a valid datetime in ISO 8601 format"
        ) from None


def _expected(values: Sequence[Any]) -> str:
    shown = [repr(v) for v in values]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _choice_converter(
    table: dict[str, Any], kind: str, values: Sequence[Any]
) -> Callable[[str], Any]:
    msg = f"Input should be {_expected(values)}"

    def convert(text: str) -> Any:
        try:
            return table[text]
        except KeyError:
            raise _Invalid(kind, msg) from None

    return convert


def _text_converter(tp: Any) -> Callable[[str], Any] | None:
    """The converter for one query/header/cookie value of type ``tp``; None if unknown."""
    if tp is str or tp is Any:
        return _to_str
    if tp is bool:  # before int: bool is an int subclass
        return _to_bool
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = list(tp)
        return _choice_converter(
            {str(m.value): m for m in members}, "enum", [m.value for m in members]
        )
    if tp is int:
        return _to_int
    if tp is float:
        return _to_float
    if tp is uuid.UUID:
        return _to_uuid
    if tp is datetime.datetime:  # before date: datetime is a date subclass
        return _to_datetime
    if tp is datetime.date:
        return _to_date
    if typing.get_origin(tp) is Literal:
        values = typing.get_args(tp)
        if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            return _choice_converter({str(v): v for v in values}, "literal_error", values)
    return None


# --- reading annotations ------------------------------------------------------------

_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """``T | None`` → (T, True); anything else → (tp, False)."""
    if typing.get_origin(tp) in _UNION_TYPES:
        args = typing.get_args(tp)
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(others) < len(args):
            return others[0], True
    return tp, False


def _split_annotated(tp: Any) -> tuple[Any, Param | None]:
    if typing.get_origin(tp) is typing.Annotated:
        base, *extras = typing.get_args(tp)
        markers = [e for e in extras if isinstance(e, Param)]
        return base, markers[0] if markers else None
    return tp, None


def _is_pydantic_model(tp: Any) -> bool:
    # pydantic is optional: a model can only exist if pydantic was imported already
    module = sys.modules.get("pydantic")
    base = getattr(module, "BaseModel", None)
    return base is not None and isinstance(tp, type) and issubclass(tp, base)


def _is_body_type(tp: Any) -> bool:
    return (
        (isinstance(tp, type) and dataclasses.is_dataclass(tp))
        or typing.is_typeddict(tp)
        or _is_pydantic_model(tp)
    )


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


# --- validating a JSON body ---------------------------------------------------------

Errors = list[dict[str, Any]]
Validator = Callable[[Any, tuple[Any, ...], Errors], Any]
_BAD: Any = object()  # a validator's "failed, errors appended" result


def _error(errors: Errors, loc: tuple[Any, ...], kind: str, msg: str) -> Any:
    errors.append({"loc": list(loc), "msg": msg, "type": kind})
    return _BAD


def _json_validator(tp: Any, where: str, seen: dict[Any, Validator]) -> Validator:
    """A validator of decoded JSON against ``tp``; TypeError (naming ``where``) if
    ``tp`` is not something a JSON body can be checked against."""
    tp, _ = _split_annotated(tp)
    inner, optional = _strip_optional(tp)
    if optional:
        check = _json_validator(inner, where, seen)

        def nullable(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
            return None if value is None else check(value, loc, errors)

        return nullable
    if tp is Any or tp is object:
        return lambda value, loc, errors: value
    if tp is str:
        return _type_check(str, "string_type", "Input should be a valid string")
    if tp is bool:
        return _type_check(bool, "bool_type", "Input should be a valid boolean")
    if tp is int:

        def int_check(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return _error(errors, loc, "int_type", "Input should be a valid integer")

        return int_check
    if tp is float:

        def float_check(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                try:
                    return float(value)
                except OverflowError:  # an integer beyond the float range
                    return _error(errors, loc, "finite_number", "Input should be a finite number")
            return _error(errors, loc, "float_type", "Input should be a valid number")

        return float_check
    text = _text_converter(tp)
    if text is not None:
        # enums, literals, UUIDs and dates arrive as strings (or numbers for enums)

        def from_text(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                return _error(errors, loc, "string_type", "Input should be a valid string")
            try:
                return text(value if isinstance(value, str) else str(value))
            except _Invalid as exc:
                return _error(errors, loc, exc.kind, exc.msg)

        return from_text
    origin = typing.get_origin(tp)
    if tp is list or origin is list:
        args = typing.get_args(tp)
        item = _json_validator(args[0], where, seen) if args else None

        def list_check(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
            if not isinstance(value, list):
                return _error(errors, loc, "list_type", "Input should be a valid list")
            if item is None:
                return value
            out = [item(v, (*loc, i), errors) for i, v in enumerate(value)]
            return _BAD if any(v is _BAD for v in out) else out

        return list_check
    if tp is dict or origin is dict:
        args = typing.get_args(tp)
        if args and args[0] is not str:
            raise TypeError(f"{where}: JSON object keys are strings, not {_type_name(args[0])}")
        entry = _json_validator(args[1], where, seen) if args else None

        def dict_check(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
            if not isinstance(value, dict):
                return _error(errors, loc, "dict_type", "Input should be a valid dictionary")
            if entry is None:
                return value
            out = {k: entry(v, (*loc, k), errors) for k, v in value.items()}
            return _BAD if any(v is _BAD for v in out.values()) else out

        return dict_check
    if _is_body_type(tp):
        return _model_validator(tp, where, seen)
    raise TypeError(f"{where}: cannot validate a JSON value as {_type_name(tp)}")


def _type_check(cls: type, kind: str, msg: str) -> Validator:
    def check(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
        if isinstance(value, cls):
            return value
        return _error(errors, loc, kind, msg)

    return check


def _model_validator(tp: Any, where: str, seen: dict[Any, Validator]) -> Validator:
    """Dataclass, TypedDict or pydantic model; recursive types are supported."""
    if tp in seen:
        return seen[tp]
    if _is_pydantic_model(tp):
        return _pydantic_validator(tp)
    # a placeholder first, so a self-referencing type finds itself
    slot: list[Validator] = []

    def deferred(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
        return slot[0](value, loc, errors)

    seen[tp] = deferred
    try:
        hints = typing.get_type_hints(tp, include_extras=True)
    except Exception as exc:
        raise TypeError(
            f"{where}: cannot resolve the annotations of {_type_name(tp)}: {exc}"
        ) from exc
    fields: list[tuple[str, Validator, bool]] = []
    if typing.is_typeddict(tp):
        required_keys = getattr(tp, "__required_keys__", frozenset(hints))
        for key, hint in hints.items():
            fields.append(
                (key, _json_validator(hint, f"{where}.{key}", seen), key in required_keys)
            )
        build: Callable[[dict[str, Any]], Any] = dict
    else:
        for field in dataclasses.fields(tp):
            if not field.init:
                continue
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            hint = hints.get(field.name, Any)
            fields.append(
                (field.name, _json_validator(hint, f"{where}.{field.name}", seen), required)
            )

        def build(values: dict[str, Any]) -> Any:
            return tp(**values)

    name = _type_name(tp)

    def validate(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
        if not isinstance(value, dict):
            return _error(errors, loc, "model_type", f"Input should be an object ({name})")
        count = len(errors)
        values: dict[str, Any] = {}
        for key, check, required in fields:
            if key in value:
                values[key] = check(value[key], (*loc, key), errors)
            elif required:
                _error(errors, (*loc, key), "missing", "Field required")
        if len(errors) != count:
            return _BAD
        try:
            return build(values)
        except ValueError as exc:  # e.g. a dataclass __post_init__ refusing a value
            return _error(errors, loc, "value_error", f"Value error, {exc}")

    slot.append(validate)
    return validate


def _pydantic_validator(tp: Any) -> Validator:
    pydantic = sys.modules["pydantic"]
    validate_model = getattr(tp, "model_validate", None) or tp.parse_obj

    def validate(value: Any, loc: tuple[Any, ...], errors: Errors) -> Any:
        try:
            return validate_model(value)
        except pydantic.ValidationError as exc:
            for err in exc.errors():
                errors.append(
                    {"loc": [*loc, *err.get("loc", ())], "msg": err["msg"], "type": err["type"]}
                )
            return _BAD

    return validate


# --- the compiled binder ------------------------------------------------------------


class _Field:
    """One query/header/cookie parameter, everything about it decided at registration."""

    __slots__ = ("convert", "default", "implicit", "key", "many", "name", "required", "source")

    def __init__(
        self,
        name: str,
        source: str,
        key: str,
        convert: Callable[[str], Any],
        many: bool,
        required: bool,
        default: Any,
    ) -> None:
        self.name = name
        self.source = source
        self.key = key
        self.convert = convert
        self.many = many
        self.required = required
        self.default = default
        # no marker: a path parameter of an enclosing Mount or Host of the same name wins
        self.implicit = False


class Binder:
    """The compiled parameter plan of one handler: ``await binder.resolve(conn)`` gives
    the keyword arguments, or raises :class:`RequestValidationError` (422)."""

    __slots__ = ("body", "fields", "names")

    def __init__(self, fields: list[_Field], body: tuple[str, Validator, bool] | None) -> None:
        self.fields = tuple(fields)
        self.body = body
        self.names = tuple(f.name for f in fields) + ((body[0],) if body else ())

    def bind_sources(self, conn: HTTPConnection, errors: Errors) -> dict[str, Any]:
        """Query, header and cookie values (no I/O); problems are appended to ``errors``."""
        values: dict[str, Any] = {}
        outer: dict[str, Any] = conn.scope.get("path_params") or {}
        query: _Query | None = None
        for field in self.fields:
            if field.implicit and field.name in outer:
                values[field.name] = outer[field.name]
                continue
            source = field.source
            mapping: Any
            if source == "query":
                if query is None:
                    query = _Query(conn.scope.get("query_string", b""))
                mapping = query
            elif source == "header":
                mapping = conn.headers
            else:
                mapping = conn.cookies
            if field.many and source != "cookie":
                raw_list = mapping.getlist(field.key)
                if not raw_list:
                    if field.required:
                        _error(errors, (source, field.key), "missing", "Field required")
                    else:
                        values[field.name] = _copy_default(field.default)
                    continue
                out = []
                for index, text in enumerate(raw_list):
                    try:
                        out.append(field.convert(text))
                    except _Invalid as exc:
                        _error(errors, (source, field.key, index), exc.kind, exc.msg)
                values[field.name] = out
                continue
            text = mapping.last(field.key) if source == "query" else mapping.get(field.key)
            if text is None:
                if field.required:
                    _error(errors, (source, field.key), "missing", "Field required")
                else:
                    values[field.name] = _copy_default(field.default)
                continue
            try:
                values[field.name] = field.convert(text)
            except _Invalid as exc:
                _error(errors, (source, field.key), exc.kind, exc.msg)
        return values

    async def resolve(self, conn: HTTPConnection) -> dict[str, Any]:
        errors: Errors = []
        values = self.bind_sources(conn, errors) if self.fields else {}
        if self.body is not None:
            name, check, required = self.body
            assert isinstance(conn, Request)
            body = await _read_json(conn, required, errors)
            if body is _MISSING_BODY:
                values[name] = None
            elif body is not _BAD:
                try:
                    result = check(body, ("body",), errors)
                except RecursionError:
                    # a recursive type (a tree of nodes) fed JSON nested deeper than
                    # Python's stack: refuse the input rather than answer 500
                    result = _error(errors, ("body",), "too_deep", "JSON nested too deeply")
                if result is not _BAD:
                    values[name] = result
        if errors:
            raise RequestValidationError(errors)
        return values


class _Query(dict[str, list[str]]):
    """The query string as key → values, parsed as ``QueryParams`` parses it (the same
    values, the last one for ``get``) in about half the time: ``parse_qsl`` plus an
    ``ImmutableMultiDict`` was a third of a typed route's cost."""

    __slots__ = ()

    def __init__(self, raw: bytes) -> None:
        super().__init__()
        if not raw:
            return
        for pair in raw.decode("latin-1").split("&"):
            if not pair:
                continue
            key, _, value = pair.partition("=")
            # RFC 3986 §2.1 escapes and the form encoding's "+" for space, as parse_qsl
            if "%" in key or "+" in key:
                key = unquote_plus(key)
            if "%" in value or "+" in value:
                value = unquote_plus(value)
            found = self.get(key)
            if found is None:
                self[key] = [value]
            else:
                found.append(value)

    def getlist(self, key: str) -> list[str]:
        return dict.get(self, key) or []

    def last(self, key: str) -> str | None:
        found = dict.get(self, key)
        return found[-1] if found else None


def _copy_default(value: Any) -> Any:
    # a mutable default ([] or {}) must not be shared between requests
    if isinstance(value, (list, dict, set)):
        return value.copy()
    return value


_MISSING_BODY: Any = object()


def _is_json_media_type(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _read_json(request: Request, required: bool, errors: Errors) -> Any:
    content_type = request.headers.get("content-type")
    body = await request.body()
    if not body and content_type is None:
        if required:
            return _error(errors, ("body",), "missing", "Field required")
        return _MISSING_BODY
    # A JSON body needs a JSON Content-Type: text/plain (or none) would let another
    # site post it in a "simple" cross-origin request without a CORS preflight
    # (Fetch standard, CORS-safelisted request headers), i.e. a CSRF.
    if content_type is None or not _is_json_media_type(content_type):
        raise HTTPException(415, "Content-Type must be application/json")
    try:
        return _json_loads(body)
    except (ValueError, RecursionError):  # stdlib json recurses per nesting level
        return _error(errors, ("body",), "json_invalid", "JSON decode error")


def _target(func: Callable[..., Any]) -> Any:
    """The function whose annotations and globals count: through decorators
    (``__wrapped__``), ``functools.partial`` and bound methods."""
    target: Any = inspect.unwrap(func)
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    return getattr(target, "__func__", target)


def _resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    target = _target(func)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        # one unresolvable annotation (say a TYPE_CHECKING-only import on the request
        # parameter) must not hide the others: each is evaluated on its own below
        return {}


def _undo_implicit_optional(annotation: Any) -> Any:
    """Python 3.10's ``get_type_hints`` wraps the annotation of a parameter whose
    default is None in ``Optional[...]`` (3.11 stopped), which hides an ``Annotated``
    marker inside it: unwrap that case, the ``Annotated`` already says what it takes."""
    if typing.get_origin(annotation) is typing.Union:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1 and typing.get_origin(args[0]) is typing.Annotated:
            return args[0]
    return annotation


def _annotation(
    func: Callable[..., Any], param: inspect.Parameter, hints: Mapping[str, Any], where: str
) -> Any:
    annotation = hints.get(param.name, param.annotation)
    if sys.version_info < (3, 11) and param.default is None:
        annotation = _undo_implicit_optional(annotation)
    if isinstance(annotation, str):
        namespace = getattr(_target(func), "__globals__", {})
        try:
            # the handler's own annotation text, in its own module (what get_type_hints does)
            annotation = eval(annotation, namespace)
        except Exception as exc:
            raise TypeError(
                f"{where}: cannot resolve the annotation {annotation!r} of parameter "
                f"{param.name!r} ({exc})"
            ) from None
    return annotation


def compile_binder(
    func: Callable[..., Any],
    params: Sequence[inspect.Parameter],
    where: str,
    *,
    allow_body: bool = True,
) -> Binder:
    """The plan for ``params`` (those of ``func`` that are neither path parameters nor
    the connection). ``where`` names the handler in errors: every parameter the
    framework cannot bind is a ``TypeError`` now, never a silent default later."""
    hints = _resolve_hints(func)
    fields: list[_Field] = []
    body: tuple[str, Validator, bool] | None = None
    for param in params:
        pwhere = f"{where}, parameter {param.name!r}"
        if param.kind == param.POSITIONAL_ONLY:
            raise TypeError(f"{pwhere} is positional-only; handlers receive keyword arguments")
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"{where}: cannot bind {'*' if param.kind == param.VAR_POSITIONAL else '**'}"
                f"{param.name}; name each parameter"
            )
        default = param.default
        marker: Param | None = None
        if isinstance(default, Param):
            marker, default = default, default.default
        elif default is param.empty:
            default = REQUIRED
        annotation = (
            _annotation(func, param, hints, where) if param.annotation is not param.empty else None
        )
        if annotation is not None:
            annotation, inner_marker = _split_annotated(annotation)
            if inner_marker is not None:
                if marker is not None:
                    raise TypeError(f"{pwhere} has two source markers")
                marker = inner_marker
                if inner_marker.default is not REQUIRED:
                    if default is not REQUIRED:
                        raise TypeError(f"{pwhere} has a default in Annotated and in the signature")
                    default = inner_marker.default
        else:
            # unannotated: the type of a scalar default (page=1 is an int), else text
            annotation = type(default) if isinstance(default, (bool, int, float)) else str
        base, optional = _strip_optional(annotation)
        base, nested_marker = _split_annotated(base)
        if nested_marker is not None and marker is None:
            marker = nested_marker
            if default is REQUIRED:
                default = nested_marker.default
        if optional and default is REQUIRED:
            default = None  # `q: int | None` means "may be absent"
        if marker is None and _is_body_type(base):
            if not allow_body:
                raise TypeError(f"{pwhere}: a websocket handler has no request body")
            if body is not None:
                raise TypeError(
                    f"{where}: only one parameter can be the JSON body "
                    f"({body[0]!r} and {param.name!r})"
                )
            validator = _json_validator(base, pwhere, {})
            body = (param.name, validator, default is REQUIRED)
            if default is not REQUIRED and default is not None:
                raise TypeError(f"{pwhere}: a body parameter's default can only be None")
            continue
        many = False
        item = base
        if base is list or typing.get_origin(base) is list:
            many = True
            args = typing.get_args(base)
            item = args[0] if args else str
        convert = _text_converter(item)
        if convert is None:
            raise TypeError(
                f"{pwhere}: cannot convert a request value to {_type_name(annotation)}; use "
                "str, int, float, bool, an Enum, UUID, date, datetime, a Literal, list[...] "
                "of those, or a dataclass/TypedDict/pydantic model for the JSON body"
            )
        source = marker.source if marker is not None else "query"
        if many and source == "cookie":
            raise TypeError(f"{pwhere}: a cookie has one value, not a list")
        if marker is not None and marker.alias is not None:
            key = marker.alias
        elif source == "header":
            key = param.name.replace("_", "-")
        else:
            key = param.name
        if source == "header":
            key = key.lower()
        field = _Field(param.name, source, key, convert, many, default is REQUIRED, default)
        field.implicit = marker is None
        fields.append(field)
    return Binder(fields, body)
