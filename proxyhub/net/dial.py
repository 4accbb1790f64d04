"""Opening the origin side of a tunnel: straight to the origin, or through a parent proxy.

CONNECT tunnels and SOCKS connections both call :func:`dial_tunnel`.  Direct
dialing resolves the host, applies ``deny_destinations`` (``ForwardRoute``)
and connects.  With ``parent`` set (and the host not in ``parent_bypass``)
the parents are tried in order: a parent that cannot be reached is rested
and the next one tried; a parent that answers the CONNECT with anything but
2xx ends the attempt.  Every failure is a :class:`RouteFailure` whose status
and detail are meant for the client.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.python.failure import Failure

from ..config.model import ParentProxy
from ..http import Limits, RemoteProtocolError, ResponseHead, ResponseReader
from ..http.target import Authority
from ..policy.parents import basic_credentials, parent_label
from .connect import connect_to
from .routes import ForwardRoute, RouteFailure, describe_connect_failure

PARENT_HEAD_LIMITS = Limits(8192, 16384, 100, 0)


class ParentRefused(Exception):
    """The parent answered our CONNECT with something other than 2xx."""


def dial_tunnel(ctx: Any, authority: Authority, end: Any) -> Deferred[Any]:
    """Connect ``end`` (a :class:`~.tunnel.OriginEnd`) towards ``authority``.

    Fires with ``end`` once bytes can flow, or fails with :class:`RouteFailure`.
    """
    parents = ctx.parents
    if parents and not parents.goes_direct(authority.host):
        return ensureDeferred(_through_parents(ctx, authority, end))
    return ensureDeferred(_direct(ctx, authority, end))


async def _direct(ctx: Any, authority: Authority, end: Any) -> Any:
    route = ForwardRoute(ctx, authority)
    outcome = route.choose([])
    choice = await outcome if isinstance(outcome, Deferred) else outcome
    host, port = choice.key
    end.upstream_label = choice.label
    try:
        return await connect_to(ctx.reactor, host, port, ctx.settings.connect_timeout, end)
    except Exception:
        failure = Failure()
        if ctx.metrics is not None:
            ctx.metrics.connect_failed(ctx.listener, choice.label)
        raise describe_connect_failure(authority.netloc, failure) from None


async def _through_parents(ctx: Any, authority: Authority, end: Any) -> Any:
    last = "no parent configured"
    for parent in ctx.parents.candidates():
        label = parent_label(parent)
        try:
            addresses = await ctx.resolver.resolve(parent.host)
            await connect_to(
                ctx.reactor, addresses[0], parent.port, ctx.settings.connect_timeout, end
            )
        except Exception:
            if ctx.metrics is not None:
                ctx.metrics.connect_failed(ctx.listener, f"parent {label}")
            ctx.parents.failed(parent)
            last = f"{label}: {describe_connect_failure(label, Failure()).detail}"
            continue
        ctx.parents.succeeded(parent)
        end.upstream_label = f"parent {label}"
        answered = _handshake(end, parent, authority)
        answered.addTimeout(ctx.settings.connect_timeout, ctx.reactor)
        try:
            await answered
        except ParentRefused as e:
            end.transport.abortConnection()
            raise RouteFailure(502, f"The parent proxy {label} refused the tunnel: {e}") from None
        except DeferredTimeout:
            end.transport.abortConnection()
            raise RouteFailure(504, f"The parent proxy {label} did not answer in time.") from None
        return end
    raise RouteFailure(502, f"No parent proxy is reachable ({last}).")


def connect_request(parent: ParentProxy, authority: Authority) -> bytes:
    """The CONNECT request head we send to a parent, with its credentials if any."""
    target = authority.netloc.encode("ascii")
    lines = [b"CONNECT %s HTTP/1.1" % target, b"Host: %s" % target]
    credentials = basic_credentials(parent)
    if credentials is not None:
        lines.append(b"Proxy-Authorization: " + credentials)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _handshake(end: Any, parent: ParentProxy, authority: Authority) -> Deferred[None]:
    """Send CONNECT to the parent and wait for its answer; bytes after it stay in ``end``.

    The caller bounds the wait (``connect_timeout``): a parent that accepts and
    never answers must not hold the connection, or the client, forever.
    """
    done: Deferred[None] = Deferred()
    reader = ResponseReader(PARENT_HEAD_LIMITS)
    reader.expect(b"CONNECT")

    def on_bytes(data: bytes) -> None:
        try:
            events = reader.feed(data)
        except RemoteProtocolError as e:
            _finish(ParentRefused(f"malformed answer ({e})"))
            return
        for event in events:
            if isinstance(event, ResponseHead) and event.status >= 200:
                _answered(event)
                return

    def _answered(head: ResponseHead) -> None:
        if 200 <= head.status < 300:
            end.pending = reader.take_buffer()
            _finish(None)
        else:
            reason = head.reason.decode("latin-1", "replace")
            _finish(ParentRefused(f"{head.status} {reason}".strip()))

    def on_lost() -> None:
        _finish(ParentRefused("it closed the connection"))

    def _finish(error: Exception | None) -> None:
        end.handshake = end.handshake_lost = None
        if done.called:
            return
        if error is None:
            done.callback(None)
        else:
            done.errback(error)

    end.handshake, end.handshake_lost = on_bytes, on_lost
    end.transport.write(connect_request(parent, authority))
    return done
