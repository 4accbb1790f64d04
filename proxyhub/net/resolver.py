"""Asynchronous name resolution with a short cache, off the reactor thread.

Uses the reactor's ``nameResolver`` (getaddrinfo in the thread pool), so DNS
never blocks the reactor.  Answers are cached for ``ttl`` seconds; concurrent
lookups of one name share a single query.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from ..policy.addresses import parse_ip_literal


class ResolutionError(Exception):
    """A name did not resolve to any address."""


@implementer(IResolutionReceiver)
class _Collector:
    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.done: Deferred[list[str]] = Deferred()

    def resolutionBegan(self, resolutionInProgress: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        if address.host not in self.addresses:
            self.addresses.append(address.host)

    def resolutionComplete(self) -> None:
        self.done.callback(self.addresses)


class Resolver:
    """Resolves host names to address strings, with a cache and query sharing."""

    def __init__(self, reactor: Any, ttl: float = 30.0, max_entries: int = 10000) -> None:
        self.reactor = reactor
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._pending: dict[str, list[Deferred[list[str]]]] = {}

    def cached(self, host: str) -> list[str] | None:
        """Addresses for ``host`` without waiting: IP literals and fresh cache hits."""
        hit = self._cache.get(host)
        if hit is not None and hit[0] > self.reactor.seconds():
            return hit[1]
        ip = parse_ip_literal(host)
        if ip is None:
            return None
        addresses = [str(ip)]
        self._remember(host, addresses, float("inf"))
        return addresses

    def _remember(self, host: str, addresses: list[str], expires: float) -> None:
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[host] = (expires, addresses)

    def resolve(self, host: str) -> Deferred[list[str]]:
        """Addresses for ``host``; fails with :class:`ResolutionError`."""
        known = self.cached(host)
        if known is not None:
            return succeed(known)
        waiter: Deferred[list[str]] = Deferred()
        waiting = self._pending.get(host)
        if waiting is not None:
            waiting.append(waiter)
            return waiter
        self._pending[host] = [waiter]
        collector = _Collector()
        try:
            self.reactor.nameResolver.resolveHostName(collector, host, 0)
        except Exception as e:  # a resolver that refuses the name outright
            self._pending.pop(host, None)
            return fail(ResolutionError(f"cannot resolve {host}: {e}"))
        collector.done.addCallback(self._finished, host)
        return waiter

    def _finished(self, addresses: list[str], host: str) -> None:
        waiters = self._pending.pop(host, [])
        if addresses:
            self._remember(host, addresses, self.reactor.seconds() + self.ttl)
        for waiter in waiters:
            if addresses:
                waiter.callback(addresses)
            else:
                waiter.errback(ResolutionError(f"the name {host} does not resolve"))
