"""Choosing a backend for a request: ``round_robin``, ``least_conn``, ``random``, ``ip_hash``.

A balancer is built over a route's backends (any hashable ids, such as
:class:`~proxyhub.config.model.Backend` records) and asked ``pick(client_ip, healthy)`` per
request. It only ever returns a backend that is both configured and in ``healthy``, or None
when none is (the caller answers 502). Scans follow the configured order, so results are
reproducible.

- ``round_robin``: the next healthy backend after the one picked last, in list order.
- ``least_conn``: the healthy backend with the fewest requests in flight; the caller reports
  ``start(backend)`` when a request goes to it and ``finish(backend)`` when it is done (the
  other balancers accept both and ignore them). Ties go round robin.
- ``random``: uniform among the healthy backends, drawn from an injectable
  :class:`random.Random`.
- ``ip_hash``: rendezvous (highest random weight) hashing of the client address with each
  backend's id (``str(backend)``, e.g. ``http://10.0.0.1:8080``), with BLAKE2b rather than
  ``hash()``, so every worker process and every restart agrees. A client keeps its backend
  while that backend is healthy; when a backend leaves the healthy set only its own clients
  move, and they spread over the others; when it comes back they return to it. The whole
  address is hashed (no /24 grouping); a bounded cache keeps each client's ranking.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from collections.abc import Set as AbstractSet
from hashlib import blake2b
from typing import Generic, TypeVar

B = TypeVar("B", bound=Hashable)

BALANCERS = ("round_robin", "least_conn", "random", "ip_hash")


class Balancer(ABC, Generic[B]):
    """Picks one of ``backends`` (in their configured order) for each request."""

    def __init__(self, backends: Sequence[B]) -> None:
        if not backends:
            raise ValueError("a balancer needs at least one backend")
        if len(set(backends)) != len(backends):
            raise ValueError("a backend is listed twice")
        self.backends: tuple[B, ...] = tuple(backends)

    @abstractmethod
    def pick(self, client_ip: str, healthy: AbstractSet[B]) -> B | None:
        """A backend of ``healthy`` for a request from ``client_ip``, or None if there is none."""

    def start(self, backend: B) -> None:
        """A request went to ``backend`` (counted by ``least_conn`` only)."""

    def finish(self, backend: B) -> None:
        """A request to ``backend`` is over (counted by ``least_conn`` only)."""


class RoundRobin(Balancer[B]):
    """Each healthy backend in turn."""

    def __init__(self, backends: Sequence[B]) -> None:
        super().__init__(backends)
        self._next = 0

    def pick(self, client_ip: str, healthy: AbstractSet[B]) -> B | None:
        """The first healthy backend at or after the turn, which then moves past it."""
        count = len(self.backends)
        for step in range(count):
            index = (self._next + step) % count
            backend = self.backends[index]
            if backend in healthy:
                self._next = (index + 1) % count
                return backend
        return None


class LeastConn(Balancer[B]):
    """The healthy backend with the fewest requests in flight; ties in turn."""

    def __init__(self, backends: Sequence[B]) -> None:
        super().__init__(backends)
        self._active = dict.fromkeys(self.backends, 0)
        self._next = 0

    def active(self, backend: B) -> int:
        """Requests in flight to ``backend``, as reported by start and finish."""
        return self._active[backend]

    def start(self, backend: B) -> None:
        """Count one more request in flight; an unknown backend is a ``KeyError``."""
        self._active[backend] += 1

    def finish(self, backend: B) -> None:
        """Count one request less in flight (never below zero)."""
        self._active[backend] = max(self._active[backend] - 1, 0)

    def pick(self, client_ip: str, healthy: AbstractSet[B]) -> B | None:
        """The least busy healthy backend, scanning from the turn so that ties rotate."""
        count = len(self.backends)
        best: B | None = None
        best_load = best_index = 0
        for step in range(count):
            index = (self._next + step) % count
            backend = self.backends[index]
            if backend in healthy and (best is None or self._active[backend] < best_load):
                best, best_load, best_index = backend, self._active[backend], index
        if best is not None:
            self._next = (best_index + 1) % count
        return best


class RandomChoice(Balancer[B]):
    """A healthy backend drawn uniformly at random."""

    def __init__(self, backends: Sequence[B], rng: random.Random | None = None) -> None:
        super().__init__(backends)
        self._random = rng if rng is not None else random.Random()

    def pick(self, client_ip: str, healthy: AbstractSet[B]) -> B | None:
        """One of the healthy backends, in configured order, chosen by the generator."""
        candidates = [backend for backend in self.backends if backend in healthy]
        return self._random.choice(candidates) if candidates else None


class IpHash(Balancer[B]):
    """The healthy backend ranked highest for the client by rendezvous hashing."""

    def __init__(
        self,
        backends: Sequence[B],
        key: Callable[[B], str] = str,
        cache_size: int = 4096,
    ) -> None:
        super().__init__(backends)
        self._keys = {backend: b"\0" + key(backend).encode("utf-8") for backend in self.backends}
        if len(set(self._keys.values())) != len(self._keys):
            raise ValueError("two backends have the same key")
        self._rankings: dict[str, tuple[B, ...]] = {}
        self._cache_size = max(cache_size, 1)

    def score(self, client_ip: str, backend: B) -> int:
        """The client's weight for ``backend``: 64 bits of BLAKE2b over address and key."""
        digest = blake2b(client_ip.encode("utf-8") + self._keys[backend], digest_size=8)
        return int.from_bytes(digest.digest(), "big")

    def ranking(self, client_ip: str) -> tuple[B, ...]:
        """Every backend, the client's first choice first (ties keep the configured order)."""
        ranked = self._rankings.get(client_ip)
        if ranked is None:
            ranked = tuple(
                sorted(self.backends, key=lambda backend: -self.score(client_ip, backend))
            )
            if len(self._rankings) >= self._cache_size:
                del self._rankings[next(iter(self._rankings))]
            self._rankings[client_ip] = ranked
        return ranked

    def pick(self, client_ip: str, healthy: AbstractSet[B]) -> B | None:
        """The client's highest-ranked healthy backend."""
        for backend in self.ranking(client_ip):
            if backend in healthy:
                return backend
        return None


def make_balancer(
    kind: str, backends: Sequence[B], *, rng: random.Random | None = None
) -> Balancer[B]:
    """The balancer named by a ``balance`` value; ``rng`` is only used by ``random``."""
    if kind == "round_robin":
        return RoundRobin(backends)
    if kind == "least_conn":
        return LeastConn(backends)
    if kind == "random":
        return RandomChoice(backends, rng)
    if kind == "ip_hash":
        return IpHash(backends)
    raise ValueError(f"unknown balance {kind!r}; expected one of {', '.join(BALANCERS)}")
