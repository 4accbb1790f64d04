"""Tests of proxyhub.cache.flight: one leader per key, followers told how it ended."""

from __future__ import annotations

import pytest

from proxyhub.cache.flight import Flights


def test_first_miss_leads_and_followers_wait() -> None:
    """The first join leads; later joins queue until the leader lands."""
    flights = Flights()
    calls: list[tuple[str, bool]] = []
    assert flights.join("k", lambda ok: calls.append(("leader", ok)))
    assert not flights.join("k", lambda ok: calls.append(("a", ok)))
    assert not flights.join("k", lambda ok: calls.append(("b", ok)))
    assert "k" in flights and flights.followers("k") == 2
    assert flights.land("k", True) == 2
    assert calls == [("a", True), ("b", True)]
    assert "k" not in flights and len(flights) == 0


def test_unstored_flight_sends_followers_to_origin() -> None:
    """Followers learn the leader stored nothing and fetch themselves."""
    flights = Flights()
    seen: list[bool] = []
    flights.join("k", seen.append)
    flights.join("k", seen.append)
    flights.land("k", False)
    assert seen == [False]


def test_keys_are_independent() -> None:
    """Each key has its own leader."""
    flights = Flights()
    assert flights.join("a", print) and flights.join("b", print)
    assert len(flights) == 2


def test_leave_withdraws_a_follower() -> None:
    """A follower that gave up is not called."""
    flights = Flights()
    seen: list[bool] = []
    flights.join("k", print)
    flights.join("k", seen.append)
    assert flights.leave("k", seen.append)
    assert not flights.leave("k", seen.append) and not flights.leave("other", seen.append)
    assert flights.land("k", True) == 0 and seen == []


def test_a_raising_follower_does_not_starve_the_rest() -> None:
    """Every follower is called; the first error is raised afterwards."""
    flights = Flights()
    seen: list[bool] = []

    def broken(ok: bool) -> None:
        raise RuntimeError("boom")

    flights.join("k", seen.append)
    flights.join("k", broken)
    flights.join("k", seen.append)
    with pytest.raises(RuntimeError, match="boom"):
        flights.land("k", True)
    assert seen == [True] and "k" not in flights


def test_landing_an_unknown_key_is_harmless() -> None:
    """Landing a key nobody flies calls nobody."""
    assert Flights().land("nothing", True) == 0
