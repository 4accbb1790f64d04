"""Backend health: one small state machine per backend, fed with outcomes, told the time.

Inputs are active check results (:meth:`HealthMonitor.check_passed` / ``check_failed``) and
passive connect outcomes (``connect_succeeded`` / ``connect_failed``). There is no clock in
here: every call takes ``now``, seconds on any monotonic scale. Every backend starts ``up``.

A monitor is *active* when the route has a ``health_check``: a backend it took down comes
back only by passing checks. A *passive* monitor (no checks) ejects a failing backend for a
hold-off and then re-admits it on probation; each failed probation doubles the hold-off, up
to ``max_hold_off``, and reaching ``up`` resets it.

=========  ===========  ==================================  ===================================
state      in rotation  a pass (check or connect)           a failure (check or connect)
=========  ===========  ==================================  ===================================
up         yes          resets the failure count            counts; ``fall`` in a row -> down
down       no           a *check* pass counts; ``rise`` in  resets the pass count
                        a row -> up (connect passes are
                        stale, and ignored)
probation  yes          counts; ``rise`` in a row -> up     -> down, hold-off doubled
=========  ===========  ==================================  ===================================

An *active* monitor ignores connect passes altogether: its checks alone speak for a
backend's health, and a connect failure still counts toward ``fall``.

The one timed move: a passive monitor's ``down`` backend whose hold-off is over is on
``probation``. That holds at once for :meth:`~HealthMonitor.is_up`, ``state`` and
``healthy``; the stored state follows at the next report about the backend or at
:meth:`~HealthMonitor.expire`, which a timer should call so that re-admissions are logged
on time. Each call that changes a state returns a :class:`HealthEvent` for the log (the
last change it made), else None.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

B = TypeVar("B", bound=Hashable)


class State(Enum):
    """Where a backend stands."""

    UP = "up"
    DOWN = "down"
    PROBATION = "probation"

    def __str__(self) -> str:
        return self.value


_IN_ROTATION = frozenset({State.UP, State.PROBATION})


@dataclass(frozen=True)
class HealthEvent(Generic[B]):
    """A change of state, for the log; ``until`` is the end of a hold-off (passive only)."""

    backend: B
    old: State
    new: State
    reason: str
    until: float | None = None

    def __str__(self) -> str:
        return f"backend {self.backend} {self.old} -> {self.new}: {self.reason}"


@dataclass
class _Track:
    """The mutable state of one backend."""

    state: State
    passes: int = 0
    failures: int = 0
    hold_off: float = 0.0
    until: float = math.inf


def _times(count: int, one: str, many: str) -> str:
    """``"1 failure"``, ``"3 failures"``."""
    return f"{count} {one if count == 1 else many}"


class HealthMonitor(Generic[B]):
    """The health of a route's backends; see the module docstring for the rules."""

    def __init__(
        self,
        backends: Iterable[B],
        *,
        rise: int,
        fall: int,
        active: bool,
        hold_off: float = 10.0,
        max_hold_off: float = 300.0,
    ) -> None:
        if rise < 1 or fall < 1 or hold_off <= 0 or max_hold_off < hold_off:
            raise ValueError("rise and fall must be >= 1, 0 < hold_off <= max_hold_off")
        self.rise, self.fall, self.active = rise, fall, active
        self.hold_off, self.max_hold_off = hold_off, max_hold_off
        self._tracks = {backend: _Track(State.UP, hold_off=hold_off) for backend in backends}
        self._snapshot: frozenset[B] | None = None
        self._due = math.inf  # the earliest end of a passive hold-off

    def state(self, backend: B, now: float) -> State:
        """The state of ``backend`` at ``now`` (an unknown backend is a ``KeyError``)."""
        track = self._tracks[backend]
        if self._over(track, now):
            return State.PROBATION
        return track.state

    def is_up(self, backend: B, now: float) -> bool:
        """Whether ``backend`` is in rotation at ``now``."""
        return self.state(backend, now) in _IN_ROTATION

    def healthy(self, now: float) -> frozenset[B]:
        """The backends in rotation at ``now``; cached until a state or a hold-off changes."""
        if now >= self._due:
            return frozenset(b for b in self._tracks if self.is_up(b, now))
        if self._snapshot is None:
            self._snapshot = frozenset(
                b for b, track in self._tracks.items() if track.state in _IN_ROTATION
            )
        return self._snapshot

    def check_passed(self, backend: B, now: float) -> HealthEvent[B] | None:
        """An active check of ``backend`` passed."""
        return self._report(backend, now, passed=True, check=True, what="check passed")

    def check_failed(self, backend: B, now: float) -> HealthEvent[B] | None:
        """An active check of ``backend`` failed (error status, timeout, refused...)."""
        return self._report(backend, now, passed=False, check=True, what="check failed")

    def connect_succeeded(self, backend: B, now: float) -> HealthEvent[B] | None:
        """A connection to ``backend`` for a request was established."""
        track = self._tracks[backend]
        if self.active or (track.state is State.UP and not track.failures):
            # Under checks, only a check pass counts: a backend that accepts connections
            # but fails its checks must still reach ``fall``, however busy it is.
            return None
        return self._report(backend, now, passed=True, check=False, what="connect succeeded")

    def connect_failed(self, backend: B, now: float) -> HealthEvent[B] | None:
        """A connection to ``backend`` for a request failed or timed out."""
        return self._report(backend, now, passed=False, check=False, what="connect failed")

    def expire(self, now: float) -> list[HealthEvent[B]]:
        """Put every backend whose hold-off is over on probation; the events, for the log."""
        if now < self._due:
            return []
        events = [self._readmit(b, t, now) for b, t in self._tracks.items() if self._over(t, now)]
        return [event for event in events if event is not None]

    def _over(self, track: _Track, now: float) -> bool:
        """Whether ``track`` is down on a passive hold-off that is over at ``now``."""
        return track.state is State.DOWN and now >= track.until

    def _report(
        self, backend: B, now: float, *, passed: bool, check: bool, what: str
    ) -> HealthEvent[B] | None:
        """Apply one outcome, after the timed move it may be due."""
        track = self._tracks[backend]
        event = self._readmit(backend, track, now) if self._over(track, now) else None
        if passed:
            change = self._on_pass(backend, track, check)
        else:
            change = self._on_failure(backend, track, now, what)
        return change or event

    def _on_pass(self, backend: B, track: _Track, check: bool) -> HealthEvent[B] | None:
        """A pass: resets failures; counts toward ``rise`` when down (checks) or on probation."""
        track.failures = 0
        if track.state is State.UP or (track.state is State.DOWN and not check):
            return None
        track.passes += 1
        if track.passes < self.rise:
            return None
        if track.state is State.DOWN:
            reason = f"{_times(track.passes, 'check', 'checks')} passed in a row"
        else:
            reason = f"{_times(track.passes, 'pass', 'passes')} on probation in a row"
        track.hold_off = self.hold_off
        return self._move(backend, track, State.UP, reason)

    def _on_failure(
        self, backend: B, track: _Track, now: float, what: str
    ) -> HealthEvent[B] | None:
        """A failure: resets passes; ``fall`` in a row when up, or one on probation: down."""
        track.passes = 0
        if track.state is State.DOWN:
            return None
        if track.state is State.PROBATION:
            track.hold_off = min(track.hold_off * 2, self.max_hold_off)
            return self._eject(backend, track, now, f"{what} on probation")
        track.failures += 1
        if track.failures < self.fall:
            return None
        reason = f"{_times(track.failures, 'failure', 'failures')} in a row (last: {what})"
        track.hold_off = self.hold_off
        return self._eject(backend, track, now, reason)

    def _eject(self, backend: B, track: _Track, now: float, reason: str) -> HealthEvent[B]:
        """Take ``backend`` down; a passive monitor holds it off for ``track.hold_off``."""
        track.failures = 0
        track.until = math.inf if self.active else now + track.hold_off
        return self._move(backend, track, State.DOWN, reason)

    def _readmit(self, backend: B, track: _Track, now: float) -> HealthEvent[B] | None:
        """The timed move: a backend whose hold-off is over goes on probation."""
        if not self._over(track, now):
            return None
        reason = f"hold-off of {track.hold_off:g}s over"
        return self._move(backend, track, State.PROBATION, reason)

    def _move(self, backend: B, track: _Track, new: State, reason: str) -> HealthEvent[B]:
        """Store a new state and refresh the caches; the event describing it."""
        old, track.state, track.passes = track.state, new, 0
        if new is not State.DOWN:
            track.until = math.inf
        self._snapshot = None
        self._due = min((t.until for t in self._tracks.values()), default=math.inf)
        until = track.until if new is State.DOWN and not math.isinf(track.until) else None
        return HealthEvent(backend, old, new, reason, until)
