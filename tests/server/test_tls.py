"""TLS with the stdlib ssl module: a self-signed certificate made by openssl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_server import run_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, str]:
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(key), str(crt)


def test_https_scope_scheme(cert: tuple[str, str]) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope["scheme"])
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"secure"})

    key, crt = cert
    with run_server(app, ssl_keyfile=key, ssl_certfile=crt) as url:
        url = url.replace("http://", "https://")
        with httpx.Client(verify=False) as client:
            assert client.get(url).text == "secure"
            assert client.get(url).text == "secure"  # keep-alive over TLS
    assert seen == ["https", "https"]
