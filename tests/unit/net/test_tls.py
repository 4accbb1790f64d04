"""Certificate loading and SNI selection, with in-memory TLS handshakes (no sockets)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from OpenSSL import SSL

from proxyhub.net.tls import CertificateError, CertificateStore, load_pem

from .certs import make_ca, make_leaf, pem_cert, pem_key, write_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Three PEM files: a.test (chain first), *.wild.test, and b.test."""
    d = tmp_path_factory.mktemp("certs")
    ca = make_ca()
    a_key, a_cert = make_leaf(ca, ["a.test", "www.a.test"])
    w_key, w_cert = make_leaf(ca, ["*.wild.test"])
    b_key, b_cert = make_leaf(ca, ["b.test"])
    return {
        "a": write_bundle(d / "1-a.pem", pem_cert(ca[1]), pem_key(a_key), pem_cert(a_cert)),
        "wild": write_bundle(d / "2-wild.pem", pem_cert(w_cert), pem_key(w_key)),
        "b": write_bundle(d / "3-b.pem", pem_key(b_key), pem_cert(b_cert)),
    }


def handshake(
    store: CertificateStore, server_name: bytes | None, **client: object
) -> SSL.Connection:
    """Run a TLS handshake between a client and the store's server options in memory."""
    server = SSL.Connection(store.options().getContext(), None)
    server.set_app_data(SimpleNamespace(factory=SimpleNamespace(wrappedFactory=None)))
    server.set_accept_state()
    ctx = SSL.Context(SSL.TLS_METHOD)
    if "max_version" in client:
        ctx.set_max_proto_version(client["max_version"])  # type: ignore[arg-type]
        ctx.set_min_proto_version(client["max_version"])  # type: ignore[arg-type]
    ctx.set_alpn_protos([b"h2", b"http/1.1"])
    conn = SSL.Connection(ctx, None)
    conn.set_connect_state()
    if server_name:
        conn.set_tlsext_host_name(server_name)
    for _ in range(10):
        for a, b in ((conn, server), (server, conn)):
            with contextlib.suppress(SSL.WantReadError):
                a.do_handshake()
            with contextlib.suppress(SSL.WantReadError):
                b.bio_write(a.bio_read(65536))
    return conn


def subject_names(conn: SSL.Connection) -> list[str]:
    cert = conn.get_peer_certificate(as_cryptography=True)
    assert cert is not None
    from cryptography import x509

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return san.value.get_values_for_type(x509.DNSName)


def test_pem_parts_in_any_order(bundles: dict[str, str]) -> None:
    """Key, leaf and chain are found whatever their order in the file."""
    loaded = load_pem(bundles["a"])
    assert loaded.names == ("a.test", "www.a.test")
    assert len(loaded.chain) == 1


@pytest.mark.parametrize(
    ("sni", "expected"),
    [
        (b"a.test", "a.test"),
        (b"WWW.A.TEST", "a.test"),
        (b"b.test", "b.test"),
        (b"x.wild.test", "*.wild.test"),
        (b"unknown.test", "a.test"),
        (None, "a.test"),
    ],
)
def test_sni_selects_the_certificate(
    bundles: dict[str, str], sni: bytes | None, expected: str
) -> None:
    """The SNI name picks the certificate; unknown or missing SNI gets the first file's."""
    store = CertificateStore.from_paths(list(bundles.values()))
    conn = handshake(store, sni)
    assert subject_names(conn)[0] == expected
    assert conn.get_alpn_proto_negotiated() == b"http/1.1"


def test_tls_1_1_is_refused(bundles: dict[str, str]) -> None:
    """A client limited to TLS 1.1 does not complete a handshake."""
    store = CertificateStore.from_paths([bundles["a"]])
    with pytest.raises(SSL.Error):
        handshake(store, b"a.test", max_version=SSL.TLS1_1_VERSION)


def test_bad_files_are_all_reported(tmp_path: Path, bundles: dict[str, str]) -> None:
    """A file without a key and one whose key matches no certificate are both named."""
    ca = make_ca()
    _key, cert = make_leaf(ca, ["c.test"])
    other_key, _ = make_leaf(ca, ["d.test"])
    nokey = write_bundle(tmp_path / "nokey.pem", pem_cert(cert))
    mismatch = write_bundle(tmp_path / "mismatch.pem", pem_key(other_key), pem_cert(cert))
    with pytest.raises(CertificateError) as raised:
        CertificateStore.from_paths([nokey, mismatch, bundles["b"]])
    assert str(raised.value).splitlines() == [
        f"{mismatch}: no certificate matches the private key",
        f"{nokey}: expected one private key, found 0",
    ]
