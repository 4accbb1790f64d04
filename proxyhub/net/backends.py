"""Runtime state of one route's backends: balancing, health, accounting.

Composes the pure policy pieces (``policy.balance``, ``policy.health``) with
the clock: a failed connect counts against a backend, ``health_fall`` of
them take it out of rotation, and it comes back after a hold-off (passive)
or after passing ``health_rise`` active checks.  When no backend is left the
route answers at once instead of waiting.
"""

from __future__ import annotations

import random
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

from twisted.logger import Logger

from ..config.model import Backend, HostRoute
from ..policy.balance import make_balancer
from ..policy.health import HealthEvent, HealthMonitor
from ..policy.routing import strip
from .tls import client_tls

log = Logger()


@lru_cache(maxsize=1024)
def backend_label(backend: Backend) -> str:
    """``host:port`` for logs and error pages."""
    host = f"[{backend.host}]" if ":" in backend.host else backend.host
    return f"{host}:{backend.port}"


class BackendSet:
    """The backends of one route and how to choose among them."""

    def __init__(self, route: HostRoute, clock: Any, rng: random.Random | None = None) -> None:
        self.route = route
        self.host_label = route.section  # the virtual host, as counted in the metrics
        self.clock = clock
        self.balancer = make_balancer(route.balance, route.backends, rng=rng)
        self.health: HealthMonitor[Backend] = HealthMonitor(
            route.backends,
            rise=route.health_rise,
            fall=route.health_fall,
            active=route.health_check is not None,
        )
        self._tls: dict[Backend, Any] = {}

    def upstream_path(self, route: HostRoute, path: bytes) -> bytes:
        """The path to send the backend (the prefix removed when ``strip_prefix`` is on)."""
        return strip(route, path)

    def pick(self, client_ip: str, exclude: AbstractSet[Backend]) -> Backend | None:
        """A healthy backend not in ``exclude``, or None when none is left."""
        healthy = self.health.healthy(self.clock.seconds())
        if exclude:
            healthy = healthy - exclude
        return self.balancer.pick(client_ip, healthy)

    def has_candidate(self, client_ip: str, exclude: set[Backend]) -> bool:
        """True when :meth:`pick` would offer something other than ``exclude``."""
        return bool(self.health.healthy(self.clock.seconds()) - exclude)

    def report_failure(self, backend: Backend) -> None:
        """A connect to ``backend`` failed (or its name did not resolve)."""
        self._log(self.health.connect_failed(backend, self.clock.seconds()))

    def started(self, backend: Backend) -> None:
        """A connection to ``backend`` now carries a request."""
        self.balancer.start(backend)
        self._log(self.health.connect_succeeded(backend, self.clock.seconds()))

    def finished(self, backend: Backend) -> None:
        """That request is done."""
        self.balancer.finish(backend)

    def check_result(self, backend: Backend, passed: bool) -> None:
        """An active check of ``backend`` passed or failed."""
        now = self.clock.seconds()
        if passed:
            self._log(self.health.check_passed(backend, now))
        else:
            self._log(self.health.check_failed(backend, now))

    def expire(self) -> None:
        """Re-admit backends whose passive hold-off is over (and log it)."""
        for event in self.health.expire(self.clock.seconds()):
            self._log(event)

    def tls_for(self, backend: Backend) -> Any:
        """The client TLS connection creator for an https:// backend (made once)."""
        creator = self._tls.get(backend)
        if creator is None:
            creator = self._tls[backend] = client_tls(backend.host, self.route)
        return creator

    def _log(self, event: HealthEvent[Backend] | None) -> None:
        if event is not None:
            log.info("[{section}] {event}", section=self.route.section, event=str(event))
