"""Runtime state of one route's backends: balancing, passive ejection, accounting.

A backend that fails to connect ``fall`` times in a row is ejected for
``eject_for`` seconds, then re-admitted on trial; a success resets its
count.  While every backend is ejected the set still offers the one whose
ejection ends first rather than failing outright (a site with one flaky
backend keeps answering).  Balancing algorithms: round_robin, least_conn,
random and ip_hash (rendezvous hashing, so losing one backend only moves
its own clients).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Backend:
    """One backend of a route, with its live counters."""

    scheme: str
    host: str
    port: int
    active: int = 0
    failures: int = 0
    ejected_until: float = 0.0

    @property
    def label(self) -> str:
        """``host:port`` for logs and error pages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass
class BackendSet:
    """The backends of one route and how to choose among them."""

    backends: list[Backend]
    clock: Any
    balance: str = "round_robin"
    fall: int = 3
    eject_for: float = 10.0
    strip_prefix: bytes = b""
    rng: random.Random = field(default_factory=random.Random)
    _next: int = 0

    def upstream_path(self, route: Any, path: bytes) -> bytes:
        """The path to send: the route prefix removed when ``strip_prefix`` is on."""
        prefix = self.strip_prefix
        if prefix and path.startswith(prefix):
            rest = path[len(prefix) :]
            return rest if rest.startswith(b"/") else b"/" + rest
        return path

    def healthy(self, exclude: set[Backend]) -> list[Backend]:
        """Backends not ejected and not excluded, in configuration order."""
        now = self.clock.seconds()
        return [b for b in self.backends if b not in exclude and b.ejected_until <= now]

    def has_candidate(self, client_ip: str, exclude: set[Backend]) -> bool:
        """True when :meth:`pick` would offer something other than ``exclude``."""
        return bool(self.healthy(exclude))

    def pick(self, client_ip: str, exclude: set[Backend]) -> Backend | None:
        """A backend for this request, or None when all were tried."""
        candidates = self.healthy(exclude)
        if not candidates:
            if exclude:
                return None
            return min(self.backends, key=lambda b: b.ejected_until) if self.backends else None
        if len(candidates) == 1:
            return candidates[0]
        return self._balance(candidates, client_ip)

    def _balance(self, candidates: list[Backend], client_ip: str) -> Backend:
        if self.balance == "least_conn":
            return min(candidates, key=lambda b: b.active)
        if self.balance == "random":
            return self.rng.choice(candidates)
        if self.balance == "ip_hash":
            return max(candidates, key=lambda b: _weight(client_ip, b.label))
        self._next = (self._next + 1) % len(self.backends)
        start = self._next
        for i in range(len(self.backends)):
            backend = self.backends[(start + i) % len(self.backends)]
            if backend in candidates:
                return backend
        return candidates[0]

    def report_failure(self, backend: Backend) -> None:
        """A connect to ``backend`` failed."""
        backend.failures += 1
        if backend.failures >= self.fall:
            backend.ejected_until = self.clock.seconds() + self.eject_for
            backend.failures = 0

    def report_success(self, backend: Backend) -> None:
        """``backend`` answered."""
        backend.failures = 0

    def started(self, backend: Backend) -> None:
        """A connection to ``backend`` now carries a request."""
        backend.active += 1
        backend.failures = 0

    def finished(self, backend: Backend) -> None:
        """That request is done."""
        backend.active -= 1


def _weight(client_ip: str, label: str) -> int:
    digest = hashlib.blake2b(f"{client_ip}|{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
