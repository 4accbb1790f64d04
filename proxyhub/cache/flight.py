"""Collapsed forwarding: concurrent misses for one key wait for a single origin fetch.

The first request to miss becomes the leader and fetches; later ones join as
followers, each with a callback.  When the leader is done it calls ``land``:
``stored=True`` tells followers to look the key up in the store again (a
follower whose Vary-selected fields differ may still miss, and then fetches
itself), ``stored=False`` (aborted, unstorable) sends each to the origin.
Timers (a follower tired of waiting calls ``leave``) belong to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

Waiter = Callable[[bool], object]


class Flights:
    """Fetches in flight by key, with the followers waiting on each."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[Hashable, list[Waiter]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._waiting

    def __len__(self) -> int:
        return len(self._waiting)

    def join(self, key: Hashable, waiter: Waiter) -> bool:
        """Return True when the caller leads (``waiter`` is not kept); else queue ``waiter``."""
        followers = self._waiting.get(key)
        if followers is None:
            self._waiting[key] = []
            return True
        followers.append(waiter)
        return False

    def followers(self, key: Hashable) -> int:
        """How many followers wait on ``key``."""
        return len(self._waiting.get(key, ()))

    def leave(self, key: Hashable, waiter: Waiter) -> bool:
        """Withdraw a follower (its client went away); True if it was waiting."""
        followers = self._waiting.get(key)
        if followers is None or waiter not in followers:
            return False
        followers.remove(waiter)
        return True

    def land(self, key: Hashable, stored: bool) -> int:
        """End the flight: call every follower with ``stored``; return how many were called.

        Every follower is called even if one raises; the first error is raised after.
        """
        followers = self._waiting.pop(key, [])
        error: Exception | None = None
        for waiter in followers:
            try:
                waiter(stored)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error
        return len(followers)
