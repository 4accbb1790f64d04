"""The admin site's data: metrics of every worker, backend health, uptime and recent rates.

``MetricsSource`` is the ``AdminSource`` the service gives ``make_admin_site``.
It asks its callables for the current worker snapshots and backend states each
time a page is rendered or a sample is taken, so it never holds stale copies
of its own; how the snapshots of other workers arrive is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from proxyhub.observe.metrics import (
    Clock,
    Recorder,
    Snapshot,
    backend_gauges,
    merge,
    render_prometheus,
    totals,
)

BackendStates = Mapping[str, Mapping[str, bool]]
"""``{host: {backend: up}}``: the health of every backend, by virtual host."""


def _no_backends() -> BackendStates:
    return {}


class MetricsSource:
    """An ``AdminSource`` over metrics snapshots and backend states supplied by callables.

    ``snapshots`` returns one ``Metrics.snapshot()`` per worker (this process's
    included); ``backends`` returns the current backend states; ``listeners``
    are the listener names shown by /healthz.
    """

    def __init__(
        self,
        clock: Clock,
        snapshots: Callable[[], Iterable[Snapshot]],
        backends: Callable[[], BackendStates] = _no_backends,
        listeners: Sequence[str] = (),
        workers: int = 1,
        history: int = 300,
    ) -> None:
        self.clock = clock
        self.snapshots = snapshots
        self.backends = backends
        self.listeners = tuple(listeners)
        self.workers = workers
        self.started = clock.seconds()
        self.recorder = Recorder(clock, history)

    def metrics_text(self) -> str:
        """Return every worker's metrics merged, with ``proxyhub_backend_up``."""
        return render_prometheus(self.snapshots(), backend_gauges(self.backends()))

    def health(self) -> dict[str, Any]:
        """Return the /healthz summary."""
        return {
            "status": "ok",
            "uptime_s": round(self.clock.seconds() - self.started, 3),
            "workers": self.workers,
            "listeners": list(self.listeners),
            "backends": {
                host: {backend: "up" if up else "down" for backend, up in states.items()}
                for host, states in self.backends().items()
            },
        }

    def series(self) -> dict[str, list[float]]:
        """Return the recorder's recent points, column by column."""
        return self.recorder.series()

    def sample(self) -> None:
        """Record one point from the merged totals of every worker."""
        self.recorder.record(totals(merge(self.snapshots())))
