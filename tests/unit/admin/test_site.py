"""Tests of proxyhub.admin.site: routes, content types, methods, headers, static files, sampling."""

from __future__ import annotations

import json
import re

import pytest
from twisted.internet.task import Clock
from twisted.logger import LogEvent, globalLogPublisher
from twisted.web.resource import Resource

from proxyhub.admin.site import (
    CSP,
    METRICS_TYPE,
    AdminSite,
    Fixed,
    make_admin_site,
    static_files,
)

from .support import FakeSource, request

PATHS = ["/healthz", "/metrics", "/status", "/status.json", "/static/status.js", "/nope"]


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def site(source: FakeSource) -> AdminSite:
    return make_admin_site(source, clock=Clock())


def test_healthz_is_the_json_summary(site: AdminSite, source: FakeSource) -> None:
    """GET /healthz answers 200 with the source's health as JSON."""
    r = request(site, "GET", "/healthz")
    assert r.code == 200
    assert r.headers["content-type"] == "application/json"
    assert json.loads(r.body) == source.health()


def test_metrics_is_prometheus_text(site: AdminSite, source: FakeSource) -> None:
    """GET /metrics answers the source's text with the 0.0.4 content type."""
    r = request(site, "GET", "/metrics")
    assert r.code == 200
    assert r.headers["content-type"] == METRICS_TYPE.decode()
    assert r.body.decode() == source.text


def test_status_json_has_health_and_series(site: AdminSite, source: FakeSource) -> None:
    """GET /status.json answers health and series together."""
    r = request(site, "GET", "/status.json")
    assert r.code == 200 and r.headers["content-type"] == "application/json"
    assert json.loads(r.body) == {"health": source.health(), "series": source.points}


def test_status_page_loads_only_its_own_assets(site: AdminSite) -> None:
    """/status is HTML whose script and style are files under /static/, nothing inline."""
    r = request(site, "GET", "/status")
    assert r.code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.body.decode()
    assert '<script src="/static/status.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/status.css">' in page
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)
    assert " style=" not in page and "<style" not in page


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/status.js", "text/javascript; charset=utf-8"),
        ("/static/status.css", "text/css; charset=utf-8"),
    ],
)
def test_static_assets(site: AdminSite, path: str, content_type: str) -> None:
    """Static files are served from the package with their content type."""
    r = request(site, "GET", path)
    assert r.code == 200 and r.headers["content-type"] == content_type
    assert r.body == static_files()[path.rsplit("/", 1)[1]]


def test_static_files_reference_nothing_external() -> None:
    """No shipped file loads anything from another origin (the SVG namespace is a name)."""
    for name, data in static_files().items():
        text = data.decode().replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https?://|//[a-z]", text), name


@pytest.mark.parametrize(
    "path",
    ["/nope", "/static", "/static/", "/static/nope.js", "/healthz/x", "/status/", "/metrics/"],
)
def test_unknown_paths_are_404(site: AdminSite, path: str) -> None:
    """Paths the site does not serve get 404, directories included."""
    assert request(site, "GET", path).code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"])
@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/nope"])
def test_other_methods_are_405(site: AdminSite, method: str, path: str) -> None:
    """Anything but GET and HEAD gets 405 with ``Allow: GET, HEAD``, on every path."""
    r = request(site, method, path)
    assert r.code == 405
    assert r.headers["allow"] == "GET, HEAD"


def test_head_has_headers_and_no_body(site: AdminSite) -> None:
    """HEAD answers GET's status and Content-Length with an empty body."""
    got, head = request(site, "GET", "/metrics"), request(site, "HEAD", "/metrics")
    assert head.code == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(got.body))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_answer_has_security_headers(site: AdminSite, method: str, path: str) -> None:
    """Every answer, errors included, carries no-store, the CSP and nosniff."""
    r = request(site, method, path)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == CSP.decode()
    assert r.headers["content-security-policy"].startswith("default-src 'self';")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_root_redirects_to_status(site: AdminSite) -> None:
    """/ redirects to the dashboard."""
    r = request(site, "GET", "/")
    assert r.code == 302 and r.headers["location"] == "/status"


def test_extra_children_are_served(source: FakeSource) -> None:
    """Resources passed as ``extra`` are served at top level, with the same headers."""
    pac = Fixed(b"application/x-ns-proxy-autoconfig", lambda: b"function FindProxyForURL(){}")
    site = make_admin_site(source, {b"proxy.pac": pac}, clock=Clock())
    r = request(site, "GET", "/proxy.pac")
    assert r.code == 200 and r.body == b"function FindProxyForURL(){}"
    assert r.headers["content-type"] == "application/x-ns-proxy-autoconfig"
    assert r.headers["cache-control"] == "no-store"
    assert request(site, "POST", "/proxy.pac").code == 405


def test_extra_children_cannot_shadow_built_ins(source: FakeSource) -> None:
    """An ``extra`` name the site already serves is refused."""
    with pytest.raises(ValueError, match="metrics"):
        make_admin_site(source, {b"metrics": Resource()})


def test_source_failure_is_a_500_without_traceback(source: FakeSource) -> None:
    """A source that raises gives 500 and no Python details."""

    def broken() -> str:
        raise RuntimeError("secret detail")

    source.metrics_text = broken  # type: ignore[method-assign]
    r = request(make_admin_site(source, clock=Clock()), "GET", "/metrics")
    assert r.code == 500
    assert b"secret detail" not in r.body and b"Traceback" not in r.body


def test_sampling_runs_every_second_while_listening(source: FakeSource) -> None:
    """Starting the factory samples at once, then every second, until stopped."""
    clock = Clock()
    site = make_admin_site(source, clock=clock)
    site.doStart()
    assert source.samples == 1
    clock.advance(1)
    clock.advance(1)
    assert source.samples == 3
    site.doStop()
    clock.advance(5)
    assert source.samples == 3
    assert not clock.getDelayedCalls()


def test_sampling_survives_a_failing_source(source: FakeSource) -> None:
    """A sample that raises is logged and the next one still happens."""
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        clock = Clock()
        source.fail_samples = 1
        site = make_admin_site(source, clock=clock)
        site.doStart()
        clock.advance(1)
        site.doStop()
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert source.samples == 2
    assert any("sampling metrics failed" in e.get("log_format", "") for e in events)
