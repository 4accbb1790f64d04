"""Certificate loading and SNI selection, with in-memory TLS handshakes (no sockets)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from proxyhub.net.tls import CertificateError, CertificateStore, ReloadableCertificates, load_pem

from .certs import make_ca, make_leaf, pem_cert, pem_key, write_bundle
from .tls_client import Client


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


def handshake(store: CertificateStore, server_name: str | None, **client: ssl.TLSVersion) -> Client:
    """Run a TLS handshake between a client and a listener serving ``store``, in memory."""
    tls = Client(ReloadableCertificates(store).listener_context(), server_name, **client)
    tls.handshake()
    return tls


def test_pem_parts_in_any_order(bundles: dict[str, str]) -> None:
    """Key, leaf and chain are found whatever their order in the file."""
    loaded = load_pem(bundles["a"])
    assert loaded.names == ("a.test", "www.a.test")
    assert len(loaded.chain) == 1


@pytest.mark.parametrize(
    ("sni", "expected"),
    [
        ("a.test", "a.test"),
        ("WWW.A.TEST", "a.test"),
        ("b.test", "b.test"),
        ("x.wild.test", "*.wild.test"),
        ("y.x.wild.test", "a.test"),
        ("wild.test", "a.test"),
        ("unknown.test", "a.test"),
        (None, "a.test"),
    ],
)
def test_sni_selects_the_certificate(
    bundles: dict[str, str], sni: str | None, expected: str
) -> None:
    """The SNI name picks the certificate (a wildcard covers one label); else the first file's."""
    store = CertificateStore.from_paths(list(bundles.values()))
    tls = handshake(store, sni)
    assert tls.peer_names()[0] == expected
    assert tls.conn.selected_alpn_protocol() == "http/1.1"
    assert tls.server.server_name == (sni.lower().encode() if sni else None)


def test_tls_1_1_is_refused(bundles: dict[str, str]) -> None:
    """A client limited to TLS 1.1 does not complete a handshake."""
    store = CertificateStore.from_paths([bundles["a"]])
    with pytest.raises(ssl.SSLError):
        handshake(store, "a.test", max_version=ssl.TLSVersion.TLSv1_1)


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


def test_contexts_load_without_memory_files(
    bundles: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where memfd_create is missing, the chain goes through a private temporary file, then away."""
    monkeypatch.delattr("os.memfd_create")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    store = CertificateStore.from_paths([bundles["b"]])
    assert handshake(store, "b.test").peer_names() == ["b.test"]
    assert list(tmp_path.iterdir()) == []
