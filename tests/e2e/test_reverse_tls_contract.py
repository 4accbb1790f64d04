"""The TLS front end and PROXY protocol against the configuration contract, over loopback.

Certificates chosen from a glob of PEM files (exact and wildcard SANs, the default for
no or unknown SNI, a chain stored in any order), the intermediate profile (ALPN,
cipher suites, renegotiation), SNI against Host, ``redirect_to_https`` and
``hsts_max_age``, https:// backends (the SNI they hear, verification failures),
PROXY protocol v1/v2 headers and ``tls_handshake_timeout``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ..unit.net.certs import pem_cert, pem_key
from .conftest import Proxy, curl, free_port, raw_exchange, s_client, twistd_command
from .origins import Origin, ScriptedOrigin

_NOW = datetime.datetime.now(datetime.timezone.utc)
Key = Any  # an EC or RSA private key from cryptography


# -- a small PKI: root, intermediate, leaves ------------------------------------------------------


def _cert(
    subject: str, key: Key, issuer: tuple[Key, x509.Certificate] | None, names: list[str]
) -> x509.Certificate:
    """A certificate for ``key``: a CA when ``names`` is empty, else a leaf with those SANs."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    signer_key, issuer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=2))
    )
    if names:
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
        builder = builder.add_extension(san, critical=False)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    return builder.sign(signer_key, hashes.SHA256())


def _ec_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _traditional(key: Key) -> bytes:
    """``-----BEGIN EC PRIVATE KEY-----`` / ``RSA PRIVATE KEY``, as older openssl writes them."""
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass
class Pki:
    """The CA file, the certificates directory and each leaf's DER by short name."""

    ca: Path
    certs: Path
    leaves: dict[str, bytes]
    root: tuple[Key, x509.Certificate]

    def leaf_pem(self, path: Path, names: list[str]) -> tuple[Path, Path]:
        """Write a key and a leaf for ``names`` signed by the root; return (key, cert)."""
        key = _ec_key()
        key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".crt")
        key_path.write_bytes(pem_key(key))
        cert_path.write_bytes(pem_cert(_cert(names[0], key, self.root, names)))
        return key_path, cert_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Five PEM files; sorted by path, a-default.pem comes first and is the default.

    Keys come as PKCS#8 and in the traditional EC and RSA forms; d-chain.pem holds
    its intermediate first, then the key, then the leaf.
    """
    d = tmp_path_factory.mktemp("contract-pki")
    root_key = _ec_key()
    root = (root_key, _cert("contract root CA", root_key, None, []))
    (d / "ca.pem").write_bytes(pem_cert(root[1]))
    inter_key = _ec_key()
    inter = (inter_key, _cert("contract intermediate CA", inter_key, root, []))
    certs = d / "certs"
    certs.mkdir()
    leaves: dict[str, bytes] = {}

    def leaf(short: str, names: list[str], signer: Any = root, key: Key = None) -> Any:
        key = key or _ec_key()
        cert = _cert(names[0], key, signer, names)
        leaves[short] = _der(cert)
        return key, cert

    k, c = leaf("default", ["default.test"])
    (certs / "a-default.pem").write_bytes(pem_cert(c) + pem_key(k))
    k, c = leaf("wild", ["*.example.test"])
    (certs / "b-wild.pem").write_bytes(_traditional(k) + pem_cert(c))
    k, c = leaf("exact", ["exact.example.test"])
    (certs / "c-exact.pem").write_bytes(pem_cert(c) + pem_key(k))
    k, c = leaf("chain", ["chain.test"], signer=inter)
    (certs / "d-chain.pem").write_bytes(pem_cert(inter[1]) + pem_key(k) + pem_cert(c))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k, c = leaf("rsa", ["rsa.test"], key=rsa_key)
    (certs / "e-rsa.pem").write_bytes(_traditional(k) + pem_cert(c))
    return Pki(d / "ca.pem", certs, leaves, root)


@pytest.fixture(scope="module")
def other_origin() -> Iterator[Origin]:
    o = Origin()
    yield o
    o.close()


@pytest.fixture(scope="module")
def site(module_tmp: Path, pki: Pki, origin: Origin, other_origin: Origin) -> Iterator[Proxy]:
    """TLS front end: exact.example.test on other_origin, everything else on origin."""
    backend = f"http://127.0.0.1:{origin.port}"
    sections = {
        "reverse": {
            "listen": "tcp:{port}:interface=127.0.0.1",
            "tls_listen": "tcp:{tls_port}:interface=127.0.0.1",
            "certificates": str(pki.certs / "*.pem"),
            "redirect_to_https": "yes",
            "hsts_max_age": "2h",
        },
        "host:default.test": {"backends": backend},
        "host:*.example.test": {"backends": backend},
        "host:exact.example.test": {"backends": f"http://127.0.0.1:{other_origin.port}"},
        "host:chain.test": {"backends": backend},
        "host:rsa.test": {"backends": backend},
    }
    p = Proxy(module_tmp, {}, {}, sections)
    yield p
    p.stop()


# -- clients --------------------------------------------------------------------------------------


def tls_front_sections(pki: Pki, origin: Origin, **reverse: str) -> dict[str, dict[str, str]]:
    """Plain and TLS reverse listeners on ``pki``'s certificates (plus ``reverse`` keys),
    every host sent to ``origin``."""
    return {
        "reverse": {
            "listen": "tcp:{port}:interface=127.0.0.1",
            "tls_listen": "tcp:{tls_port}:interface=127.0.0.1",
            "certificates": str(pki.certs / "*.pem"),
            **reverse,
        },
        "host:*": {"backends": f"http://127.0.0.1:{origin.port}"},
    }


def _insecure(
    version: ssl.TLSVersion | None = None, alpn: list[str] | None = None
) -> ssl.SSLContext:
    """A client context that accepts any certificate (the tests look at which one came)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if version is not None:
        context.minimum_version = context.maximum_version = version
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


@contextlib.contextmanager
def tls_to(
    port: int, sni: str | None, context: ssl.SSLContext | None = None
) -> Iterator[ssl.SSLSocket]:
    """A TLS connection to ``port`` with ``sni`` (None: no server_name extension)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with (context or _insecure()).wrap_socket(raw, server_hostname=sni) as tls:
        yield tls


def served_leaf(port: int, sni: str | None) -> bytes:
    """The DER of the leaf certificate the listener presents for ``sni``."""
    with tls_to(port, sni) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def read_all(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError, ssl.SSLError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def https_request(port: int, sni: str | None, host: str, path: str = "/hello") -> bytes:
    """GET ``path`` with ``Host: host`` over TLS with ``sni``; the whole answer."""
    with tls_to(port, sni) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return read_all(tls)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def header(answer: bytes, name: str) -> list[str]:
    """Every value of header ``name`` in the head of ``answer``."""
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
    prefix = name.lower() + ":"
    return [
        line.split(":", 1)[1].strip()
        for line in head.split("\r\n")[1:]
        if line.lower().startswith(prefix)
    ]


# -- certificates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sni", "leaf"),
    [
        ("default.test", "default"),
        ("a.example.test", "wild"),
        ("exact.example.test", "exact"),
        ("EXACT.Example.TEST", "exact"),
        ("chain.test", "chain"),
        ("rsa.test", "rsa"),
    ],
)
def test_sni_picks_the_file_whose_san_names_it(site: Proxy, pki: Pki, sni: str, leaf: str) -> None:
    """Every file of the glob serves its SAN names; an exact SAN beats a wildcard elsewhere."""
    assert served_leaf(site.tls_port, sni) == pki.leaves[leaf]


@pytest.mark.parametrize(
    "sni",
    [
        None,
        "unknown.test",
        "example.test",
        "a.b.example.test",
    ],
)
def test_names_no_san_covers_get_the_first_file(site: Proxy, pki: Pki, sni: str | None) -> None:
    """No SNI, an unknown name, and names a wildcard does not cover (RFC 6125) get a-default."""
    assert served_leaf(site.tls_port, sni) == pki.leaves["default"]


def test_chain_stored_before_key_and_leaf_is_sent(site: Proxy, pki: Pki) -> None:
    """intermediate, key, leaf in one file: the leaf and its intermediate both go out."""
    out = s_client(site.tls_port, "-servername", "chain.test", "-showcerts")
    assert out.count("-----BEGIN CERTIFICATE-----") == 2
    assert "CN = contract intermediate CA" in out
    resolve = f"chain.test:{site.tls_port}:127.0.0.1"
    result = curl(
        "--cacert", str(pki.ca), "--resolve", resolve, f"https://chain.test:{site.tls_port}/hello"
    )
    assert result.stdout == "hello from origin\n", result.stderr  # verifies to the root only


def _broken_pem_config(tmp: Path, pki: Pki) -> tuple[Path, list[str]]:
    """A config whose certificates glob holds one good and three unusable PEM files."""
    bad = tmp / "bad-certs"
    bad.mkdir()
    good = (pki.certs / "a-default.pem").read_bytes()
    leaf = good[: good.index(b"-----BEGIN PRIVATE KEY-----")]
    other_key = (
        (pki.certs / "c-exact.pem").read_bytes().partition(b"-----END CERTIFICATE-----\n")[2]
    )
    (bad / "1-good.pem").write_bytes(good)
    (bad / "2-no-key.pem").write_bytes(leaf)
    (bad / "3-foreign-key.pem").write_bytes(leaf + other_key)
    (bad / "4-two-keys.pem").write_bytes(good + other_key)
    ini = tmp / "broken.ini"
    port, tls_port = free_port(), free_port()
    ini.write_text(
        f"[reverse]\nlisten = tcp:{port}:interface=127.0.0.1\n"
        f"tls_listen = tcp:{tls_port}:interface=127.0.0.1\ncertificates = {bad}/*.pem\n"
        f"[host:*]\nbackends = http://127.0.0.1:9\n"
    )
    return ini, ["2-no-key.pem", "3-foreign-key.pem", "4-two-keys.pem"]


def test_unusable_pem_files_stop_startup_naming_each(tmp_path: Path, pki: Pki) -> None:
    """twistd exits 1 and names every PEM file it cannot use, with the reason."""
    ini, names = _broken_pem_config(tmp_path, pki)
    proc = subprocess.run(
        twistd_command(ini), cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    for name in names:
        assert name in out, out
    assert "1-good.pem" not in out


def test_check_reports_unusable_pem_files(tmp_path: Path, pki: Pki) -> None:
    """proxyhub check says what twistd would refuse: each unusable PEM file, exit 1."""
    ini, names = _broken_pem_config(tmp_path, pki)
    proc = subprocess.run(
        [sys.executable, "-m", "proxyhub", "check", str(ini)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    for name in names:
        assert name in out, out


# -- profile --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_alpn_is_http_1_1_and_requests_flow(site: Proxy, version: ssl.TLSVersion) -> None:
    """Offered h2 and http/1.1, the listener picks http/1.1 and serves the request."""
    context = _insecure(version, ["h2", "http/1.1"])
    with tls_to(site.tls_port, "default.test", context) as tls:
        assert tls.version() == version.name.replace("v1_", "v1.")
        assert tls.selected_alpn_protocol() == "http/1.1"
        tls.sendall(b"GET /hello HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n")
        answer = read_all(tls)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"hello from origin\n")


def test_alpn_offering_only_h2_never_gets_h2(site: Proxy) -> None:
    """A client that offers only h2 is never told h2 was chosen."""
    context = _insecure(alpn=["h2"])
    try:
        with tls_to(site.tls_port, "default.test", context) as tls:
            assert tls.selected_alpn_protocol() is None
    except ssl.SSLError as e:  # no_application_protocol is an equally good answer
        assert "NO_APPLICATION_PROTOCOL" in str(e).upper()


@pytest.mark.parametrize(
    ("cipher", "sni", "accepted"),
    [
        ("AES128-SHA", "rsa.test", False),  # RSA key exchange, CBC
        ("AES128-GCM-SHA256", "rsa.test", False),  # RSA key exchange, AEAD
        ("DHE-RSA-AES128-GCM-SHA256", "rsa.test", False),  # finite-field DHE
        ("ECDHE-RSA-AES128-SHA", "rsa.test", False),  # ECDHE but CBC
        ("ECDHE-ECDSA-AES128-SHA256", "default.test", False),  # ECDHE but CBC
        ("ECDHE-RSA-AES128-GCM-SHA256", "rsa.test", True),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", "default.test", True),
    ],
)
def test_tls_1_2_takes_only_ecdhe_with_aead(
    site: Proxy, cipher: str, sni: str, accepted: bool
) -> None:
    """openssl s_client -tls1_2 -cipher X: only the ECDHE+AEAD suites complete."""
    out = s_client(site.tls_port, "-tls1_2", "-servername", sni, "-cipher", f"{cipher}:@SECLEVEL=0")
    assert "no cipher match" not in out  # the client could offer it: the server decided
    assert (f"Cipher is {cipher}" in out) is accepted, out[-600:]
    if not accepted:
        assert "Cipher is (NONE)" in out or "handshake failure" in out


def test_client_renegotiation_is_refused(site: Proxy) -> None:
    """A TLS 1.2 client asking to renegotiate gets no second handshake."""
    from OpenSSL import SSL

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_max_proto_version(SSL.TLS1_2_VERSION)
    raw = socket.create_connection(("127.0.0.1", site.tls_port), timeout=10)
    raw.setblocking(True)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 5, 0))
    conn = SSL.Connection(context, raw)
    conn.set_tlsext_host_name(b"default.test")
    conn.set_connect_state()
    conn.do_handshake()
    assert conn.get_protocol_version_name() == "TLSv1.2"
    assert conn.renegotiate()
    try:
        with pytest.raises(SSL.Error, match="no renegotiation"):  # the server's alert
            conn.do_handshake()
    finally:
        raw.close()


# -- SNI against Host -----------------------------------------------------------------------------


def test_sni_and_host_under_one_wildcard_site_are_served(site: Proxy, origin: Origin) -> None:
    """SNI a.example.test with Host b.example.test: one site (*.example.test), served."""
    before = len(origin.requests)
    answer = https_request(site.tls_port, "a.example.test", "b.example.test")
    assert status_of(answer) == 200 and answer.endswith(b"hello from origin\n")
    assert len(origin.requests) == before + 1


def test_wildcard_sni_cannot_reach_the_exact_site(site: Proxy, other_origin: Origin) -> None:
    """SNI a.example.test (wildcard site) with Host exact.example.test (its own site): 421."""
    before = len(other_origin.requests)
    answer = https_request(site.tls_port, "a.example.test", "exact.example.test")
    assert status_of(answer) == 421
    assert len(other_origin.requests) == before


def test_sni_and_host_differing_in_case_and_port_are_one_site(
    site: Proxy, other_origin: Origin
) -> None:
    """SNI exact.example.test with Host EXACT.example.test:PORT is the same site."""
    before = len(other_origin.requests)
    host = f"EXACT.example.test:{site.tls_port}"
    answer = https_request(site.tls_port, "exact.example.test", host)
    assert status_of(answer) == 200
    assert len(other_origin.requests) == before + 1


@pytest.mark.parametrize(
    ("host", "backend"), [("exact.example.test", "other"), ("default.test", "origin")]
)
def test_without_sni_any_host_is_served(
    site: Proxy, origin: Origin, other_origin: Origin, host: str, backend: str
) -> None:
    """A client sending no SNI reaches whichever site its Host names."""
    chosen = other_origin if backend == "other" else origin
    before = len(chosen.requests)
    answer = https_request(site.tls_port, None, host)
    assert status_of(answer) == 200
    assert len(chosen.requests) == before + 1


def test_absolute_form_over_tls_is_routed_by_its_authority(
    site: Proxy, origin: Origin, other_origin: Origin
) -> None:
    """GET https://exact.example.test/ with Host: default.test reaches exact's backend (or 400)."""
    before = len(origin.requests)
    with tls_to(site.tls_port, None) as tls:
        tls.sendall(
            b"GET https://exact.example.test/hello HTTP/1.1\r\nHost: default.test\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = read_all(tls)
    assert len(origin.requests) == before, "served by the site the Host header named"
    assert status_of(answer) in (200, 400)


# -- redirect_to_https and HSTS -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "body"), [("GET", b""), ("HEAD", b""), ("POST", b"a=1&b=2")])
def test_plain_http_gets_308_for_every_method(
    site: Proxy, origin: Origin, method: str, body: bytes
) -> None:
    """GET, HEAD and POST: 308 to https://host:tls_port/path?query, nothing proxied, no HSTS."""
    before = len(origin.requests)
    request = (
        f"{method} /a/b?x=1&y=%20 HTTP/1.1\r\nHost: a.example.test:{site.port}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    answer = raw_exchange(site.port, request)
    assert status_of(answer) == 308
    assert header(answer, "Location") == [f"https://a.example.test:{site.tls_port}/a/b?x=1&y=%20"]
    assert header(answer, "Strict-Transport-Security") == []
    assert len(origin.requests) == before


def test_head_redirect_has_no_body_and_keeps_the_connection_in_step(site: Proxy) -> None:
    """A 308 to HEAD ends at its head: the next pipelined answer follows it directly."""
    request = (
        b"HEAD /a HTTP/1.1\r\nHost: a.example.test\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: a.example.test\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(site.port, request)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 308 ")
    assert rest.startswith(b"HTTP/1.1 308 "), rest[:80]


def test_redirect_status_line_says_permanent_redirect(site: Proxy) -> None:
    """The status line and page of the redirect read 308 Permanent Redirect."""
    answer = raw_exchange(site.port, b"GET / HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 308 Permanent Redirect\r\n"), answer[:40]


def test_redirect_of_an_absolute_form_request_uses_its_authority(site: Proxy) -> None:
    """GET http://a.example.test/x with Host: other.test: the URI's authority wins (RFC 9112)."""
    request = (
        b"GET http://a.example.test/x?y=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(site.port, request)
    assert status_of(answer) in (308, 400)
    if status_of(answer) == 308:
        assert header(answer, "Location") == [f"https://a.example.test:{site.tls_port}/x?y=1"]


@pytest.mark.parametrize(
    ("host", "authority"),
    [
        ("exact.example.test", "exact.example.test"),
        ("exact.example.test:80", "exact.example.test"),
        ("[::1]:8080", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_redirect_location_drops_the_plain_port(site: Proxy, host: str, authority: str) -> None:
    """The Location names the host without the port it came on, and the TLS port."""
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    answer = raw_exchange(site.port, request)
    assert status_of(answer) == 308
    assert header(answer, "Location") == [f"https://{authority}:{site.tls_port}/"]


def test_redirect_without_a_host_is_not_an_empty_authority(site: Proxy) -> None:
    """An HTTP/1.0 request with no Host is not sent to https://:port/."""
    answer = raw_exchange(site.port, b"GET /x HTTP/1.0\r\n\r\n")
    locations = header(answer, "Location")
    assert status_of(answer) in (308, 400, 421)
    assert not any(loc.startswith("https://:") for loc in locations), locations


def test_hsts_only_on_https_answers(site: Proxy, origin: Origin) -> None:
    """hsts_max_age = 2h: once on HTTPS (max-age=7200), never on plain HTTP to either port."""
    answer = https_request(site.tls_port, "default.test", "default.test")
    assert status_of(answer) == 200
    assert header(answer, "Strict-Transport-Security") == ["max-age=7200"]
    plain_on_tls = raw_exchange(
        site.tls_port, b"GET / HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n"
    )
    assert status_of(plain_on_tls) == 400
    assert header(plain_on_tls, "Strict-Transport-Security") == []


def test_hsts_without_redirect_stays_off_plain_http(
    start_proxy: Any, pki: Pki, origin: Origin
) -> None:
    """redirect_to_https = no: plain HTTP is proxied without HSTS, HTTPS carries it."""
    p = start_proxy(sections=tls_front_sections(pki, origin, hsts_max_age="1500ms"))
    plain = raw_exchange(p.port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(plain) == 200
    assert header(plain, "Strict-Transport-Security") == []
    secure = https_request(p.tls_port, "default.test", "default.test")
    assert header(secure, "Strict-Transport-Security") == ["max-age=1"]


def _free_loopback_443() -> str | None:
    """A 127.x address whose port 443 this process may bind, else None."""
    for address in ("127.83.0.1", "127.83.0.2"):
        with socket.socket() as s:
            try:
                s.bind((address, 443))
            except OSError:
                continue
            return address
    return None


def test_redirect_to_port_443_has_no_port(start_proxy: Any, pki: Pki, origin: Origin) -> None:
    """With the TLS listener on 443 the Location carries no port at all."""
    address = _free_loopback_443()
    if address is None:
        pytest.skip("cannot bind port 443 on a loopback address")
    p = start_proxy(
        sections={
            "reverse": {
                "listen": "tcp:{port}:interface=127.0.0.1",
                "tls_listen": f"tcp:443:interface={address}",
                "certificates": str(pki.certs / "*.pem"),
                "redirect_to_https": "yes",
            },
            "host:*": {"backends": f"http://127.0.0.1:{origin.port}"},
        }
    )
    request = f"GET /p?q=1 HTTP/1.1\r\nHost: shop.test:{p.port}\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(p.port, request.encode())
    assert status_of(answer) == 308
    assert header(answer, "Location") == ["https://shop.test/p?q=1"]


# -- https:// backends ----------------------------------------------------------------------------


class SniOrigin(Origin):
    """A TLS origin (certificate for ``names``) that records the SNI of every handshake."""

    def __init__(self, pki: Pki, tmp: Path, names: list[str]) -> None:
        self.server_names: list[str | None] = []
        key, cert = pki.leaf_pem(tmp / f"origin-{names[0]}", names)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        context.sni_callback = lambda _conn, name, _ctx: self.server_names.append(name)
        super().__init__(tls=context)


@pytest.fixture
def localhost_origin(pki: Pki, tmp_path: Path) -> Iterator[SniOrigin]:
    o = SniOrigin(pki, tmp_path, ["localhost"])
    yield o
    o.close()


def https_backend_front(start_proxy: Any, port: int, **host: str) -> Proxy:
    """A plain reverse listener whose one site's backend is https://localhost:port."""
    return start_proxy(  # type: ignore[no-any-return]
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {"backends": f"https://localhost:{port}", **host},
        }
    )


def plain_get(front: Proxy, path: str = "/hello", timeout: float = 5.0) -> bytes:
    request = f"GET {path} HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n"
    return raw_exchange(front.port, request.encode(), timeout)


def test_https_backend_hears_its_name_as_sni(
    start_proxy: Any, pki: Pki, localhost_origin: SniOrigin
) -> None:
    """Verified against ca_file, the backend's handshake names it: SNI localhost."""
    p = https_backend_front(start_proxy, localhost_origin.port, ca_file=str(pki.ca))
    answer = plain_get(p)
    assert status_of(answer) == 200 and answer.endswith(b"hello from origin\n")
    assert localhost_origin.server_names == ["localhost"]


def test_unverified_https_backend_still_hears_its_name_as_sni(
    start_proxy: Any, localhost_origin: SniOrigin
) -> None:
    """tls_verify = no skips verification, not SNI: the backend still hears localhost."""
    p = https_backend_front(start_proxy, localhost_origin.port, tls_verify="no")
    assert status_of(plain_get(p)) == 200
    assert localhost_origin.server_names == ["localhost"]


def test_tls_verify_no_is_a_startup_warning_naming_the_section(
    start_proxy: Any, pki: Pki, localhost_origin: SniOrigin
) -> None:
    """The warning is in the log as soon as the port listens, before any request; only then."""
    unverified = https_backend_front(start_proxy, localhost_origin.port, tls_verify="no")
    log = unverified.stderr_path.read_text()
    assert "[host:*] tls_verify = no" in log and "NOT verified" in log, log
    verified = https_backend_front(start_proxy, localhost_origin.port, ca_file=str(pki.ca))
    assert "NOT verified" not in verified.stderr_path.read_text()


def test_https_backend_with_another_name_is_502(
    start_proxy: Any, pki: Pki, tmp_path: Path, origin: Origin
) -> None:
    """A backend whose certificate (from the trusted CA) names another host: 502 saying so."""
    wrong = SniOrigin(pki, tmp_path, ["elsewhere.test"])
    try:
        p = https_backend_front(start_proxy, wrong.port, ca_file=str(pki.ca))
        answer = plain_get(p)
        assert status_of(answer) == 502
        body = answer.partition(b"\r\n\r\n")[2].decode("latin-1")
        assert "TLS handshake with localhost" in body, body  # the page says why
        assert wrong.requests == []
        assert wrong.server_names == ["localhost"]  # the handshake was tried, then refused
    finally:
        wrong.close()


def test_backend_failing_the_handshake_is_skipped_like_a_failed_connect(
    start_proxy: Any, pki: Pki, tmp_path: Path, localhost_origin: SniOrigin
) -> None:
    """Of two https backends one fails verification: every request is served by the other."""
    wrong = SniOrigin(pki, tmp_path, ["elsewhere.test"])
    try:
        p = start_proxy(
            sections={
                "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
                "host:*": {
                    "backends": f"https://localhost:{wrong.port} "
                    f"https://localhost:{localhost_origin.port}",
                    "ca_file": str(pki.ca),
                },
            }
        )
        statuses = [status_of(plain_get(p)) for _ in range(4)]
        assert wrong.server_names, "the failing backend was never tried"
        assert statuses == [200] * 4
    finally:
        wrong.close()


def test_a_backend_stalling_the_handshake_is_bounded_by_connect_timeout(start_proxy: Any) -> None:
    """connect_timeout covers the TLS handshake: a silent https backend is 504 in about 1s."""
    silent = ScriptedOrigin(lambda conn: time.sleep(6))
    try:
        p = start_proxy(
            sections={
                "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
                "host:*": {"backends": f"https://127.0.0.1:{silent.port}", "tls_verify": "no"},
            },
            connect_timeout="1s",
            read_timeout="4s",
        )
        started = time.monotonic()
        answer = plain_get(p, timeout=10)
        assert status_of(answer) == 504
        assert time.monotonic() - started < 2.5
    finally:
        silent.close()


# -- PROXY protocol -------------------------------------------------------------------------------


def v2_header(
    source: str | None, command: int = 1, tlvs: bytes = b"", family: int | None = None
) -> bytes:
    """A PROXY v2 header: PROXY (command 1) from ``source``, or LOCAL (command 0)."""
    body = b""
    if source is None:
        fam = 0x00
    elif ":" in source:
        fam = 0x21
        body = (
            IPv6Address(source).packed + IPv6Address("::1").packed + struct.pack("!HH", 40000, 80)
        )
    else:
        fam = 0x11
        body = IPv4Address(source).packed + IPv4Address("127.0.0.1").packed
        body += struct.pack("!HH", 40000, 80)
    body += tlvs
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    fam = fam if family is None else family
    return signature + bytes([0x20 | command, fam]) + struct.pack("!H", len(body)) + body


@pytest.fixture(scope="module")
def pp_front(module_tmp: Path, pki: Pki, origin: Origin) -> Iterator[Proxy]:
    """proxy_protocol = yes on a plain and a TLS listener; header_timeout 1s."""
    sections = tls_front_sections(pki, origin, proxy_protocol="yes")
    p = Proxy(module_tmp, {}, {"header_timeout": "1s"}, sections)
    yield p
    p.stop()


def logged_from(front: Proxy, client: str, timeout: float = 5.0) -> bool:
    """Whether an access-log line starting with ``client`` appears within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if front.access_log.exists():
            lines = front.access_log.read_text().splitlines()
            if any(line.startswith(f"{client} ") for line in lines):
                return True
        time.sleep(0.05)
    return False


HEADERS_REQUEST = b"GET /headers HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n"


def forwarded_for(answer: bytes) -> str:
    assert status_of(answer) == 200, answer[:200]
    return str(dict(json.loads(answer.partition(b"\r\n\r\n")[2]))["X-Forwarded-For"])


@pytest.mark.parametrize(
    ("prefix", "client"),
    [
        (v2_header("198.51.100.20"), "198.51.100.20"),
        (v2_header("2001:db8::20"), "2001:db8::20"),
        (v2_header("198.51.100.21", tlvs=b"\x04\x00\x03abc"), "198.51.100.21"),  # a TLV after
        (v2_header(None, command=0), "127.0.0.1"),  # LOCAL: the balancer's own health check
        (v2_header(None), "127.0.0.1"),  # PROXY with AF_UNSPEC
        (b"PROXY UNKNOWN\r\n", "127.0.0.1"),
        (b"PROXY TCP6 2001:db8::7 ::1 40000 80\r\n", "2001:db8::7"),
    ],
    ids=["v2-tcp4", "v2-tcp6", "v2-tlv", "v2-local", "v2-unspec", "v1-unknown", "v1-tcp6"],
)
def test_proxy_header_names_the_client(pp_front: Proxy, prefix: bytes, client: str) -> None:
    """X-Forwarded-For and the access log carry the header's source (the peer when none)."""
    answer = raw_exchange(pp_front.port, prefix + HEADERS_REQUEST)
    assert forwarded_for(answer) == client
    if client != "127.0.0.1":
        assert logged_from(pp_front, client)


def test_proxy_header_arriving_byte_by_byte(pp_front: Proxy) -> None:
    """A v2 header trickled one byte at a time is still read whole."""
    with socket.create_connection(("127.0.0.1", pp_front.port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in v2_header("198.51.100.30"):
            s.sendall(bytes([byte]))
            time.sleep(0.002)
        s.sendall(HEADERS_REQUEST)
        assert forwarded_for(read_all(s)) == "198.51.100.30"


@pytest.mark.parametrize(
    "prefix",
    [
        b"",  # nothing at all
        b"PROXY TCP4 198.51.100.1 127.0.0.1 4000",  # a v1 header never finished
        b"\r\n\r\n\x00\r\nQUIT\n",  # a v2 signature and nothing more
    ],
    ids=["silent", "v1-unfinished", "v2-signature-only"],
)
def test_connection_without_a_whole_header_is_closed(pp_front: Proxy, prefix: bytes) -> None:
    """No complete header within header_timeout (1s): closed, nothing answered."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", pp_front.port), timeout=5) as s:
        s.sendall(prefix)
        assert read_all(s) == b""
    assert time.monotonic() - started < 3


def test_v2_header_before_tls(pp_front: Proxy) -> None:
    """On the TLS listener a v2 header comes first, then the handshake; the client is known."""
    raw = socket.create_connection(("127.0.0.1", pp_front.tls_port), timeout=10)
    raw.sendall(v2_header("198.51.100.40"))
    with _insecure().wrap_socket(raw, server_hostname="default.test") as tls:
        tls.sendall(HEADERS_REQUEST)
        assert forwarded_for(read_all(tls)) == "198.51.100.40"
    assert logged_from(pp_front, "198.51.100.40")


def test_v1_header_and_client_hello_in_one_segment(pp_front: Proxy) -> None:
    """A balancer that sends the header and the ClientHello in one write is served."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = _insecure().wrap_bio(incoming, outgoing, server_hostname="default.test")
    with socket.create_connection(("127.0.0.1", pp_front.tls_port), timeout=10) as raw:
        prefix = b"PROXY TCP4 198.51.100.50 127.0.0.1 40000 443\r\n"
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(prefix + outgoing.read())
                prefix = b""
                incoming.write(raw.recv(65536))
        tls.write(HEADERS_REQUEST)
        raw.sendall(outgoing.read())
        answer = b""
        with contextlib.suppress(ssl.SSLZeroReturnError):
            while chunk := raw.recv(65536):
                incoming.write(chunk)
                with contextlib.suppress(ssl.SSLWantReadError):
                    while data := tls.read(65536):
                        answer += data
    assert forwarded_for(answer) == "198.51.100.50"


def test_tls_without_a_proxy_header_is_refused(pp_front: Proxy) -> None:
    """A TLS ClientHello where the header should be: the connection is dropped."""
    raw = socket.create_connection(("127.0.0.1", pp_front.tls_port), timeout=5)
    with (
        pytest.raises((ssl.SSLError, OSError)),
        _insecure().wrap_socket(raw, server_hostname="default.test") as tls,
    ):
        tls.sendall(HEADERS_REQUEST)
        if not tls.recv(100):
            raise ConnectionResetError("closed")


# -- tls_handshake_timeout ------------------------------------------------------------------------


def _client_hello(sni: str) -> bytes:
    """The first flight of a real TLS client (its ClientHello record)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = _insecure().wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


@pytest.fixture(scope="module")
def slow_front(module_tmp: Path, pki: Pki, origin: Origin) -> Iterator[Proxy]:
    """tls_handshake_timeout = 1s, header_timeout = 5s."""
    sections = tls_front_sections(pki, origin)
    p = Proxy(module_tmp, {}, {"tls_handshake_timeout": "1s", "header_timeout": "5s"}, sections)
    yield p
    p.stop()


@pytest.mark.parametrize("part", [10, -20])
def test_a_hello_cut_short_is_dropped_at_the_handshake_timeout(
    slow_front: Proxy, part: int
) -> None:
    """Part of a ClientHello, then silence: dropped after ~1s, not after header_timeout."""
    hello = _client_hello("default.test")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", slow_front.tls_port), timeout=8) as s:
        s.sendall(hello[:part])
        assert read_all(s) == b""
    assert 0.8 < time.monotonic() - started < 3


def test_after_the_handshake_header_timeout_applies(slow_front: Proxy) -> None:
    """A request sent 1.5s after a finished handshake (past tls_handshake_timeout) is served."""
    with tls_to(slow_front.tls_port, "default.test") as tls:
        time.sleep(1.5)  # the point of the test: longer than tls_handshake_timeout
        tls.sendall(b"GET /hello HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n")
        answer = read_all(tls)
    assert status_of(answer) == 200


def test_a_short_handshake_timeout_is_kept(start_proxy: Any, pki: Pki, origin: Origin) -> None:
    """tls_handshake_timeout = 200ms: four stalled clients, staggered, are each cut in time."""
    p = start_proxy(
        sections=tls_front_sections(pki, origin),
        tls_handshake_timeout="200ms",
    )
    late = []
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", p.tls_port), timeout=5) as s:
            started = time.monotonic()
            assert read_all(s) == b""
            late.append(time.monotonic() - started)
        time.sleep(0.25)  # stagger against any periodic sweep
    assert max(late) < 0.6, late
