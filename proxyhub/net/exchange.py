"""One forwarded request and its response: the relay between two connections.

An :class:`Exchange` is created by the downstream protocol once a request head
has passed policy.  It asks its :class:`~proxyhub.net.routes.Route` for an
upstream, takes a pooled connection or opens one (choosing again when the
route offers another upstream after a failed connect), streams the request
body up and the response down with backpressure both ways, and reports the
outcome to the access log.  An idempotent, body-less request that meets a
stale pooled connection is retried once on a fresh connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.python.failure import Failure

from ..http import (
    END,
    LAST_CHUNK,
    Event,
    RequestHead,
    ResponseHead,
    chunk_header,
)
from . import send
from .flow import BULK_BUFFER, feed_from, producer_of, stop_feeding
from .routes import Choice, Route, RouteFailure
from .splice import Splice
from .upstream import UpstreamProtocol

if TYPE_CHECKING:
    from .server import HTTPServerProtocol

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
UPSTREAM_WAIT = "upstream-wait"
CRLF = b"\r\n"


class Exchange:
    """Relays one request to an origin and its response back to the client."""

    cache_status: str | None = None  # "MISS" when the cache sent it (see caching.py)
    # Per-request state that starts the same every time (set on the instance when it changes).
    up: UpstreamProtocol | None = None
    choice: Choice | None = None
    upstream_addr: str | None = None
    request_done = False
    response: ResponseHead | None = None
    response_started = False
    rechunk = False
    retried = False
    upgrade = False  # the client asked to switch protocols (WebSocket)
    head_for: Callable[[Choice], bytes] | None = None  # a head per upstream
    finished = False
    bytes_out = 0

    def __init__(
        self,
        down: HTTPServerProtocol,
        head: RequestHead,
        upstream_head: bytes,
        route: Route,
    ) -> None:
        self.down = down
        self.ctx = down.ctx
        self.req = head
        self.upstream_head = upstream_head
        self.route = route
        self.tried: list[Choice] = []
        self.pending: list[bytes] = []
        self.close_after = not head.keep_alive

    # -- starting -------------------------------------------------------------
    def start(self) -> None:
        """Ask the route for an upstream and get a connection to it."""
        self._choose(fresh=False)

    def _choose(self, fresh: bool) -> None:
        try:
            outcome = self.route.choose(self.tried)
        except RouteFailure as e:
            self.fail(e.status, e.detail)
            return
        if isinstance(outcome, tuple):  # a Choice; testing for Deferred (an ABC) is slower
            self._chosen(outcome, fresh)
        else:
            self.down.gate.pause(UPSTREAM_WAIT)
            outcome.addCallbacks(self._chosen, self._choose_failed, (fresh,))

    def _choose_failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, RouteFailure):
            self.fail(error.status, error.detail)
        else:
            self.fail(502, "No upstream is available.")

    def _chosen(self, choice: Choice, fresh: bool) -> None:
        if self.finished:
            return
        self.choice = choice
        self.upstream_addr = choice.label
        conn = None if fresh else self.ctx.pool.take_idle(choice.key)
        if conn is not None:
            self._attach(conn)
            return
        self.down.gate.pause(UPSTREAM_WAIT)
        d = self.ctx.pool.connect(choice.key, choice.tls)
        d.addCallbacks(self._attach, self._connect_failed)

    def _connect_failed(self, failure: Failure) -> None:
        if self.finished:
            return
        assert self.choice is not None
        self.tried.append(self.choice)
        if self.ctx.metrics is not None:
            self.ctx.metrics.connect_failed(self.ctx.listener, self.choice.label)
        outcome = self.route.connect_failed(self.choice, failure)
        if outcome is None:
            self._choose(fresh=False)
        else:
            self.fail(outcome.status, outcome.detail)

    def _attach(self, conn: UpstreamProtocol) -> None:
        if self.finished:
            conn.finish(reusable=True)  # it carried nothing: keep it for the next one
            return
        self.up = conn
        assert self.choice is not None
        self.route.attached(self.choice)
        conn.begin(self, self.req.method, self.ctx.settings.read_timeout)
        transport = conn.transport
        head_for = self.head_for
        send.write(transport, self.upstream_head if head_for is None else head_for(self.choice))
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
            send.write_parts(self.up.transport, [chunk_header(len(data)), data, CRLF])
        else:
            send.write(self.up.transport, data)

    def _send_end(self) -> None:
        assert self.up is not None
        transport = self.up.transport
        if self.req.chunked:
            send.write(transport, LAST_CHUNK)
        if producer_of(transport) is not None:
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
            send.write_parts(self.down.transport, out)
        up = self.up
        if self.response_started and up is not None and producer_of(self.down.transport) is None:
            feed_from(self.down.transport, up.gate)

    def _response_head(self, resp: ResponseHead, out: list[bytes]) -> None:
        if resp.status < 200:
            if resp.status == 101 and self.upgrade and self.request_done:
                self._switch_protocols(resp, out)
            elif resp.status == 101:
                self.upstream_failed("the origin switched protocols unasked", 502)
            elif resp.status == 100 and self.req.version == b"HTTP/1.1":
                out.append(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self.response = resp
        self.response_started = True
        if resp.content_length is None or resp.content_length > BULK_BUFFER:
            assert self.up is not None
            self.up.transport.bufferSize = self.down.transport.bufferSize = BULK_BUFFER
        block = self.route.response_block(resp)
        framing = self._response_framing(resp)
        out.append(b"HTTP/1.1 %d %s%s%s\r\n\r\n" % (resp.status, resp.reason, block, framing))

    def _switch_protocols(self, resp: ResponseHead, out: list[bytes]) -> None:
        """A 101 to an upgrade request: both connections become one byte splice."""
        up, choice = self.up, self.choice
        assert up is not None and choice is not None
        block = self.route.switching_block(resp)
        out.append(b"HTTP/1.1 101 %s%s\r\n\r\n" % (resp.reason, block))
        send.write_parts(self.down.transport, out)
        out.clear()
        self.response, self.response_started, self.finished = resp, True, True
        self._detach_for_splice(up)
        splice = Splice(
            self.down, self.req.method.decode("latin-1"), self.req.target.decode("latin-1")
        )
        self.down.exchange = None
        self.down.start_splice(splice)
        splice.join(up, 101, choice.label)
        early = up.reader.take_buffer()
        if early:
            splice.from_origin(early)

    def _detach_for_splice(self, up: UpstreamProtocol) -> None:
        stop_feeding(up.transport, self.down.gate)
        stop_feeding(self.down.transport, up.gate)
        assert self.choice is not None
        self.route.detached(self.choice)
        up.sink = None
        up.deadline = 0.0
        self.up = None

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
        send.write_parts(down, out)
        up = self.up
        assert up is not None and self.response is not None
        if producer_of(down) is up.gate:
            stop_feeding(down, up.gate)
        if producer_of(up.transport) is not None:
            stop_feeding(up.transport, self.down.gate)
        up.finish(reusable=self.response.keep_alive and self.request_done)
        self.up = None
        assert self.choice is not None
        self.route.detached(self.choice)
        self._done(self.response.status)

    # -- failures ---------------------------------------------------------------
    def upstream_failed(self, reason: str, status: int) -> None:
        """The origin connection broke or sent garbage."""
        up = self.up
        if up is not None and self._may_retry(up):
            self.retried = True
            self._detach(up)
            assert self.choice is not None
            # A stale pooled connection says nothing against its backend: retry it on a
            # fresh connection (if the backend is gone, that connect fails over as usual).
            self._chosen(self.choice, fresh=True)
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
        if self.choice is not None:
            self.route.detached(self.choice)
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
