"""Opening one outgoing TCP connection to an already resolved address.

``reactor.connectTCP`` with a quiet one-shot factory: unlike endpoints, no
wrapper protocol sits between the transport and ours on the hot path.
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

P = TypeVar("P", bound="Connectable")


class Connectable(Protocol):
    """A protocol that tells whoever connected it when the connection is up."""

    connected_waiter: Deferred[Any] | None = None

    def connectionMade(self) -> None:
        waiter, self.connected_waiter = self.connected_waiter, None
        if waiter is not None:
            waiter.callback(self)


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
    protocol hears ``connectionMade`` once TCP is up and the handshake starts.
    """
    waiter: Deferred[P] = Deferred()
    protocol.connected_waiter = waiter
    factory = _OneConnection(protocol, waiter)
    if tls is None:
        reactor.connectTCP(host, port, factory, timeout=timeout)
    else:
        reactor.connectSSL(host, port, factory, tls, timeout=timeout)
    return waiter
