"""A listener wrapper that reads a PROXY protocol header before anything else.

The wrapped protocol (plain HTTP, or TLS then HTTP) is connected only once
the header is complete, and sees the real client through ``getPeer()``, so
X-Forwarded-For and the access log carry it.  A connection without a valid
header within ``header_timeout`` is closed.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

from ..http.proxy_protocol import ProxyHeaderError, parse_proxy_header


class ProxyHeaderProtocol(ProtocolWrapper):
    """Holds the inner protocol back until the PROXY header has been read."""

    transport: Any
    wrappedProtocol: Any

    def __init__(self, factory: Any, wrapped: Any) -> None:
        super().__init__(factory, wrapped)
        self._buffer: bytes | None = b""
        self._peer: Any = None
        self._timer: Any = None

    def makeConnection(self, transport: Any) -> None:
        directlyProvides(self, providedBy(transport))  # as ProtocolWrapper does
        self.transport = transport
        self.connected = 1
        self.factory.registerProtocol(self)
        self._timer = self.factory.clock.callLater(self.factory.timeout, transport.abortConnection)

    def getPeer(self) -> Any:
        return self._peer if self._peer is not None else self.transport.getPeer()

    def dataReceived(self, data: bytes) -> None:
        if self._buffer is None:
            self.wrappedProtocol.dataReceived(data)
            return
        self._buffer += data
        try:
            parsed = parse_proxy_header(self._buffer)
        except ProxyHeaderError:
            self.transport.abortConnection()
            return
        if parsed is None:
            return
        address, used = parsed
        if address is not None:
            kind = IPv6Address if ":" in address else IPv4Address
            self._peer = kind("TCP", address, 0)
        rest, self._buffer = self._buffer[used:], None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self.wrappedProtocol.makeConnection(self)
        if rest:
            self.wrappedProtocol.dataReceived(rest)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self._buffer is None:
            super().connectionLost(reason)
        else:
            self.factory.unregisterProtocol(self)


class ProxyHeaderFactory(WrappingFactory):
    """Wraps a listener's factory so every connection starts with a PROXY header."""

    protocol = ProxyHeaderProtocol
    noisy = False

    def __init__(self, wrapped: Any, clock: Any, timeout: float) -> None:
        super().__init__(wrapped)
        self.clock = clock
        self.timeout = timeout
