"""Active health checks on an in-memory reactor: statuses, timeouts, thresholds."""

from __future__ import annotations

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from proxyhub.net.backends import BackendSet
from proxyhub.net.health_checks import HealthChecker

from .harness import accept_origin, make_route


def checker_for(reactor: MemoryReactorClock, **route: object) -> tuple[HealthChecker, BackendSet]:
    backends = BackendSet(
        make_route("a.test", [8001, 8002], health_check="/healthz", health_fall=2, **route),
        reactor,
    )
    return HealthChecker(reactor, backends), backends


def answer_all(reactor: MemoryReactorClock, first: int, statuses: list[bytes]) -> None:
    """Complete the pending check connections from ``first`` on with these status lines."""
    for i, status in enumerate(statuses):
        proto, transport = accept_origin(reactor, first + i)
        assert transport.value().startswith(b"GET /healthz HTTP/1.1\r\n")
        proto.dataReceived(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")


def test_failing_checks_take_a_backend_out_after_fall() -> None:
    """Two failed checks in a row (health_fall = 2) take the backend out of rotation."""
    reactor = MemoryReactorClock()
    checker, backends = checker_for(reactor)
    checker.start()
    answer_all(reactor, 0, [b"200 OK", b"500 Oops"])
    bad = backends.route.backends[1]
    assert bad in backends.health.healthy(reactor.seconds())
    reactor.advance(10)
    answer_all(reactor, 2, [b"204 No Content", b"503 Busy"])
    assert bad not in backends.health.healthy(reactor.seconds())
    assert backends.pick("192.0.2.1", set()) == backends.route.backends[0]


def test_refused_and_silent_backends_fail_their_checks() -> None:
    """A refused connect and a backend silent past health_timeout both count as failures."""
    reactor = MemoryReactorClock()
    checker, backends = checker_for(reactor, health_timeout=2.0)
    for _ in range(2):
        checker.run()
        count = len(reactor.tcpClients)
        reactor.tcpClients[count - 2][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError())
        )
        accept_origin(reactor, count - 1)  # connects, then says nothing
        reactor.advance(2.1)
    assert backends.health.healthy(reactor.seconds()) == frozenset()
