"""The connection cap and graceful drain, on a clock moved by hand."""

from __future__ import annotations

from twisted.internet.task import Clock

from proxyhub.net.registry import ConnectionRegistry


class FakePort:
    def __init__(self) -> None:
        self.reading = True

    def stopReading(self) -> None:
        self.reading = False

    def startReading(self) -> None:
        self.reading = True


class FakeConn:
    def __init__(self, registry: ConnectionRegistry, idle: bool) -> None:
        self.registry = registry
        self.idle = idle
        self.aborted = False

    def drain(self) -> None:
        if self.idle:
            self.registry.closed(self)

    def abort(self) -> None:
        self.aborted = True
        self.registry.closed(self)


def test_accepting_pauses_at_the_cap_and_resumes_below_it() -> None:
    """At max_connections the ports stop accepting; one close starts them again."""
    registry = ConnectionRegistry(Clock(), max_connections=2)
    port = FakePort()
    registry.ports.append(port)
    a, b = FakeConn(registry, True), FakeConn(registry, True)
    registry.opened(a)
    assert port.reading
    registry.opened(b)
    assert not port.reading
    registry.closed(a)
    assert port.reading


def test_drain_closes_idle_at_once_and_waits_for_busy() -> None:
    """Idle connections go at once; the drain fires when the busy one finishes."""
    clock = Clock()
    registry = ConnectionRegistry(clock, max_connections=10)
    idle, busy = FakeConn(registry, True), FakeConn(registry, False)
    registry.opened(idle)
    registry.opened(busy)
    fired: list[None] = []
    registry.drain(30).addCallback(fired.append)
    assert registry.live == {busy} and not fired
    clock.advance(5)
    registry.closed(busy)
    assert fired == [None]
    assert not busy.aborted


def test_drain_aborts_what_is_left_at_the_deadline() -> None:
    """A connection still busy at drain_timeout is aborted and the drain completes."""
    clock = Clock()
    registry = ConnectionRegistry(clock, max_connections=10)
    busy = FakeConn(registry, False)
    registry.opened(busy)
    fired: list[None] = []
    registry.drain(30).addCallback(fired.append)
    clock.advance(29)
    assert not fired
    clock.advance(1)
    assert busy.aborted and fired == [None]
