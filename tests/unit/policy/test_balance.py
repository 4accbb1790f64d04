"""Tests of proxyhub.policy.balance: each balancer's choices, and ip_hash's stability."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.config.model import Backend
from proxyhub.policy.balance import (
    Balancer,
    IpHash,
    LeastConn,
    RandomChoice,
    RoundRobin,
    make_balancer,
)

ABC = ("a", "b", "c")
ALL = frozenset(ABC)


def picks(balancer: Balancer[str], healthy_sets: list[frozenset[str]]) -> list[str | None]:
    """The balancer's pick for each healthy set in turn, for one client."""
    return [balancer.pick("192.0.2.1", healthy) for healthy in healthy_sets]


@pytest.mark.parametrize(
    ("healthy_sets", "expected"),
    [
        ([ALL] * 5, ["a", "b", "c", "a", "b"]),
        ([frozenset("ac")] * 4, ["a", "c", "a", "c"]),
        ([ALL, frozenset("ac"), ALL], ["a", "c", "a"]),
        ([frozenset("b"), ALL, ALL], ["b", "c", "a"]),
        ([frozenset(), ALL], [None, "a"]),
        ([frozenset({"x", "y"}), frozenset({"x", "c"})], [None, "c"]),
    ],
)
def test_round_robin(healthy_sets: list[frozenset[str]], expected: list[str | None]) -> None:
    """Healthy backends in configured order, skipping the unhealthy and the unknown."""
    assert picks(RoundRobin(ABC), healthy_sets) == expected


def test_least_conn_prefers_idle_backends() -> None:
    """The backend with the fewest requests in flight wins; finished requests count down."""
    balancer = LeastConn(ABC)
    for backend in ("a", "a", "b"):
        balancer.start(backend)
    assert balancer.pick("c1", ALL) == "c"
    balancer.start("c")
    balancer.start("c")
    assert balancer.pick("c1", ALL) == "b"
    assert balancer.pick("c1", frozenset("ac")) == "c"  # a tie: the turn is after b
    balancer.finish("a")
    balancer.finish("a")
    assert [balancer.active(b) for b in ABC] == [0, 1, 2]
    assert balancer.pick("c1", ALL) == "a"


def test_least_conn_ties_rotate() -> None:
    """Among equally busy backends the turn rotates, like round robin."""
    assert picks(LeastConn(ABC), [ALL] * 4) == ["a", "b", "c", "a"]


def test_least_conn_counts() -> None:
    """finish never counts below zero; an unknown backend is a KeyError."""
    balancer = LeastConn(ABC)
    balancer.finish("a")
    assert balancer.active("a") == 0
    with pytest.raises(KeyError):
        balancer.start("z")
    assert balancer.pick("c1", frozenset()) is None


def test_random_is_reproducible_and_healthy_only() -> None:
    """With a seeded generator the draws repeat, and only healthy backends are drawn."""
    first = picks(RandomChoice(ABC, random.Random(7)), [frozenset("ab")] * 50)
    second = picks(RandomChoice(ABC, random.Random(7)), [frozenset("ab")] * 50)
    assert first == second
    assert set(first) == {"a", "b"}
    assert RandomChoice(ABC, random.Random(7)).pick("c1", frozenset()) is None


def test_random_default_generator() -> None:
    """Without an injected generator a private one is used."""
    assert RandomChoice(ABC).pick("c1", ALL) in ALL


BACKENDS = tuple(Backend("http", f"10.0.0.{n}", 8080) for n in (1, 2, 3))


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("192.0.2.1", "http://10.0.0.3:8080"),
        ("192.0.2.2", "http://10.0.0.3:8080"),
        ("2001:db8::7", "http://10.0.0.1:8080"),
    ],
)
def test_ip_hash_is_pinned(client: str, expected: str) -> None:
    """The choice depends only on address and backend URL: every process and restart agrees."""
    assert str(IpHash(BACKENDS).pick(client, frozenset(BACKENDS))) == expected


def test_ip_hash_sticks_and_spreads() -> None:
    """A client always gets the same backend, and many clients reach every backend."""
    balancer = IpHash(BACKENDS)
    healthy = frozenset(BACKENDS)
    clients = [f"198.51.100.{n}" for n in range(300)]
    first = [balancer.pick(client, healthy) for client in clients]
    assert [balancer.pick(client, healthy) for client in clients] == first
    counts = Counter(first)
    assert set(counts) == set(BACKENDS)
    assert min(counts.values()) > 50


def test_ip_hash_cache_is_bounded() -> None:
    """The ranking cache stays within its size and answers stay the same."""
    balancer = IpHash(ABC, cache_size=2)
    expected = {client: IpHash(ABC).pick(client, ALL) for client in ("x", "y", "z")}
    for client, backend in [*expected.items(), *expected.items()]:
        assert balancer.pick(client, ALL) == backend
    assert len(balancer._rankings) <= 2


def test_ip_hash_keys_must_differ() -> None:
    """Two backends with one key cannot be told apart by the hash."""
    with pytest.raises(ValueError, match="same key"):
        IpHash(["a", "b"], key=lambda backend: "same")


@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=8, unique=True),
    st.lists(st.ip_addresses().map(str), min_size=1, max_size=30),
    st.data(),
)
def test_ip_hash_removal_moves_only_its_clients(
    backends: list[str], clients: list[str], data: st.DataObject
) -> None:
    """Removing one backend from the healthy set moves only the clients that were on it."""
    balancer = IpHash(backends)
    healthy = frozenset(data.draw(st.sets(st.sampled_from(backends), min_size=1)))
    gone = data.draw(st.sampled_from(sorted(healthy)))
    for client in clients:
        before = balancer.pick(client, healthy)
        after = balancer.pick(client, healthy - {gone})
        if before != gone:
            assert after == before
        else:
            assert after != gone
        assert balancer.pick(client, healthy) == before


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("round_robin", RoundRobin),
        ("least_conn", LeastConn),
        ("random", RandomChoice),
        ("ip_hash", IpHash),
    ],
)
def test_make_balancer(kind: str, cls: type[Balancer[str]]) -> None:
    """Each balance value of the configuration names one balancer."""
    balancer = make_balancer(kind, ABC, rng=random.Random(1))
    assert type(balancer) is cls
    assert balancer.backends == ABC
    balancer.start("a")
    balancer.finish("a")
    assert balancer.pick("c1", ALL) in ALL


@pytest.mark.parametrize(
    ("kind", "backends", "message"),
    [
        ("fastest", ABC, "unknown balance 'fastest'; expected one of round_robin, least_conn, "
         "random, ip_hash"),
        ("round_robin", (), "a balancer needs at least one backend"),
        ("ip_hash", ("a", "a"), "a backend is listed twice"),
    ],
)  # fmt: skip
def test_balancer_refused(kind: str, backends: tuple[str, ...], message: str) -> None:
    """Unknown kinds, empty and duplicated backend lists are ValueErrors."""
    with pytest.raises(ValueError) as info:
        make_balancer(kind, backends)
    assert str(info.value) == message
