"""asgi_magic.status: the one RFC 9110 §15 table, and every layer that must follow it."""

from __future__ import annotations

import ast
import http
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asgi_magic import status
from asgi_magic.http11 import (
    ProtocolError,
    ResponseWriter,
    error_response,
    informational_response,
    switching_protocols_response,
)
from asgi_magic.web import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from asgi_magic.web import status as web_status

INVALID: list[object] = [99, 600, 1000, -1, 0, True, False, "200", 200.0, None, b"200"]

# -- the registry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "phrase"),
    [
        (100, "Continue"),
        (101, "Switching Protocols"),
        (103, "Early Hints"),
        (200, "OK"),
        (204, "No Content"),
        (226, "IM Used"),
        (304, "Not Modified"),
        (308, "Permanent Redirect"),
        (413, "Content Too Large"),  # RFC 9110's names, not RFC 7231's
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (421, "Misdirected Request"),
        (422, "Unprocessable Content"),
        (425, "Too Early"),
        (451, "Unavailable For Legal Reasons"),
        (511, "Network Authentication Required"),
    ],
)
def test_registered_codes_have_their_rfc_phrase(code: int, phrase: str) -> None:
    assert status.reason_phrase(code) == phrase
    assert status.REASON_PHRASES[code] == phrase


def test_the_registry_covers_what_python_knows_and_is_read_only() -> None:
    for code in http.HTTPStatus:
        assert code.value in status.REASON_PHRASES, code
    assert status.reason_phrase(599) == "" and status.reason_phrase(104) == ""
    with pytest.raises(TypeError):
        status.REASON_PHRASES[599] = "x"  # type: ignore[index]


def test_constants_match_their_codes_and_starlette_names() -> None:
    constants = {n: getattr(status, n) for n in status.__all__ if n.startswith("HTTP_")}
    assert len(constants) > 60
    for name, value in constants.items():
        assert name.startswith(f"HTTP_{value}_"), name
        assert value in status.REASON_PHRASES, name
    # names framework users type (Starlette's, old and new)
    assert status.HTTP_200_OK == 200
    assert status.HTTP_404_NOT_FOUND == 404
    assert status.HTTP_422_UNPROCESSABLE_ENTITY == status.HTTP_422_UNPROCESSABLE_CONTENT == 422
    assert status.HTTP_413_REQUEST_ENTITY_TOO_LARGE == 413
    assert status.WS_1008_POLICY_VIOLATION == 1008


def test_web_status_reexports_the_same_module() -> None:
    assert web_status.__all__ == status.__all__
    for name in status.__all__:
        assert getattr(web_status, name) is getattr(status, name)


def test_status_module_is_a_leaf() -> None:
    tree = ast.parse(Path(status.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("asgi_magic")
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("asgi_magic") for a in node.names)


# -- predicates -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [100, 101, 199, 200, 404, 599, http.HTTPStatus.OK])
def test_is_valid(code: int) -> None:
    assert status.is_valid(code)


@pytest.mark.parametrize("code", INVALID)
def test_invalid_statuses(code: object) -> None:
    assert not status.is_valid(code)
    assert not status.is_informational(code)
    assert not status.is_final(code)
    with pytest.raises(ValueError):
        status.allows_content(code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "informational", "content"),
    [
        (100, True, False),
        (101, True, False),
        (103, True, False),
        (199, True, False),
        (200, False, True),
        (204, False, False),
        (205, False, True),  # framed like any final response (RFC 9112 §6.3)
        (301, False, True),
        (304, False, False),
        (404, False, True),
        (500, False, True),
        (599, False, True),
    ],
)
def test_classes_and_content(code: int, informational: bool, content: bool) -> None:
    assert status.is_informational(code) is informational
    assert status.is_final(code) is not informational
    assert status.allows_content(code) is content


# -- every status class through every layer --------------------------------------------

CLASSES = [
    # status, what the writer's start() makes of it: "refused", "content" or "no content"
    (100, "refused"),
    (101, "refused"),
    (103, "refused"),
    (200, "content"),
    (201, "content"),
    (204, "no content"),
    (302, "content"),
    (304, "no content"),
    (404, "content"),
    (451, "content"),
    (503, "content"),
    (599, "content"),
    *[(bad, "refused") for bad in INVALID],
]


@pytest.mark.parametrize(("code", "kind"), CLASSES)
def test_writer_start_follows_the_table(code: Any, kind: str) -> None:
    writer = ResponseWriter(b"GET", "1.1", True, date_header=False)
    if kind == "refused":
        with pytest.raises(ProtocolError) as info:
            writer.start(code, [(b"content-length", b"2")])
        assert info.value.status == 500
        return
    head = writer.start(code, [(b"content-length", b"2")])
    assert head.startswith(b"HTTP/1.1 %d %s\r\n" % (code, status.reason_phrase(code).encode()))
    if kind == "content":
        assert writer.body(b"ok") == b"ok"
        assert b"content-length: 2\r\n" in head
    else:
        assert writer.bodiless and writer.body(b"ok") == b""
        # RFC 9110 §8.6: no Content-Length in a 204; a 304 may keep it.
        assert (b"content-length" in head) is (code == 304)
    assert writer.finished and writer.keep_alive


@pytest.mark.parametrize(("code", "kind"), CLASSES)
def test_informational_paths_take_only_1xx(code: Any, kind: str) -> None:
    if status.is_informational(code) and code != 101:
        assert informational_response(code).startswith(b"HTTP/1.1 %d " % code)
    else:
        with pytest.raises(ProtocolError):
            informational_response(code)


@pytest.mark.parametrize(("code", "kind"), CLASSES)
def test_error_response_takes_final_statuses_with_content(code: Any, kind: str) -> None:
    if kind == "content":
        assert error_response(code, "x").startswith(b"HTTP/1.1 %d " % code)
    else:
        with pytest.raises(ValueError):
            error_response(code, "x")


def test_101_has_its_own_path() -> None:
    head = switching_protocols_response(
        [], [], False, handshake=[(b"upgrade", b"websocket"), (b"connection", b"Upgrade")]
    )
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


RESPONSES: list[Callable[[Any], Response]] = [
    lambda code: Response(b"", status_code=code),
    lambda code: HTMLResponse("<p>", status_code=code),
    lambda code: PlainTextResponse("x", status_code=code),
    lambda code: JSONResponse({}, status_code=code),
    lambda code: StreamingResponse(iter([b"x"]), status_code=code),
]


@pytest.mark.parametrize("make", RESPONSES)
@pytest.mark.parametrize(("code", "kind"), CLASSES)
def test_framework_responses_refuse_invalid_statuses_when_built(
    make: Callable[[Any], Response], code: Any, kind: str
) -> None:
    if kind == "refused":
        # 1xx are refused too: http.response.start needs a final status.
        with pytest.raises(ValueError, match="status"):
            make(code)
    else:
        assert make(code).status_code == code


def test_framework_responses_accept_http_status_members() -> None:
    assert Response(status_code=http.HTTPStatus.CREATED).status_code == 201
