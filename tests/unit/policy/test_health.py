"""Tests of proxyhub.policy.health: the up / down / probation state machine, step by step."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from proxyhub.policy.health import HealthEvent, HealthMonitor, State

UP, DOWN, PROBATION = State.UP, State.DOWN, State.PROBATION

# One step: (call, time, expected event or None, whether "a" is up after it).
# Calls: "cp" check_passed, "cf" check_failed, "ok" connect_succeeded, "ko" connect_failed,
# "expire" (its events; at most one here), "is_up" (no call, only the check).
Expected = tuple[State, State, str, float | None] | None
Step = tuple[str, float, Expected, bool]


def monitor(active: bool) -> HealthMonitor[str]:
    """Backends a and b, rise 2, fall 3, hold-off 10s doubling up to 25s."""
    return HealthMonitor(["a", "b"], rise=2, fall=3, active=active, hold_off=10, max_hold_off=25)


def run(health: HealthMonitor[str], steps: list[Step]) -> None:
    """Play ``steps`` against backend "a", checking each event and is_up."""
    calls: dict[str, Callable[[str, float], HealthEvent[str] | None]] = {
        "cp": health.check_passed,
        "cf": health.check_failed,
        "ok": health.connect_succeeded,
        "ko": health.connect_failed,
    }
    for number, (call, now, expected, up) in enumerate(steps):
        if call == "expire":
            events = health.expire(now)
            event = events[0] if events else None
        elif call == "is_up":
            event = None
        else:
            event = calls[call]("a", now)
        got = None if event is None else (event.old, event.new, event.reason, event.until)
        assert got == expected, f"step {number}: {call} at {now}"
        assert health.is_up("a", now) is up, f"step {number}: is_up at {now}"


PASSIVE = [
    pytest.param([
        ("ko", 1, None, True),
        ("ko", 2, None, True),
        ("ko", 3, (UP, DOWN, "3 failures in a row (last: connect failed)", 13.0), False),
        ("is_up", 12.9, None, False),
        ("is_up", 13, None, True),
        ("expire", 14, (DOWN, PROBATION, "hold-off of 10s over", None), True),
        ("ok", 15, None, True),
        ("ok", 16, (PROBATION, UP, "2 passes on probation in a row", None), True),
    ], id="eject-hold-off-probation-up"),
    pytest.param([
        ("ko", 1, None, True),
        ("cf", 2, None, True),
        ("ok", 3, None, True),
        ("ko", 4, None, True),
        ("cp", 5, None, True),
        ("ko", 6, None, True),
        ("ko", 7, None, True),
        ("is_up", 100, None, True),
    ], id="passes-reset-failures"),
    pytest.param([
        ("ko", 0, None, True),
        ("ko", 0, None, True),
        ("cf", 0, (UP, DOWN, "3 failures in a row (last: check failed)", 10.0), False),
        ("ko", 10, (PROBATION, DOWN, "connect failed on probation", 30.0), False),
        ("is_up", 29, None, False),
        ("ok", 30, (DOWN, PROBATION, "hold-off of 20s over", None), True),
        ("ko", 31, (PROBATION, DOWN, "connect failed on probation", 56.0), False),
        ("expire", 55, None, False),
        ("expire", 56, (DOWN, PROBATION, "hold-off of 25s over", None), True),
        ("ok", 57, None, True),
        ("ko", 58, (PROBATION, DOWN, "connect failed on probation", 83.0), False),
    ], id="failed-probation-doubles-hold-off-up-to-max"),
    pytest.param([
        ("ko", 0, None, True),
        ("ko", 0, None, True),
        ("ko", 0, (UP, DOWN, "3 failures in a row (last: connect failed)", 10.0), False),
        ("ko", 5, None, False),
        ("ok", 5, None, False),
        ("ok", 10, (DOWN, PROBATION, "hold-off of 10s over", None), True),
        ("ok", 11, (PROBATION, UP, "2 passes on probation in a row", None), True),
        ("ko", 12, None, True),
        ("ko", 12, None, True),
        ("ko", 12, (UP, DOWN, "3 failures in a row (last: connect failed)", 22.0), False),
    ], id="down-ignores-connects-and-up-resets-hold-off"),
    pytest.param([
        ("ko", 0, None, True),
        ("ko", 0, None, True),
        ("ko", 0, (UP, DOWN, "3 failures in a row (last: connect failed)", 10.0), False),
        ("cp", 1, None, False),
        ("cp", 2, (DOWN, UP, "2 checks passed in a row", None), True),
    ], id="checks-bring-a-passive-backend-back-early"),
]  # fmt: skip


@pytest.mark.parametrize("steps", PASSIVE)
def test_passive(steps: list[Step]) -> None:
    """Without active checks: fall failures eject, a hold-off re-admits on probation."""
    run(monitor(active=False), steps)


ACTIVE = [
    pytest.param([
        ("cf", 0, None, True),
        ("ko", 1, None, True),
        ("cf", 2, (UP, DOWN, "3 failures in a row (last: check failed)", None), False),
        ("is_up", 1e9, None, False),
        ("expire", 1e9, None, False),
        ("ok", 3, None, False),
        ("cp", 4, None, False),
        ("cf", 5, None, False),
        ("cp", 6, None, False),
        ("cp", 7, (DOWN, UP, "2 checks passed in a row", None), True),
    ], id="only-checks-bring-it-back"),
    pytest.param([
        ("cf", 0, None, True),
        ("cf", 1, None, True),
        ("cp", 2, None, True),
        ("cf", 3, None, True),
        ("cf", 4, None, True),
        ("cp", 5, None, True),
    ], id="passes-reset-failures"),
    pytest.param([
        ("cf", 0, None, True),
        ("ok", 1, None, True),
        ("ok", 1, None, True),
        ("cf", 2, None, True),
        ("ok", 3, None, True),
        ("cf", 4, (UP, DOWN, "3 failures in a row (last: check failed)", None), False),
    ], id="busy-traffic-does-not-hide-failing-checks"),
]  # fmt: skip


@pytest.mark.parametrize("steps", ACTIVE)
def test_active(steps: list[Step]) -> None:
    """With active checks: a down backend stays out until rise checks pass in a row."""
    run(monitor(active=True), steps)


def test_fall_one_reason() -> None:
    """Reasons of one-step changes are singular; str() of an event is its log line."""
    health = HealthMonitor(["a"], rise=1, fall=1, active=True)
    event = health.check_failed("a", 0)
    assert event is not None
    assert event.reason == "1 failure in a row (last: check failed)"
    assert str(event) == "backend a up -> down: 1 failure in a row (last: check failed)"
    assert str(health.check_passed("a", 1)) == "backend a down -> up: 1 check passed in a row"


def test_healthy_set() -> None:
    """healthy() follows ejections, and re-admissions even before expire() is called."""
    health = monitor(active=False)
    assert health.healthy(0) == {"a", "b"}
    assert health.healthy(0) is health.healthy(1)
    for now in (0, 1, 2):
        health.connect_failed("b", now)
    assert health.healthy(3) == {"a"}
    assert health.state("b", 11.9) is DOWN
    assert health.healthy(12) == {"a", "b"}
    assert health.state("b", 12) is PROBATION
    assert [str(event) for event in health.expire(12)] == [
        "backend b down -> probation: hold-off of 10s over"
    ]
    assert health.healthy(13) == {"a", "b"}


def test_unknown_backend() -> None:
    """A backend the monitor was not built with is a KeyError."""
    health = monitor(active=False)
    with pytest.raises(KeyError):
        health.connect_failed("z", 0)
    with pytest.raises(KeyError):
        health.is_up("z", 0)


@pytest.mark.parametrize(
    ("rise", "fall", "hold_off", "max_hold_off"),
    [(0, 3, 10.0, 300.0), (2, 0, 10.0, 300.0), (2, 3, 0.0, 300.0), (2, 3, 10.0, 5.0)],
)
def test_bad_settings(rise: int, fall: int, hold_off: float, max_hold_off: float) -> None:
    """Thresholds below 1 and empty or inverted hold-offs are ValueErrors."""
    with pytest.raises(ValueError):
        HealthMonitor(
            ["a"], rise=rise, fall=fall, active=False, hold_off=hold_off, max_hold_off=max_hold_off
        )
