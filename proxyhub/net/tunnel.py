"""CONNECT tunnels: resolve and check the target, connect, answer 200, splice.

The destination rules are the forward route's (``ForwardRoute``), so a
tunnel and a plain request to the same place get the same answer.  Once the
origin connection is up the client gets ``200 Connection established`` and
from then on bytes flow untouched both ways (:class:`~.splice.Splice`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http import RequestHead
from ..http.target import Authority
from .connect import Connectable, connect_to
from .flow import ReadGate
from .routes import Choice, ForwardRoute, RouteFailure, describe_connect_failure
from .splice import Splice

if TYPE_CHECKING:
    from .forward import ForwardProtocol

ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


@implementer(IHalfCloseableProtocol)
class OriginEnd(Connectable):
    """The origin side of a tunnel: hands everything to its splice."""

    transport: Any

    def __init__(self) -> None:
        self.splice: Splice | None = None
        self.gate: ReadGate = ReadGate(None)

    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport)
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        if self.splice is not None:
            self.splice.from_origin(data)

    def readConnectionLost(self) -> None:
        if self.splice is not None:
            self.splice.origin_eof()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        if self.splice is not None:
            self.splice.origin_lost()


class Tunnel(Splice):
    """A CONNECT tunnel from its request to its last byte."""

    def __init__(self, down: ForwardProtocol, head: RequestHead, authority: Authority) -> None:
        super().__init__(down, "CONNECT", authority.netloc)
        self.authority = authority
        self.route = ForwardRoute(down.ctx, authority)

    def start(self) -> None:
        """Resolve, check and connect; the client hears 200 or an error page."""
        try:
            outcome = self.route.choose([])
        except RouteFailure as e:
            self._refuse(e.status, e.detail)
            return
        if isinstance(outcome, Deferred):
            outcome.addCallbacks(self._chosen, self._failed)
        else:
            self._chosen(outcome)

    def _chosen(self, choice: Choice) -> None:
        if self.closed:
            return
        self.upstream_addr = choice.label
        host, port = choice.key
        timeout = self.ctx.settings.connect_timeout
        d = connect_to(self.ctx.reactor, host, port, timeout, OriginEnd())
        d.addCallbacks(self._connected, self._connect_failed)

    def _failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, RouteFailure):
            self._refuse(error.status, error.detail)
        else:
            self._refuse(502, "Cannot reach the destination.")

    def _connect_failed(self, failure: Failure) -> None:
        error = describe_connect_failure(self.authority.netloc, failure)
        self._refuse(error.status, error.detail)

    def _refuse(self, status: int, detail: str) -> None:
        self.status = status
        self.down.send_error(status, detail, close=True)
        self.close()

    def _connected(self, origin: OriginEnd) -> None:
        if self.closed:
            origin.transport.abortConnection()
            return
        self.down.transport.write(ESTABLISHED)
        self.join(origin, 200, self.upstream_addr)


def open_tunnel(down: ForwardProtocol, head: RequestHead, authority: Authority) -> Tunnel:
    """Start a tunnel for an accepted CONNECT request."""
    tunnel = Tunnel(down, head, authority)
    tunnel.start()
    return tunnel
