"""TLS termination: certificates from PEM files, chosen per connection by SNI.

Each PEM file holds a private key, its leaf certificate and any chain, in any
order.  The names a certificate serves come from its subjectAltName DNS
entries (the subject CN only when there is no SAN).  For a connection, the
exact SNI name wins, then a ``*.suffix`` wildcard (one label deep); a
missing or unknown SNI gets the *default* certificate: the first file in
sorted path order, as nginx uses its first server block.

Every context follows Mozilla's "intermediate" profile: TLS 1.2 and 1.3
only, ECDHE key exchange with AEAD ciphers, ALPN ``http/1.1``.  Server
contexts are the standard library's (see :mod:`proxyhub.net.tls_server`);
client contexts, for https backends, are Twisted's on pyOpenSSL.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    TLSVersion,
    optionsForClientTLS,
    platformTrust,
    trustRootFromCertificates,
)
from zope.interface import implementer

INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
_KEY_BLOCK = re.compile(
    rb"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.*?-----END (?:RSA |EC |ENCRYPTED )?"
    rb"PRIVATE KEY-----",
    re.DOTALL,
)


class CertificateError(ValueError):
    """A PEM file could not be used; the message names the file and the reason."""


@dataclass(frozen=True)
class LoadedCertificate:
    """One PEM file: its key, leaf, chain and the names the leaf serves."""

    path: str
    names: tuple[str, ...]
    key: PrivateKeyTypes
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]


def load_pem(path: str) -> LoadedCertificate:
    """Read one PEM file holding a key, its leaf and chain in any order."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CertificateError(f"{path}: cannot read: {e.strerror}") from None
    keys = _KEY_BLOCK.findall(data)
    if len(keys) != 1:
        raise CertificateError(f"{path}: expected one private key, found {len(keys)}")
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, TypeError) as e:
        raise CertificateError(f"{path}: {e}") from None
    leaf = _leaf_for(key, certs, path)
    chain = tuple(c for c in certs if c is not leaf)
    return LoadedCertificate(path, _names_of(leaf), key, leaf, chain)


def _public_bytes(obj: object) -> bytes:
    public = obj.public_key()  # type: ignore[attr-defined]
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _leaf_for(key: PrivateKeyTypes, certs: list[x509.Certificate], path: str) -> x509.Certificate:
    wanted = _public_bytes(key)
    for cert in certs:
        if _public_bytes(cert) == wanted:
            return cert
    raise CertificateError(f"{path}: no certificate matches the private key")


def _names_of(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(n.lower().rstrip(".") for n in names)


def server_context(cert: LoadedCertificate) -> ssl.SSLContext:
    """A standard-library server context for ``cert`` with the intermediate profile."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(INTERMEDIATE_CIPHERS)  # TLS 1.3's suites are all AEAD already
    context.set_alpn_protocols(["http/1.1"])
    context.options |= ssl.OP_NO_RENEGOTIATION
    with _pem_file(_chain_pem(cert)) as path:
        context.load_cert_chain(path)
    return context


def _chain_pem(cert: LoadedCertificate) -> bytes:
    """Key, leaf, then chain: the order ``load_cert_chain`` reads."""
    key = cert.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certs = [c.public_bytes(serialization.Encoding.PEM) for c in (cert.leaf, *cert.chain)]
    return key + b"".join(certs)


@contextlib.contextmanager
def _pem_file(data: bytes) -> Iterator[str]:
    """A path holding ``data`` for as long as the block runs, in memory where Linux allows.

    ``load_cert_chain`` reads only files; the key is written to an anonymous
    memory file (or, elsewhere, a private temporary one) and never left on disk.
    """
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("proxyhub-certificate")
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "chain.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(data)
        yield path


@dataclass
class CertificateStore:
    """Server contexts by name, with a default for unknown or missing SNI."""

    certificates: list[LoadedCertificate]
    _exact: dict[str, ssl.SSLContext] = field(default_factory=dict)
    _wildcard: dict[str, ssl.SSLContext] = field(default_factory=dict)
    _default: ssl.SSLContext | None = None

    @classmethod
    def from_paths(cls, paths: list[str]) -> CertificateStore:
        """Load every file; raise :class:`CertificateError` listing each bad one."""
        loaded, problems = [], []
        for path in sorted(paths):
            try:
                loaded.append(load_pem(path))
            except CertificateError as e:
                problems.append(str(e))
        if problems:
            raise CertificateError("\n".join(problems))
        if not loaded:
            raise CertificateError("no certificate files")
        store = cls(loaded)
        store._index()
        return store

    def _index(self) -> None:
        for cert in self.certificates:
            context = server_context(cert)
            if self._default is None:
                self._default = context
            for name in cert.names:
                if name.startswith("*."):
                    self._wildcard.setdefault(name[1:], context)
                else:
                    self._exact.setdefault(name, context)

    def context_for(self, server_name: bytes | None) -> ssl.SSLContext | None:
        """The context to switch to for an SNI name; None keeps the default."""
        if not server_name:
            return None
        name = server_name.decode("ascii", "replace").lower().rstrip(".")
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        dot = name.find(".")
        if dot <= 0:
            return None
        # RFC 6125 section 6.4.3: a wildcard stands for exactly one (the leftmost) label.
        return self._wildcard.get(name[dot:])


def _trust_root(ca_file: str | None) -> Any:
    """The CA bundle at ``ca_file`` (every certificate in it), else the system store."""
    if ca_file is None:
        return platformTrust()
    data = Path(ca_file).read_bytes()
    certificates = [
        Certificate.loadPEM(pem.public_bytes(serialization.Encoding.PEM))
        for pem in x509.load_pem_x509_certificates(data)
    ]
    return trustRootFromCertificates(certificates)


def client_tls(host: str, route: Any) -> Any:
    """How to open TLS to a backend named ``host``: verified with service_identity
    against the route's ``ca_file`` or the system store, SNI set to ``host``;
    with ``tls_verify = no``, unverified (and a warning is logged at startup)."""
    if not route.tls_verify:
        return _UnverifiedClientTLS(host)
    return optionsForClientTLS(host, trustRoot=_trust_root(route.ca_file))


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedClientTLS:
    """TLS to a backend whose certificate is not checked, still named by SNI."""

    def __init__(self, host: str) -> None:
        self._context = CertificateOptions(raiseMinimumTo=TLSVersion.TLSv1_2).getContext()
        is_address = isIPAddress(host) or isIPv6Address(host)  # SNI carries names only
        self._server_name = None if is_address else host.encode("idna")

    def clientConnectionForTLS(self, tls_protocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tls_protocol)
        if self._server_name is not None:
            connection.set_tlsext_host_name(self._server_name)
        return connection


class ReloadableCertificates:
    """The SNI selection of one TLS listener, whose certificates a reload can replace.

    The listener's default context (for clients without SNI, or naming no
    configured host) is fixed when it is bound; after a reload such clients
    are switched to the new store's default through the SNI callback.
    """

    def __init__(self, store: CertificateStore) -> None:
        self.first = self.store = store

    def context_for(self, server_name: bytes | None) -> ssl.SSLContext | None:
        """The context to switch to: the current store's match, else its default."""
        context = self.store.context_for(server_name)
        if context is None and self.store is not self.first:
            return self.store._default
        return context

    def listener_context(self) -> ssl.SSLContext:
        """The listener's own context: the first store's default, switching by SNI."""
        context = server_context(self.first.certificates[0])
        context.sni_callback = self._on_server_name
        return context

    def _on_server_name(self, conn: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        """During the handshake: switch to the certificate the client's SNI names.

        ``ServerTLS`` has checked the name is ASCII; the standard library would
        otherwise print a traceback for one that is not.
        """
        context = self.context_for(name.encode("ascii") if name is not None else None)
        if context is not None:
            conn.context = context
