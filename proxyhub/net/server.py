"""The downstream side of every HTTP listener: one protocol per client connection.

:class:`HTTPServerProtocol` reads requests with the strict wire layer and
owns what all listeners share: head and idle deadlines, pipelining (reading
pauses while a request is in flight and the next one is parsed from what
was already buffered), local error replies, access logging and graceful
drain.  Subclasses answer ``handle_request`` for each head: the forward
proxy with absolute-form targets and CONNECT, the reverse proxy with routes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http import END, Event, RemoteProtocolError, RequestHead, RequestReader
from ..policy.pages import Fields, error_page
from . import send
from .exchange import Exchange
from .flow import ReadGate
from .replies import LocalReply, Refusal
from .request_log import record_request
from .splice import Splice

log = Logger()
IN_FLIGHT = "in-flight"
PIPELINE_BUFFER = 65536  # bytes of pipelined requests held before reading pauses
HEAD_WAIT, IDLE, BODY, WAITING, TUNNEL, CLOSING, HANDSHAKE = range(7)


@implementer(IHalfCloseableProtocol)
class HTTPServerProtocol(Protocol):
    """Serves one client connection; subclasses decide what each request means."""

    transport: Any

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.reader = RequestReader(ctx.limits)
        self.gate: ReadGate = ReadGate(None)
        self.exchange: Exchange | LocalReply | Any = None
        self.user: str | None = None
        self.source: Any = None  # the factory: its ctx changes on reload
        self.splice: Splice | None = None
        self.client_ip = "?"
        self.client_allowed = True
        self.deny_rule = ""
        self.phase = HEAD_WAIT
        self.deadline = 0.0
        self._pumping = False
        self._next_ready = False
        self.draining = False
        self._request_started = 0.0
        self._request_bytes = 0
        self.answering_head = False  # a HEAD request's own error pages carry no body

    # -- connection lifecycle ---------------------------------------------------
    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport)
        self.client_ip = getattr(self.transport.getPeer(), "host", "?")
        rule = self.admit(self.client_ip)
        self.client_allowed = rule is None
        self.deny_rule = rule or ""
        self.ctx.registry.opened(self)
        self._set_deadline(HEAD_WAIT, self.ctx.settings.header_timeout)
        self.ctx.sweeper.watch(self)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        self.ctx.registry.closed(self)
        self.ctx.sweeper.forget(self)
        self.phase = CLOSING
        if self.splice is not None:
            self.splice.client_lost()
        elif self.exchange is not None:
            self.exchange.client_lost()

    def readConnectionLost(self) -> None:
        if self.splice is not None:
            self.splice.client_eof()
            return
        if self.exchange is None or self.phase == BODY:
            self.transport.loseConnection()
            return
        self.reader.switch_protocols()  # ignore anything more; finish the response
        if not isinstance(self.exchange, LocalReply):
            self.exchange.close_after = True

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def drain(self) -> None:
        """Shutting down: close now if idle, else after the current exchange."""
        self.draining = True
        if self.phase == IDLE or (self.phase == HEAD_WAIT and not self.reader.buffered):
            self.phase = CLOSING
            self.transport.loseConnection()
        elif isinstance(self.exchange, Exchange):
            self.exchange.close_after = True

    def abort(self) -> None:
        """The drain deadline passed: drop the connection."""
        self.transport.abortConnection()

    # -- timeouts -------------------------------------------------------------
    def _set_deadline(self, phase: int, timeout: float) -> None:
        self.phase = phase
        self.deadline = self.ctx.reactor.seconds() + timeout if timeout else 0.0

    def deadline_passed(self) -> None:
        if self.phase == HANDSHAKE:
            self.transport.abortConnection()  # tls_handshake_timeout: nothing to answer in
        elif self.phase == IDLE:
            self.transport.loseConnection()
        elif self.phase == HEAD_WAIT:
            self._refuse(408, "The request head did not arrive in time.", close=True)
        elif self.phase == BODY:
            if isinstance(self.exchange, Exchange) and not self.exchange.response_started:
                self.exchange.fail(408, "The request body stalled.")
            else:
                self.transport.abortConnection()

    # -- reading --------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        if self.splice is not None:
            self.splice.from_client(data)
            return
        if self.phase == IDLE:
            self._set_deadline(HEAD_WAIT, self.ctx.settings.header_timeout)
        elif self.phase == BODY:
            self.deadline = self.ctx.reactor.seconds() + self.ctx.settings.idle_timeout
        self._request_bytes += len(data)
        try:
            events = self.reader.feed(data)
        except RemoteProtocolError as e:
            self._protocol_error(e)
            return
        self._pump(events)
        if self.exchange is not None and self.reader.buffered > PIPELINE_BUFFER:
            self.gate.pause(IN_FLIGHT)  # enough of the next request is held; wait our turn

    def _pump(self, events: list[Event]) -> None:
        """Dispatch events, then any pipelined request already buffered, iteratively."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while True:
                for event in events:
                    self._dispatch(event)
                    if self.phase in (CLOSING, TUNNEL):
                        return
                if not self._next_ready:
                    return
                self._next_ready = False
                events = self.reader.next_message()
        except RemoteProtocolError as e:
            self._protocol_error(e)
        finally:
            self._pumping = False

    def _dispatch(self, event: Event) -> None:
        try:
            self._dispatch_event(event)
        except Exception:
            self._internal_error()

    def _internal_error(self) -> None:
        """A bug of ours: log it, answer 500 if nothing was sent yet, and close."""
        log.failure("internal error while handling a request")
        exchange = self.exchange
        started = isinstance(exchange, Exchange) and exchange.response_started
        self.exchange = None
        self.phase = CLOSING
        if not started:
            self.send_error(500, "Internal error in the proxy.", close=True)
        self.transport.loseConnection()

    def _dispatch_event(self, event: Event) -> None:
        exchange = self.exchange
        if event.__class__ is bytes:
            if exchange is not None:
                exchange.request_body(event)
        elif event is END:
            if self.phase == BODY:
                self._set_deadline(WAITING, 0)
            if isinstance(exchange, Exchange):
                exchange.request_end()
            elif isinstance(exchange, LocalReply):
                self._finish_local(exchange)
            elif exchange is not None:
                exchange.request_end()  # a request still waiting (for proxy auth)
        else:
            self._on_head(event)  # type: ignore[arg-type]

    def _protocol_error(self, e: RemoteProtocolError) -> None:
        if isinstance(self.exchange, Exchange) and self.exchange.response_started:
            self.transport.abortConnection()
            return
        if isinstance(self.exchange, Exchange):
            self.exchange.fail(e.status, str(e))
            self.transport.loseConnection()
            return
        self._refuse(e.status, _public_reason(e), close=True)

    # -- a request head ---------------------------------------------------------
    def _on_head(self, head: RequestHead) -> None:
        source = self.source
        if source is not None and source.ctx is not self.ctx:
            self.ctx = source.ctx  # reloaded: new requests use the new configuration
        self._request_started = self.ctx.reactor.seconds()
        self.answering_head = head.method == b"HEAD"
        if head.has_body:
            self._set_deadline(BODY, self.ctx.settings.idle_timeout)
        else:
            self.phase, self.deadline = WAITING, 0.0
        if not self.client_allowed:
            self.refuse_request(head, Refusal(403, f"Access denied: {self.deny_rule}"))
            return
        self.handle_request(head)

    def admit(self, client_ip: str) -> str | None:
        """Why a client may not use this listener (a rule), or None when it may."""
        return None

    def handle_request(self, head: RequestHead) -> None:
        """Answer one request head: start an exchange, open a tunnel, or refuse."""
        raise NotImplementedError

    def refuse_request(self, head: RequestHead, refusal: Refusal) -> None:
        """Answer with the refusal's status; close unless the connection stays usable."""
        close = head.has_body or not head.keep_alive
        self._refuse(
            refusal.status,
            refusal.reason,
            close=close,
            location=refusal.location,
            fields=refusal.fields,
        )

    def answer_locally(self, head: RequestHead, status: int, response: bytes) -> None:
        """Answer with a complete ``response`` of our own (it must say Connection: close
        when the request has a body or is not keep-alive)."""
        send.write(self.transport, response)
        self._replied(status, close=head.has_body or not head.keep_alive)

    def resume_request(self, events: list[Event]) -> None:
        """Read on, and dispatch the events held while a request waited (for proxy auth).

        The pause is lifted first: dispatching may start the next pipelined
        request, which may pause reading again for reasons of its own (nothing
        is read before we return to the reactor).
        """
        if self.phase not in (CLOSING, TUNNEL):
            self.gate.resume(IN_FLIGHT)
        for event in events:
            if self.phase in (CLOSING, TUNNEL):
                return
            self._dispatch(event)

    def internal_error(self) -> None:
        """A bug of ours outside the dispatch loop: log it, answer 500 if we can, close."""
        self._internal_error()

    def start_exchange(self, exchange: Exchange) -> None:
        """Hand the current request to ``exchange``."""
        self.exchange = exchange
        exchange.start()

    def start_splice(self, splice: Splice) -> None:
        """From now on every byte from the client goes to ``splice``."""
        self.reader.switch_protocols()
        self._set_deadline(TUNNEL, 0)
        self.splice = splice

    # -- answering --------------------------------------------------------------
    def send_error(
        self,
        status: int,
        detail: str,
        *,
        close: bool,
        location: bytes | None = None,
        fields: Fields = (),
    ) -> None:
        """Write an error (or redirect) response of the proxy's own making."""
        page = error_page(
            status,
            detail,
            self.ctx.name,
            close=close,
            location=location,
            fields=fields,
            head_only=self.answering_head,
        )
        send.write(self.transport, page)

    def _refuse(
        self,
        status: int,
        detail: str,
        *,
        close: bool,
        location: bytes | None = None,
        fields: Fields = (),
    ) -> None:
        self.send_error(status, detail, close=close, location=location, fields=fields)
        self._replied(status, close=close)

    def _replied(self, status: int, *, close: bool) -> None:
        """A local answer was written: wait for the request's end, or close."""
        reply = LocalReply(status)
        self.exchange = reply
        if close:
            self._log_local(status)
            self.exchange = None
            self.phase = CLOSING
            self.transport.loseConnection()

    def _finish_local(self, reply: LocalReply) -> None:
        self._log_local(reply.status)
        self.exchange = None
        self._ready_for_next()

    def exchange_finished(self, exchange: Any, status: int, *, abort: bool = False) -> None:
        """Called by an exchange (or a cached answer) when its response is complete or given up."""
        self.log_request(
            exchange.req,
            status,
            exchange.bytes_out,
            exchange.upstream_addr,
            exchange.route,
            exchange.cache_status,
        )
        self.exchange = None
        if abort:
            self.phase = CLOSING
            send.close_cut_short(self.transport)
        elif exchange.close_after:
            self.phase = CLOSING
            self.transport.loseConnection()
        else:
            self._ready_for_next()

    def _ready_for_next(self) -> None:
        self._set_deadline(IDLE, self.ctx.settings.idle_timeout)
        self._request_bytes = 0
        self.answering_head = False
        if self.draining:
            self.phase = CLOSING
            self.transport.loseConnection()
            return
        if self.gate.reasons:
            self.gate.resume(IN_FLIGHT)
        self._next_ready = True
        if not self._pumping:
            self._pump([])

    # -- logging ----------------------------------------------------------------
    def log_request(
        self,
        head: RequestHead | None,
        status: int,
        bytes_out: int,
        upstream: str | None,
        route: Any = None,
        cache: str | None = None,
    ) -> None:
        """Count a finished request in the metrics and write its access-log line."""
        record_request(
            self.ctx,
            started=self._request_started,
            client=self.client_ip,
            user=self.user,
            head=head,
            status=status,
            bytes_in=self._request_bytes,
            bytes_out=bytes_out,
            upstream=upstream,
            route=route,
            cache=cache,
        )

    def _log_local(self, status: int) -> None:
        self.log_request(self.reader.head, status, 0, None)


def _public_reason(e: RemoteProtocolError) -> str:
    return f"Bad request: {e}." if e.status == 400 else f"{e}."
