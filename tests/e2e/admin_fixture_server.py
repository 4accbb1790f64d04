"""Serve the admin site on a loopback port over a fake source whose numbers change per request.

Run as ``python3 admin_fixture_server.py``; it prints the port it listens on,
then serves until terminated.  Each /status.json or /healthz answer is one
"second" later than the previous one: one more point in the series, one more
second of uptime, so a browser polling the page sees its charts grow.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from twisted.internet import reactor

from proxyhub.admin.site import make_admin_site
from proxyhub.observe.metrics import Metrics, backend_gauges, render_prometheus

BACKENDS = {
    "example.com": {"http://10.0.0.1:8080": True, "http://10.0.0.2:8080": False},
    "api.example.com": {"http://10.0.0.3:9000": True},
}
T0 = 1795802400.0


class FakeSource:
    """An AdminSource whose series gains one point every time it is read."""

    def __init__(self) -> None:
        self.reads = 0
        self.metrics = Metrics()
        self.metrics.request_done("forward", "example.com", 200, 100, 2000, 0.02)
        self.metrics.request_done("forward", "example.com", 502, 100, 300, 10.0)

    def metrics_text(self) -> str:
        return render_prometheus([self.metrics.snapshot()], backend_gauges(BACKENDS))

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "uptime_s": 3600 + self.reads,
            "workers": 2,
            "listeners": ["forward", "reverse"],
            "backends": {
                host: {b: "up" if up else "down" for b, up in states.items()}
                for host, states in BACKENDS.items()
            },
        }

    def series(self) -> dict[str, list[float]]:
        self.reads += 1
        n = min(self.reads * 20, 300)
        idx = range(300 - n, 300)
        return {
            "t": [T0 + i for i in idx],
            "requests_per_s": [round(120 + 60 * math.sin(i / 9), 3) for i in idx],
            "errors_4xx_per_s": [round(6 + 4 * math.sin(i / 5), 3) for i in idx],
            "errors_5xx_per_s": [float(i % 40 == 0) * 3 for i in idx],
            "active_connections": [40 + i % 17 for i in idx],
            "active_tunnels": [10 + (i // 10) % 7 for i in idx],
        }

    def sample(self) -> None:
        """Nothing to record: the series is synthesised on read."""


def main() -> None:
    port = reactor.listenTCP(0, make_admin_site(FakeSource()), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())
