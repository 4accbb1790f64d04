"""Proxy authentication on the forward listener: ``Proxy-Authorization: Basic``.

A verified ``user:password`` is remembered for ``auth_cache_ttl`` (keyed by
a digest, never the password), so most requests are decided at once.  The
rest are verified in Twisted's thread pool, because bcrypt costs ~100 ms and
must not stall the reactor; meanwhile :class:`PendingAuth` stands in for the
exchange and holds what arrives of the request body (reading pauses, so that
is at most one read).  A failure answers 407 with a challenge and writes one
warning line a fail2ban filter can match::

    proxy auth failed: client=203.0.113.9 user="bob" reason="wrong password"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..http import END, Event, RequestHead
from ..policy.proxy_auth import MISSING, AuthResult, challenge
from .replies import Refusal
from .server import IN_FLIGHT

log = Logger()
_NO_CREDENTIALS = b""
# One field line of the raw block (the wire layer has already rejected obs-fold, bare CR/LF
# and whitespace before the colon); the value without its surrounding whitespace.
_PROXY_AUTHORIZATION = re.compile(
    rb"^proxy-authorization:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)


class PendingAuth:
    """Stands in for the exchange while credentials are verified off the reactor thread."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lost = False
        self.close_after = False

    def request_body(self, data: bytes) -> None:
        self.events.append(data)

    def request_end(self) -> None:
        self.events.append(END)

    def client_lost(self) -> None:
        self.lost = True


def proxy_authorization(head: RequestHead) -> bytes:
    """The request's one Proxy-Authorization value; empty when it has none, or several."""
    found = _PROXY_AUTHORIZATION.findall(head.raw)
    return found[0] if len(found) == 1 else _NO_CREDENTIALS


def authenticate(proto: Any, head: RequestHead, proceed: Callable[[RequestHead], None]) -> None:
    """Check ``head``'s credentials, then ``proceed`` with it or answer 407."""
    auth = proto.ctx.auth
    value = proxy_authorization(head)
    result = auth.cached(value)
    if result is not None:
        _decided(proto, head, proceed, result)
        return
    if not verifications.admit():
        busy = Refusal(
            503,
            "Too many logins are being checked; try again shortly.",
            fields=((b"Retry-After", b"1"),),
        )
        proto.refuse_request(head, busy)
        return
    pending = PendingAuth()
    proto.exchange = pending
    proto.gate.pause(IN_FLIGHT)
    d = verifications.run(proto.ctx.reactor, auth, value, lambda: pending.lost)
    d.addCallback(_verified, auth, proto, head, proceed, pending, value)
    d.addErrback(_verification_failed, proto, pending)


class Verifications:
    """Password checks waiting for or running in the thread pool, bounded per process.

    Each costs up to ~100 ms of a pool thread (bcrypt).  Past ``limit`` at
    once new ones are refused (503) rather than queued behind an attacker's,
    and a check whose client has gone is skipped when its turn comes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def admit(self) -> bool:
        """Whether one more check may start."""
        return self.active < self.limit

    def run(
        self, reactor: Any, auth: Any, value: bytes, gone: Callable[[], bool]
    ) -> Deferred[AuthResult]:
        """Verify ``value`` in the thread pool, unless ``gone()`` by then."""
        self.active += 1

        def check() -> AuthResult:
            return AuthResult(False, None, MISSING) if gone() else auth.verify(value)

        d = deferToThreadPool(reactor, reactor.getThreadPool(), check)
        return d.addBoth(self._done)

    def _done(self, result: Any) -> Any:
        self.active -= 1
        return result


verifications = Verifications(limit=64)


def _verification_failed(failure: Failure, proto: Any, pending: PendingAuth) -> None:
    log.failure("proxy auth verification failed", failure)
    if not pending.lost and proto.exchange is pending:
        proto.exchange = None
        proto.internal_error()


def _verified(
    result: AuthResult,
    auth: Any,
    proto: Any,
    head: RequestHead,
    proceed: Callable[[RequestHead], None],
    pending: PendingAuth,
    value: bytes,
) -> None:
    auth.remember(value, result)  # the instance that verified: a reload drops its cache
    if pending.lost or proto.exchange is not pending:
        return
    proto.exchange = None
    _decided(proto, head, proceed, result)
    if pending.close_after and proto.exchange is not None:
        proto.exchange.close_after = True
    proto.resume_request(pending.events)


def _decided(
    proto: Any, head: RequestHead, proceed: Callable[[RequestHead], None], result: AuthResult
) -> None:
    if result.ok:
        proto.user = result.user
        proceed(head)
        return
    proto.user = None
    if result.reason != MISSING:
        log_failure(proto.client_ip, result)
    realm = proto.ctx.forward.auth_realm
    refusal = Refusal(
        407,
        "Proxy authentication required.",
        fields=((b"Proxy-Authenticate", challenge(realm)),),
    )
    proto.refuse_request(head, refusal)


def log_failure(client: str, result: AuthResult) -> None:
    """The one warning line per failed attempt (the fail2ban filter in etc/ matches it)."""
    log.warn(
        "proxy auth failed: client={client} user={user} reason={reason}",
        client=client,
        user=_quoted(result.user),
        reason=_quoted(result.reason),
    )


def _quoted(text: str | None) -> str:
    """A value safe on one log line: quoted, control bytes and quotes escaped, bounded."""
    if text is None:
        return '"-"'
    cleaned = "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in text)
    return f'"{cleaned[:64]}"'
