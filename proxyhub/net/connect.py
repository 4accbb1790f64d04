"""Opening one outgoing TCP connection to an already resolved address.

``reactor.connectTCP`` with a quiet one-shot factory: unlike endpoints, no
wrapper protocol sits between the transport and ours on the hot path.
"""

from __future__ import annotations

from typing import Any, TypeVar

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

P = TypeVar("P", bound="Connectable")


class HandshakeFailed(Exception):
    """The TLS handshake with an upstream failed; the message says why."""


def handshake_failure_reason(reason: Failure) -> str:
    """Why a TLS handshake failed, in a few words for an error page and the log."""
    error = reason.value
    if reason.check(VerificationError):
        return "its certificate does not name it"
    details = error.args[0] if isinstance(error, SSL.Error) and error.args else None
    if isinstance(details, list) and details and isinstance(details[-1], tuple):
        return str(details[-1][-1]) or "TLS error"
    if reason.check(ConnectionDone, ConnectionLost):
        return "it closed the connection"
    return str(error) or type(error).__name__


class Connectable(Protocol):
    """A protocol that tells whoever connected it when the connection is up."""

    connected_waiter: Deferred[Any] | None = None

    def connectionMade(self) -> None:
        self.report_connected()

    def report_connected(self) -> None:
        """The connection is ready for use: fire the waiter."""
        waiter, self.connected_waiter = self.connected_waiter, None
        if waiter is not None:
            waiter.callback(self)

    def report_connect_failed(self, failure: Failure) -> None:
        """The connection never became usable: fail the waiter."""
        waiter, self.connected_waiter = self.connected_waiter, None
        if waiter is not None:
            waiter.errback(failure)


class _OneConnection(ClientFactory):
    """Hands out one pre-built protocol and reports a failed connect."""

    noisy = False

    def __init__(self, protocol: Connectable, waiter: Deferred[Any]) -> None:
        self.protocol_instance = protocol
        self.waiter = waiter

    def buildProtocol(self, addr: Any) -> Protocol:
        return self.protocol_instance

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        waiter, self.protocol_instance.connected_waiter = self.waiter, None
        if not waiter.called:
            waiter.errback(reason)


def connect_to(
    reactor: Any, host: str, port: int, timeout: float, protocol: P, tls: Any = None
) -> Deferred[P]:
    """Connect ``protocol`` to ``host:port`` (an IP address), failing after ``timeout``.

    With ``tls`` (a client connection creator) the connection is TLS; the
    protocol hears ``connectionMade`` once TCP is up and the handshake starts,
    and may wait for the handshake before it reports itself connected.
    """
    waiter: Deferred[P] = Deferred()
    protocol.connected_waiter = waiter
    factory = _OneConnection(protocol, waiter)
    if tls is None:
        reactor.connectTCP(host, port, factory, timeout=timeout)
    else:
        reactor.connectSSL(host, port, factory, tls, timeout=timeout)
    return waiter
