"""The SOCKS listener: SOCKS5 (with RFC 1929 passwords when ``auth_file`` is set) and SOCKS4/4a.

The handshake is read by :class:`~proxyhub.wire.socks.SocksServer`; this
protocol answers its events.  The rules are ``[forward]``'s (clients,
domains, resolved destinations, ``auth_file``, parents) plus ``[socks]
ports``; the tunnel is opened by :func:`~.dial.dial_tunnel` exactly as for
CONNECT, and once it is up bytes flow through a :class:`~.splice.Splice`
and one access-log line is written at the end (method ``SOCKS5`` or
``SOCKS4``, the status 200 or the HTTP status matching the refusal).
"""

from __future__ import annotations

from base64 import b64encode
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http.target import Authority
from ..wire.socks import ConnectRequest, NeedAuth, Reject, ReplyCode, Send, SocksServer
from .auth import log_failure, verifications
from .dial import dial_tunnel
from .flow import ReadGate
from .routes import RouteFailure
from .splice import Splice
from .tunnel import OriginEnd

log = Logger()


class _Early:
    """What the splice asks of a client reader: the bytes sent after the request."""

    def __init__(self, server: SocksServer) -> None:
        self.server = server

    def take_buffer(self) -> bytes:
        return self.server.take_buffer()

    def feed(self, data: bytes) -> None:  # pragma: no cover - the splice joins first
        raise AssertionError("SOCKS client bytes before the tunnel is joined")


def reply_code_for(failure: RouteFailure) -> tuple[ReplyCode, int]:
    """The SOCKS reply and log status for a failed dial."""
    detail = failure.detail
    if failure.status in (403, 508):
        return ReplyCode.NOT_ALLOWED, failure.status
    if failure.status == 504:
        return ReplyCode.TTL_EXPIRED, 504
    if "refused" in detail:
        return ReplyCode.CONNECTION_REFUSED, 502
    if "does not resolve" in detail:
        return ReplyCode.HOST_UNREACHABLE, 502
    return ReplyCode.GENERAL_FAILURE, 502


@implementer(IHalfCloseableProtocol)
class SocksProtocol(Protocol):
    """Serves one SOCKS client connection."""

    transport: Any

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.server = SocksServer(require_auth=ctx.auth is not None)
        self.reader = _Early(self.server)
        self.gate: ReadGate = ReadGate(None)
        self.client_ip = "?"
        self.user: str | None = None
        self.splice: Splice | None = None
        self.deadline = 0.0
        self.allowed = True

    # -- connection lifecycle ---------------------------------------------------
    def connectionMade(self) -> None:
        self.gate = ReadGate(self.transport)
        self.client_ip = getattr(self.transport.getPeer(), "host", "?")
        self.allowed = self.ctx.policy.check_client(self.client_ip).allowed
        self.ctx.registry.opened(self)
        self.deadline = self.ctx.reactor.seconds() + self.ctx.settings.header_timeout
        self.ctx.sweeper.watch(self)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        self.ctx.registry.closed(self)
        self.ctx.sweeper.forget(self)
        if self.splice is not None:
            self.splice.client_lost()

    def readConnectionLost(self) -> None:
        if self.splice is not None and self.splice.origin is not None:
            self.splice.client_eof()
        else:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def deadline_passed(self) -> None:
        """The handshake took longer than header_timeout."""
        self.transport.abortConnection()

    def drain(self) -> None:
        """Shutting down: a handshake in progress is dropped; tunnels carry on."""
        if self.splice is None:
            self.transport.loseConnection()

    def abort(self) -> None:
        self.transport.abortConnection()

    # -- the handshake ------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        if self.splice is not None:
            if self.splice.origin is not None:
                self.splice.from_client(data)
            else:
                self.server.feed(data)  # early data, held until the tunnel is up
            return
        for event in self.server.feed(data):
            self._on_event(event)

    def _on_event(self, event: object) -> None:
        if isinstance(event, Send):
            self.transport.write(event.data)
        elif isinstance(event, NeedAuth):
            self._check_password(event)
        elif isinstance(event, ConnectRequest):
            self._on_request(event)
        elif isinstance(event, Reject):
            self.transport.write(event.reply)
            self.transport.loseConnection()

    def _check_password(self, event: NeedAuth) -> None:
        auth = self.ctx.auth
        value = b"Basic " + b64encode(f"{event.user}:{event.password}".encode())
        result = auth.cached(value)
        if result is not None:
            self._authenticated(result, event.user)
            return
        if not verifications.admit():
            self._on_events(self.server.auth_result(False))
            return
        self.gate.pause("auth")
        d = verifications.run(self.ctx.reactor, auth, value, lambda: not self.transport.connected)
        d.addCallback(self._verified, auth, value, event.user)
        d.addErrback(self._verification_failed)

    def _verification_failed(self, failure: Failure) -> None:
        log.failure("SOCKS password verification failed", failure)
        self.transport.abortConnection()

    def _verified(self, result: Any, auth: Any, value: bytes, user: str) -> None:
        auth.remember(value, result)
        self.gate.resume("auth")
        if self.transport.connected:
            self._authenticated(result, user)

    def _authenticated(self, result: Any, user: str) -> None:
        if not result.ok:
            log_failure(self.client_ip, result)
        ok = bool(result.ok) and self.allowed
        self.user = result.user if ok else None
        self._on_events(self.server.auth_result(ok))

    def _on_events(self, events: list[Any]) -> None:
        for event in events:
            self._on_event(event)

    def _on_request(self, request: ConnectRequest) -> None:
        self.gate.pause("in-flight")
        authority = Authority(request.host, request.port)
        method = f"SOCKS{request.version}"
        self.splice = Splice(self, method, authority.netloc)
        self.deadline = 0.0
        self.ctx.sweeper.forget(self)
        if self._refusal(authority) is not None:
            self._fail(ReplyCode.NOT_ALLOWED, 403)
            return
        d = dial_tunnel(self.ctx, authority, OriginEnd())
        d.addCallbacks(self._connected, self._dial_failed)

    def _refusal(self, authority: Authority) -> str | None:
        """The rule refusing this request before any connect, or None."""
        if not self.allowed:
            return "allow_clients"
        ports = self.ctx.socks_ports
        if ports is not None and authority.port not in ports:
            return "ports"
        decision = self.ctx.policy.check_host(authority.host)
        return None if decision.allowed else decision.rule

    def _dial_failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, RouteFailure):
            code, status = reply_code_for(error)
        else:
            code, status = ReplyCode.GENERAL_FAILURE, 502
        self._fail(code, status)

    def _fail(self, code: ReplyCode, status: int) -> None:
        splice = self.splice
        if splice is None or splice.closed:
            return
        self.transport.write(self.server.reply_failure(code))
        splice.status = status
        splice.close()

    def _connected(self, origin: OriginEnd) -> None:
        splice = self.splice
        if splice is None or splice.closed:
            origin.transport.abortConnection()
            return
        bound = origin.transport.getHost()
        self.transport.write(self.server.reply_success((bound.host, bound.port)))
        pending, origin.pending = origin.pending, b""
        splice.join(origin, 200, origin.upstream_label)
        if pending:
            splice.from_origin(pending)


class SocksFactory(Factory):
    """Builds a :class:`SocksProtocol` per connection of one SOCKS listener."""

    noisy = False

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def buildProtocol(self, addr: Any) -> SocksProtocol:
        return SocksProtocol(self.ctx)
