"""A two-way byte splice between a client and an upstream, with backpressure.

Used by CONNECT tunnels and by upgraded (101) connections such as
WebSockets.  Each side's transport throttles the other through its
:class:`ReadGate`.  A FIN from one side is passed on as a FIN to the other;
the splice closes once both sides are done, when ``half_close_timeout``
passes with only one side done, or after ``tunnel_idle_timeout`` without a
byte either way.  One access-log line is written at the end.
"""

from __future__ import annotations

from typing import Any

from ..observe.accesslog import AccessRecord
from . import send
from .flow import BULK_BUFFER, feed_from, stop_feeding


class Splice:
    """Moves bytes both ways between ``down`` (the client side) and an origin."""

    def __init__(self, down: Any, method: str, target: str) -> None:
        self.down = down
        self.ctx = down.ctx
        self.method = method
        self.target = target
        self.origin: Any = None
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

    def join(self, origin: Any, status: int, upstream_addr: str | None) -> None:
        """Start moving bytes between the client and ``origin`` (which has a transport and gate)."""
        self.origin = origin
        origin.splice = self
        self.status = status
        self.upstream_addr = upstream_addr
        down = self.down.transport
        down.bufferSize = origin.transport.bufferSize = BULK_BUFFER
        early = self.down.reader.take_buffer()
        if early:
            self.from_client(early)
        feed_from(origin.transport, self.down.gate)
        feed_from(down, origin.gate)
        if self.down.gate.reasons:
            self.down.gate.resume("in-flight")
        self._touch()
        self.ctx.sweeper.watch(self)
        if self.ctx.metrics is not None:
            self.ctx.metrics.tunnel_opened(self.ctx.listener)

    # -- data -------------------------------------------------------------------
    def _touch(self) -> None:
        self.deadline = self.ctx.reactor.seconds() + self._idle_timeout
        if self._half_closed_at is not None:
            self.deadline = min(
                self.deadline, self._half_closed_at + self.ctx.settings.half_close_timeout
            )

    def from_client(self, data: bytes) -> None:
        """Bytes from the client, for the origin."""
        if self.origin is None:
            self.down.reader.feed(data)  # held in the (switched) reader until joined
            return
        self.bytes_in += len(data)
        send.write(self.origin.transport, data)
        if self._half_closed_at is None:
            self.deadline = self.ctx.reactor.seconds() + self._idle_timeout
        else:
            self._touch()

    def from_origin(self, data: bytes) -> None:
        """Bytes from the origin, for the client."""
        self.bytes_out += len(data)
        send.write(self.down.transport, data)
        if self._half_closed_at is None:
            self.deadline = self.ctx.reactor.seconds() + self._idle_timeout
        else:
            self._touch()

    # -- closing ----------------------------------------------------------------
    def client_eof(self) -> None:
        """The client finished sending."""
        self.client_done = True
        if self.origin is None:
            self.close()
            return
        self.origin.transport.loseWriteConnection()
        self._one_side_done()

    def origin_eof(self) -> None:
        """The origin finished sending."""
        self.origin_done = True
        self.down.transport.loseWriteConnection()
        self._one_side_done()

    def _one_side_done(self) -> None:
        if self.client_done and self.origin_done:
            self.close()
            return
        self._half_closed_at = self.ctx.reactor.seconds()
        self._touch()

    def client_lost(self) -> None:
        """The client connection is gone."""
        self.client_done = True
        self.close()

    def origin_lost(self) -> None:
        """The origin connection is gone."""
        self.origin_done = True
        self.close()

    def deadline_passed(self) -> None:
        """Idle or half-closed too long: close gracefully, abort if that stalls too."""
        if self.closed:
            self._abort_both()
            return
        self.close()
        self.deadline = self.ctx.reactor.seconds() + self.ctx.settings.half_close_timeout
        self.ctx.sweeper.watch(self)

    def _abort_both(self) -> None:
        self.ctx.sweeper.forget(self)
        if self.origin is not None:
            self.origin.transport.abortConnection()
        self.down.transport.abortConnection()

    def close(self) -> None:
        """Close both sides (once) and write the access-log line."""
        if self.closed:
            return
        self.closed = True
        self.ctx.sweeper.forget(self)
        origin = self.origin
        if origin is not None:
            origin.splice = None
            stop_feeding(origin.transport, self.down.gate)
            stop_feeding(self.down.transport, origin.gate)
            origin.transport.loseConnection()
        self.down.transport.loseConnection()
        self._log()

    def _log(self) -> None:
        now = self.ctx.reactor.seconds()
        metrics = self.ctx.metrics
        if metrics is not None:
            listener = self.ctx.listener
            if self.origin is not None:
                metrics.tunnel_closed(listener)
            host = self.target.rpartition(":")[0].strip("[]") or self.target
            seconds = now - self.started
            metrics.request_done(
                listener, host, self.status, self.bytes_in, self.bytes_out, seconds
            )
        log = self.ctx.access_log
        if log is None:
            return
        log.log(
            AccessRecord(
                ts=self.started,
                listener=self.ctx.listener,
                client=self.down.client_ip,
                user=getattr(self.down, "user", None),
                method=self.method,
                target=self.target,
                status=self.status,
                bytes_in=self.bytes_in,
                bytes_out=self.bytes_out,
                duration_ms=(now - self.started) * 1000.0,
                upstream=self.upstream_addr,
            )
        )
