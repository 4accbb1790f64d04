"""One forwarded request and its response: the relay between two connections.

An :class:`Exchange` is created by the downstream protocol once a request head
has passed policy.  It resolves the origin, takes a pooled connection or
opens one, streams the request body up and the response down with
backpressure both ways, and reports the outcome to the access log.  An
idempotent, body-less request that meets a stale pooled connection is retried
once on a fresh one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.error import ConnectError, ConnectionRefusedError, DNSLookupError
from twisted.internet.error import TimeoutError as ConnectTimeout
from twisted.python.failure import Failure

from ..http import (
    END,
    LAST_CHUNK,
    Event,
    RequestHead,
    ResponseHead,
    chunk_header,
)
from ..http.target import AbsoluteTarget
from .flow import BULK_BUFFER, feed_from, stop_feeding
from .resolver import ResolutionError
from .upstream import UpstreamProtocol

if TYPE_CHECKING:
    from .forward import ForwardProtocol

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
UPSTREAM_WAIT = "upstream-wait"
CRLF = b"\r\n"


class Exchange:
    """Relays one request to an origin and its response back to the client."""

    def __init__(
        self,
        down: ForwardProtocol,
        head: RequestHead,
        target: AbsoluteTarget,
        upstream_head: bytes,
    ) -> None:
        self.down = down
        self.ctx = down.ctx
        self.req = head
        self.target = target
        self.upstream_head = upstream_head
        self.up: UpstreamProtocol | None = None
        self.upstream_addr: str | None = None
        self.pending: list[bytes] = []
        self.request_done = False
        self.response: ResponseHead | None = None
        self.response_started = False
        self.rechunk = False
        self.close_after = not head.keep_alive
        self.retried = False
        self.finished = False
        self.bytes_out = 0
        self.key: tuple[str, int] | None = None

    # -- starting -------------------------------------------------------------
    def start(self) -> None:
        """Resolve the origin, check where it leads, and get a connection."""
        host = self.target.authority.host
        known = self.ctx.resolver.cached(host)
        if known is not None:
            self._resolved(known)
            return
        self.down.gate.pause(UPSTREAM_WAIT)
        d = self.ctx.resolver.resolve(host)
        d.addCallbacks(self._resolved, self._resolve_failed)

    def _resolved(self, addresses: list[str]) -> None:
        if self.finished:
            return
        port = self.target.authority.port
        for address in addresses:
            decision = self.ctx.policy.check_destination(address, port)
            if not decision.allowed:
                self.fail(decision.status, f"Access denied: {decision.rule}")
                return
        self.key = (addresses[0], port)
        self.upstream_addr = f"{addresses[0]}:{port}"
        conn = self.ctx.pool.take_idle(self.key)
        if conn is not None:
            self._attach(conn)
        else:
            self._connect()

    def _resolve_failed(self, failure: Failure) -> None:
        if failure.check(ResolutionError, DNSLookupError):
            self.fail(502, f"The name {self.target.authority.host} does not resolve.")
        else:
            self.fail(502, "Name resolution failed.")

    def _connect(self) -> None:
        assert self.key is not None
        self.down.gate.pause(UPSTREAM_WAIT)
        d = self.ctx.pool.connect(self.key)
        d.addCallbacks(self._attach, self._connect_failed)

    def _connect_failed(self, failure: Failure) -> None:
        where = self.target.authority.netloc
        if failure.check(ConnectTimeout):
            self.fail(504, f"Connecting to {where} timed out.")
        elif failure.check(ConnectionRefusedError):
            self.fail(502, f"Connection to {where} refused.")
        elif failure.check(ConnectError):
            self.fail(502, f"Cannot connect to {where}.")
        else:
            self.fail(502, f"Cannot connect to {where}.")

    def _attach(self, conn: UpstreamProtocol) -> None:
        if self.finished:
            conn.finish(reusable=True)  # it carried nothing: keep it for the next one
            return
        self.up = conn
        conn.begin(self, self.req.method, self.ctx.settings.read_timeout)
        transport = conn.transport
        transport.write(self.upstream_head)
        for data in self.pending:
            self._send_body(data)
        self.pending = []
        if self.request_done:
            self._send_end()
        elif self.req.has_body:
            feed_from(transport, self.down.gate)
        if self.down.gate.reasons:
            self.down.gate.resume(UPSTREAM_WAIT)

    # -- request body, from the client ----------------------------------------
    def request_body(self, data: bytes) -> None:
        """A piece of the request body arrived from the client."""
        if self.up is None:
            self.pending.append(data)
        else:
            self._send_body(data)

    def request_end(self) -> None:
        """The client finished sending the request."""
        self.request_done = True
        if self.up is not None and not self.finished:
            self._send_end()

    def _send_body(self, data: bytes) -> None:
        assert self.up is not None
        if self.req.chunked:
            self.up.transport.writeSequence([chunk_header(len(data)), data, CRLF])
        else:
            self.up.transport.write(data)

    def _send_end(self) -> None:
        assert self.up is not None
        transport = self.up.transport
        if self.req.chunked:
            transport.write(LAST_CHUNK)
        if transport.producer is not None:
            stop_feeding(transport, self.down.gate)

    # -- response, from the origin --------------------------------------------
    def upstream_events(self, events: list[Event]) -> None:
        """Parsed response events from the origin connection.

        Everything one batch produces for the client goes out in one write;
        the origin is throttled by the client's buffer only while a response
        is still streaming after the batch.
        """
        out: list[bytes] = []
        for event in events:
            if event.__class__ is bytes:
                self._relay_body(event, out)
            elif event is END:
                self._response_end(out)
                return
            else:
                self._response_head(event, out)  # type: ignore[arg-type]
            if self.finished:
                return
        if out:
            self.down.transport.writeSequence(out)
        up = self.up
        if self.response_started and up is not None and self.down.transport.producer is None:
            feed_from(self.down.transport, up.gate)

    def _response_head(self, resp: ResponseHead, out: list[bytes]) -> None:
        if resp.status < 200:
            if resp.status == 101:
                self.upstream_failed("the origin switched protocols unasked", 502)
            elif resp.status == 100 and self.req.version == b"HTTP/1.1":
                out.append(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self.response = resp
        self.response_started = True
        if resp.content_length is None or resp.content_length > BULK_BUFFER:
            assert self.up is not None
            self.up.transport.bufferSize = self.down.transport.bufferSize = BULK_BUFFER
        block = self.ctx.rewriter.response_block(resp)
        framing = self._response_framing(resp)
        out.append(b"HTTP/1.1 %d %s%s%s\r\n\r\n" % (resp.status, resp.reason, block, framing))

    def _response_framing(self, resp: ResponseHead) -> bytes:
        """The framing and connection fields we send, as a raw block."""
        framing = b""
        bodiless = self.req.method == b"HEAD" or resp.status in (204, 304)
        if resp.content_length is not None and (not bodiless or resp.status != 204):
            framing = b"\r\nContent-Length: %d" % resp.content_length
        elif not bodiless:
            if self.req.version == b"HTTP/1.1":
                self.rechunk = True
                framing = b"\r\nTransfer-Encoding: chunked"
            else:
                self.close_after = True
        if not self.request_done:
            self.close_after = True
        if self.close_after:
            return framing + b"\r\nConnection: close"
        if self.req.version == b"HTTP/1.0":
            return framing + b"\r\nConnection: keep-alive"
        return framing

    def _relay_body(self, data: bytes, out: list[bytes]) -> None:
        self.bytes_out += len(data)
        if self.rechunk:
            out.append(chunk_header(len(data)))
            out.append(data)
            out.append(CRLF)
        else:
            out.append(data)

    def _response_end(self, out: list[bytes]) -> None:
        if self.rechunk:
            out.append(LAST_CHUNK)
        down = self.down.transport
        down.writeSequence(out)
        up = self.up
        assert up is not None and self.response is not None
        if down.producer is up.gate:
            stop_feeding(down, up.gate)
        if up.transport.producer is not None:
            stop_feeding(up.transport, self.down.gate)
        up.finish(reusable=self.response.keep_alive and self.request_done)
        self.up = None
        self._done(self.response.status)

    # -- failures ---------------------------------------------------------------
    def upstream_failed(self, reason: str, status: int) -> None:
        """The origin connection broke or sent garbage."""
        up = self.up
        if up is not None and self._may_retry(up):
            self.retried = True
            self._detach(up)
            self._connect()
            return
        self.fail(status, reason)

    def upstream_timed_out(self) -> None:
        """No byte from the origin within ``read_timeout``."""
        self.fail(504, "The origin did not answer in time.")

    def _may_retry(self, up: UpstreamProtocol) -> bool:
        return (
            up.reused
            and not up.received
            and not self.retried
            and not self.response_started
            and self.req.method in IDEMPOTENT
            and not self.req.has_body
        )

    def _detach(self, up: UpstreamProtocol) -> None:
        stop_feeding(up.transport, self.down.gate)
        stop_feeding(self.down.transport, up.gate)
        up.sink = None
        up.close()
        self.up = None

    def fail(self, status: int, detail: str) -> None:
        """Give up: answer ``status`` if nothing was sent yet, else cut the client off."""
        if self.finished:
            return
        if self.up is not None:
            self._detach(self.up)
        if self.response_started:
            self.close_after = True
            self._done(self.response.status if self.response else status, abort=True)
            return
        if not self.request_done:
            self.close_after = True
        self.down.send_error(status, detail, close=self.close_after)
        self._done(status)

    def client_lost(self) -> None:
        """The client went away; drop the origin connection."""
        if self.finished:
            return
        if self.up is not None:
            self._detach(self.up)
        self.close_after = True
        self._done(self.response.status if self.response_started and self.response else 499)

    def _done(self, status: int, abort: bool = False) -> None:
        self.finished = True
        if self.down.gate.reasons:
            self.down.gate.resume(UPSTREAM_WAIT)
        self.down.exchange_finished(self, status, abort=abort)
