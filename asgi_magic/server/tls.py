"""The ASGI ``tls`` extension: what a TLS connection tells the app about itself.

asgiref ``specs/tls.rst`` (TLS extension 0.2, linked from ``docs/extensions.rst``):
with TLS, the scope's ``extensions["tls"]`` is a dict with

* ``server_cert``: the server's certificate, PEM (``str``), or None;
* ``client_cert_chain``: the client's certificates, PEM, leaf first (``[]`` without one);
* ``client_cert_name``: the client certificate's subject as an RFC 4514 string, or None;
* ``client_cert_error``: None (see below);
* ``tls_version``: the protocol version number (``0x0304`` for TLS 1.3), or None;
* ``cipher_suite``: the IANA cipher suite number (``0x1301`` …), or None.

It is computed once per connection (``tls_extension``), after the handshake, and
every scope of that connection shares it. Without TLS the key is absent (the spec
forbids it then).

What the standard library can give, and what we do with it:

* The chain. Before Python 3.13 ``ssl`` exposes only the client's leaf certificate
  (``getpeercert(binary_form=True)``), so ``client_cert_chain`` has one entry. From
  3.13, ``get_unverified_chain()`` gives the certificates the client sent, leaf first.
* ``client_cert_error`` is always None: with ``--ssl-cert-reqs`` 1 (optional) or 2
  (required) OpenSSL refuses the handshake when a certificate the client sends does
  not verify, so no request is ever made with a bad certificate.
* The subject name comes from ``getpeercert()``, which ``ssl`` fills only for a
  verified certificate; the names OpenSSL reports are turned into RFC 4514 short names
  (``CN``, ``O`` …) or, for the rest, the dotted OID.
* ``cipher_suite``: OpenSSL names the cipher; its IANA number is the low 16 bits of
  the ``id`` that ``SSLContext.get_ciphers()`` reports for that name.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Any

__all__ = ["rfc4514_name", "server_cert_pem", "tls_extension"]

# RFC 8446 §4.1.2 / RFC 5246 §6.2.1: the wire version numbers.
_TLS_VERSIONS = {
    "TLSv1": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}

# RFC 4514 §3: the short names a string representation uses; other attribute types
# are written as their dotted-decimal OID (RFC 4514 §2.3).
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_OIDS = {
    "emailAddress": "1.2.840.113549.1.9.1",
    "serialNumber": "2.5.4.5",
    "surname": "2.5.4.4",
    "givenName": "2.5.4.42",
    "title": "2.5.4.12",
    "initials": "2.5.4.43",
    "generationQualifier": "2.5.4.44",
    "pseudonym": "2.5.4.65",
    "postalCode": "2.5.4.17",
    "businessCategory": "2.5.4.15",
    "dnQualifier": "2.5.4.46",
    "jurisdictionCountryName": "1.3.6.1.4.1.311.60.2.1.3",
    "jurisdictionStateOrProvinceName": "1.3.6.1.4.1.311.60.2.1.2",
    "jurisdictionLocalityName": "1.3.6.1.4.1.311.60.2.1.1",
}


def _escape(value: str) -> str:
    # RFC 4514 §2.4: escape , + " \ < > ; everywhere, '#' and ' ' at the start, ' ' at
    # the end, and NUL.
    out = []
    for char in value:
        if char in ',+"\\<>;':
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        else:
            out.append(char)
    text = "".join(out)
    if text.startswith(("#", " ")):
        text = "\\" + text
    if text.endswith(" ") and not text.endswith("\\ "):
        text = text[:-1] + "\\ "
    return text


def rfc4514_name(subject: Any) -> str | None:
    """The RFC 4514 string of a subject as ``SSLSocket.getpeercert()`` gives it (a tuple
    of RDNs, each a tuple of ``(name, value)`` pairs, in certificate order); None when
    empty. RFC 4514 §2.1 writes the RDNs last first, multi-valued RDNs joined by ``+``."""
    if not subject:
        return None
    rdns = []
    for rdn in reversed(subject):
        parts = []
        for name, value in rdn:
            key = _SHORT_NAMES.get(name) or _OIDS.get(name) or name
            parts.append(f"{key}={_escape(str(value))}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


@lru_cache(maxsize=8)
def server_cert_pem(certfile: str | None) -> str | None:
    """The first certificate of ``--ssl-certfile`` (the one the server sends), PEM.

    The ``ssl`` module has no way to ask a connection for its own certificate, so it
    is read from the file the context was loaded from, once per server."""
    if certfile is None:
        return None
    try:
        with open(certfile, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end_marker = "-----END CERTIFICATE-----"
    end = text.find(end_marker, begin)
    if begin < 0 or end < 0:
        return None
    return text[begin : end + len(end_marker)] + "\n"


@lru_cache(maxsize=8)
def _cipher_ids(context: ssl.SSLContext) -> dict[str, int]:
    # OpenSSL's cipher id is 0x0300XXXX for TLS: XXXX is the IANA number.
    return {cipher["name"]: cipher["id"] & 0xFFFF for cipher in context.get_ciphers()}


def tls_extension(ssl_object: Any, context: Any, certfile: str | None) -> dict[str, object]:
    """The ``tls`` extension dict for one connection (see the module docstring).

    ``ssl_object`` is the transport's ``ssl_object`` after the handshake, ``context``
    its ``sslcontext``; ``certfile`` the server's certificate file."""
    chain: list[str] = []
    name: str | None = None
    leaf = ssl_object.getpeercert(binary_form=True)
    if leaf:
        ders: list[bytes] = [leaf]
        get_chain = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
        if get_chain is not None:
            try:
                sent = [bytes(cert) for cert in (get_chain() or ())]
            except (ssl.SSLError, ValueError, TypeError):
                sent = []
            if sent:
                # OpenSSL leaves the peer's own certificate out of a server's view of
                # the chain; CPython puts it back. Either way the leaf comes first.
                ders = sent if sent[0] == leaf else [leaf, *sent]
        chain = [ssl.DER_cert_to_PEM_cert(der) for der in ders]
        try:
            name = rfc4514_name(ssl_object.getpeercert().get("subject"))
        except (ValueError, AttributeError):
            name = None
    version = ssl_object.version()
    cipher = ssl_object.cipher()
    suite: int | None = None
    if cipher and isinstance(context, ssl.SSLContext):
        suite = _cipher_ids(context).get(cipher[0])
    return {
        "server_cert": server_cert_pem(certfile),
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": suite,
    }
