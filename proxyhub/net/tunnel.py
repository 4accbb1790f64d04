"""CONNECT tunnels: dial the target, answer 200, splice.

The origin side is opened by :func:`~.dial.dial_tunnel` (direct, with the
destination rules of ``ForwardRoute``, or through a parent proxy), so a
tunnel and a plain request to the same place get the same answer.  Once the
origin connection is up the client gets ``200 Connection established`` and
from then on bytes flow untouched both ways (:class:`~.splice.Splice`),
except that with ``sni_guard`` the first bytes must be a TLS ClientHello
naming the CONNECT host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http import RequestHead
from ..http.target import Authority
from .connect import Connectable
from .dial import dial_tunnel
from .flow import ReadGate
from .routes import RouteFailure
from .sni_guard import SniGuard
from .splice import Splice

if TYPE_CHECKING:
    from .forward import ForwardProtocol

ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


@implementer(IHalfCloseableProtocol)
class OriginEnd(Connectable):
    """The origin side of a tunnel: hands everything to its splice.

    While a parent proxy's answer to our CONNECT is awaited, bytes go to
    ``handshake`` instead; what the parent sent after its answer waits in
    ``pending`` until the splice is joined.
    """

    transport: Any

    def __init__(self) -> None:
        self.splice: Splice | None = None
        self.gate: ReadGate = ReadGate(None)
        self.handshake: Callable[[bytes], None] | None = None
        self.handshake_lost: Callable[[], None] | None = None
        self.pending = b""
        self.upstream_label: str | None = None

    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport)
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        if self.handshake is not None:
            self.handshake(data)
        elif self.splice is not None:
            self.splice.from_origin(data)

    def readConnectionLost(self) -> None:
        if self.handshake_lost is not None:
            self.handshake_lost()
        elif self.splice is not None:
            self.splice.origin_eof()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        if self.handshake_lost is not None:
            self.handshake_lost()
        elif self.splice is not None:
            self.splice.origin_lost()


class Tunnel(Splice):
    """A CONNECT tunnel from its request to its last byte."""

    def __init__(self, down: ForwardProtocol, head: RequestHead, authority: Authority) -> None:
        super().__init__(down, "CONNECT", authority.netloc)
        self.authority = authority
        guarded = down.ctx.forward.sni_guard
        self.guard = SniGuard(down.ctx, authority.host, down.client_ip) if guarded else None

    def start(self) -> None:
        """Dial the target; the client hears 200 or an error page."""
        d = dial_tunnel(self.ctx, self.authority, OriginEnd())
        d.addCallbacks(self._connected, self._failed)

    def _failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, RouteFailure):
            self._refuse(error.status, error.detail)
        else:
            self._refuse(502, "Cannot reach the destination.")

    def _refuse(self, status: int, detail: str) -> None:
        if self.closed:
            return
        self.status = status
        self.down.send_error(status, detail, close=True)
        self.close()

    def _connected(self, origin: OriginEnd) -> None:
        if self.closed:
            origin.transport.abortConnection()
            return
        self.down.transport.write(ESTABLISHED)
        pending, origin.pending = origin.pending, b""
        self.join(origin, 200, origin.upstream_label)
        if pending:
            self.from_origin(pending)

    def from_client(self, data: bytes) -> None:
        guard = self.guard
        if guard is not None and self.origin is not None:
            data = guard.inspect(data)
            if guard.refused:
                self.status = 403
                self.close()
                return
            if guard.waiting:
                return
            self.guard = None
        super().from_client(data)


def open_tunnel(down: ForwardProtocol, head: RequestHead, authority: Authority) -> Tunnel:
    """Start a tunnel for an accepted CONNECT request."""
    tunnel = Tunnel(down, head, authority)
    tunnel.start()
    return tunnel
