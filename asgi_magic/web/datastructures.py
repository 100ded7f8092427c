"""Headers, query strings, forms, URLs and the attribute-style ``State``.

Header names are stored lower-cased as bytes (as ASGI delivers them) and decoded as
latin-1, which maps every byte to one code point: RFC 9110 §5.5 lets field values
carry obs-text, so latin-1 never fails and round-trips exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode, urlsplit, urlunsplit

__all__ = [
    "URL",
    "FormData",
    "Headers",
    "ImmutableMultiDict",
    "MultiDict",
    "MutableHeaders",
    "QueryParams",
    "State",
    "url_path_from_scope",
]

V = TypeVar("V")


# --- URL -----------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class URL:
    """An immutable URL; build it from a string or from an ASGI scope."""

    __slots__ = ("_components", "_url")

    def __init__(self, url: str = "", scope: Mapping[str, Any] | None = None) -> None:
        if scope is not None:
            url = _url_from_scope(scope)
        self._url = url
        self._components = urlsplit(url)

    @property
    def scheme(self) -> str:
        return self._components.scheme

    @property
    def netloc(self) -> str:
        return self._components.netloc

    @property
    def path(self) -> str:
        return self._components.path

    @property
    def query(self) -> str:
        return self._components.query

    @property
    def fragment(self) -> str:
        return self._components.fragment

    @property
    def username(self) -> str | None:
        return self._components.username

    @property
    def password(self) -> str | None:
        return self._components.password

    @property
    def hostname(self) -> str | None:
        return self._components.hostname

    @property
    def port(self) -> int | None:
        return self._components.port

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        """A copy with some of scheme/netloc/path/query/fragment/hostname/port changed."""
        if {"username", "password", "hostname", "port"} & kwargs.keys():
            hostname = kwargs.pop("hostname", None)
            port = kwargs.pop("port", self.port)
            username = kwargs.pop("username", self.username)
            password = kwargs.pop("password", self.password)
            if hostname is None:
                netloc = self.netloc
                _, _, hostname = netloc.rpartition("@")
                if hostname[-1:] != "]":
                    hostname = hostname.rsplit(":", 1)[0]
            netloc = hostname
            if port is not None:
                netloc += f":{port}"
            if username is not None:
                userpass = username
                if password is not None:
                    userpass += f":{password}"
                netloc = f"{userpass}@{netloc}"
            kwargs["netloc"] = netloc
        return URL(urlunsplit(self._components._replace(**kwargs)))

    def include_query_params(self, **kwargs: Any) -> URL:
        params = MultiDict(parse_qsl(self.query, keep_blank_values=True))
        params.update({str(k): str(v) for k, v in kwargs.items()})
        return self.replace(query=urlencode(params.multi_items()))

    def replace_query_params(self, **kwargs: Any) -> URL:
        return self.replace(query=urlencode([(str(k), str(v)) for k, v in kwargs.items()]))

    def remove_query_params(self, keys: str | Sequence[str]) -> URL:
        if isinstance(keys, str):
            keys = [keys]
        params = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in keys]
        return self.replace(query=urlencode(params))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._url)

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        url = self._url
        if self.password:
            url = str(self.replace(password="********"))
        return f"{type(self).__name__}({url!r})"


def _valid_host(host: str) -> bool:
    if not host or any(c in host for c in "/?#@\\ \t\r\n"):
        return False
    try:
        _ = urlsplit("//" + host).port  # raises for a bad port or IPv6 literal
    except ValueError:
        return False
    return True


# RFC 3986 §3.3: the characters a path may carry verbatim (pchar and "/"); everything
# else, "?", "#" and "%" among them, is percent-encoded when a decoded path is re-quoted.
_PATH_SAFE = "/:@!$&'()*+,;=~"
# Bytes that must not appear verbatim in a raw path or query we put into a URL.
_UNSAFE_URI_BYTES = re.compile(rb"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


def _escape_unsafe(raw: bytes) -> str:
    return _UNSAFE_URI_BYTES.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii")


def url_path_from_scope(scope: Mapping[str, Any]) -> str:
    """The request path (``root_path`` included) as it goes into a URL: percent-encoded.

    ``path`` is decoded (asgiref www.rst), so joining it into a URL would turn an encoded
    ``%3F`` or ``%23`` into a query or fragment. The raw bytes the client sent are used
    when they decode to ``path`` (so ``%2F`` stays ``%2F``); otherwise ``path`` is
    re-quoted (RFC 3986 §2.1).
    """
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    # asgiref www.rst: `path` already includes `root_path` (Starlette >= 0.35 and uvicorn
    # agree), so the root path is only prepended when the server did not do it.
    prefix = ""
    if root_path and not path.startswith(root_path):
        prefix = root_path
        path = root_path + path
    raw = scope.get("raw_path")
    if raw:
        raw = bytes(raw).partition(b"?")[0]
        try:
            decoded = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        if decoded == path:
            return _escape_unsafe(raw)
        if prefix and decoded is not None and prefix + decoded == path:
            return quote(prefix, safe=_PATH_SAFE) + _escape_unsafe(raw)
    return quote(path, safe=_PATH_SAFE)


def _url_from_scope(scope: Mapping[str, Any]) -> str:
    scheme = scope.get("scheme", "http")
    server = scope.get("server")
    path = url_path_from_scope(scope)
    query_string = scope.get("query_string", b"")
    host = None
    for key, value in scope.get("headers", ()):
        if key == b"host":
            host = value.decode("latin-1")
            break
    if host is not None and not _valid_host(host):
        # a malformed Host (RFC 9110 §7.2) must not turn `request.url` into a 500
        host = None
    if host is not None:
        url = f"{scheme}://{host}{path}"
    elif server is None:
        url = path
    else:
        host, port = server
        if port is not None and _DEFAULT_PORTS.get(scheme) != port:
            url = f"{scheme}://{host}:{port}{path}"
        else:
            url = f"{scheme}://{host}{path}"
    if query_string:
        url += "?" + _escape_unsafe(bytes(query_string))
    return url


# --- multi-dicts ---------------------------------------------------------------------


class ImmutableMultiDict(Mapping[str, V]):
    """An ordered multi-dict: ``d[key]`` is the last value, ``getlist`` gives them all."""

    __slots__ = ("_dict", "_list")

    def __init__(
        self,
        *args: ImmutableMultiDict[V] | Mapping[str, V] | Iterable[tuple[str, V]],
        **kwargs: V,
    ) -> None:
        items: list[tuple[str, V]] = []
        if args:
            value = args[0]
            if isinstance(value, ImmutableMultiDict):
                items = value.multi_items()
            elif isinstance(value, Mapping):
                items = list(value.items())
            else:
                items = list(value)
        if kwargs:
            items.extend(kwargs.items())
        self._list = items
        self._dict = dict(items)

    def getlist(self, key: str) -> list[V]:
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, V]]:
        return list(self._list)

    def __getitem__(self, key: str) -> V:
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return False
        return sorted(self._list) == sorted(other._list)

    def __hash__(self) -> int:  # mutable subclasses exist; identity hashing is wrong
        raise TypeError(f"unhashable type: {type(self).__name__!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.multi_items()!r})"


class MultiDict(ImmutableMultiDict[V]):
    def __setitem__(self, key: str, value: V) -> None:
        self.setlist(key, [value])

    def __delitem__(self, key: str) -> None:
        self._list = [(k, v) for k, v in self._list if k != key]
        del self._dict[key]

    def setlist(self, key: str, values: list[V]) -> None:
        if not values:
            self.pop(key, None)
            return
        self._list = [(k, v) for k, v in self._list if k != key]
        self._list.extend((key, v) for v in values)
        self._dict[key] = values[-1]

    def append(self, key: str, value: V) -> None:
        self._list.append((key, value))
        self._dict[key] = value

    def pop(self, key: str, default: Any = None) -> Any:
        self._list = [(k, v) for k, v in self._list if k != key]
        return self._dict.pop(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        other = MultiDict(*args, **kwargs)
        keys = set(other.keys())
        self._list = [(k, v) for k, v in self._list if k not in keys]
        self._list.extend(other.multi_items())
        self._dict.update(other._dict)


class QueryParams(ImmutableMultiDict[str]):
    """The query string as a multi-dict (blank values kept: ``?a=&b`` gives two keys)."""

    __slots__ = ()

    def __init__(
        self,
        *args: ImmutableMultiDict[str]
        | Mapping[str, str]
        | Iterable[tuple[str, str]]
        | str
        | bytes,
        **kwargs: str,
    ) -> None:
        if args and isinstance(args[0], (str, bytes)):
            value = args[0]
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            super().__init__(parse_qsl(value, keep_blank_values=True), **kwargs)
        else:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return urlencode(self._list)


class FormData(ImmutableMultiDict[Any]):
    """A parsed form: field names to ``str`` or ``asgi_magic.web.multipart.UploadFile``.

    Typed ``Any`` so the core does not depend on the uploads module at import time.
    """

    __slots__ = ()

    async def close(self) -> None:
        """Close every uploaded file (their spooled temporary files are deleted)."""
        for _, value in self._list:
            if not isinstance(value, str):
                await value.close()


# --- headers -------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Case-insensitive, ordered, multi-valued request or response headers."""

    __slots__ = ("_list",)

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: list[tuple[bytes, bytes]] | None = None,
        scope: MutableMapping[str, Any] | None = None,
    ) -> None:
        self._list: list[tuple[bytes, bytes]] = []
        if headers is not None:
            assert raw is None and scope is None, 'use only one of "headers", "raw", "scope"'
            self._list = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
            ]
        elif raw is not None:
            assert scope is None, 'use only one of "headers", "raw", "scope"'
            self._list = raw
        elif scope is not None:
            # asgiref www.rst: the server gives lower-cased names; keep the same list so
            # a header view costs nothing until it is read.
            self._list = scope["headers"] = list(scope["headers"])

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        return self._list

    def keys(self) -> list[str]:  # type: ignore[override]
        return [k.decode("latin-1") for k, _ in self._list]

    def values(self) -> list[str]:  # type: ignore[override]
        return [v.decode("latin-1") for _, v in self._list]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._list]

    def getlist(self, key: str) -> list[str]:
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._list if k == name]

    def mutablecopy(self) -> MutableHeaders:
        return MutableHeaders(raw=self._list[:])

    def __getitem__(self, key: str) -> str:
        name = key.lower().encode("latin-1")
        for k, v in self._list:
            if k == name:
                return v.decode("latin-1")
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1")
        return any(k == name for k, _ in self._list)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._list)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return False
        return sorted(self._list) == sorted(other._list)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        as_dict = dict(self.items())
        if len(as_dict) == len(self):
            return f"{type(self).__name__}({as_dict!r})"
        return f"{type(self).__name__}(raw={self.raw!r})"


def check_field(name: bytes, value: bytes) -> None:
    # RFC 9110 §5.5: CR, LF and NUL are never allowed in a field value; letting them
    # through would allow response splitting. Names are tokens (no separators/space).
    if b"\r" in value or b"\n" in value or b"\x00" in value:
        raise ValueError(f"invalid character in header value for {name!r}")
    if not name or b":" in name or b" " in name or b"\r" in name or b"\n" in name:
        raise ValueError(f"invalid header name {name!r}")


class MutableHeaders(Headers):
    """Response headers; every setter validates against header injection."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        name = key.lower().encode("latin-1")
        raw_value = value.encode("latin-1")
        check_field(name, raw_value)
        found: list[int] = []
        for idx, (k, _) in enumerate(self._list):
            if k == name:
                found.append(idx)
        for idx in reversed(found[1:]):
            del self._list[idx]
        if found:
            self._list[found[0]] = (name, raw_value)
        else:
            self._list.append((name, raw_value))

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self._list[:] = [(k, v) for k, v in self._list if k != name]

    def __ior__(self, other: Mapping[str, str]) -> MutableHeaders:
        self.update(other)
        return self

    def __or__(self, other: Mapping[str, str]) -> MutableHeaders:
        new = self.mutablecopy()
        new.update(other)
        return new

    def setdefault(self, key: str, value: str) -> str:
        name = key.lower().encode("latin-1")
        for k, v in self._list:
            if k == name:
                return v.decode("latin-1")
        self[key] = value
        return value

    def update(self, other: Mapping[str, str]) -> None:
        for key, value in other.items():
            self[key] = value

    def append(self, key: str, value: str) -> None:
        """Add a value without removing existing ones (e.g. a second Set-Cookie)."""
        name = key.lower().encode("latin-1")
        raw_value = value.encode("latin-1")
        check_field(name, raw_value)
        self._list.append((name, raw_value))

    def add_vary_header(self, vary: str) -> None:
        existing = self.get("vary")
        if existing is not None:
            present = {v.strip().lower() for v in existing.split(",")}
            if vary.lower() in present:
                return
            vary = f"{existing}, {vary}"
        self["vary"] = vary


# --- state ---------------------------------------------------------------------------


class State:
    """An object whose attributes are the keys of a dict (``app.state``, ``request.state``)."""

    _state: dict[str, Any]

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", state if state is not None else {})

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state[key]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {key!r}"
            ) from None

    def __delattr__(self, key: str) -> None:
        del self._state[key]

    def __contains__(self, key: str) -> bool:
        return key in self._state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._state!r})"
