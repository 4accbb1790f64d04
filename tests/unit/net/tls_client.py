"""An in-memory TLS client (the stdlib's ``SSLObject``) facing a ServerTLS, no sockets."""

from __future__ import annotations

import ssl
import warnings
from typing import Any

from cryptography import x509
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from proxyhub.net.tls_server import ServerTLS


@implementer(IHandshakeListener)
class Recorder(Protocol):
    """The inner protocol: keeps what it receives and the calls it gets."""

    def __init__(self) -> None:
        self.received = b""
        self.events: list[str] = []

    def connectionMade(self) -> None:
        self.events.append("made")

    def handshakeCompleted(self) -> None:
        self.events.append("handshake")

    def plain_http_received(self) -> None:
        self.events.append("plain")

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self.events.append(f"data {len(data)}")

    def connectionLost(self, reason: Any = None) -> None:
        self.events.append("lost")


class Client:
    """A TLS client whose records go to ``server`` and whose replies come from its transport."""

    def __init__(
        self,
        context: ssl.SSLContext,
        server_name: str | None = None,
        max_version: ssl.TLSVersion | None = None,
    ) -> None:
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        if max_version is not None:
            with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                client.minimum_version = client.maximum_version = max_version
            client.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that refusing is the server's doing
        client.set_alpn_protocols(["h2", "http/1.1"])
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.conn = client.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)
        self.closed = False  # the server's close_notify was read
        self.inner = Recorder()
        self.server = ServerTLS(context, self.inner)
        self.transport = StringTransport()
        self.server.makeConnection(self.transport)

    def handshake(self) -> None:
        """Exchange flights until the client's handshake is done (SSLError if refused)."""
        for _ in range(5):
            try:
                self.conn.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.to_server(self.outgoing.read())
                self.from_server()
        self.to_server(self.outgoing.read())  # the client's Finished (TLS 1.3)
        self.from_server()

    def to_server(self, records: bytes) -> None:
        if records:
            self.server.dataReceived(records)

    def from_server(self) -> None:
        self.incoming.write(self.transport.value())
        self.transport.clear()

    def send(self, data: bytes) -> bytes:
        """Encrypt ``data``; returns the records (not yet given to the server)."""
        self.conn.write(data)
        return self.outgoing.read()

    def receive(self) -> bytes:
        """Decrypt what the server has written so far; ``closed`` tells of a close_notify."""
        self.from_server()
        data = b""
        while not self.closed:
            try:
                chunk = self.conn.read(65536)
            except ssl.SSLWantReadError:
                break
            self.closed = not chunk
            data += chunk
        return data

    def peer_names(self) -> list[str]:
        der = self.conn.getpeercert(binary_form=True)
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return san.value.get_values_for_type(x509.DNSName)
