"""WSGI apps (PEP 3333) through the real server: Flask, Django, and the PEP's rules."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from asgi_magic.config import Config
from asgi_magic.server import load_app
from asgi_magic.server.wsgi import WSGIAdapter, is_wsgi_app
from tests.support.live_server import run_server
from tests.support.subprocess_server import serve_subprocess

StartResponse = Any
Environ = dict[str, Any]


# --- real frameworks ----------------------------------------------------------------------


def test_flask() -> None:
    from tests.integration.apps.flask_app import app

    with run_server(app, interface="wsgi") as url, httpx.Client(base_url=url) as client:
        r = client.get("/")
        assert r.status_code == 200 and r.text == "hello from flask"
        assert r.headers["content-length"] == "16" and r.headers["server"] == "asgi-magic"
        assert client.post("/echo?q=x", content=b"payload").text == "payload|x"
        # A chunked upload: Werkzeug reads it because wsgi.input_terminated is set.
        body = iter([b"a" * 1000, b"b" * 1000])
        assert client.post("/echo", content=body).text == "a" * 1000 + "b" * 1000 + "|"
        form = client.post("/form", data={"name": "n"}, files={"file": ("f.txt", b"x" * 5000)})
        assert form.json() == {"name": "n", "file": "f.txt", "size": 5000}
        assert client.get("/stream").text == "chunk0;chunk1;chunk2;"
        assert client.get("/json").json()["path"] == "/json"
        assert client.get("/boom").status_code == 500
        assert client.get("/missing").status_code == 404


def test_flask_under_a_root_path() -> None:
    from tests.integration.apps.flask_app import app

    with run_server(app, interface="wsgi", root_path="/api") as url:
        data = httpx.get(url + "/json").json()
    assert data["script_root"] == "/api" and data["path"] == "/json"


def test_django_wsgi() -> None:
    from tests.integration.apps.django_wsgi import app

    with run_server(app, interface="wsgi") as url, httpx.Client(base_url=url) as client:
        assert client.post("/echo?q=x", content=b"payload").text == "payload|x"
        r = client.get("/stream-sync")
        assert r.status_code == 200 and r.text == "part0;part1;part2;"
        assert client.get("/missing").status_code == 404


# --- detection ------------------------------------------------------------------------------


def plain(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"plain"]


async def asgi3(scope: Any, receive: Any, send: Any) -> None:
    pass


class AsyncCallable:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


class WSGIClass:
    def __init__(self, environ: Environ, start_response: StartResponse) -> None:
        start_response("200 OK", [])

    def __iter__(self) -> Iterator[bytes]:
        yield b"from a class"


def test_is_wsgi_app() -> None:
    from tests.integration.apps.django_wsgi import app as django_app
    from tests.integration.apps.flask_app import app as flask_app

    assert is_wsgi_app(plain) and is_wsgi_app(flask_app) and is_wsgi_app(django_app)
    assert is_wsgi_app(WSGIClass)
    assert not is_wsgi_app(asgi3) and not is_wsgi_app(AsyncCallable())
    assert not is_wsgi_app(lambda scope: asgi3)  # ASGI 2
    assert not is_wsgi_app(lambda *args: None)
    assert not is_wsgi_app(lambda a, b, c=None: None)
    assert not is_wsgi_app("not callable")


def test_auto_detects_flask_with_one_notice(caplog: pytest.LogCaptureFixture) -> None:
    from tests.integration.apps.flask_app import app

    with caplog.at_level("INFO", logger="asgi_magic.error"):
        wrapped = load_app(Config(app=app))
    assert isinstance(wrapped, WSGIAdapter)
    notices = [r.getMessage() for r in caplog.records if "WSGI" in r.getMessage()]
    assert len(notices) == 1 and "--interface wsgi" in notices[0]
    with run_server(app) as url:  # interface="auto"
        assert httpx.get(url + "/").text == "hello from flask"
    with run_server(WSGIClass) as url:
        assert httpx.get(url + "/").text == "from a class"


@pytest.mark.parametrize("interface", ["asgi3", "asgi2"])
def test_flask_as_asgi_is_refused_with_the_fix(interface: str) -> None:
    from tests.integration.apps.flask_app import app

    with pytest.raises(ValueError, match=r"is a WSGI app .* --interface wsgi"):
        load_app(Config(app=app, interface=interface))  # type: ignore[arg-type]


def test_asgi_app_with_interface_wsgi_is_refused() -> None:
    with pytest.raises(ValueError, match=r"is an async \(ASGI\) app, not WSGI"):
        load_app(Config(app=asgi3, interface="wsgi"))
    with pytest.raises(ValueError, match="drop --interface wsgi"):
        load_app(Config(app=AsyncCallable(), interface="wsgi"))


def test_cli_refuses_flask_as_asgi3_in_one_line() -> None:
    import subprocess

    proc = subprocess.run(
        [
            *(sys.executable, "-m", "asgi_magic", "tests.integration.apps.flask_app:app"),
            *("--interface", "asgi3", "--port", "0"),
        ],
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert b"--interface wsgi" in proc.stderr and b"Traceback" not in proc.stderr


def test_wsgi_threads_flag() -> None:
    from asgi_magic.cli import build_parser, config_from_args

    args = build_parser().parse_args(["m:app", "--interface", "wsgi", "--wsgi-threads", "3"])
    config = config_from_args(args)
    assert config.interface == "wsgi" and config.wsgi_threads == 3
    adapter = load_app(Config(app=plain, interface="wsgi", wsgi_threads=3))
    assert isinstance(adapter, WSGIAdapter) and adapter.threads == 3


# --- PEP 3333 -------------------------------------------------------------------------------


def environ_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read()
    shown = {
        k: v
        for k, v in environ.items()
        if isinstance(v, (str, bool, tuple)) and k not in ("wsgi.errors",)
    }
    shown["body"] = body.decode("latin-1")
    shown["errors_writable"] = hasattr(environ["wsgi.errors"], "write")
    data = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]


def test_environ_keys() -> None:
    with run_server(environ_app, interface="wsgi", root_path="/root") as url:
        host, port = url.removeprefix("http://").split(":")
        r = httpx.post(
            url + "/a%2Fb/%C3%A9?x=1&y=%20",
            content=b"body!",
            headers=[
                (b"content-type", b"text/x"),
                (b"x-dup", b"1"),
                (b"x-dup", b"2"),
                (b"x_dup", b"spoof"),
                (b"x-latin", b"caf\xe9"),
            ],
        )
    env = r.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/root"
    # Percent-decoded bytes as latin-1 code points (PEP 3333 "Unicode issues").
    assert env["PATH_INFO"] == "/a/b/\xc3\xa9"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["CONTENT_TYPE"] == "text/x" and env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_DUP"] == "1,2"  # the underscore twin is dropped, not merged
    assert env["HTTP_X_LATIN"] == "caf\xe9"
    assert env["HTTP_HOST"] == f"{host}:{port}"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == port
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert env["wsgi.version"] == [1, 0] and env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True and env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False and env["wsgi.input_terminated"] is True
    assert env["errors_writable"] is True
    assert env["body"] == "body!"


def test_wsgi_input_file_api() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        limited = stream.readline(3)
        two = stream.read(2)
        rest_lines = stream.readlines()
        start_response("200 OK", [])
        return [json.dumps([x.decode() for x in [first, limited, two, *rest_lines]]).encode()]

    body = iter([b"line1\nlo", b"ng line\nxy", b"z\nlast"])  # chunked, split mid-line
    with run_server(app, interface="wsgi") as url:
        r = httpx.post(url + "/", content=body)
    assert r.json() == ["line1\n", "lon", "g ", "line\n", "xyz\n", "last"]


def test_write_callable_and_close_called() -> None:
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b""  # empty chunks never send the headers early (PEP 3333)
            yield b" and iterable"

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Body:
        write = start_response("201 Created", [("X-Custom", "1")])
        write(b"from write()")
        return Body()

    with run_server(app, interface="wsgi") as url:
        r = httpx.get(url + "/")
    assert r.status_code == 201 and r.headers["x-custom"] == "1"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "from write() and iterable"
    assert closed.wait(5)


def test_exc_info_replaces_the_response_before_the_body() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("failed after start_response")
        except ValueError:
            start_response("503 Service Unavailable", [("X-Error", "1")], sys.exc_info())
        return [b"sorry"]

    with run_server(app, interface="wsgi") as url:
        r = httpx.get(url + "/")
    assert r.status_code == 503 and r.headers["x-error"] == "1" and r.text == "sorry"


def test_exc_info_after_the_headers_re_raises_and_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = threading.Event()
    seen: list[BaseException] = []

    class Body:
        def __init__(self, start_response: StartResponse) -> None:
            self.start_response = start_response

        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            time.sleep(0.1)
            try:
                raise KeyError("mid-body")
            except KeyError:
                try:
                    self.start_response("500 Oops", [], sys.exc_info())
                except KeyError as exc:  # PEP 3333: the original exception comes back
                    seen.append(exc)
                    raise

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Body:
        start_response("200 OK", [])
        return Body(start_response)

    with (
        caplog.at_level("ERROR", logger="asgi_magic.error"),
        run_server(app, interface="wsgi") as url,
        pytest.raises(httpx.RemoteProtocolError),
    ):  # the chunked body never ends
        httpx.get(url + "/")
    assert closed.wait(5) and len(seen) == 1
    assert "Exception in ASGI application" in caplog.text


def test_raise_before_start_response_is_a_500() -> None:
    closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise RuntimeError("no response at all")

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            raise RuntimeError("failed on first iteration")
            yield b""

        def close(self) -> None:
            closed.set()

    def app2(environ: Environ, start_response: StartResponse) -> Body:
        start_response("200 OK", [])
        return Body()

    def app3(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"never called start_response"]

    def app4(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])  # twice without exc_info: an error (PEP 3333)
        return [b"x"]

    for bad in (app, app2, app3, app4):
        with run_server(bad, interface="wsgi", log_level="critical") as url:
            r = httpx.get(url + "/")
        assert r.status_code == 500, bad
    assert closed.is_set()


def test_bad_status_and_headers_are_500s() -> None:
    def make(status: Any, headers: Any) -> Any:
        def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
            start_response(status, headers)
            return [b"x"]

        return app

    cases = [
        make(200, []),
        make("OK", []),
        make("200 OK", [("X-Bad", "a\r\nInjected: 1")]),
        make("200 OK", [(b"x", b"bytes")]),
        make("200 OK", [("X-Snowman", "\u2603")]),
    ]
    for app in cases:
        with run_server(app, interface="wsgi", log_level="critical") as url:
            r = httpx.get(url + "/")
        assert r.status_code == 500 and "injected" not in r.headers


def test_streamed_response_arrives_while_the_app_still_runs() -> None:
    release = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first;"
        release.wait(10)
        yield b"second;"

    with run_server(app, interface="wsgi") as url, httpx.stream("GET", url + "/") as r:
        chunks = r.iter_raw()
        assert next(chunks) == b"first;"  # before the app was allowed to go on
        release.set()
        assert b"".join(chunks) == b"second;"


def test_response_back_pressure_and_disconnect() -> None:
    """A client that reads nothing holds the app at the high-water mark; when it goes,
    the app's thread stops at its next chunk and close() is called."""
    produced: list[int] = []
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            while True:
                produced.append(1)
                yield b"x" * 65536

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Endless:
        start_response("200 OK", [])
        return Endless()

    with run_server(app, interface="wsgi", log_level="critical") as url:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # Wait until the app has stopped producing (0.5 s without a new chunk).
        deadline = time.monotonic() + 15
        stalled = -1
        while len(produced) != stalled:
            assert time.monotonic() < deadline, "the app never stopped producing"
            stalled = len(produced)
            time.sleep(0.5)
        # 64 KiB chunks: socket buffers plus the 256 KiB queue, then the app waits.
        assert stalled > 0 and stalled * 65536 < 48 * 1024 * 1024
        sock.close()
        assert closed.wait(10)


def test_disconnect_during_upload_raises_in_the_app() -> None:
    errors: list[BaseException] = []
    started = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            started.set()
            environ["wsgi.input"].read()
        except OSError as exc:
            errors.append(exc)
            raise
        start_response("200 OK", [])
        return [b"unreachable"]

    with run_server(app, interface="wsgi", log_level="critical") as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npart")
            assert started.wait(5)
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(errors) == 1 and "disconnected" in str(errors[0])


def test_thread_pool_is_bounded() -> None:
    active: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        with lock:
            active.append(1)
            peak[0] = max(peak[0], len(active))
        time.sleep(0.2)
        with lock:
            active.pop()
        start_response("200 OK", [])
        return [b"ok"]

    with run_server(app, interface="wsgi", wsgi_threads=2) as url:
        results: list[int] = []

        def get() -> None:
            results.append(httpx.get(url + "/", timeout=10).status_code)

        threads = [threading.Thread(target=get) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [200] * 6 and 1 <= peak[0] <= 2


def test_websocket_to_a_wsgi_app_is_refused() -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with run_server(plain, interface="wsgi") as url, pytest.raises(InvalidStatus) as info:
        connect(url.replace("http", "ws") + "/").close()
    assert info.value.response.status_code == 403


# --- a 1 GB upload streams through in bounded memory ---------------------------------------

UPLOAD = 1024 * 1024 * 1024
PIECE = b"\xab" * (256 * 1024)


@pytest.mark.slow
def test_one_gigabyte_upload_bounded_rss() -> None:
    with serve_subprocess(
        "tests.integration.apps.wsgi_apps:count_body", "--interface", "wsgi"
    ) as server:
        httpx.post(server.url + "/", content=b"warm-up").raise_for_status()
        before = server.rss_kib()
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                peak[0] = max(peak[0], server.rss_kib())

        sampler = threading.Thread(target=sample)
        sampler.start()

        def body() -> Iterator[bytes]:
            for _ in range(UPLOAD // len(PIECE)):
                yield PIECE

        started = time.monotonic()
        try:
            r = httpx.post(
                server.url + "/",
                content=body(),
                headers={"content-length": str(UPLOAD)},
                timeout=120,
            )
        finally:
            stop.set()
            sampler.join()
        elapsed = time.monotonic() - started
        assert r.status_code == 200 and r.json() == {"bytes": UPLOAD, "reads": r.json()["reads"]}
        growth_mib = (peak[0] - before) / 1024
        print(f"1 GiB upload: {elapsed:.1f} s, RSS growth {growth_mib:.1f} MiB")
        assert growth_mib < 30, f"RSS grew {growth_mib:.1f} MiB"
        assert elapsed < 60, f"took {elapsed:.1f} s"


def test_head_and_bodiless_statuses() -> None:
    from tests.integration.apps.flask_app import app as flask_app

    def no_content(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    with run_server(flask_app, interface="wsgi") as url:
        r = httpx.head(url + "/")
        assert r.status_code == 200 and r.headers["content-length"] == "16" and r.content == b""
        assert httpx.get(url + "/").text == "hello from flask"  # the connection is sound
    with run_server(no_content, interface="wsgi") as url:
        r = httpx.get(url + "/")
        assert r.status_code == 204 and r.content == b""
