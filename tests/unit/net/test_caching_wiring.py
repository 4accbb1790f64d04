"""The cache's configuration, wiring across reloads, reverse-proxy opt-in and admin pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock

from proxyhub.admin.cache_pages import cache_pages
from proxyhub.admin.site import make_admin_site
from proxyhub.config import ConfigError, parse_config_text
from proxyhub.net.caching import make_cache
from proxyhub.observe.accesslog import AccessRecord, format_combined, format_json
from proxyhub.service import ProxyhubService
from proxyhub.wiring import config_changes, make_plan

from ..admin.support import FakeSource, request
from .cache_harness import (
    FRESH,
    Origin,
    body_of,
    cache_settings,
    cached_reverse_context,
    client,
    header,
    response,
    status_of,
)

FORWARD = "[proxyhub]\naccess_log = off\n[forward]\nlisten = tcp:0\n"
REVERSE = "[reverse]\nlisten = tcp:0\n[host:a.test]\nbackends = http://127.0.0.1:1\ncache = yes\n"


# -- configuration ---------------------------------------------------------------------


def test_cache_section_defaults_and_absence() -> None:
    """[cache] keys default as documented; no section means Config.cache is None."""
    assert parse_config_text(FORWARD).cache is None
    settings = cache_settings()
    assert (settings.memory_size, settings.max_object_size) == (64 * 2**20, 8 * 2**20)
    assert (settings.max_variants, settings.heuristic_max, settings.collapse_timeout) == (
        8,
        86400.0,
        30.0,
    )
    assert [str(n) for n in settings.purge_from] == ["127.0.0.1/32", "::1/128"]


def test_host_cache_key_and_bad_values() -> None:
    """cache = yes on a host section; bad [cache] values are reported with their keys."""
    config = parse_config_text(FORWARD + REVERSE)
    assert config.routes[0].cache is True
    text = FORWARD + "[cache]\nmemory_size = 1MiB\nmax_object_size = 2MiB\nmax_variants = 0\n"
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "t.ini")
    assert info.value.problems == [
        "t.ini:7: [cache] max_object_size: max_object_size must not be larger than memory_size",
        "t.ini:8: [cache] max_variants: expected a whole number greater than 0, got '0'",
    ]


# -- wiring and reloads ----------------------------------------------------------------------


def plan_for(text: str, previous: Any = None, service: Any = None) -> Any:
    config = parse_config_text(text)
    service = service or ProxyhubService(config, MemoryReactorClock())
    return make_plan(config, service._shared(config), previous)


def test_plan_gives_every_context_the_cache() -> None:
    """enabled = yes: the forward and reverse contexts share one cache; no: None."""
    plan = plan_for(FORWARD + REVERSE + "[cache]\nenabled = yes\n")
    assert plan.cache is not None
    assert plan.forward.cache is plan.cache and plan.reverse["http"].cache is plan.cache
    assert plan_for(FORWARD + "[cache]\nenabled = no\n").cache is None
    assert plan_for(FORWARD).forward.cache is None


def test_reload_keeps_the_store_unless_its_sizes_change() -> None:
    """A reload reuses the store; a new memory_size starts an empty one, counters carried on."""
    text = FORWARD + "[cache]\nenabled = yes\nheuristic_max = 1h\n"
    first = plan_for(text)
    first.cache.store.stats.hits = 5
    second = plan_for(text.replace("1h", "2h"), first)
    assert second.cache is not first.cache and second.cache.store is first.cache.store
    assert second.cache.heuristic_max == 7200.0
    third = plan_for(text + "memory_size = 32MiB\n", second)
    assert third.cache.store is not second.cache.store
    assert third.cache.store.max_bytes == 32 * 2**20 and third.cache.store.stats.hits == 5
    assert third.cache.flights is first.cache.flights
    metrics = third.cache.metrics
    metrics.set("proxyhub_cache_objects", (), 3)
    assert make_cache(None, MemoryReactorClock(), metrics, third.cache) is None
    assert metrics.snapshot()["proxyhub_cache_objects"] == [[[], 0]]


def test_reload_log_names_cache_changes() -> None:
    """config_changes lists [cache] keys that changed."""
    old = parse_config_text(FORWARD + "[cache]\nenabled = yes\n")
    new = parse_config_text(FORWARD + "[cache]\nenabled = yes\nmax_variants = 2\n")
    assert config_changes(old, new) == ["[cache] changed: max_variants"]


# -- the reverse proxy -------------------------------------------------------------------------


def reverse_get(host: bytes, path: bytes = b"/p", method: bytes = b"GET") -> bytes:
    return method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"


def test_reverse_caches_only_hosts_that_opt_in() -> None:
    """cache = yes: the second GET is a HIT; cache = no: both go to the backend."""
    reactor = MemoryReactorClock()
    ctx = cached_reverse_context(reactor, {"on.test": True, "off.test": False})
    origin = Origin(reactor)
    proto, conn = client(ctx)
    for host in (b"on.test", b"off.test"):
        for _ in range(2):
            conn.clear()
            proto.dataReceived(reverse_get(host))
            if len(origin.requests) > sum(origin.answered):
                origin.reply(response(b"page", FRESH))
        expected = b"HIT" if host == b"on.test" else None
        assert header(conn.value(), b"X-Cache") == expected
    assert len(origin.requests) == 3
    assert ctx.access_log.cache == ["MISS", "HIT", None, None]  # type: ignore[attr-defined]


def test_reverse_keys_by_host_and_purges_by_path() -> None:
    """Entries are per Host; PURGE /path with Host drops that host's entry only."""
    reactor = MemoryReactorClock()
    ctx = cached_reverse_context(reactor, {"on.test": True})
    origin = Origin(reactor)
    proto, conn = client(ctx)
    proto.dataReceived(reverse_get(b"on.test"))
    origin.reply(response(b"page", FRESH))
    proto.dataReceived(reverse_get(b"ON.test:80"))  # the same URI, normalised
    assert len(origin.requests) == 1
    assert ctx.cache.store.purge(b"http://other.test/p") == 0  # type: ignore[attr-defined]
    conn.clear()
    proto.dataReceived(reverse_get(b"on.test", method=b"PURGE"))
    assert status_of(conn.value()) == 200 and body_of(conn.value()) == b'{"purged": 1}\n'
    proto.dataReceived(reverse_get(b"on.test"))
    assert len(origin.requests) == 2


def test_reverse_purge_on_a_host_without_cache_goes_to_the_backend() -> None:
    """A route that does not cache passes PURGE to its backend."""
    reactor = MemoryReactorClock()
    ctx = cached_reverse_context(reactor, {"off.test": False})
    origin = Origin(reactor)
    proto, _ = client(ctx)
    proto.dataReceived(reverse_get(b"off.test", method=b"PURGE"))
    assert origin.requests[0].startswith(b"PURGE /p ")


# -- access log ------------------------------------------------------------------------------


def test_json_log_has_cache_only_when_caching() -> None:
    """The JSON line has "cache" for requests through the cache, nothing otherwise."""
    rec = AccessRecord(1.0, "forward", "c", None, "GET", "/", 200, 1, 2, 3.0, None)
    assert "cache" not in json.loads(format_json(rec))
    hit = AccessRecord(1.0, "forward", "c", None, "GET", "/", 200, 1, 2, 3.0, None, cache="HIT")
    assert json.loads(format_json(hit))["cache"] == "HIT"
    assert format_combined(hit) == format_combined(rec)


# -- admin pages -----------------------------------------------------------------------------


def test_admin_cache_pages() -> None:
    """GET /cache shows the store; POST /cache/purge?uri= drops a URI; GET there is 405."""
    plan = plan_for(FORWARD + "[cache]\nenabled = yes\n")
    cache = plan.cache
    holder = {"cache": cache}
    site = make_admin_site(FakeSource(), extra=cache_pages(lambda: holder["cache"]), clock=Clock())
    r = request(site, "GET", "/cache")
    assert r.code == 200 and json.loads(r.body)["entries"] == 0
    r = request(site, "POST", "/cache/purge?uri=http://example.com/a")
    assert r.code == 200 and json.loads(r.body) == {"purged": 0}
    assert r.headers["cache-control"] == "no-store"
    assert request(site, "POST", "/cache/purge").code == 400
    r = request(site, "GET", "/cache/purge")
    assert r.code == 405 and r.headers["allow"] == "POST"
    assert request(site, "POST", "/cache").code == 405
    assert request(site, "POST", "/metrics").code == 405
    assert request(site, "GET", "/cache/other").code == 404
    holder["cache"] = None
    assert request(site, "GET", "/cache").code == 404
    assert request(site, "POST", "/cache/purge?uri=http://example.com/a").code == 404
