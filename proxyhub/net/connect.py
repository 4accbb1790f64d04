"""Opening one outgoing TCP connection to an already resolved address."""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.protocol import Factory, Protocol

P = TypeVar("P", bound=Protocol)


class _OneConnection(Factory):
    """Hands out one pre-built protocol; quiet, unlike ``connectProtocol``'s factory."""

    noisy = False

    def __init__(self, protocol: Protocol) -> None:
        self.protocol_instance = protocol

    def buildProtocol(self, addr: Any) -> Protocol:
        return self.protocol_instance


def connect_to(reactor: Any, host: str, port: int, timeout: float, protocol: P) -> Deferred[P]:
    """Connect ``protocol`` to ``host:port`` (an IP address), failing after ``timeout``."""
    endpoint_type = TCP6ClientEndpoint if ":" in host else TCP4ClientEndpoint
    endpoint = endpoint_type(reactor, host, port, timeout=timeout)
    d: Deferred[P] = endpoint.connect(_OneConnection(protocol))  # type: ignore[arg-type,assignment]
    return d
