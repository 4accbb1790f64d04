"""The forward-proxy listener: absolute-form requests and CONNECT tunnels.

What a request means here: an ``http://`` absolute URI to fetch on the
client's behalf (after the ``[forward]`` access rules), or a CONNECT to
tunnel.  Everything about the client connection itself lives in
:class:`~proxyhub.net.server.HTTPServerProtocol`.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Factory

from ..http import RemoteProtocolError, RequestHead
from ..http.heads import get_field
from ..http.target import AbsoluteTarget, parse_absolute_target, parse_authority
from ..policy.pac import PAC_MIME_TYPE, PAC_PATHS, pac_file
from ..policy.pages import local_response
from ..policy.parents import basic_credentials
from .auth import authenticate
from .context import ForwardContext
from .exchange import Exchange
from .replies import Refusal
from .routes import Choice, ForwardRoute, ParentRoute
from .server import IN_FLIGHT, HTTPServerProtocol
from .tunnel import open_tunnel


class ForwardProtocol(HTTPServerProtocol):
    """Serves one client connection of a forward listener."""

    ctx: ForwardContext

    def admit(self, client_ip: str) -> str | None:
        decision = self.ctx.policy.check_client(client_ip)
        return None if decision.allowed else decision.rule

    def handle_request(self, head: RequestHead) -> None:
        if head.target in PAC_PATHS and head.method in (b"GET", b"HEAD"):
            self._serve_pac(head)
        elif self.ctx.auth is not None:
            authenticate(self, head, self._authorized)
        else:
            self._authorized(head)

    def _authorized(self, head: RequestHead) -> None:
        if head.method == b"CONNECT":
            self._on_connect(head)
            return
        cache = self.ctx.cache
        if cache is not None and b"ia:" not in head.raw:  # no Via: no loop, the block can wait
            self._through_cache(head, cache)
            return
        outcome = self._accept_request(head)
        if isinstance(outcome, Refusal):
            self.refuse_request(head, outcome)
            return
        target, block = outcome
        if cache is not None:
            self._through_cache(head, cache, target, block)
            return
        self.start_exchange(self._exchange(Exchange, head, target, block))

    def _through_cache(
        self,
        head: RequestHead,
        cache: Any,
        target: AbsoluteTarget | None = None,
        block: bytes | None = None,
    ) -> None:
        """Hand the request to the HTTP cache; the upstream block is only made on a miss."""
        if target is None:
            outcome = self._accept_target(head)
            if isinstance(outcome, Refusal):
                self.refuse_request(head, outcome)
                return
            target = outcome
        checked = target

        def build(cls: type[Exchange]) -> Exchange:
            upstream = block
            if upstream is None:
                upstream = self.ctx.rewriter.request_block(head, checked.authority, self.client_ip)
                assert upstream is not None  # only a Via line can make it None
            return self._exchange(cls, head, checked, upstream)

        uri = b"http://%s%s" % (target.authority.netloc.encode(), target.origin_form)
        route = ForwardRoute(self.ctx, target.authority)
        cache.handle(self, head, uri, route, build, self.ctx.rewriter.via_line)

    def _exchange(
        self, cls: type[Exchange], head: RequestHead, target: AbsoluteTarget, block: bytes
    ) -> Exchange:
        """The exchange (of class ``cls``) relaying a request, directly or through a parent."""
        if head.chunked:
            block += b"\r\nTransfer-Encoding: chunked"
        elif head.content_length is not None:
            block += b"\r\nContent-Length: %d" % head.content_length
        parents = self.ctx.parents
        if parents and not parents.goes_direct(target.authority.host):
            return self._through_parent(cls, head, target, block)
        upstream_head = b"%s %s HTTP/1.1%s\r\n\r\n" % (head.method, target.origin_form, block)
        return cls(self, head, upstream_head, ForwardRoute(self.ctx, target.authority))

    def _through_parent(
        self, cls: type[Exchange], head: RequestHead, target: AbsoluteTarget, block: bytes
    ) -> Exchange:
        """Relay in absolute form to a parent proxy, with that parent's credentials."""
        absolute = b"http://%s%s" % (target.authority.netloc.encode(), target.origin_form)
        line = b"%s %s HTTP/1.1%s" % (head.method, absolute, block)

        def head_for(choice: Choice) -> bytes:
            credentials = basic_credentials(choice.backend)
            if credentials is None:
                return line + b"\r\n\r\n"
            return line + b"\r\nProxy-Authorization: " + credentials + b"\r\n\r\n"

        exchange = cls(self, head, line + b"\r\n\r\n", ParentRoute(self.ctx, target.authority))
        exchange.head_for = head_for
        return exchange

    def _serve_pac(self, head: RequestHead) -> None:
        """``/proxy.pac`` and ``/wpad.dat``: how browsers learn to use this proxy."""
        body = pac_file(self._own_authority(head), self.ctx.pac_direct)
        close = head.has_body or not head.keep_alive
        response = local_response(200, PAC_MIME_TYPE, body, close=close)
        if head.method == b"HEAD":
            response = response[: len(response) - len(body)]
        self.answer_locally(head, 200, response)

    def _own_authority(self, head: RequestHead) -> str:
        """``host:port`` the client used to reach us: its Host header, else our address."""
        host = get_field(head.fields, b"host")
        if host:
            try:
                authority = parse_authority(host, None)
            except RemoteProtocolError:
                authority = None
            if authority is not None:
                return authority.netloc
        address = self.transport.getHost()
        name = f"[{address.host}]" if ":" in address.host else address.host
        return f"{name}:{address.port}"

    def _accept_request(self, head: RequestHead) -> Refusal | tuple[AbsoluteTarget, bytes]:
        """The target and upstream field block of an acceptable request, else a Refusal."""
        target = self._accept_target(head)
        if isinstance(target, Refusal):
            return target
        block = self.ctx.rewriter.request_block(head, target.authority, self.client_ip)
        if block is None:
            return Refusal(
                508, "Proxy loop detected: the request already passed through this proxy."
            )
        return target, block

    def _accept_target(self, head: RequestHead) -> Refusal | AbsoluteTarget:
        """The target of a request the [forward] rules accept, else a Refusal."""
        if head.method == b"TRACE":
            return Refusal(405, "TRACE is not allowed through this proxy.")
        try:
            target = parse_absolute_target(head.target)
        except RemoteProtocolError as e:
            return Refusal(400, f"Malformed request target: {e}")
        if target is None:
            return Refusal(
                400, "This is a proxy: requests must use an absolute URI (http://host/path)."
            )
        if target.scheme != "http":
            return Refusal(
                501, f"The {target.scheme}:// scheme is not supported; use CONNECT for https."
            )
        decision = self.ctx.policy.check_host(target.authority.host)
        if not decision.allowed:
            return Refusal(decision.status, f"Access denied: {decision.rule}")
        return target

    def _on_connect(self, head: RequestHead) -> None:
        self.gate.pause(IN_FLIGHT)
        problem: tuple[int, str] | None = None
        authority = None
        try:
            authority = parse_authority(head.target, None)
        except RemoteProtocolError as e:
            problem = 400, f"Malformed CONNECT target: {e}"
        if authority is not None and problem is None:
            for decision in (
                self.ctx.policy.check_connect_port(authority.port),
                self.ctx.policy.check_host(authority.host),
            ):
                if not decision.allowed:
                    problem = decision.status, f"Access denied: {decision.rule}"
                    break
        if problem is not None or authority is None:
            status, reason = problem or (400, "Malformed CONNECT target")
            self._refuse(status, reason, close=True)
            return
        self.start_splice(open_tunnel(self, head, authority))


class ForwardFactory(Factory):
    """Builds a :class:`ForwardProtocol` per connection of one forward listener."""

    noisy = False

    def __init__(self, ctx: ForwardContext) -> None:
        self.ctx = ctx

    def buildProtocol(self, addr: Any) -> ForwardProtocol:
        proto = ForwardProtocol(self.ctx)
        proto.source = self
        return proto
