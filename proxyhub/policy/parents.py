"""Which parent proxy a forward request goes through, if any.

``parent`` lists parents in order of preference: the first one that is not
resting after a failed connect wins.  A parent whose connect failed rests
for ``RETRY_AFTER`` seconds, doubled on each further failure up to
``MAX_REST``; a success ends the rest.  When every parent is resting the
least recently failed is tried anyway, so a recovered parent is found
without waiting.  Hosts matching ``parent_bypass`` are reached directly.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from proxyhub.config.model import ParentProxy
from proxyhub.policy.domains import HostPatterns, normalize_host

RETRY_AFTER = 5.0
MAX_REST = 300.0


@dataclass
class _ParentState:
    """What is known about one parent: when it may be tried again."""

    parent: ParentProxy
    rest_until: float = 0.0
    rest: float = 0.0
    failed_at: float = 0.0


class ParentSelector:
    """Chooses a parent per request, and learns from connect failures."""

    def __init__(
        self, parents: Iterable[ParentProxy], bypass: Iterable[str], clock: Callable[[], float]
    ) -> None:
        self._states = [_ParentState(parent) for parent in parents]
        self._bypass = HostPatterns(bypass)
        self._clock = clock

    def __bool__(self) -> bool:
        """Whether any parent is configured."""
        return bool(self._states)

    def goes_direct(self, host: str) -> bool:
        """Whether requests for ``host`` skip the parents."""
        return not self._states or self._bypass.match(normalize_host(host)) is not None

    def candidates(self) -> list[ParentProxy]:
        """Every parent, in the order to try them now: awake ones first, in config order."""
        now = self._clock()
        awake = [s for s in self._states if s.rest_until <= now]
        resting = sorted((s for s in self._states if s.rest_until > now), key=_failed_at)
        return [s.parent for s in awake + resting]

    def failed(self, parent: ParentProxy) -> None:
        """A connect to ``parent`` failed: rest it, longer each time in a row."""
        state = self._state(parent)
        if state is None:
            return
        now = self._clock()
        state.rest = min(MAX_REST, state.rest * 2 if state.rest else RETRY_AFTER)
        state.rest_until = now + state.rest
        state.failed_at = now

    def succeeded(self, parent: ParentProxy) -> None:
        """A connect to ``parent`` worked: it is awake again."""
        state = self._state(parent)
        if state is not None:
            state.rest = state.rest_until = 0.0

    def _state(self, parent: ParentProxy) -> _ParentState | None:
        for state in self._states:
            if state.parent == parent:
                return state
        return None


def _failed_at(state: _ParentState) -> float:
    return state.failed_at


def parent_label(parent: ParentProxy) -> str:
    """``host:port`` of a parent, for logs and messages (never its credentials)."""
    host = f"[{parent.host}]" if ":" in parent.host else parent.host
    return f"{host}:{parent.port}"


def basic_credentials(parent: ParentProxy) -> bytes | None:
    """The ``Proxy-Authorization`` value for a parent that has a user, else None."""
    if parent.username is None:
        return None
    pair = f"{parent.username}:{parent.password or ''}".encode()
    return b"Basic " + b64encode(pair)
