"""Tests of proxyhub.observe.metrics: counting, snapshots, merging, Prometheus text, rates."""

from __future__ import annotations

import json
import math
import re

import pytest
from twisted.internet.task import Clock

from proxyhub.observe.metrics import (
    BUCKETS,
    MAX_HOSTS,
    SERIES,
    Metrics,
    Recorder,
    Totals,
    backend_gauges,
    escape_label,
    format_value,
    merge,
    render_prometheus,
    totals,
)

SAMPLE_LINE = re.compile(
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*"
    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})?'
    r" (?:[+-]?Inf|NaN|-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$"
)


def samples(text: str, prefix: str) -> dict[str, str]:
    """Return ``{series{labels}: value}`` for the sample lines starting with ``prefix``."""
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return dict(line.rsplit(" ", 1) for line in lines)


def busy_metrics() -> Metrics:
    """A Metrics with a little of everything counted."""
    m = Metrics()
    m.request_done("forward", "example.com", 200, 100, 2000, 0.02)
    m.request_done("forward", "example.com", 404, 80, 300, 0.004)
    m.request_done("reverse", "api.example.com", 502, 90, 150, 12.0)
    m.connection_opened("forward")
    m.connection_opened("forward")
    m.connection_closed("forward")
    m.tunnel_opened("forward")
    m.connect_failed("forward", "10.0.0.9:443")
    return m


def test_request_done_counts_by_status_class_and_bytes() -> None:
    """Requests are counted per listener, host and status class; bytes per listener."""
    text = render_prometheus([busy_metrics().snapshot()])
    assert samples(text, "proxyhub_requests_total") == {
        'proxyhub_requests_total{listener="forward",host="example.com",code="2xx"}': "1",
        'proxyhub_requests_total{listener="forward",host="example.com",code="4xx"}': "1",
        'proxyhub_requests_total{listener="reverse",host="api.example.com",code="5xx"}': "1",
    }
    assert samples(text, "proxyhub_received_bytes_total") == {
        'proxyhub_received_bytes_total{listener="forward"}': "180",
        'proxyhub_received_bytes_total{listener="reverse"}': "90",
    }
    assert samples(text, "proxyhub_sent_bytes_total{") == {
        'proxyhub_sent_bytes_total{listener="forward"}': "2300",
        'proxyhub_sent_bytes_total{listener="reverse"}': "150",
    }


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (100, "1xx"),
        (204, "2xx"),
        (308, "3xx"),
        (499, "4xx"),
        (599, "5xx"),
        (0, "other"),
        (600, "other"),
    ],
)
def test_status_classes(status: int, code: str) -> None:
    """Statuses 100..599 become their class; anything else is ``other``."""
    m = Metrics()
    m.request_done("l", "h", status, 0, 0, 0.0)
    assert m.snapshot()["proxyhub_requests_total"] == [[["l", "h", code], 1]]


def test_gauges_go_up_and_down() -> None:
    """Connections and tunnels are gauges; a closed tunnel adds its bytes."""
    m = busy_metrics()
    m.tunnel_closed("forward", 1000, 5000)
    text = render_prometheus([m.snapshot()])
    assert 'proxyhub_active_connections{listener="forward"} 1' in text
    assert 'proxyhub_active_tunnels{listener="forward"} 0' in text
    assert 'proxyhub_received_bytes_total{listener="forward"} 1180' in text
    assert 'proxyhub_sent_bytes_total{listener="forward"} 7300' in text
    assert (
        'proxyhub_upstream_connect_failures_total{listener="forward",upstream="10.0.0.9:443"} 1'
        in text
    )


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    """A duration equal to a bound falls in that bucket; buckets, _sum, _count add up."""
    m = Metrics()
    for seconds in (0.005, 0.0051, 1.0, 31.0):
        m.request_done("l", "h", 200, 0, 0, seconds)
    got = samples(render_prometheus([m.snapshot()]), "proxyhub_request_duration_seconds")
    name = "proxyhub_request_duration_seconds"
    assert got[f'{name}_bucket{{listener="l",le="0.005"}}'] == "1"
    assert got[f'{name}_bucket{{listener="l",le="0.01"}}'] == "2"
    assert got[f'{name}_bucket{{listener="l",le="0.5"}}'] == "2"
    assert got[f'{name}_bucket{{listener="l",le="1"}}'] == "3"
    assert got[f'{name}_bucket{{listener="l",le="30"}}'] == "3"
    assert got[f'{name}_bucket{{listener="l",le="+Inf"}}'] == "4"
    assert got[f'{name}_count{{listener="l"}}'] == "4"
    assert float(got[f'{name}_sum{{listener="l"}}']) == pytest.approx(32.0101)
    assert len([k for k in got if "_bucket" in k]) == len(BUCKETS) + 1


def test_histogram_bounds_span_5ms_to_30s() -> None:
    """The buckets run from 5 ms to 30 s in increasing order."""
    assert BUCKETS[0] == 0.005 and BUCKETS[-1] == 30.0
    assert list(BUCKETS) == sorted(set(BUCKETS))


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bogus_durations_count_as_zero(bad: float) -> None:
    """A negative or non-finite duration lands in the first bucket and adds nothing to _sum."""
    m = Metrics()
    m.request_done("l", "h", 200, 0, 0, bad)
    [[_labels, buckets]] = m.snapshot()["proxyhub_request_duration_seconds"]
    assert buckets[0] == 1 and buckets[-1] == 0.0


def test_host_cap_folds_new_hosts_into_other() -> None:
    """Past the cap, new hosts count as ``other`` while known hosts keep their own series."""
    m = Metrics(max_hosts=2)
    for host in ("a", "b", "c", "d", "a"):
        m.request_done("l", host, 200, 0, 0, 0.0)
    counts = {tuple(k): v for k, v in m.snapshot()["proxyhub_requests_total"]}
    assert counts == {("l", "a", "2xx"): 2, ("l", "b", "2xx"): 1, ("l", "other", "2xx"): 2}
    assert MAX_HOSTS == 1000


def test_upstream_cap_folds_new_upstreams_into_other() -> None:
    """Connect failures keep at most ``max_upstreams`` distinct upstream labels."""
    m = Metrics(max_upstreams=1)
    m.connect_failed("l", "a:1")
    m.connect_failed("l", "b:2")
    got = {tuple(k): v for k, v in m.snapshot()["proxyhub_upstream_connect_failures_total"]}
    assert got == {("l", "a:1"): 1, ("l", "other"): 1}


def test_snapshot_is_json_and_a_copy() -> None:
    """A snapshot survives a JSON round trip and does not change with later events."""
    m = busy_metrics()
    snap = m.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    m.request_done("reverse", "api.example.com", 502, 1, 1, 0.1)
    assert snap == json.loads(json.dumps(busy_metrics().snapshot()))


def test_merge_sums_counters_gauges_and_histograms() -> None:
    """Two workers' snapshots merge into sums, bucket by bucket."""
    one, two = busy_metrics().snapshot(), busy_metrics().snapshot()
    merged = merge([one, json.loads(json.dumps(two))])
    assert merged["proxyhub_requests_total"][("forward", "example.com", "2xx")] == 2
    assert merged["proxyhub_active_connections"][("forward",)] == 2
    hist = merged["proxyhub_request_duration_seconds"][("reverse",)]
    assert isinstance(hist, list)
    assert hist[BUCKETS.index(30.0)] == 2 and hist[-1] == 24.0


def test_merge_drops_unknown_and_malformed_samples() -> None:
    """Unknown series, wrong label counts and wrong value shapes are ignored."""
    bad = {
        "proxyhub_nonsense_total": [[["x"], 1]],
        "proxyhub_sent_bytes_total": [[["a", "b"], 1], [["ok"], "7"], [["ok"], 5]],
        "proxyhub_request_duration_seconds": [[["l"], [1, 2]], [["l"], 3]],
    }
    assert merge([bad]) == {
        "proxyhub_sent_bytes_total": {("ok",): 5},
        "proxyhub_request_duration_seconds": {},
    }


def test_render_exact_small_page() -> None:
    """One counter sample renders with HELP and TYPE lines for every family."""
    m = Metrics()
    m.inc("proxyhub_sent_bytes_total", ("forward",), 42)
    lines = render_prometheus([m.snapshot()]).splitlines()
    assert lines[:2] == [
        "# HELP proxyhub_requests_total Requests answered.",
        "# TYPE proxyhub_requests_total counter",
    ]
    assert lines.count('proxyhub_sent_bytes_total{listener="forward"} 42') == 1
    assert [line for line in lines if not line.startswith("#")] == [
        'proxyhub_sent_bytes_total{listener="forward"} 42'
    ]
    types = [line.split()[2:] for line in lines if line.startswith("# TYPE")]
    assert types == [[s.name, s.kind] for s in SERIES]


def test_render_is_valid_exposition_text() -> None:
    """Every line is a HELP, a TYPE or a well-formed sample; the page ends with a newline."""
    m = busy_metrics()
    m.request_done("forward", 'we"ird\\host\nname', 200, 1, 1, 0.3)
    text = render_prometheus([m.snapshot()], backend_gauges({"h": {"http://b:1": True}}))
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith(("# HELP proxyhub_", "# TYPE proxyhub_")) or SAMPLE_LINE.match(
            line
        ), line


def test_label_values_are_escaped() -> None:
    """Backslash, double quote and line feed are escaped in label values."""
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    m = Metrics()
    m.request_done("l", 'x"y\n', 200, 0, 0, 0.0)
    assert 'host="x\\"y\\n"' in render_prometheus([m.snapshot()])


@pytest.mark.parametrize(
    ("value", "text"),
    [(3, "3"), (3.0, "3"), (0.25, "0.25"), (-2, "-2"), (math.inf, "+Inf"), (-math.inf, "-Inf")],
)
def test_format_value(value: float, text: str) -> None:
    """Integral values print without a point; infinities as +Inf / -Inf."""
    assert format_value(value) == text


def test_format_value_nan() -> None:
    """NaN prints as NaN."""
    assert format_value(math.nan) == "NaN"


def test_backend_gauges_overlay_rather_than_sum() -> None:
    """``extra_gauges`` replace merged samples: backend_up stays 0/1 whatever the workers."""
    gauges = backend_gauges({"example.com": {"http://a:1": True, "http://b:2": False}})
    text = render_prometheus([{}, {}], gauges)
    assert samples(text, "proxyhub_backend_up") == {
        'proxyhub_backend_up{host="example.com",backend="http://a:1"}': "1",
        'proxyhub_backend_up{host="example.com",backend="http://b:2"}': "0",
    }


def test_new_series_is_one_declaration_away() -> None:
    """``inc`` works for any declared series, so a new one needs only its ``SERIES`` line."""
    m = Metrics()
    for series in SERIES:
        if series.kind != "histogram":
            m.inc(series.name, tuple("x" for _ in series.labels))
    assert set(m.snapshot()) == {s.name for s in SERIES if s.kind != "histogram"}
    assert all(s.name.startswith("proxyhub_") for s in SERIES)


def test_totals_sum_over_labels() -> None:
    """Totals add requests, 4xx, 5xx and gauges over listeners, hosts and workers."""
    merged = merge([busy_metrics().snapshot(), busy_metrics().snapshot()])
    assert totals(merged) == Totals(
        requests=6, errors_4xx=2, errors_5xx=2, active_connections=2, active_tunnels=2
    )


def test_recorder_rates_per_second() -> None:
    """The first record only primes; later ones give the increase per elapsed second."""
    clock = Clock()
    rec = Recorder(clock)
    rec.record(Totals(requests=10, errors_4xx=1))
    assert rec.series()["t"] == []
    clock.advance(2)
    rec.record(Totals(requests=30, errors_4xx=2, errors_5xx=4, active_tunnels=3))
    assert rec.series() == {
        "t": [2.0],
        "requests_per_s": [10.0],
        "errors_4xx_per_s": [0.5],
        "errors_5xx_per_s": [2.0],
        "active_connections": [0],
        "active_tunnels": [3],
    }


def test_recorder_counter_reset_and_same_instant() -> None:
    """A counter that goes down gives 0; a second record at the same instant is ignored."""
    clock = Clock()
    rec = Recorder(clock)
    rec.record(Totals(requests=100))
    clock.advance(1)
    rec.record(Totals(requests=5))
    rec.record(Totals(requests=500))
    clock.advance(1)
    rec.record(Totals(requests=6))
    assert rec.series()["requests_per_s"] == [0.0, 1.0]


def test_recorder_keeps_the_last_points() -> None:
    """Only the last ``size`` points are kept, oldest first."""
    clock = Clock()
    rec = Recorder(clock, size=3)
    for n in range(6):
        rec.record(Totals(requests=n * n))
        clock.advance(1)
    series = rec.series()
    assert series["t"] == [3.0, 4.0, 5.0]
    assert series["requests_per_s"] == [5.0, 7.0, 9.0]
