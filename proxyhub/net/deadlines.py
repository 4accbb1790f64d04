"""Coarse timeouts for many connections, checked by one periodic sweep.

Setting a deadline is a float store, so the hot path pays nothing for
timeouts; a single repeating call (``tick`` seconds) fires the expired ones.
This is how a server with ten thousand keep-alive connections avoids ten
thousand ``callLater`` objects being re-armed on every request.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.task import LoopingCall


class HasDeadline(Protocol):
    """Anything with a ``deadline`` (reactor seconds, 0 = none) and a callback."""

    deadline: float

    def deadline_passed(self) -> None: ...


class DeadlineSweeper:
    """Calls ``deadline_passed()`` on watched objects whose deadline is over."""

    def __init__(self, clock: Any, tick: float) -> None:
        self.clock = clock
        self.tick = tick
        self._watched: set[HasDeadline] = set()
        self._loop = LoopingCall(self._sweep)
        self._loop.clock = clock

    def start(self) -> None:
        """Begin sweeping (idempotent)."""
        if not self._loop.running:
            self._loop.start(self.tick, now=False)

    def stop(self) -> None:
        """Stop sweeping."""
        if self._loop.running:
            self._loop.stop()

    def set_tick(self, tick: float) -> None:
        """Sweep every ``tick`` seconds from now on (a reload may shorten a timeout)."""
        if tick == self.tick:
            return
        self.tick = tick
        if self._loop.running:
            self._loop.stop()
            self._loop.start(tick, now=False)

    def watch(self, item: HasDeadline) -> None:
        """Check ``item`` on every sweep until :meth:`forget`."""
        self._watched.add(item)

    def forget(self, item: HasDeadline) -> None:
        """Stop checking ``item``."""
        self._watched.discard(item)

    def _sweep(self) -> None:
        now = self.clock.seconds()
        expired = [i for i in self._watched if 0 < i.deadline <= now]
        for item in expired:
            item.deadline = 0.0
            item.deadline_passed()


def sweep_tick(timeouts: list[float]) -> float:
    """A tick fine enough for the shortest timeout: a quarter of it, 50 ms to 1 s."""
    return max(0.05, min(1.0, min(timeouts) / 4))
