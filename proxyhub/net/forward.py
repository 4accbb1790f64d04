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
from ..http.target import AbsoluteTarget, parse_absolute_target, parse_authority
from .context import ForwardContext
from .exchange import Exchange
from .routes import ForwardRoute
from .server import IN_FLIGHT, HTTPServerProtocol, Refusal
from .tunnel import open_tunnel


class ForwardProtocol(HTTPServerProtocol):
    """Serves one client connection of a forward listener."""

    ctx: ForwardContext

    def admit(self, client_ip: str) -> str | None:
        decision = self.ctx.policy.check_client(client_ip)
        return None if decision.allowed else decision.rule

    def handle_request(self, head: RequestHead) -> None:
        if head.method == b"CONNECT":
            self._on_connect(head)
            return
        outcome = self._accept_request(head)
        if isinstance(outcome, Refusal):
            self.refuse_request(head, outcome)
            return
        target, block = outcome
        if head.chunked:
            block += b"\r\nTransfer-Encoding: chunked"
        elif head.content_length is not None:
            block += b"\r\nContent-Length: %d" % head.content_length
        upstream_head = b"%s %s HTTP/1.1%s\r\n\r\n" % (head.method, target.origin_form, block)
        route = ForwardRoute(self.ctx, target.authority)
        self.start_exchange(Exchange(self, head, upstream_head, route))

    def _accept_request(self, head: RequestHead) -> Refusal | tuple[AbsoluteTarget, bytes]:
        """The target and upstream field block of an acceptable request, else a Refusal."""
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
        block = self.ctx.rewriter.request_block(head, target.authority, self.client_ip)
        if block is None:
            return Refusal(
                508, "Proxy loop detected: the request already passed through this proxy."
            )
        return target, block

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
        return ForwardProtocol(self.ctx)
