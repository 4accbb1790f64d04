"""ReadGate, the deadline sweeper and the resolver cache, each alone."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from proxyhub.config import parse_config_text
from proxyhub.net.deadlines import DeadlineSweeper, sweep_tick
from proxyhub.net.flow import PEER_FULL, ReadGate
from proxyhub.net.resolver import ResolutionError, Resolver
from proxyhub.service import swept_timeouts


def test_gate_resumes_only_when_every_reason_is_lifted() -> None:
    """Two reasons to pause: lifting one keeps reading paused."""
    transport = StringTransport()
    gate = ReadGate(transport)
    gate.pause("in-flight")
    gate.pauseProducing()
    gate.resume("in-flight")
    assert transport.producerState == "paused"
    gate.resumeProducing()
    assert transport.producerState == "producing"
    assert not gate.paused


def test_gate_ignores_lifting_a_reason_it_does_not_hold() -> None:
    """resume() for a reason never given does not restart reading."""
    transport = StringTransport()
    gate = ReadGate(transport)
    gate.pause(PEER_FULL)
    gate.resume("something-else")
    assert transport.producerState == "paused"


class Item:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = 0

    def deadline_passed(self) -> None:
        self.fired += 1


def test_sweeper_fires_expired_deadlines_once() -> None:
    """An item fires once when its deadline passes; a zero deadline never fires."""
    clock = Clock()
    sweeper = DeadlineSweeper(clock, 0.5)
    sweeper.start()
    due, never = Item(2.0), Item(0.0)
    sweeper.watch(due)
    sweeper.watch(never)
    clock.advance(1.5)
    assert due.fired == 0
    clock.advance(1.0)
    clock.advance(1.0)
    assert (due.fired, never.fired) == (1, 0)


def test_a_shorter_tick_applies_from_the_next_sweep() -> None:
    """set_tick(0.1) on a 1 s sweeper: a deadline 0.2 s away fires at 0.2 s, not at 1 s."""
    clock = Clock()
    sweeper = DeadlineSweeper(clock, 1.0)
    sweeper.start()
    item = Item(0.2)
    sweeper.watch(item)
    sweeper.set_tick(0.1)
    clock.advance(0.1)
    assert item.fired == 0
    clock.advance(0.1)
    assert item.fired == 1


def test_swept_timeouts_include_the_handshake_ones() -> None:
    """A 200 ms tls_handshake_timeout makes the sweeper tick every 50 ms."""
    settings = parse_config_text(
        "[proxyhub]\ntls_handshake_timeout = 200ms\n[forward]\nlisten = tcp:3128\n"
    ).proxyhub
    assert sweep_tick(swept_timeouts(settings)) == 0.05


def test_sweep_tick_follows_the_shortest_timeout() -> None:
    """The tick is a quarter of the shortest timeout, within 50 ms to 1 s."""
    assert sweep_tick([2.0, 60.0]) == 0.5
    assert sweep_tick([0.1]) == 0.05
    assert sweep_tick([300.0]) == 1.0


class FakeNames:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.queries: list[str] = []
        self.pending: list[tuple[Any, str]] = []

    def resolveHostName(self, receiver: Any, host: str, port: int = 0) -> None:
        self.queries.append(host)
        self.pending.append((receiver, host))

    def finish(self) -> None:
        for receiver, host in self.pending:
            for address in self.answers.get(host, []):
                receiver.addressResolved(IPv4Address("TCP", address, 0))
            receiver.resolutionComplete()
        self.pending = []


class FakeReactor(Clock):
    def __init__(self, names: FakeNames) -> None:
        super().__init__()
        self.nameResolver = names


def test_resolver_shares_queries_and_caches() -> None:
    """Concurrent lookups share one query; a later lookup within the TTL asks nobody."""
    names = FakeNames({"a.test": ["192.0.2.1"]})
    reactor = FakeReactor(names)
    resolver = Resolver(reactor, ttl=30)
    results: list[list[str]] = []
    resolver.resolve("a.test").addCallback(results.append)
    resolver.resolve("a.test").addCallback(results.append)
    names.finish()
    assert results == [["192.0.2.1"], ["192.0.2.1"]]
    assert resolver.cached("a.test") == ["192.0.2.1"]
    reactor.advance(31)
    assert resolver.cached("a.test") is None
    assert names.queries == ["a.test"]


def test_resolver_reports_names_that_do_not_resolve() -> None:
    """A name with no addresses fails with ResolutionError."""
    names = FakeNames({})
    resolver = Resolver(FakeReactor(names))
    failures: list[Any] = []
    resolver.resolve("nowhere.test").addErrback(failures.append)
    names.finish()
    assert failures[0].check(ResolutionError)


def test_ip_literals_need_no_query() -> None:
    """An IP literal in any spelling resolves at once to its dotted form."""
    names = FakeNames({})
    resolver = Resolver(FakeReactor(names))
    assert resolver.cached("0x7f000001") == ["127.0.0.1"]
    assert names.queries == []
