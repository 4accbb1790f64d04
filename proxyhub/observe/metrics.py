"""Metrics: in-process counters, gauges and a histogram, merged and rendered for Prometheus.

Each process owns one ``Metrics``; the protocols call its event methods
(``request_done``, ``connection_opened`` ...) on the reactor thread, so a request
costs a few dict updates and no locks.  ``Metrics.snapshot`` returns plain JSON
data, so worker processes can ship theirs to the process serving the admin site,
where ``render_prometheus`` merges them (counters, histograms and gauges summed)
into the text exposition format 0.0.4.

Every series is declared once in ``SERIES``: adding one is one line there plus
``Metrics.inc`` calls where it happens.  Label cardinality stays bounded:
listeners come from the config, status codes are classes (``2xx`` ... ``5xx``,
else ``other``), and each process keeps at most ``MAX_HOSTS`` distinct ``host``
values and ``MAX_UPSTREAMS`` distinct ``upstream`` values; later new values are
counted under ``"other"`` (so a merged page has at most that many per worker).

``Recorder`` keeps the last few minutes of per-second rates for the dashboard.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MAX_HOSTS = 1000
MAX_UPSTREAMS = 1000
OTHER = "other"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of ``proxyhub_request_duration_seconds``; ``+Inf`` is implied."""

Labels = tuple[str, ...]
Value = float | list[float]
Merged = dict[str, dict[Labels, Value]]
"""Series name -> label values -> value (a histogram's value: bucket counts, then the sum)."""
Snapshot = dict[str, list[list[Any]]]
"""JSON form of one process's metrics: series name -> ``[[label values], value], ...``."""


@dataclass(frozen=True, slots=True)
class Series:
    """One metric family: its name, Prometheus type, label names and help text."""

    name: str
    kind: str  # "counter" | "gauge" | "histogram"
    labels: Labels
    help: str


def _series(name: str, kind: str, labels: str, help_text: str) -> Series:
    """Declare a series; ``labels`` are space-separated names."""
    return Series(f"proxyhub_{name}", kind, tuple(labels.split()), help_text)


SERIES = (
    _series("requests_total", "counter", "listener host code", "Requests answered."),
    _series("received_bytes_total", "counter", "listener", "Bytes received from clients."),
    _series("sent_bytes_total", "counter", "listener", "Bytes sent to clients."),
    _series("active_connections", "gauge", "listener", "Open client connections."),
    _series("active_tunnels", "gauge", "listener", "Open CONNECT and SOCKS tunnels."),
    _series("upstream_connect_failures_total", "counter", "listener upstream", "Failed connects."),
    _series("backend_up", "gauge", "host backend", "1 if the backend is up, else 0."),
    _series("request_duration_seconds", "histogram", "listener", "Request head to response end."),
    _series("cache_hits_total", "counter", "listener", "Requests answered from the cache."),
    _series("cache_misses_total", "counter", "listener", "Cacheable requests sent to the origin."),
    _series("cache_revalidated_total", "counter", "listener", "Stale entries refreshed by a 304."),
    _series("cache_served_bytes_total", "counter", "listener", "Body bytes sent from the cache."),
    _series("cache_evictions_total", "counter", "", "Entries evicted to make room."),
    _series("cache_objects", "gauge", "", "Responses held in the cache."),
    _series("cache_bytes", "gauge", "", "Bytes the cache holds, overhead included."),
)
SERIES_BY_NAME = {s.name: s for s in SERIES}
_STATUS_CLASS = {n: f"{n}xx" for n in range(1, 6)}


class _Capped:
    """Admits label values until ``limit`` distinct ones are known, then says ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def admit(self, value: str) -> str:
        """Return ``value`` if known or room remains (remembering it), else ``other``."""
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


class Metrics:
    """One process's metrics; every method runs on the reactor thread."""

    def __init__(self, max_hosts: int = MAX_HOSTS, max_upstreams: int = MAX_UPSTREAMS) -> None:
        values: dict[str, dict[Labels, Any]] = {s.name: {} for s in SERIES}
        self._values = values
        self._hosts = _Capped(max_hosts)
        self._upstreams = _Capped(max_upstreams)
        self._requests = values["proxyhub_requests_total"]
        self._received = values["proxyhub_received_bytes_total"]
        self._sent = values["proxyhub_sent_bytes_total"]
        self._durations: dict[Labels, list[float]] = values["proxyhub_request_duration_seconds"]

    def inc(self, name: str, labels: Labels, by: float = 1) -> None:
        """Add ``by`` to a counter (or a gauge) of a series declared in ``SERIES``."""
        series = self._values[name]
        series[labels] = series.get(labels, 0) + by

    def set(self, name: str, labels: Labels, value: float) -> None:
        """Set a gauge of a series declared in ``SERIES``."""
        self._values[name][labels] = value

    def request_done(
        self, listener: str, host: str, status: int, bytes_in: int, bytes_out: int, seconds: float
    ) -> None:
        """Count one finished request: its status class, client bytes and duration."""
        if host not in self._hosts.seen:
            host = self._hosts.admit(host)
        key = (listener, host, _STATUS_CLASS.get(status // 100, OTHER))
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1
        self.add_bytes(listener, bytes_in, bytes_out)
        buckets = self._durations.get((listener,))
        if buckets is None:
            buckets = self._durations[(listener,)] = [0.0] * (len(BUCKETS) + 2)
        if not 0.0 <= seconds < math.inf:
            seconds = 0.0
        buckets[bisect_left(BUCKETS, seconds)] += 1
        buckets[-1] += seconds

    def add_bytes(self, listener: str, bytes_in: int, bytes_out: int) -> None:
        """Count client bytes outside a request (a tunnel's payload, for example)."""
        key = (listener,)
        self._received[key] = self._received.get(key, 0) + bytes_in
        self._sent[key] = self._sent.get(key, 0) + bytes_out

    def connection_opened(self, listener: str) -> None:
        """A client connection was accepted."""
        self.inc("proxyhub_active_connections", (listener,))

    def connection_closed(self, listener: str) -> None:
        """A client connection ended."""
        self.inc("proxyhub_active_connections", (listener,), -1)

    def tunnel_opened(self, listener: str) -> None:
        """A CONNECT or SOCKS tunnel started relaying."""
        self.inc("proxyhub_active_tunnels", (listener,))

    def tunnel_closed(self, listener: str, bytes_in: int = 0, bytes_out: int = 0) -> None:
        """A tunnel ended after relaying ``bytes_in`` from and ``bytes_out`` to the client."""
        self.inc("proxyhub_active_tunnels", (listener,), -1)
        self.add_bytes(listener, bytes_in, bytes_out)

    def connect_failed(self, listener: str, upstream: str) -> None:
        """A connection to an origin or backend (``host:port``) failed."""
        self.inc(
            "proxyhub_upstream_connect_failures_total", (listener, self._upstreams.admit(upstream))
        )

    def snapshot(self) -> Snapshot:
        """Return every non-empty series as JSON-serialisable data (copies, not views)."""
        return {
            name: [[list(labels), list(v) if isinstance(v, list) else v] for labels, v in d.items()]
            for name, d in self._values.items()
            if d
        }


def merge(snapshots: Iterable[Snapshot]) -> Merged:
    """Sum snapshots label by label (histograms bucket by bucket); malformed samples are dropped.

    A sample is dropped when its series is unknown, its label count is wrong, or
    its value is not a number (a list of ``len(BUCKETS) + 2`` for a histogram).
    """
    merged: Merged = {}
    for snap in snapshots:
        for name, samples in snap.items():
            series = SERIES_BY_NAME.get(name)
            if series is None:
                continue
            into = merged.setdefault(name, {})
            for labels, value in samples:
                if _valid(series, labels, value):
                    _add(into, tuple(labels), value)
    return merged


def _valid(series: Series, labels: Any, value: Any) -> bool:
    """Return True if a sample has the series' label count and value shape."""
    if not isinstance(labels, list) or len(labels) != len(series.labels):
        return False
    if series.kind == "histogram":
        return isinstance(value, list) and len(value) == len(BUCKETS) + 2
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _add(into: dict[Labels, Value], key: Labels, value: Value) -> None:
    """Add a number, or a list of numbers element-wise, into ``into[key]``."""
    old = into.get(key)
    if isinstance(value, list):
        into[key] = (
            [a + b for a, b in zip(old, value, strict=True)]
            if isinstance(old, list)
            else list(value)
        )
    else:
        into[key] = (old if isinstance(old, (int, float)) else 0) + value


def backend_gauges(backends: Mapping[str, Mapping[str, bool]]) -> Merged:
    """Return ``proxyhub_backend_up`` samples from ``{host: {backend: up}}``."""
    return {
        "proxyhub_backend_up": {
            (host, backend): 1 if up else 0
            for host, states in backends.items()
            for backend, up in states.items()
        }
    }


# --- text exposition format 0.0.4 ------------------------------------------------


def format_value(value: float) -> str:
    """Return a sample value: integers without a point, ``+Inf``, ``-Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def escape_label(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(names: Labels, values: Labels) -> str:
    """Return ``{a="x",b="y"}``, or nothing when there are no labels."""
    if not names:
        return ""
    pairs = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _histogram_lines(series: Series, labels: Labels, value: Value) -> Iterable[str]:
    """Yield the cumulative ``_bucket`` lines, ``_sum`` and ``_count`` of one histogram."""
    counts = value if isinstance(value, list) else [0.0] * (len(BUCKETS) + 2)
    bounds = [*map(format_value, BUCKETS), "+Inf"]
    running = 0.0
    for bound, count in zip(bounds, counts[:-1], strict=True):
        running += count
        label_text = _label_text((*series.labels, "le"), (*labels, bound))
        yield f"{series.name}_bucket{label_text} {format_value(running)}"
    plain = _label_text(series.labels, labels)
    yield f"{series.name}_sum{plain} {format_value(counts[-1])}"
    yield f"{series.name}_count{plain} {format_value(running)}"


def render_merged(merged: Merged) -> str:
    """Return every declared series in ``merged`` as Prometheus text, samples sorted by label."""
    lines: list[str] = []
    for series in SERIES:
        help_text = series.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines += [f"# HELP {series.name} {help_text}", f"# TYPE {series.name} {series.kind}"]
        for labels, value in sorted(merged.get(series.name, {}).items()):
            if series.kind == "histogram":
                lines.extend(_histogram_lines(series, labels, value))
            elif not isinstance(value, list):
                lines.append(
                    f"{series.name}{_label_text(series.labels, labels)} {format_value(value)}"
                )
    return "\n".join(lines) + "\n"


def render_prometheus(snapshots: Iterable[Snapshot], extra_gauges: Merged | None = None) -> str:
    """Merge worker snapshots, overlay ``extra_gauges`` (e.g. ``backend_gauges``), render."""
    merged = merge(snapshots)
    for name, samples in (extra_gauges or {}).items():
        merged[name] = dict(samples)
    return render_merged(merged)


# --- dashboard time series -------------------------------------------------------


class Clock(Protocol):
    """Anything with ``seconds()``: the reactor, or ``task.Clock`` in tests."""

    def seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Totals:
    """Cumulative request counts and current gauges, summed over listeners and workers."""

    requests: float = 0
    errors_4xx: float = 0
    errors_5xx: float = 0
    active_connections: float = 0
    active_tunnels: float = 0


def _total(merged: Merged, name: str, code: str | None = None) -> float:
    """Sum a counter or gauge over its labels (only ``code`` when given, the last label)."""
    samples = merged.get(name, {})
    return sum(v for k, v in samples.items() if not isinstance(v, list) and code in (None, k[-1]))


def totals(merged: Merged) -> Totals:
    """Return the dashboard's totals from merged metrics."""
    return Totals(
        requests=_total(merged, "proxyhub_requests_total"),
        errors_4xx=_total(merged, "proxyhub_requests_total", "4xx"),
        errors_5xx=_total(merged, "proxyhub_requests_total", "5xx"),
        active_connections=_total(merged, "proxyhub_active_connections"),
        active_tunnels=_total(merged, "proxyhub_active_tunnels"),
    )


POINT_FIELDS: tuple[str, ...] = ("t", "requests_per_s", "errors_4xx_per_s", "errors_5xx_per_s")
POINT_FIELDS += ("active_connections", "active_tunnels")


class Recorder:
    """The last ``size`` points of per-second rates and gauges, from periodic ``record`` calls.

    A rate is the counter's increase over the time since the previous call
    (``clock.seconds()``), rounded to 0.001; a decrease (a worker restarted)
    counts as zero.  A call at the same time as the previous one is ignored.
    """

    def __init__(self, clock: Clock, size: int = 300) -> None:
        self._clock = clock
        self._points: deque[tuple[float, ...]] = deque(maxlen=size)
        self._last: tuple[float, Totals] | None = None

    def record(self, current: Totals) -> None:
        """Add a point for the interval since the previous call (the first call only primes)."""
        now = self._clock.seconds()
        last = self._last
        if last is not None and now <= last[0]:
            return
        self._last = (now, current)
        if last is None:
            return
        then, before = last
        counts = zip(_counts(current), _counts(before), strict=True)
        rates = (round(max(after - prior, 0) / (now - then), 3) for after, prior in counts)
        self._points.append((now, *rates, current.active_connections, current.active_tunnels))

    def series(self) -> dict[str, list[float]]:
        """Return the points column by column: ``{"t": [...], "requests_per_s": [...], ...}``."""
        columns = list(zip(*self._points, strict=True)) or [() for _ in POINT_FIELDS]
        return {name: list(col) for name, col in zip(POINT_FIELDS, columns, strict=True)}


def _counts(t: Totals) -> tuple[float, float, float]:
    """Return the cumulative counters of ``t`` in ``POINT_FIELDS`` order."""
    return (t.requests, t.errors_4xx, t.errors_5xx)
