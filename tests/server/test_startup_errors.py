"""Errors a person can act on, TLS settings (mTLS with trustme), factories, contextvars.

Each startup mistake is one line naming the address, file or setting, with the exit
code the CLI documents (1: setup, 2: bad value), and lifespan shutdown runs whenever
startup ran.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from asgi_magic.config import Config, ConfigError
from asgi_magic.server import Server
from asgi_magic.server.server import (
    AppFactoryError,
    TLSSetupError,
    create_ssl_context,
    load_app,
)
from tests.support.live_server import run_server
from tests.support.subprocess_server import ROOT, serve_subprocess

HELLO = """\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"hello"})
"""


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgi_magic", *args],
        cwd=cwd or ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def hello_dir(tmp_path: Path) -> Path:
    (tmp_path / "hello_app.py").write_text(HELLO)
    return tmp_path


# --- sockets -----------------------------------------------------------------------------


def test_port_in_use_names_the_address(hello_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("hello_app:app", "--app-dir", str(hello_dir), "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"127.0.0.1:{port} is already in use")
    # "Started server process" + the error (beside the line that names the build)
    lines = [line for line in result.stderr.splitlines() if ", build: " not in line]
    assert len(lines) == 2, result.stderr


def test_bad_host_names_the_host(hello_dir: Path) -> None:
    result = cli("hello_app:app", "--app-dir", str(hello_dir), "--host", "no-such-host.invalid")
    assert result.returncode == 1
    assert "cannot bind to no-such-host.invalid:8000: unknown host" in result.stderr
    assert "Traceback" not in result.stderr


def test_bind_happens_before_lifespan_startup(tmp_path: Path) -> None:
    """A port in use must not run the app's startup (nor leave it without shutdown)."""
    marker = tmp_path / "events.txt"
    (tmp_path / "ls_app.py").write_text(
        "import os\n"
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'lifespan'\n"
        "    while True:\n"
        "        m = await receive()\n"
        f"        open({str(marker)!r}, 'a').write(m['type'] + '\\n')\n"
        "        await send({'type': m['type'] + '.complete'})\n"
        "        if m['type'] == 'lifespan.shutdown':\n"
        "            return\n"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("ls_app:app", "--app-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1 and "already in use" in result.stderr
    assert not marker.exists()


async def test_lifespan_shutdown_runs_when_serving_fails_after_startup() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            events.append(message["type"])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    server = Server(Config(app=app, port=0, log_level="critical"))

    async def broken_startup(*args: Any) -> None:
        raise RuntimeError("create_server failed")

    server._startup = broken_startup  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await server.serve()
    assert events == ["lifespan.startup", "lifespan.shutdown"]


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_cert(ca: trustme.CA, tmp_path: Path) -> tuple[str, str]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    key, chain = tmp_path / "server.key", tmp_path / "server.pem"
    cert.private_key_pem.write_to_path(str(key))
    cert.cert_chain_pems[0].write_to_path(str(chain))
    return str(key), str(chain)


def test_tls_missing_files_are_named(tmp_path: Path, server_cert: tuple[str, str]) -> None:
    key, crt = server_cert
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(TLSSetupError, match=f"TLS certificate file {missing}: no such file"):
        create_ssl_context(Config(app="m:a", ssl_certfile=missing, ssl_keyfile=key))
    with pytest.raises(TLSSetupError, match=f"TLS key file {missing}: no such file"):
        create_ssl_context(Config(app="m:a", ssl_certfile=crt, ssl_keyfile=missing))
    unreadable = tmp_path / "dir.pem"
    unreadable.mkdir()
    with pytest.raises(TLSSetupError, match="not a readable file"):
        create_ssl_context(Config(app="m:a", ssl_certfile=str(unreadable), ssl_keyfile=key))


def test_tls_wrong_or_missing_password(tmp_path: Path, ca: trustme.CA) -> None:
    from cryptography.hazmat.primitives import serialization

    cert = ca.issue_cert("127.0.0.1")
    crt = tmp_path / "c.pem"
    cert.cert_chain_pems[0].write_to_path(str(crt))
    private = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right"),
        )
    )
    base = {"app": "m:a", "ssl_certfile": str(crt), "ssl_keyfile": str(encrypted)}
    assert create_ssl_context(Config(**base, ssl_keyfile_password="right")) is not None
    with pytest.raises(TLSSetupError, match=f"wrong password for TLS key file {encrypted}"):
        create_ssl_context(Config(**base, ssl_keyfile_password="wrong"))
    # Without a password the server must not prompt on the terminal (and hang).
    with pytest.raises(TLSSetupError, match="is encrypted: give --ssl-keyfile-password"):
        create_ssl_context(Config(**base))


def test_tls_key_without_cert_is_refused_never_plain_http(hello_dir: Path) -> None:
    result = cli("hello_app:app", "--app-dir", str(hello_dir), "--ssl-keyfile", "k.pem")
    assert result.returncode == 2
    assert "--ssl-keyfile given without --ssl-certfile" in result.stderr
    assert result.stderr.count("\n") == 1


def test_tls_cert_without_key_needs_the_key_inside(
    tmp_path: Path, server_cert: tuple[str, str], hello_dir: Path
) -> None:
    key, crt = server_cert
    result = cli("hello_app:app", "--app-dir", str(hello_dir), "--ssl-certfile", crt)
    assert result.returncode == 1
    assert f"TLS certificate file {crt} holds no private key: give --ssl-keyfile" in result.stderr
    combined = tmp_path / "both.pem"
    combined.write_text(Path(key).read_text() + Path(crt).read_text())
    assert create_ssl_context(Config(app="m:a", ssl_certfile=str(combined))) is not None


def test_tls_version_and_ciphers(server_cert: tuple[str, str]) -> None:
    key, crt = server_cert
    base = {"app": "m:a", "ssl_certfile": crt, "ssl_keyfile": key}
    only12 = create_ssl_context(Config(**base, ssl_version=5))
    assert only12 is not None and only12.maximum_version == ssl.TLSVersion.TLSv1_2
    default = create_ssl_context(Config(**base))
    assert default is not None and default.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(TLSSetupError, match="RFC 8996"):
        create_ssl_context(Config(**base, ssl_version=3))
    with pytest.raises(TLSSetupError, match="no cipher matches"):
        create_ssl_context(Config(**base, ssl_ciphers="NO-SUCH-CIPHER"))
    chosen = create_ssl_context(Config(**base, ssl_ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
    assert chosen is not None
    names = {c["name"] for c in chosen.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names == {"ECDHE-RSA-AES128-GCM-SHA256"}


def test_ssl_context_factory_hook(server_cert: tuple[str, str]) -> None:
    key, crt = server_cert
    seen: list[Any] = []

    def factory(config: Config, default: Any) -> ssl.SSLContext:
        ctx: ssl.SSLContext = default()
        seen.append(config)
        ctx.set_alpn_protocols(["http/1.1", "acme"])
        return ctx

    config = Config(app="m:a", ssl_certfile=crt, ssl_keyfile=key, ssl_context_factory=factory)
    assert create_ssl_context(config) is not None and seen == [config]


def test_mtls_refuses_a_client_without_certificate(
    ca: trustme.CA, server_cert: tuple[str, str], tmp_path: Path
) -> None:
    key, crt = server_cert
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"verified"})

    with run_server(
        app,
        ssl_keyfile=key,
        ssl_certfile=crt,
        ssl_ca_certs=str(ca_file),
        ssl_cert_reqs=int(ssl.CERT_REQUIRED),
    ) as url:
        url = url.replace("http://", "https://")
        anonymous = ssl.create_default_context(cafile=str(ca_file))
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(url, verify=anonymous, timeout=5)
        client_cert = ca.issue_cert("client@example.com")
        with_cert = ssl.create_default_context(cafile=str(ca_file))
        client_cert.configure_cert(with_cert)
        assert httpx.get(url, verify=with_cert, timeout=5).text == "verified"
        # A certificate from another CA is refused too.
        stranger = trustme.CA().issue_cert("mallory@example.com")
        other = ssl.create_default_context(cafile=str(ca_file))
        stranger.configure_cert(other)
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(url, verify=other, timeout=5)


def test_cert_reqs_without_ca_is_refused() -> None:
    with pytest.raises(ConfigError, match="give --ssl-ca-certs"):
        Config(app="m:a", ssl_certfile="c", ssl_keyfile="k", ssl_cert_reqs=2)


# --- factories -----------------------------------------------------------------------------


async def _asgi(scope: Any, receive: Any, send: Any) -> None:
    pass


def make_app() -> Any:
    return _asgi


def make_nothing() -> Any:
    return 42


def test_factory_detected_without_flag(caplog: pytest.LogCaptureFixture) -> None:
    config = Config(app=make_app, interface="asgi3")
    with caplog.at_level("WARNING", logger="asgi_magic.error"):
        assert load_app(config) is _asgi
    assert "ASGI app factory detected" in caplog.text and "--factory" in caplog.text


async def make_async() -> Any:
    return _asgi


def test_factory_mistakes_are_named() -> None:
    with pytest.raises(AppFactoryError, match="is async"):
        load_app(Config(app=make_async, factory=True))
    with pytest.raises(AppFactoryError, match="async function with no arguments"):
        load_app(Config(app=make_async))
    with pytest.raises(AppFactoryError, match="takes arguments: it looks like an ASGI app"):
        load_app(Config(app=_asgi, factory=True))
    with pytest.raises(AppFactoryError, match="returned int, not an ASGI app"):
        load_app(Config(app=make_nothing, factory=True))
    with pytest.raises(AppFactoryError, match="point at the app itself"):
        load_app(Config(app=make_nothing))
    # A real ASGI app is never called as a factory.
    assert load_app(Config(app=_asgi, interface="asgi3")) is _asgi


def test_factory_flag_on_an_app_exits_1_one_line(hello_dir: Path) -> None:
    result = cli("hello_app:app", "--app-dir", str(hello_dir), "--factory")
    assert result.returncode == 1
    assert "--factory given but hello_app:app takes arguments" in result.stderr
    assert result.stderr.count("\n") == 1


# --- contextvars and compatibility notices --------------------------------------------------

REQUEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("reset", [False, True])
def test_reset_contextvars_gives_each_request_a_fresh_context(reset: bool, loop: str) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        seen.append(REQUEST_VAR.get())
        REQUEST_VAR.set("leaked-from-a-request")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})

    def serve() -> None:
        config = Config(app=app, port=0, log_level="warning", reset_contextvars=reset, loop=loop)
        server = Server(config)
        from asgi_magic.server.loops import loop_factory

        async def main() -> None:
            REQUEST_VAR.set("from-the-server-context")
            task = asyncio.get_running_loop().create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{port}/")
                await client.get(f"http://127.0.0.1:{port}/")  # same connection
            server.should_exit = True
            await task

        with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            runner.run(main())

    serve()
    # Without the flag, requests copy the context serve() runs in; with it, every
    # request starts from an empty one. Never does one request see another's value.
    expected = "unset" if reset else "from-the-server-context"
    assert seen == [expected, expected]


def test_http_and_ws_choices_are_announced(hello_dir: Path) -> None:
    with serve_subprocess(
        "hello_app:app",
        "--app-dir",
        str(hello_dir),
        "--log-level",
        "info",
        "--http",
        "httptools",
        "--ws",
        "wsproto",
        "--loop",
        "zuvloop",
        "--http2",
    ) as server:
        assert httpx.get(server.url).text == "hello"
        server.signal()
        assert server.proc.wait(timeout=10) == 0
        err = server.proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "--http httptools: asgi_magic always uses its own HTTP/1.1 parser" in err
    assert "--ws wsproto: asgi_magic always uses its own WebSocket stack" in err
    assert "--http2" not in err  # HTTP/2 is served: nothing to announce
    assert "--loop zuvloop: using uvloop" in err
    assert f"Started server process [{server.proc.pid}]" in err


def test_h11_max_incomplete_event_size_is_the_head_limit() -> None:
    config = Config(app="m:a", h11_max_incomplete_event_size=1024)
    assert config.limit_request_head == 1024
    with run_server(HELLO_APP, h11_max_incomplete_event_size=1024) as url:
        assert httpx.get(url).status_code == 200
        assert httpx.get(url, headers={"x-big": "a" * 2000}).status_code == 431


async def HELLO_APP(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"hello"})
