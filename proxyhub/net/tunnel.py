"""CONNECT tunnels: a two-way byte splice with backpressure and half-close.

After the origin connection is up the client gets ``200 Connection
established`` and from then on bytes flow untouched both ways.  Each side's
transport throttles the other through a :class:`ReadGate`.  A FIN from one
side is passed on as a FIN to the other; the tunnel closes once both sides
are done, or when ``half_close_timeout`` passes with only one side done, or
after ``tunnel_idle_timeout`` without a byte either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.error import TimeoutError as ConnectTimeout
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http import RequestHead
from ..http.target import Authority
from ..observe.accesslog import AccessRecord
from .connect import Connectable, connect_to
from .flow import BULK_BUFFER, ReadGate, feed_from, stop_feeding
from .resolver import ResolutionError

if TYPE_CHECKING:
    from .forward import ForwardProtocol

ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


@implementer(IHalfCloseableProtocol)
class OriginEnd(Connectable):
    """The origin side of a tunnel: hands everything to the :class:`Tunnel`."""

    transport: Any

    def __init__(self) -> None:
        self.tunnel: Tunnel | None = None
        self.gate: ReadGate = ReadGate(None)

    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport)
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_origin(data)

    def readConnectionLost(self) -> None:
        if self.tunnel is not None:
            self.tunnel.origin_eof()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        if self.tunnel is not None:
            self.tunnel.origin_lost()


class Tunnel:
    """A CONNECT tunnel from its request to its last byte."""

    def __init__(self, down: ForwardProtocol, head: RequestHead, authority: Authority) -> None:
        self.down = down
        self.ctx = down.ctx
        self.head = head
        self.authority = authority
        self.origin: OriginEnd | None = None
        self.upstream_addr: str | None = None
        self.started = self.ctx.reactor.seconds()
        self.bytes_in = 0
        self.bytes_out = 0
        self.status = 0
        self.client_done = False
        self.origin_done = False
        self.closed = False
        self.deadline = 0.0
        self._half_closed_at: float | None = None
        self._idle_timeout = self.ctx.settings.tunnel_idle_timeout

    # -- setting up -------------------------------------------------------------
    def start(self) -> None:
        d = self.ctx.resolver.resolve(self.authority.host)
        d.addCallbacks(self._resolved, self._resolve_failed)

    def _resolved(self, addresses: list[str]) -> None:
        if self.closed:
            return
        for address in addresses:
            decision = self.ctx.policy.check_destination(address, self.authority.port)
            if not decision.allowed:
                self._refuse(decision.status, f"Access denied: {decision.rule}")
                return
        host, port = addresses[0], self.authority.port
        self.upstream_addr = f"{host}:{port}"
        d = connect_to(self.ctx.reactor, host, port, self.ctx.settings.connect_timeout, OriginEnd())
        d.addCallbacks(self._connected, self._connect_failed)

    def _resolve_failed(self, failure: Failure) -> None:
        if failure.check(ResolutionError):
            self._refuse(502, f"The name {self.authority.host} does not resolve.")
        else:
            self._refuse(502, "Name resolution failed.")

    def _connect_failed(self, failure: Failure) -> None:
        where = self.authority.netloc
        if failure.check(ConnectTimeout):
            self._refuse(504, f"Connecting to {where} timed out.")
        elif failure.check(ConnectionRefusedError):
            self._refuse(502, f"Connection to {where} refused.")
        else:
            self._refuse(502, f"Cannot connect to {where}.")

    def _refuse(self, status: int, detail: str) -> None:
        self.status = status
        self.down.send_error(status, detail, close=True)
        self._close()

    def _connected(self, origin: OriginEnd) -> None:
        if self.closed:
            origin.transport.abortConnection()
            return
        self.origin = origin
        origin.tunnel = self
        self.status = 200
        down = self.down.transport
        down.bufferSize = origin.transport.bufferSize = BULK_BUFFER
        down.write(ESTABLISHED)
        early = self.down.reader.take_buffer()
        if early:
            self.from_client(early)
        feed_from(origin.transport, self.down.gate)
        feed_from(down, origin.gate)
        self.down.gate.resume("in-flight")
        self._touch()
        self.ctx.sweeper.watch(self)

    # -- data -------------------------------------------------------------------
    def _touch(self) -> None:
        self.deadline = self.ctx.reactor.seconds() + self.ctx.settings.tunnel_idle_timeout
        if self._half_closed_at is not None:
            self.deadline = min(
                self.deadline, self._half_closed_at + self.ctx.settings.half_close_timeout
            )

    def from_client(self, data: bytes) -> None:
        if self.origin is None:
            self.down.reader.feed(data)  # held in the (switched) reader until connected
            return
        self.bytes_in += len(data)
        self.origin.transport.write(data)
        if self._half_closed_at is None:
            self.deadline = self.ctx.reactor.seconds() + self._idle_timeout
        else:
            self._touch()

    def from_origin(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.down.transport.write(data)
        if self._half_closed_at is None:
            self.deadline = self.ctx.reactor.seconds() + self._idle_timeout
        else:
            self._touch()

    # -- closing ----------------------------------------------------------------
    def client_eof(self) -> None:
        self.client_done = True
        if self.origin is None:
            self._close()
            return
        self.origin.transport.loseWriteConnection()
        self._one_side_done()

    def origin_eof(self) -> None:
        self.origin_done = True
        self.down.transport.loseWriteConnection()
        self._one_side_done()

    def _one_side_done(self) -> None:
        if self.client_done and self.origin_done:
            self._close()
            return
        self._half_closed_at = self.ctx.reactor.seconds()
        self._touch()

    def client_lost(self) -> None:
        self.client_done = True
        self._close()

    def origin_lost(self) -> None:
        self.origin_done = True
        self._close()

    def deadline_passed(self) -> None:
        """Idle or half-closed too long: close gracefully, abort if that stalls too."""
        if self.closed:
            self._abort_both()
            return
        self._close()
        self.deadline = self.ctx.reactor.seconds() + self.ctx.settings.half_close_timeout
        self.ctx.sweeper.watch(self)

    def _abort_both(self) -> None:
        self.ctx.sweeper.forget(self)
        if self.origin is not None:
            self.origin.transport.abortConnection()
        self.down.transport.abortConnection()

    def _close(self, abort: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.ctx.sweeper.forget(self)
        origin = self.origin
        if origin is not None:
            origin.tunnel = None
            stop_feeding(origin.transport, self.down.gate)
            stop_feeding(self.down.transport, origin.gate)
            _close_transport(origin.transport, abort)
        _close_transport(self.down.transport, abort)
        self._log()

    def _log(self) -> None:
        log = self.ctx.access_log
        if log is None:
            return
        now = self.ctx.reactor.seconds()
        log.log(
            AccessRecord(
                ts=self.started,
                listener=self.ctx.listener,
                client=self.down.client_ip,
                user=None,
                method="CONNECT",
                target=self.authority.netloc,
                status=self.status,
                bytes_in=self.bytes_in,
                bytes_out=self.bytes_out,
                duration_ms=(now - self.started) * 1000.0,
                upstream=self.upstream_addr,
            )
        )


def _close_transport(transport: Any, abort: bool) -> None:
    if abort:
        transport.abortConnection()
    else:
        transport.loseConnection()


def open_tunnel(down: ForwardProtocol, head: RequestHead, authority: Authority) -> Tunnel:
    """Start a tunnel for an accepted CONNECT request."""
    tunnel = Tunnel(down, head, authority)
    tunnel.start()
    return tunnel
