"""The reverse-proxy listener: virtual hosts and path routes in front of backends.

What a request means here: an origin-form (or absolute-form) request for a
site; the Host header and path pick a route (no route: 421), the route's
backend set picks a backend, and an :class:`~.exchange.Exchange` relays the
request with ``X-Forwarded-*`` set.  A WebSocket upgrade that the backend
accepts with 101 becomes a byte splice.  On a TLS listener, an SNI name that
routes to a different site than the Host header is refused with 421.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure
from zope.interface import implementer

from ..http import RemoteProtocolError, RequestHead, ResponseHead
from ..http.target import parse_absolute_target
from ..policy.reverse_headers import ReverseRewriter, websocket_upgrade
from .backends import BackendSet, backend_label
from .exchange import Exchange
from .replies import Refusal
from .routes import Choice, RouteFailure, describe_connect_failure
from .server import HANDSHAKE, HEAD_WAIT, HTTPServerProtocol

_NONE_TRIED: frozenset[Any] = frozenset()


class RouteTable(Protocol):
    """Maps a Host header and path to a route (anything hashable with the fields below)."""

    def route(self, host: bytes, path: bytes) -> Any: ...


@dataclass
class ReverseContext:
    """Shared state of one reverse listener; built once by the service wiring."""

    reactor: Any
    settings: Any
    sweeper: Any
    limits: Any
    access_log: Any
    name: str
    registry: Any
    pool: Any
    resolver: Any
    routes: RouteTable
    backends: dict[Any, BackendSet]
    rewriter: ReverseRewriter
    listener: str = "reverse"
    scheme: str = "http"
    redirect_to: int | None = None  # the TLS port to send plain-HTTP clients to (308)
    certificates: Any = None
    hsts_line: bytes = b""  # a Strict-Transport-Security field line, on TLS listeners only
    extra: dict[str, Any] = field(default_factory=dict)
    metrics: Any = None  # the process's Metrics
    cache: Any = None  # the HttpCache (caching.py) when [cache] enabled = yes, else None


class ReverseRoute:
    """An exchange's view of one route's backends: pick, retry elsewhere, account."""

    __slots__ = ("backends", "client_ip", "ctx")

    def __init__(self, ctx: ReverseContext, backends: BackendSet, client_ip: str) -> None:
        self.ctx = ctx
        self.backends = backends
        self.client_ip = client_ip

    def choose(self, tried: list[Choice]) -> Choice | Deferred[Choice]:
        exclude = {c.backend for c in tried} if tried else _NONE_TRIED
        backend = self.backends.pick(self.client_ip, exclude)
        if backend is None:
            if tried:
                raise RouteFailure(502, "Every backend for this site failed.")
            raise RouteFailure(503, "No healthy backend for this site.")
        known = self.ctx.resolver.cached(backend.host)
        if known is not None:
            return self._choice(backend, known[0])
        d: Deferred[list[str]] = self.ctx.resolver.resolve(backend.host)
        return d.addCallbacks(
            lambda addresses: self._choice(backend, addresses[0]),
            lambda failure: self._unresolved(backend, failure),
        )

    def _choice(self, backend: Any, address: str) -> Choice:
        label = backend_label(backend)
        if not backend.tls:
            return Choice((address, backend.port), label, backend)
        key = (address, backend.port, backend.host)
        return Choice(key, label, backend, self.backends.tls_for(backend))

    def _unresolved(self, backend: Any, failure: Failure) -> Choice:
        self.backends.report_failure(backend)
        raise RouteFailure(502, f"Backend {backend_label(backend)} does not resolve.")

    @property
    def host_label(self) -> str:
        """The virtual host (section name) this request matched, as counted in the metrics."""
        return self.backends.host_label

    def connect_failed(self, choice: Choice, failure: Failure) -> RouteFailure | None:
        self.backends.report_failure(choice.backend)
        if self.backends.has_candidate(self.client_ip, {choice.backend}):
            return None
        return describe_connect_failure(choice.label, failure)

    def attached(self, choice: Choice) -> None:
        self.backends.started(choice.backend)

    def detached(self, choice: Choice) -> None:
        self.backends.finished(choice.backend)

    def response_block(self, resp: ResponseHead) -> bytes:
        return self.ctx.rewriter.response_block(resp) + self.ctx.hsts_line

    def switching_block(self, resp: ResponseHead) -> bytes:
        return self.ctx.rewriter.switching_block(resp)


@implementer(IHandshakeListener)
class ReverseProtocol(HTTPServerProtocol):
    """Serves one client connection of a reverse (front-end) listener."""

    ctx: ReverseContext
    server_name: bytes | None = None  # the SNI name, read once the TLS handshake is done
    plain_on_tls = False

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.ctx.scheme == "https":  # the head deadline starts once TLS is up
            self._set_deadline(HANDSHAKE, self.ctx.settings.tls_handshake_timeout)

    def handshakeCompleted(self) -> None:
        self.server_name = getattr(self.transport, "server_name", None)
        if self.phase == HANDSHAKE:
            self._set_deadline(HEAD_WAIT, self.ctx.settings.header_timeout)

    def plain_http_received(self) -> None:
        """A plain-HTTP client on this TLS port: its requests are answered 400, in plain HTTP."""
        self.plain_on_tls = True
        if self.phase == HANDSHAKE:
            self._set_deadline(HEAD_WAIT, self.ctx.settings.header_timeout)

    def handle_request(self, head: RequestHead) -> None:
        outcome = self._route(head)
        if isinstance(outcome, Refusal):
            self.refuse_request(head, outcome)
            return
        route, backends, path, upstream_path = outcome
        upgrade = websocket_upgrade(head)
        cache = self.ctx.cache
        if cache is not None and route.cache and not upgrade and head.host:
            ctx = self.ctx
            cache.handle(
                self,
                head,
                b"%s://%s%s" % (ctx.scheme.encode(), head.host, path),
                ReverseRoute(ctx, backends, self.client_ip),
                lambda cls: self._exchange(cls, head, route, backends, upstream_path, False),
                ctx.hsts_line,
            )
            return
        self.start_exchange(self._exchange(Exchange, head, route, backends, upstream_path, upgrade))

    def _exchange(
        self,
        cls: type[Exchange],
        head: RequestHead,
        route: Any,
        backends: BackendSet,
        path: bytes,
        upgrade: bool,
    ) -> Exchange:
        """The exchange (of class ``cls``) relaying a request to ``route``'s backends."""
        exchange = cls(
            self,
            head,
            self._upstream_head(head, path, head.host or b"", upgrade),
            ReverseRoute(self.ctx, backends, self.client_ip),
        )
        if not route.preserve_host:  # each backend hears its own name as Host
            exchange.head_for = lambda choice: self._upstream_head(
                head, path, backend_label(choice.backend).encode("ascii"), upgrade
            )
        exchange.upgrade = upgrade
        return exchange

    def _upstream_head(self, head: RequestHead, path: bytes, host: bytes, upgrade: bool) -> bytes:
        block = self.ctx.rewriter.request_block(
            head, client_ip=self.client_ip, proto=self.ctx.scheme, host=host, upgrade=upgrade
        )
        if head.chunked:
            block += b"\r\nTransfer-Encoding: chunked"
        elif head.content_length is not None:
            block += b"\r\nContent-Length: %d" % head.content_length
        return b"%s %s HTTP/1.1%s\r\n\r\n" % (head.method, path, block)

    def _route(self, head: RequestHead) -> Refusal | tuple[Any, BackendSet, bytes, bytes]:
        """The route, its backends, the path and upstream path of a request, else a Refusal."""
        if self.plain_on_tls:
            return Refusal(400, "This port speaks HTTPS; the request was sent as plain HTTP.")
        if head.method in (b"TRACE", b"CONNECT"):
            return Refusal(405, f"{head.method.decode()} is not allowed here.")
        path = head.target
        if not path.startswith(b"/"):
            try:
                target = parse_absolute_target(path)
            except RemoteProtocolError as e:
                return Refusal(400, f"Malformed request target: {e}")
            if target is None:
                return Refusal(400, "Malformed request target.")
            path = target.origin_form
            # RFC 9112 section 3.2.2: the target's authority replaces the Host header.
            default_port = 443 if target.scheme == "https" else 80
            head.host = target.authority.host_header(default_port).encode("ascii")
        host = head.host or b""
        if self.ctx.redirect_to is not None:
            return self._redirect(host, path)
        route = self.ctx.routes.route(host, path)
        if route is None:
            return Refusal(421, "This server does not serve that host name.")
        sni = self.server_name
        if sni is not None and self.ctx.routes.route(sni, path) not in (None, route):
            return Refusal(421, "The TLS server name and the Host header name different sites.")
        backends = self.ctx.backends[route]
        return route, backends, path, backends.upstream_path(route, path)

    def _redirect(self, host: bytes, path: bytes) -> Refusal:
        if not host:
            return Refusal(400, "The request names no host to redirect to.")
        name = host.rsplit(b":", 1)[0] if not host.endswith(b"]") else host
        port = self.ctx.redirect_to
        authority = name if port == 443 else b"%s:%d" % (name, port or 443)
        location = b"https://" + authority + path
        return Refusal(308, "This site is served over HTTPS.", location)


class ReverseFactory(Factory):
    """Builds a :class:`ReverseProtocol` per connection of one reverse listener."""

    noisy = False

    def __init__(self, ctx: ReverseContext) -> None:
        self.ctx = ctx
        self.certificates: Any = None  # a TLS listener's ReloadableCertificates

    def buildProtocol(self, addr: Any) -> ReverseProtocol:
        proto = ReverseProtocol(self.ctx)
        proto.source = self
        return proto
