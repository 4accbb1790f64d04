"""Parent selection: order, bypass, resting after failures, credentials."""

from __future__ import annotations

from proxyhub.config.model import ParentProxy
from proxyhub.policy.parents import (
    MAX_REST,
    RETRY_AFTER,
    ParentSelector,
    basic_credentials,
    parent_label,
)

A = ParentProxy("a.example", 3128)
B = ParentProxy("b.example", 8080, "user", "p:w")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def selector(clock: FakeClock, bypass: tuple[str, ...] = ()) -> ParentSelector:
    return ParentSelector([A, B], bypass, clock)


def test_config_order_when_all_are_awake() -> None:
    """The first configured parent is tried first."""
    assert selector(FakeClock()).candidates() == [A, B]


def test_a_failed_parent_rests_then_returns() -> None:
    """After a failed connect a parent goes last until RETRY_AFTER has passed."""
    clock = FakeClock()
    s = selector(clock)
    s.failed(A)
    assert s.candidates() == [B, A]
    clock.now += RETRY_AFTER
    assert s.candidates() == [A, B]


def test_rest_doubles_and_is_capped() -> None:
    """Failures in a row rest a parent longer each time, never beyond MAX_REST."""
    clock = FakeClock()
    s = selector(clock)
    for _ in range(20):
        s.failed(A)
    clock.now += MAX_REST - 1
    assert s.candidates()[0] == B
    clock.now += 1
    assert s.candidates()[0] == A


def test_success_ends_the_rest() -> None:
    """A successful connect puts a resting parent back in front."""
    s = selector(FakeClock())
    s.failed(A)
    s.succeeded(A)
    assert s.candidates() == [A, B]


def test_all_resting_least_recently_failed_first() -> None:
    """With every parent resting, the one that failed longest ago is tried first."""
    clock = FakeClock()
    s = selector(clock)
    s.failed(B)
    clock.now += 1
    s.failed(A)
    assert s.candidates() == [B, A]


def test_bypass_patterns_go_direct() -> None:
    """parent_bypass uses the domain pattern language, case and trailing dot ignored."""
    s = selector(FakeClock(), ("*.corp.example", "intranet"))
    assert s.goes_direct("Wiki.Corp.Example.")
    assert s.goes_direct("intranet")
    assert not s.goes_direct("corp.example")
    assert not s.goes_direct("example.com")


def test_no_parents_means_direct() -> None:
    """Without parents everything is direct and the selector is false."""
    s = ParentSelector([], [], FakeClock())
    assert not s
    assert s.goes_direct("example.com")


def test_credentials_and_label() -> None:
    """Basic credentials come from the URL's user:pass; labels never show them."""
    assert basic_credentials(A) is None
    assert basic_credentials(B) == b"Basic dXNlcjpwOnc="
    assert parent_label(B) == "b.example:8080"
    assert parent_label(ParentProxy("::1", 3128)) == "[::1]:3128"
