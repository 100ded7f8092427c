"""Every sample app driven through the real asgi_magic server over 127.0.0.1 sockets,
with httpx and the ``websockets`` client: the sample apps are documentation, and
documentation that does not run is wrong."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.support.live_server import run_server

Serve = Callable[[Any], AbstractContextManager[httpx.Client]]


@pytest.fixture
def serve() -> Serve:
    """``with serve(app) as client:`` — the app behind the real server, an httpx client."""

    @contextmanager
    def _serve(app: Any) -> Iterator[httpx.Client]:
        with (
            run_server(app) as base_url,
            httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client,
        ):
            yield client

    return _serve


_TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client: httpx.Client, path: str = "/") -> str:
    """The CSRF token the form on ``path`` carries (the page also sets its cookie)."""
    match = _TOKEN_RE.search(client.get(path).text)
    assert match is not None, "the form has no csrf_token field"
    return match.group(1)


def ws_url(client: httpx.Client, path: str) -> str:
    return str(client.base_url.copy_with(scheme="ws")).rstrip("/") + path


# --- hello (raw ASGI) -------------------------------------------------------------------


def test_hello(serve: Serve) -> None:
    from sample_apps import hello

    with serve(hello.app) as client:
        response = client.get("/anything")
        assert response.status_code == 200
        assert response.text == "Hello, world!\n"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        head = client.head("/")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(hello.GREETING))
        # A WebSocket handshake the app closes before accepting is answered 403.
        with pytest.raises(InvalidStatus) as info, ws_connect(ws_url(client, "/"), open_timeout=10):
            pass
        assert info.value.response.status_code == 403


# --- todo_api ---------------------------------------------------------------------------


def test_todo_crud(serve: Serve) -> None:
    from sample_apps import todo_api

    with serve(todo_api.create_app()) as client:
        assert client.get("/todos").json() == []

        created = client.post("/todos", json={"title": "  write docs "})
        assert created.status_code == 201
        todo = created.json()
        assert todo == {"id": 1, "title": "write docs", "done": False}
        assert created.headers["location"].endswith("/todos/1")

        shipped = client.post("/todos", json={"title": "ship it", "done": True})
        assert shipped.json() == {"id": 2, "title": "ship it", "done": True}
        assert [t["title"] for t in client.get("/todos").json()] == ["write docs", "ship it"]

        assert client.get("/todos/1").json() == todo
        updated = client.patch("/todos/1", json={"done": True})
        assert updated.status_code == 200
        assert updated.json()["done"] is True

        deleted = client.delete("/todos/1")
        assert deleted.status_code == 204
        assert deleted.content == b""
        assert client.get("/todos/1").status_code == 404
        assert client.delete("/todos/1").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/todos", b"{not json", 400),
        ("POST", "/todos", b"[1, 2]", 422),
        ("POST", "/todos", b'{"title": ""}', 422),
        ("POST", "/todos", json.dumps({"title": "x" * 201}).encode(), 422),
        ("PATCH", "/todos/1", b'{"done": "yes"}', 422),
        # docs/quickstart.md: a non-boolean `done` is a 422 on create too (it was ignored)
        ("POST", "/todos", b'{"title": "x", "done": "yes"}', 422),
        ("POST", "/todos", b'{"title": "x", "done": 1}', 422),
        ("POST", "/todos", b'{"title": "x", "done": null}', 422),
        ("GET", "/todos/abc", b"", 404),  # the int convertor does not match
        ("GET", "/todos/999", b"", 404),
        ("PUT", "/todos", b"", 405),
    ],
)
def test_todo_errors(serve: Serve, method: str, path: str, body: bytes, status: int) -> None:
    from sample_apps import todo_api

    with serve(todo_api.create_app()) as client:
        client.post("/todos", json={"title": "first"})
        response = client.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, response.text


# --- uploads ----------------------------------------------------------------------------


def test_upload_round_trip(serve: Serve, tmp_path: Path) -> None:
    from sample_apps import uploads

    with serve(uploads.create_app(tmp_path)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert 'enctype="multipart/form-data"' in page.text
        assert "nothing uploaded yet" in page.text

        content = b"hello\x00world\n" * 1000
        token = csrf_from(client)
        response = client.post(
            "/upload",
            data={"csrf_token": token},
            files=[
                ("file", ("notes.txt", content, "text/plain")),
                ("file", ("../../etc/passwd", b"sneaky", "text/plain")),
            ],
        )
        assert response.status_code == 303
        assert response.headers["location"].endswith("/")

        listing = client.get("/").text
        assert ">notes.txt<" in listing
        assert ">passwd<" in listing  # the directory part was stripped
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "passwd"]

        download = client.get("/files/notes.txt")
        assert download.status_code == 200
        assert download.content == content
        assert "attachment" in download.headers["content-disposition"]
        assert "notes.txt" in download.headers["content-disposition"]


@pytest.mark.parametrize(
    "path", ["/files/missing.txt", "/files/..%2Fsecret", "/files/%2E%2E", "/files/.hidden"]
)
def test_upload_download_refuses_unknown_names(serve: Serve, tmp_path: Path, path: str) -> None:
    from sample_apps import uploads

    (tmp_path.parent / "secret").write_text("not for you")
    (tmp_path / ".hidden").write_text("not for you")
    with serve(uploads.create_app(tmp_path)) as client:
        response = client.get(path)
        assert response.status_code == 404
        assert "not for you" not in response.text


def test_upload_without_file_is_400(serve: Serve, tmp_path: Path) -> None:
    from sample_apps import uploads

    with serve(uploads.create_app(tmp_path)) as client:
        response = client.post(
            "/upload",
            data={"csrf_token": csrf_from(client)},
            files=[("other", ("a.txt", b"x", "text/plain"))],
        )
        assert response.status_code == 400
        assert list(tmp_path.iterdir()) == []


def test_upload_too_large_is_413(serve: Serve, tmp_path: Path) -> None:
    from sample_apps import uploads

    with serve(uploads.create_app(tmp_path)) as client:
        big = b"x" * (uploads.MAX_FILE_SIZE + 1)
        response = client.post(
            "/upload",
            data={"csrf_token": csrf_from(client)},
            files=[("file", ("big.bin", big, "application/octet-stream"))],
        )
        assert response.status_code == 413
        assert list(tmp_path.iterdir()) == []


def test_upload_without_csrf_token_is_403(serve: Serve, tmp_path: Path) -> None:
    from sample_apps import uploads

    with serve(uploads.create_app(tmp_path)) as client:
        client.get("/")  # the CSRF cookie, but no token in the form
        response = client.post("/upload", files=[("file", ("a.txt", b"x", "text/plain"))])
        assert response.status_code == 403
        assert list(tmp_path.iterdir()) == []


# --- static_site ------------------------------------------------------------------------


def test_static_site(serve: Serve) -> None:
    from sample_apps import static_site

    with serve(static_site.app) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "A static site" in index.text

        docs = client.get("/docs/")
        assert docs.status_code == 200
        assert '<h1 id="title">Docs</h1>' in docs.text

        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        assert "Not found" in missing.text  # the site's own 404.html

        # Conditional GET (RFC 9110 §13.1.2): a matching ETag answers 304 with no body.
        etag = index.headers["etag"]
        again = client.get("/", headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""


@pytest.mark.parametrize(
    "path", ["/../static_site.py", "/..%2F..%2Fshowcase.py", "/%2e%2e/chat.py"]
)
def test_static_site_does_not_escape_its_directory(serve: Serve, path: str) -> None:
    from sample_apps import static_site

    with serve(static_site.app) as client:
        response = client.get(path)
        assert response.status_code in (400, 404)
        assert "import" not in response.text


# --- sessions_login ---------------------------------------------------------------------


def test_login_and_logout(serve: Serve) -> None:
    from sample_apps import sessions_login

    with serve(sessions_login.create_app("test-secret")) as client:
        page = client.get("/")
        assert 'id="login-form"' in page.text
        token = csrf_from(client)

        wrong = client.post(
            "/login", data={"username": "alice", "password": "nope", "csrf_token": token}
        )
        assert wrong.status_code == 403
        assert "Wrong user name or password" in wrong.text
        assert 'id="login-form"' in client.get("/").text  # still signed out

        ok = client.post(
            "/login", data={"username": "alice", "password": "wonderland", "csrf_token": token}
        )
        assert ok.status_code == 303
        set_cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in set_cookie
        assert "samesite=lax" in set_cookie
        first_cookie = client.cookies["session"]

        home = client.get("/")
        assert "Signed in as <strong>alice</strong> (visit 1)" in home.text
        assert 'class="flash success"' in home.text and "Welcome, alice!" in home.text
        again = client.get("/").text
        assert "(visit 2)" in again and "Welcome, alice!" not in again  # shown once

        # The pre-login token died with the regenerated session.
        stale = client.post("/logout", data={"csrf_token": token})
        assert stale.status_code == 403
        token = csrf_from(client)

        # Logging in again regenerates the session: a different cookie value.
        client.post(
            "/login", data={"username": "alice", "password": "wonderland", "csrf_token": token}
        )
        assert client.cookies["session"] != first_cookie

        out = client.post("/logout", data={"csrf_token": csrf_from(client)})
        assert out.status_code == 303
        page = client.get("/").text
        assert 'id="login-form"' in page and "You are signed out." in page


def test_login_without_csrf_token_is_403(serve: Serve) -> None:
    from sample_apps import sessions_login

    with serve(sessions_login.create_app("test-secret")) as client:
        client.get("/")
        response = client.post("/login", data={"username": "alice", "password": "wonderland"})
        assert response.status_code == 403
        assert "CSRF" in response.text


def test_login_page_escapes_what_the_user_typed(serve: Serve) -> None:
    from sample_apps import sessions_login

    with serve(sessions_login.create_app("test-secret")) as client:
        token = csrf_from(client)
        response = client.post(
            "/login",
            data={"username": '"><script>alert(1)</script>', "password": "x", "csrf_token": token},
        )
        assert response.status_code == 403
        assert "<script>alert(1)</script>" not in response.text
        assert "&lt;script&gt;" in response.text


def _login(client: httpx.Client, prefix: str = "") -> httpx.Response:
    token = csrf_from(client, prefix + "/")
    return client.post(
        prefix + "/login",
        data={"username": "alice", "password": "wonderland", "csrf_token": token},
    )


def test_tampered_session_cookie_is_ignored(serve: Serve) -> None:
    from sample_apps import sessions_login

    with serve(sessions_login.create_app("test-secret")) as client:
        _login(client)
        value = client.cookies["session"]
        client.cookies.clear()
        client.cookies.set("session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert 'id="login-form"' in client.get("/").text

    # A cookie signed with another key is worthless too.
    with serve(sessions_login.create_app("another-secret")) as client:
        client.cookies.set("session", value)
        assert 'id="login-form"' in client.get("/").text


def test_unknown_user_is_refused(serve: Serve) -> None:
    from sample_apps import sessions_login

    with serve(sessions_login.create_app("test-secret")) as client:
        token = csrf_from(client)
        response = client.post(
            "/login", data={"username": "mallory", "password": "", "csrf_token": token}
        )
        assert response.status_code == 403


# --- chat -------------------------------------------------------------------------------


def _recv_json(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return message


def test_chat_room_fan_out(serve: Serve) -> None:
    from sample_apps import chat

    with serve(chat.create_app()) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "new WebSocket(" in page.text

        with ws_connect(ws_url(client, "/ws/lobby?name=ann"), open_timeout=10) as ann:
            assert _recv_json(ann) == {"name": "*", "text": "ann joined"}
            with ws_connect(ws_url(client, "/ws/lobby?name=bob"), open_timeout=10) as bob:
                assert _recv_json(bob) == {"name": "*", "text": "bob joined"}
                assert _recv_json(ann) == {"name": "*", "text": "bob joined"}
                with ws_connect(ws_url(client, "/ws/other?name=eve"), open_timeout=10) as eve:
                    assert _recv_json(eve) == {"name": "*", "text": "eve joined"}

                    ann.send("hi <b>bob</b>")
                    assert _recv_json(bob) == {"name": "ann", "text": "hi <b>bob</b>"}
                    assert _recv_json(ann) == {"name": "ann", "text": "hi <b>bob</b>"}
                    bob.send("hello ann")
                    assert _recv_json(ann) == {"name": "bob", "text": "hello ann"}
                    # Rooms are separate: eve (in "other") saw none of it.
                    with pytest.raises(TimeoutError):
                        eve.recv(timeout=0.3)
            assert _recv_json(ann) == {"name": "*", "text": "bob left"}


@pytest.mark.parametrize("path", ["/ws/bad%20room?name=x", "/ws/lobby?name=%3Cscript%3E"])
def test_chat_rejects_bad_names(serve: Serve, path: str) -> None:
    from sample_apps import chat

    with (
        serve(chat.create_app()) as client,
        pytest.raises(InvalidStatus) as info,
        ws_connect(ws_url(client, path), open_timeout=10),
    ):
        pass
    assert info.value.response.status_code == 403


def test_chat_message_too_long_closes_1009(serve: Serve) -> None:
    from sample_apps import chat

    with (
        serve(chat.create_app()) as client,
        ws_connect(ws_url(client, "/ws/lobby?name=ann"), open_timeout=10) as ann,
    ):
        _recv_json(ann)
        ann.send("x" * (chat.MAX_MESSAGE_LENGTH + 1))
        with pytest.raises(ConnectionClosed) as info:
            ann.recv(timeout=10)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009


# --- sse_clock --------------------------------------------------------------------------

EVENT = re.compile(r"event: tick\r?\ndata: (?P<data>[^\r\n]+)\r?\nid: (?P<id>\d+)")


def _events(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> list[str]:
    ids: list[str] = []
    text = ""
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # Proxies and browsers must not cache (or buffer) a live stream.
        assert "no-cache" in response.headers.get("cache-control", "")
        for chunk in response.iter_text():
            text += chunk
    for match in re.finditer(r"(?:^|\n)((?:[a-z]+: ?[^\r\n]*\r?\n)+)", text):
        fields = dict(line.split(": ", 1) for line in match.group(1).splitlines() if ": " in line)
        if fields.get("event") == "tick":
            assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} UTC", fields["data"])
            ids.append(fields["id"])
    return ids


def test_sse_clock_streams_events(serve: Serve) -> None:
    from sample_apps import sse_clock

    with serve(sse_clock.create_app()) as client:
        page = client.get("/")
        assert "new EventSource(" in page.text
        started = time.monotonic()
        assert _events(client, "/events?interval=0.05&count=3") == ["1", "2", "3"]
        assert time.monotonic() - started < 5
        # A reconnecting EventSource sends Last-Event-ID; numbering resumes after it.
        resumed = _events(client, "/events?interval=0.05&count=2", {"last-event-id": "41"})
        assert resumed == ["42", "43"]


@pytest.mark.parametrize("query", ["interval=0", "interval=abc", "interval=nan", "count=-1"])
def test_sse_clock_rejects_bad_parameters(serve: Serve, query: str) -> None:
    from sample_apps import sse_clock

    with serve(sse_clock.create_app()) as client:
        assert client.get(f"/events?{query}").status_code == 400


# --- cors_api ---------------------------------------------------------------------------

ALLOWED = "https://app.example.com"


def test_cors_simple_request(serve: Serve) -> None:
    from sample_apps import cors_api

    with serve(cors_api.create_app([ALLOWED])) as client:
        allowed = client.get("/quote", headers={"origin": ALLOWED})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ALLOWED
        assert "origin" in allowed.headers["vary"].lower()

        other = client.get("/quote", headers={"origin": "https://evil.example"})
        assert other.status_code == 200  # CORS is enforced by the browser, not the server
        assert "access-control-allow-origin" not in other.headers


def test_cors_preflight(serve: Serve) -> None:
    from sample_apps import cors_api

    preflight = {
        "origin": ALLOWED,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    with serve(cors_api.create_app([ALLOWED])) as client:
        ok = client.options("/quote", headers=preflight)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert "content-type" in ok.headers["access-control-allow-headers"].lower()
        assert ok.headers["access-control-max-age"] == "600"

        bad_origin = client.options(
            "/quote", headers={**preflight, "origin": "https://evil.example"}
        )
        assert bad_origin.status_code == 400
        assert "access-control-allow-origin" not in bad_origin.headers
        bad_method = client.options(
            "/quote", headers={**preflight, "access-control-request-method": "DELETE"}
        )
        assert bad_method.status_code == 400

        posted = client.post(
            "/quote", json={"quote": "Readability counts."}, headers={"origin": ALLOWED}
        )
        assert posted.status_code == 200
        assert posted.json() == {"quote": "Readability counts.", "count": 4}
        assert client.post("/quote", json={"quote": ""}).status_code == 422


# --- showcase ---------------------------------------------------------------------------


def test_showcase_index_links_every_feature(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sample_apps import showcase

    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path))

    with serve(showcase.app) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert "<title>asgi_magic showcase</title>" in index.text
        links = dict(re.findall(r'<a id="link-([a-z]+)" href="([^"]+)"', index.text))
        assert set(links) == {name for name, *_ in showcase.FEATURES}
        for name, href in links.items():
            response = client.get(href)
            assert response.status_code == 200, (name, href, response.status_code)

        css = client.get("/static/css/site.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")


def test_showcase_mounted_features_work_together(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sample_apps import showcase

    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path))

    with serve(showcase.app) as client:
        assert client.post("/api/todos", json={"title": "from the showcase"}).status_code == 201
        assert "Hello" in client.get("/hello/").text
        assert client.get("/site/docs/").status_code == 200
        login = _login(client, "/session")
        assert login.status_code == 303
        assert login.headers["location"].endswith("/session/")
        assert "Signed in as" in client.get("/session/").text
        assert _events(client, "/clock/events?interval=0.05&count=2") == ["1", "2"]
        with ws_connect(ws_url(client, "/chat/ws/lobby?name=ann"), open_timeout=10) as ann:
            assert _recv_json(ann) == {"name": "*", "text": "ann joined"}
            ann.send("hello")
            assert _recv_json(ann) == {"name": "ann", "text": "hello"}


# --- the command line, as `make run` and the README use it -------------------------------

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_cli(*args: str, cwd: Path = REPO) -> Iterator[str]:
    """``python -m asgi_magic ARGS --host 127.0.0.1 --port P``; yields the base URL and
    checks the process exits cleanly (code 0) on SIGTERM."""
    import signal
    import subprocess
    import sys

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "asgi_magic", *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise AssertionError(f"asgi-magic exited with {process.returncode}: {output}")
            try:
                httpx.get(base_url + "/", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("asgi-magic did not answer within 15 s") from None
                time.sleep(0.05)
        yield base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0].decode(errors="replace")
    assert process.returncode == 0, output


def test_make_run_command_serves_the_showcase(tmp_path: Path) -> None:
    # The command `make run` runs, from the repository root.
    with run_cli("sample_apps.showcase:app") as base_url:
        index = httpx.get(base_url + "/", timeout=10, trust_env=False)
        assert index.status_code == 200
        assert "asgi_magic showcase" in index.text
        assert (
            httpx.get(base_url + "/hello/", timeout=10, trust_env=False).text == "Hello, world!\n"
        )


def test_readme_first_app(serve: Serve) -> None:
    """The README's "first app" is sample_apps/first_app.py, verbatim, and it works."""
    from sample_apps import first_app

    source = (REPO / "sample_apps" / "first_app.py").read_text()
    assert source in (REPO / "README.md").read_text()
    with serve(first_app.app) as client:
        assert client.get("/").json() == {"hello": "world"}
        assert client.get("/hello/Ada").text == "Hello, Ada!"


FASTAPI_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}
"""


def test_fastapi_app_from_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    (tmp_path / "main.py").write_text(FASTAPI_APP)
    with run_cli("main:app", "--app-dir", str(tmp_path)) as base_url:
        response = httpx.get(base_url + "/items/7?q=x", timeout=10, trust_env=False)
        assert response.json() == {"item_id": 7, "q": "x"}
        assert httpx.get(base_url + "/items/x", timeout=10, trust_env=False).status_code == 422
