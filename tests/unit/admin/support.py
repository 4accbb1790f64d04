"""Drive an admin Site over an in-memory transport and parse what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.server import Site


@dataclass
class FakeSource:
    """An AdminSource with fixed answers that counts its samples."""

    text: str = "# HELP proxyhub_x x\n# TYPE proxyhub_x gauge\nproxyhub_x 1\n"
    samples: int = 0
    fail_samples: int = 0
    points: dict[str, list[float]] = field(
        default_factory=lambda: {"t": [1.0, 2.0], "requests_per_s": [3.0, 4.5]}
    )

    def metrics_text(self) -> str:
        return self.text

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "uptime_s": 12.5,
            "workers": 2,
            "listeners": ["forward"],
            "backends": {"example.com": {"http://10.0.0.1:80": "up"}},
        }

    def series(self) -> dict[str, list[float]]:
        return self.points

    def sample(self) -> None:
        self.samples += 1
        if self.fail_samples:
            self.fail_samples -= 1
            raise RuntimeError("sampling broke")


@dataclass(frozen=True)
class Response:
    """One parsed HTTP response."""

    code: int
    headers: dict[str, str]
    body: bytes


def request(site: Site, method: str, path: str) -> Response:
    """Send one request to ``site`` on a fresh in-memory connection; return the response."""
    proto = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(f"{method} {path} HTTP/1.1\r\nHost: admin\r\n\r\n".encode())
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    proto.connectionLost(Failure(ConnectionDone()))
    return Response(int(status.split()[1]), headers, body)
