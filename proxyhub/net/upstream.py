"""Connections to origins and the keep-alive pool that reuses them.

An :class:`UpstreamProtocol` carries one exchange at a time and hands the
parsed response events to it.  :class:`OriginPool` keeps idle connections per
``(address, port)``; a connection goes back to the pool only after a fully
framed, fully consumed exchange, and leaves it for good on any stray byte,
close or idle expiry.
"""

from __future__ import annotations

from typing import Any
from typing import Protocol as TypingProtocol

from twisted.internet.defer import Deferred
from twisted.internet.error import TimeoutError as ConnectTimeout
from twisted.internet.interfaces import IHalfCloseableProtocol, IHandshakeListener
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http import Event, Limits, RemoteProtocolError, ResponseReader
from .connect import Connectable, HandshakeFailed, connect_to, handshake_failure_reason
from .deadlines import DeadlineSweeper
from .flow import ReadGate

log = Logger()
PoolKey = tuple[Any, ...]  # (address, port) or (address, port, TLS server name)


class ResponseSink(TypingProtocol):
    """What an upstream connection reports to (the exchange it carries)."""

    def upstream_events(self, events: list[Event]) -> None: ...

    def upstream_failed(self, reason: str, status: int) -> None: ...

    def upstream_timed_out(self) -> None: ...


@implementer(IHalfCloseableProtocol, IHandshakeListener)
class UpstreamProtocol(Connectable):
    """One connection to an origin; after a 101 its bytes go to a splice instead.

    Over TLS it counts as connected only once the handshake is done, and
    ``connect_timeout`` bounds the handshake as it bounds the TCP connect: a
    backend failing either is a failed connect, which a route may retry elsewhere.
    """

    transport: Any

    def __init__(self, pool: OriginPool, key: PoolKey, tls: bool = False) -> None:
        self.handshaking = tls
        self.pool = pool
        self.key = key
        self.reader = ResponseReader(pool.limits)
        self.sink: ResponseSink | None = None
        self.splice: Any = None
        self.gate = ReadGate(None)
        self.reused = False
        self.received = False
        self.connected = False
        self.deadline = 0.0
        self._timeout = 0.0

    # -- used by the exchange -----------------------------------------------
    def begin(self, sink: ResponseSink, method: bytes, read_timeout: float) -> None:
        """Start carrying ``sink``'s exchange; the response will answer ``method``."""
        if self.reader.state != 0:
            self.reader.next_message()
        self.reader.expect(method)
        self.sink = sink
        self.received = False
        self._timeout = read_timeout
        self.deadline = self.pool.clock.seconds() + read_timeout

    def finish(self, reusable: bool) -> None:
        """The exchange is over: back to the pool, or closed."""
        self.sink = None
        self.deadline = 0.0
        if reusable and self.connected and self.reader.buffered == 0:
            self.pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        """Drop the connection without further ado."""
        self.sink = None
        if self.connected and self.transport is not None:
            self.transport.abortConnection()

    # -- Twisted callbacks --------------------------------------------------
    def connectionMade(self) -> None:
        self.connected = True
        self.gate = ReadGate(self.transport)
        self.pool.sweeper.watch(self)  # for its whole life: a deadline of 0 means none
        if self.handshaking:
            self.deadline = self.pool.clock.seconds() + self.pool.connect_timeout
        else:
            self.report_connected()

    def handshakeCompleted(self) -> None:
        self.handshaking = False
        self.deadline = 0.0
        self.report_connected()

    def dataReceived(self, data: bytes) -> None:
        sink = self.sink
        if sink is None:
            if self.splice is not None:
                self.splice.from_origin(data)
                return  # bytes on an idle connection: it cannot be trusted
            self.pool.discard(self)
            self.transport.abortConnection()
            return
        self.received = True
        self.deadline = self.pool.clock.seconds() + self._timeout
        try:
            events = self.reader.feed(data)
        except RemoteProtocolError as e:
            self.sink = None
            sink.upstream_failed(f"invalid response from origin: {e}", 502)
            return
        if events:
            try:
                sink.upstream_events(events)
            except Exception:
                log.failure("internal error while relaying a response")
                self.sink = None
                sink.upstream_failed("internal error in the proxy", 502)

    def readConnectionLost(self) -> None:
        if self.splice is not None:
            self.splice.origin_eof()
        else:
            self.transport.loseConnection()  # connectionLost does the rest

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        if self.splice is not None:
            self.splice.origin_lost()
            return
        self.connected = False
        self.pool.discard(self)
        self.pool.sweeper.forget(self)
        if self.handshaking:
            self.handshaking = False
            why = handshake_failure_reason(reason)
            self.report_connect_failed(Failure(HandshakeFailed(why)))
            return
        sink, self.sink = self.sink, None
        if sink is None:
            return
        try:
            events = self.reader.feed_eof()
        except RemoteProtocolError:
            events = []
        if events:
            sink.upstream_events(events)
        else:
            sink.upstream_failed("the origin closed the connection", 502)

    def deadline_passed(self) -> None:
        if self.handshaking:
            self.handshaking = False
            self.report_connect_failed(Failure(ConnectTimeout("TLS handshake timed out")))
            self.close()
            return
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.upstream_timed_out()
        else:  # idle in the pool too long
            self.pool.discard(self)
        self.close()


class OriginPool:
    """Idle keep-alive connections to origins, keyed by address and port."""

    def __init__(
        self,
        reactor: Any,
        sweeper: DeadlineSweeper,
        limits: Limits,
        connect_timeout: float,
        idle_timeout: float,
        max_idle_per_origin: int = 64,
    ) -> None:
        self.reactor = reactor
        self.clock = reactor
        self.sweeper = sweeper
        self.limits = limits
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_idle_per_origin = max_idle_per_origin
        self._idle: dict[PoolKey, list[UpstreamProtocol]] = {}

    def take_idle(self, key: PoolKey) -> UpstreamProtocol | None:
        """An idle connection to ``key``, most recently used first, or None."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.connected:
                conn.reused = True
                return conn
        return None

    def connect(self, key: PoolKey, tls: Any = None) -> Deferred[UpstreamProtocol]:
        """A new connection to ``key`` (TLS when ``tls`` is a connection creator)."""
        host, port = key[0], key[1]
        proto = UpstreamProtocol(self, key, tls is not None)
        return connect_to(self.reactor, host, port, self.connect_timeout, proto, tls)

    def release(self, conn: UpstreamProtocol) -> None:
        """Keep ``conn`` for reuse, or close it when the origin's shelf is full."""
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle_per_origin:
            conn.close()
            return
        idle.append(conn)
        conn.deadline = self.clock.seconds() + self.idle_timeout

    def discard(self, conn: UpstreamProtocol) -> None:
        """Forget ``conn`` if it is idle here."""
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def idle_count(self) -> int:
        """How many idle connections are held."""
        return sum(len(v) for v in self._idle.values())

    def close_all(self) -> None:
        """Close every idle connection (at shutdown)."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
