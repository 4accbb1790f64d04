"""Live client connections of one process: the max_connections cap and graceful drain.

Over ``max_connections`` the listening ports stop accepting, so new clients
wait in the kernel's backlog instead of being refused.  On shutdown idle
connections close at once and busy ones get ``drain_timeout`` to finish.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed


class Drainable(Protocol):
    """A client connection that can be asked to finish up and close."""

    ctx: Any

    def drain(self) -> None: ...

    def abort(self) -> None: ...


class ConnectionRegistry:
    """Counts live client connections and pauses accepting at the cap."""

    def __init__(self, clock: Any, max_connections: int) -> None:
        self.clock = clock
        self.max_connections = max_connections
        self.ports: list[Any] = []
        self.live: set[Drainable] = set()
        self._accepting = True
        self._drained: Deferred[None] | None = None
        self.metrics: Any = None  # counts connections per listener when set

    def opened(self, conn: Drainable) -> None:
        """A client connected."""
        self.live.add(conn)
        if self.metrics is not None:
            self.metrics.connection_opened(conn.ctx.listener)
        if self._accepting and len(self.live) >= self.max_connections:
            self._accepting = False
            for port in self.ports:
                port.stopReading()

    def closed(self, conn: Drainable) -> None:
        """A client connection is gone."""
        if conn in self.live and self.metrics is not None:
            self.metrics.connection_closed(conn.ctx.listener)
        self.live.discard(conn)
        if not self._accepting and self._drained is None and len(self.live) < self.max_connections:
            self._accepting = True
            for port in self.ports:
                port.startReading()
        if self._drained is not None and not self.live:
            drained, self._drained = self._drained, None
            drained.callback(None)

    def drain(self, timeout: float) -> Deferred[None]:
        """Ask every connection to finish; fires when all are gone or ``timeout`` passed."""
        if not self.live:
            return succeed(None)
        self._drained = Deferred()
        for conn in list(self.live):
            conn.drain()
        if not self.live:
            return succeed(None)
        deadline = self.clock.callLater(timeout, self._give_up)
        self._drained.addBoth(lambda result: deadline.cancel() if deadline.active() else None)
        return self._drained

    def _give_up(self) -> None:
        for conn in list(self.live):
            conn.abort()
        if self._drained is not None:
            drained, self._drained = self._drained, None
            drained.callback(None)
