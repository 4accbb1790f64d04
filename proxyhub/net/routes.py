"""Where an exchange sends its request: one origin (forward) or a pool of backends.

An :class:`~proxyhub.net.exchange.Exchange` asks its route for a
:class:`Choice` (an address to connect to), tells it when a connection to
that choice failed, and asks it how to rewrite the response head.  The
forward route resolves the URI's host and applies ``deny_destinations``;
the reverse route (``reverse.py``) balances over healthy backends and
offers another one when a connect fails.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.error import TimeoutError as ConnectTimeout
from twisted.python.failure import Failure

from ..http import ResponseHead
from ..http.target import Authority
from ..policy.parents import parent_label
from .connect import HandshakeFailed
from .resolver import ResolutionError

PoolKey = tuple[Any, ...]


class Choice(NamedTuple):
    """One upstream to try: its pool key, a label for logs, what the route tracks, TLS."""

    key: PoolKey
    label: str
    backend: Any = None
    tls: Any = None  # a client TLS connection creator for https:// upstreams


class RouteFailure(Exception):
    """No upstream can be had; ``status`` and ``detail`` are for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Route(Protocol):
    """What an exchange needs to know about where its request goes."""

    def choose(self, tried: list[Choice]) -> Choice | Deferred[Choice]:
        """An upstream to use (raise or errback :class:`RouteFailure` if none)."""

    def connect_failed(self, choice: Choice, failure: Failure) -> RouteFailure | None:
        """A connect to ``choice`` failed: give up with a failure, or None to choose again."""

    def attached(self, choice: Choice) -> None:
        """A connection to ``choice`` now carries the request."""

    def detached(self, choice: Choice) -> None:
        """That connection no longer carries it."""

    def response_block(self, resp: ResponseHead) -> bytes:
        """The response field block to send to the client (framing added by the caller)."""

    def switching_block(self, resp: ResponseHead) -> bytes:
        """The field block of a 101 answer to an upgrade the route allowed."""


def describe_connect_failure(where: str, failure: Failure) -> RouteFailure:
    """504 for a connect timeout, 502 for anything else, naming the upstream."""
    if failure.check(ConnectTimeout):
        return RouteFailure(504, f"Connecting to {where} timed out.")
    if failure.check(HandshakeFailed):
        return RouteFailure(502, f"TLS handshake with {where} failed: {failure.value}.")
    if failure.check(ConnectionRefusedError):
        return RouteFailure(502, f"Connection to {where} refused.")
    return RouteFailure(502, f"Cannot connect to {where}.")


class ForwardRoute:
    """The origin named by an absolute URI, checked against the destination rules."""

    __slots__ = ("authority", "ctx")

    def __init__(self, ctx: Any, authority: Authority) -> None:
        self.ctx = ctx
        self.authority = authority

    def choose(self, tried: list[Choice]) -> Choice | Deferred[Choice]:
        host = self.authority.host
        known = self.ctx.resolver.cached(host)
        if known is not None:
            return self._checked(known)
        d: Deferred[list[str]] = self.ctx.resolver.resolve(host)
        return d.addCallbacks(self._checked, self._unresolved)

    def _checked(self, addresses: list[str]) -> Choice:
        port = self.authority.port
        for address in addresses:
            decision = self.ctx.policy.check_destination(address, port)
            if not decision.allowed:
                raise RouteFailure(decision.status, f"Access denied: {decision.rule}")
        return Choice((addresses[0], port), f"{addresses[0]}:{port}")

    def _unresolved(self, failure: Failure) -> Choice:
        if failure.check(ResolutionError, DNSLookupError):
            raise RouteFailure(502, f"The name {self.authority.host} does not resolve.")
        raise RouteFailure(502, "Name resolution failed.")

    @property
    def host_label(self) -> str:
        """The host this request is for, as counted in the metrics."""
        return self.authority.host

    def connect_failed(self, choice: Choice, failure: Failure) -> RouteFailure | None:
        return describe_connect_failure(self.authority.netloc, failure)

    def attached(self, choice: Choice) -> None:
        pass

    def detached(self, choice: Choice) -> None:
        pass

    def response_block(self, resp: ResponseHead) -> bytes:
        block: bytes = self.ctx.rewriter.response_block(resp)
        return block

    def switching_block(self, resp: ResponseHead) -> bytes:
        return self.response_block(resp)  # forward requests never ask to upgrade


class ParentRoute(ForwardRoute):
    """An absolute-form request relayed through the first reachable parent proxy."""

    __slots__ = ("last_error",)

    def __init__(self, ctx: Any, authority: Authority) -> None:
        super().__init__(ctx, authority)
        self.last_error = "no parent configured"

    def choose(self, tried: list[Choice]) -> Choice | Deferred[Choice]:
        used = {choice.backend for choice in tried}
        for parent in self.ctx.parents.candidates():
            if parent not in used:
                d: Deferred[list[str]] = self.ctx.resolver.resolve(parent.host)
                return d.addCallbacks(
                    self._parent_choice,
                    self._parent_unresolved,
                    callbackArgs=(parent,),
                    errbackArgs=(parent,),
                )
        raise RouteFailure(502, f"No parent proxy is reachable ({self.last_error}).")

    def _parent_choice(self, addresses: list[str], parent: Any) -> Choice:
        label = parent_label(parent)
        return Choice((addresses[0], parent.port, "parent"), f"parent {label}", parent)

    def _parent_unresolved(self, failure: Failure, parent: Any) -> Choice:
        self.ctx.parents.failed(parent)
        raise RouteFailure(502, f"The parent proxy name {parent.host} does not resolve.")

    def connect_failed(self, choice: Choice, failure: Failure) -> RouteFailure | None:
        self.ctx.parents.failed(choice.backend)
        label = parent_label(choice.backend)
        self.last_error = f"{label}: {describe_connect_failure(label, failure).detail}"
        return None  # choose() moves to the next parent, or gives up

    def attached(self, choice: Choice) -> None:
        self.ctx.parents.succeeded(choice.backend)
