"""The ASGI ``tls`` extension (asgiref specs/tls.rst), client certificates and the TLS
handshake timeout, with certificates made at test time by trustme and real clients
(httpx, curl, websockets)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

trustme = pytest.importorskip("trustme")
x509 = pytest.importorskip("cryptography.x509")

from asgi_magic.server.tls import rfc4514_name  # noqa: E402
from tests.support.live_server import run_server  # noqa: E402
from tests.support.wire import hostport  # noqa: E402


class Certs:
    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_pem = server.cert_chain_pems[0].bytes().decode()
        self.server_file = tmp / "server.pem"
        server.private_key_and_cert_chain_pem.write_to_path(str(self.server_file))
        self.ca_file = tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.client = self.ca.issue_cert(
            "alice@example.com", common_name="Alice, Jr.", organization_name="Example Org"
        )
        self.client_cert = tmp / "client.pem"
        self.client_key = tmp / "client.key"
        self.client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        self.client.private_key_pem.write_to_path(str(self.client_key))

    def server_config(self, reqs: int) -> dict[str, Any]:
        return {
            "ssl_certfile": str(self.server_file),
            "ssl_keyfile": str(self.server_file),
            "ssl_ca_certs": str(self.ca_file),
            "ssl_cert_reqs": reqs,
        }

    def client_context(self, with_cert: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if with_cert:
            self.client.configure_cert(ctx)
        return ctx


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


seen: list[dict[str, Any]] = []


async def echo_tls(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    tls = scope["extensions"].get("tls")
    seen.append({"type": scope["type"], "tls": tls})
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(tls)})
        await send({"type": "websocket.close"})
        return
    body = json.dumps(tls).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _expected_name(certs: Certs) -> str:
    cert = x509.load_pem_x509_certificate(certs.client.cert_chain_pems[0].bytes())
    name: str = cert.subject.rfc4514_string()
    return name


def _check_client(tls: dict[str, Any], certs: Certs) -> None:
    assert tls["client_cert_chain"], tls
    leaf = tls["client_cert_chain"][0]
    assert ssl.PEM_cert_to_DER_cert(leaf) == ssl.PEM_cert_to_DER_cert(
        certs.client.cert_chain_pems[0].bytes().decode()
    )
    assert tls["client_cert_name"] == _expected_name(certs)
    assert tls["client_cert_error"] is None


@pytest.mark.parametrize("reqs", [1, 2])
def test_mtls_scope_with_httpx(certs: Certs, reqs: int) -> None:
    seen.clear()
    with run_server(echo_tls, **certs.server_config(reqs)) as url:
        url = url.replace("http://", "https://")
        with httpx.Client(verify=certs.client_context(True)) as client:
            tls = client.get(url).json()
            assert client.get(url).json() == tls  # the same dict on every request
    assert tls["server_cert"] == certs.server_pem
    assert tls["tls_version"] == 0x0304
    # TLS 1.3 suites are 0x1301-0x1305 (RFC 8446 §B.4).
    assert 0x1301 <= tls["cipher_suite"] <= 0x1305
    _check_client(tls, certs)


def test_tls12_version_and_cipher_number(certs: Certs) -> None:
    seen.clear()
    ctx = certs.client_context(False)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with run_server(echo_tls, **certs.server_config(0)) as url:
        url = url.replace("http://", "https://")
        tls = httpx.get(url, verify=ctx).json()
    assert tls["tls_version"] == 0x0303
    # RFC 5289 §3.2: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 is {0xC0,0x2B}.
    assert tls["cipher_suite"] == 0xC02B
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None


def test_optional_client_cert_absent(certs: Certs) -> None:
    seen.clear()
    with run_server(echo_tls, **certs.server_config(1)) as url:
        url = url.replace("http://", "https://")
        tls = httpx.get(url, verify=certs.client_context(False)).json()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["server_cert"] == certs.server_pem


def test_required_client_cert_refused_without_one(certs: Certs) -> None:
    with run_server(echo_tls, **certs.server_config(2)) as url:
        url = url.replace("http://", "https://")
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(url, verify=certs.client_context(False))


def test_client_cert_from_another_ca_refused(certs: Certs, tmp_path: Path) -> None:
    other = trustme.CA().issue_cert("mallory@example.com")
    ctx = certs.client_context(False)
    other.configure_cert(ctx)
    with run_server(echo_tls, **certs.server_config(1)) as url:
        url = url.replace("http://", "https://")
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(url, verify=ctx)


def test_plain_http_has_no_tls_extension() -> None:
    seen.clear()
    with run_server(echo_tls) as url:
        assert httpx.get(url).json() is None
    assert "tls" not in json.dumps(seen[0]["tls"])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_mtls_with_curl(certs: Certs) -> None:
    with run_server(echo_tls, **certs.server_config(2)) as url:
        url = url.replace("http://", "https://")
        out = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                str(certs.ca_file),
                "--cert",
                str(certs.client_cert),
                "--key",
                str(certs.client_key),
                url,
            ],
            capture_output=True,
            timeout=20,
            check=True,
        )
    tls = json.loads(out.stdout)
    _check_client(tls, certs)


def test_websocket_scope_has_tls(certs: Certs) -> None:
    websockets = pytest.importorskip("websockets.asyncio.client")

    async def talk(url: str) -> Any:
        async with websockets.connect(url, ssl=certs.client_context(True)) as ws:
            return json.loads(await ws.recv())

    with run_server(echo_tls, **certs.server_config(2)) as url:
        host, port = hostport(url)
        tls = asyncio.run(talk(f"wss://{host}:{port}/"))
    _check_client(tls, certs)
    assert tls["server_cert"] == certs.server_pem


def test_tcp_without_handshake_is_dropped(certs: Certs) -> None:
    config = certs.server_config(0)
    with run_server(echo_tls, timeout_ssl_handshake=0.5, **config) as url:
        with socket.create_connection(hostport(url), timeout=5) as sock:
            start = time.monotonic()
            assert sock.recv(100) == b""  # closed by the server, nothing sent
            waited = time.monotonic() - start
        # the server still serves others
        tls = httpx.get(url.replace("http://", "https://"), verify=certs.client_context(False))
        assert tls.status_code == 200
    assert 0.3 < waited < 3, waited


def test_rfc4514_escaping() -> None:
    subject = (
        (("countryName", "GB"),),
        (("organizationName", 'A+B, "C"'),),
        (("commonName", " lead#"), ("emailAddress", "x@y")),
    )
    assert rfc4514_name(subject) == ('CN=\\ lead#+1.2.840.113549.1.9.1=x@y,O=A\\+B\\, \\"C\\",C=GB')
    assert rfc4514_name(()) is None
