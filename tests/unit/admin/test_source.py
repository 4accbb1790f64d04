"""Tests of proxyhub.admin.source: health summary, merged metrics and recorded rates."""

from __future__ import annotations

from twisted.internet.task import Clock

from proxyhub.admin.source import MetricsSource
from proxyhub.observe.metrics import Metrics

BACKENDS = {"example.com": {"http://a:1": True, "http://b:2": False}}


def workers() -> tuple[Metrics, Metrics]:
    """Two workers' metrics with one request each."""
    one, two = Metrics(), Metrics()
    one.request_done("forward", "example.com", 200, 10, 20, 0.01)
    two.request_done("forward", "example.com", 503, 10, 20, 0.01)
    return one, two


def test_health_summary() -> None:
    """The summary has status, uptime by the clock, workers, listeners and backend states."""
    clock = Clock()
    clock.advance(100)
    source = MetricsSource(
        clock, lambda: [], lambda: BACKENDS, listeners=["forward", "reverse"], workers=2
    )
    clock.advance(12.3456)
    assert source.health() == {
        "status": "ok",
        "uptime_s": 12.346,
        "workers": 2,
        "listeners": ["forward", "reverse"],
        "backends": {"example.com": {"http://a:1": "up", "http://b:2": "down"}},
    }


def test_metrics_text_merges_workers_and_backends() -> None:
    """/metrics text sums the workers' snapshots and adds proxyhub_backend_up."""
    one, two = workers()
    source = MetricsSource(Clock(), lambda: [one.snapshot(), two.snapshot()], lambda: BACKENDS)
    text = source.metrics_text()
    assert 'proxyhub_received_bytes_total{listener="forward"} 20' in text
    assert 'proxyhub_requests_total{listener="forward",host="example.com",code="5xx"} 1' in text
    assert 'proxyhub_backend_up{host="example.com",backend="http://b:2"} 0' in text


def test_samples_become_rates() -> None:
    """Each sample records the merged totals; the series holds per-second rates."""
    clock = Clock()
    one, two = workers()
    source = MetricsSource(clock, lambda: [one.snapshot(), two.snapshot()])
    source.sample()
    for _ in range(4):
        two.request_done("forward", "example.com", 404, 1, 1, 0.1)
    one.connection_opened("forward")
    clock.advance(1)
    source.sample()
    series = source.series()
    assert series["t"] == [1.0]
    assert series["requests_per_s"] == [4.0]
    assert series["errors_4xx_per_s"] == [4.0]
    assert series["errors_5xx_per_s"] == [0.0]
    assert series["active_connections"] == [1]


def test_no_backends_by_default() -> None:
    """Without a backends callable the summary lists none."""
    assert MetricsSource(Clock(), lambda: []).health()["backends"] == {}
