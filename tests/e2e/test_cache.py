"""The HTTP cache end to end: a real proxyhub, an origin that counts its requests."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Proxy, curl, free_port
from .origins import Origin

FORWARD = {
    "listen": "tcp:{port}:interface=127.0.0.1",
    "deny_destinations": "",
    "connect_ports": "*",
}
Answer = tuple[int, dict[str, str], bytes]


def cache_proxy(tmp: Path, **cache: str) -> Proxy:
    """A forward proxy (JSON log, admin site) with the cache on and ``cache`` keys."""
    sections = {
        "forward": FORWARD,
        "cache": {"enabled": "yes", "memory_size": "1MiB", "max_object_size": "64KiB"} | cache,
    }
    admin = f"tcp:{free_port()}:interface=127.0.0.1"
    return Proxy(tmp, {}, {"access_log_format": "json", "admin_listen": admin}, sections)


@pytest.fixture(scope="module")
def proxy(module_tmp: Path) -> Iterator[Proxy]:
    p = cache_proxy(module_tmp)
    yield p
    p.stop()


def ask(
    proxy: Proxy,
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> Answer:
    """One request through the forward proxy: status, headers (lower-case names), body."""
    conn = conn or http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request(method, url, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def count(origin: Origin, path: str) -> int:
    """How many requests the origin had for ``path`` (query included)."""
    return sum(1 for _, p, _ in origin.requests if p == path)


def test_hit_after_miss_reaches_the_origin_once(proxy: Proxy, origin: Origin) -> None:
    """MISS then HIT on one keep-alive connection; the origin counts one request; Age set."""
    path = "/cache/hit?cc=max-age%3D60&age=5"
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    status, headers, body = ask(proxy, origin.url(path), conn=conn)
    assert (status, body, headers["x-cache"]) == (200, b"n=1", "MISS")
    status, headers, body = ask(proxy, origin.url(path), conn=conn)
    assert (status, body, headers["x-cache"]) == (200, b"n=1", "HIT")
    assert headers["cache-status"] == "proxyhub; hit"
    assert int(headers["age"]) >= 5
    assert count(origin, path) == 1
    lines = [json.loads(line) for line in proxy.log_lines() if "/cache/hit" in line]
    assert [line["cache"] for line in lines][-2:] == ["MISS", "HIT"]


@pytest.mark.parametrize(
    ("name", "query", "headers"),
    [
        ("no-store", "cc=no-store", {}),
        ("private", "cc=private%2C%20max-age%3D60", {}),
        ("authorization", "cc=max-age%3D60", {"Authorization": "Basic dTpw"}),
        ("no-freshness", "etag=x", {}),
    ],
)
def test_not_stored(
    proxy: Proxy, origin: Origin, name: str, query: str, headers: dict[str, str]
) -> None:
    """no-store, private, Authorization and no freshness information: never a HIT."""
    path = f"/cache/{name}?{query}"
    for expected in (b"n=1", b"n=2"):
        status, got, body = ask(proxy, origin.url(path), headers=headers)
        assert (status, body, got["x-cache"]) == (200, expected, "MISS")


def test_set_cookie_is_not_replayed(proxy: Proxy, origin: Origin) -> None:
    """The first client gets its Set-Cookie; the cached answer has none."""
    path = "/cache/cookie?cc=max-age%3D60&cookie=1"
    _, first, _ = ask(proxy, origin.url(path))
    assert first["set-cookie"] == "session=secret"
    _, second, _ = ask(proxy, origin.url(path))
    assert second["x-cache"] == "HIT" and "set-cookie" not in second


def test_vary_keys_variants(proxy: Proxy, origin: Origin) -> None:
    """Vary: Accept-Language keeps one answer per language."""
    path = "/cache/vary?cc=max-age%3D60&vary=Accept-Language"
    url = origin.url(path)
    assert ask(proxy, url, headers={"Accept-Language": "en"})[2] == b"n=1 en"
    assert ask(proxy, url, headers={"Accept-Language": "fr"})[2] == b"n=2 fr"
    _, headers, body = ask(proxy, url, headers={"Accept-Language": "en"})
    assert (body, headers["x-cache"]) == (b"n=1 en", "HIT")
    assert count(origin, path) == 2


def test_client_no_cache_revalidates_and_304_refreshes(proxy: Proxy, origin: Origin) -> None:
    """no-cache from the client: a conditional request; the origin's 304 serves the entry."""
    path = "/cache/reval?cc=max-age%3D60&etag=v1"
    ask(proxy, origin.url(path))
    _, headers, body = ask(proxy, origin.url(path), headers={"Cache-Control": "no-cache"})
    assert (body, headers["x-cache"]) == (b"n=1", "REVALIDATED")
    assert origin.requests[-1][2].get("If-None-Match") == '"v1"'
    _, headers, _ = ask(proxy, origin.url(path))
    assert headers["x-cache"] == "HIT"
    assert count(origin, path) == 2


def test_stale_entry_revalidates_every_time(proxy: Proxy, origin: Origin) -> None:
    """max-age=0 with an ETag: stored, revalidated on each use, refreshed by 304."""
    path = "/cache/stale?cc=max-age%3D0&etag=s"
    ask(proxy, origin.url(path))
    for _ in range(2):
        _, headers, body = ask(proxy, origin.url(path))
        assert (body, headers["x-cache"]) == (b"n=1", "REVALIDATED")
    assert count(origin, path) == 3


def test_client_validators_get_304(proxy: Proxy, origin: Origin) -> None:
    """A client's matching If-None-Match is answered 304 from the cache."""
    path = "/cache/inm?cc=max-age%3D60&etag=t"
    ask(proxy, origin.url(path))
    status, headers, body = ask(proxy, origin.url(path), headers={"If-None-Match": '"t"'})
    assert (status, body, headers["x-cache"]) == (304, b"", "HIT")
    assert count(origin, path) == 1


def test_post_invalidates(proxy: Proxy, origin: Origin) -> None:
    """A POST to the URI drops the stored answer."""
    path = "/cache/post?cc=max-age%3D60"
    ask(proxy, origin.url(path))
    assert ask(proxy, origin.url(path))[1]["x-cache"] == "HIT"
    assert ask(proxy, origin.url(path), "POST")[2] == b"posted"
    assert ask(proxy, origin.url(path))[2] == b"n=3"


def test_purge_allowed(proxy: Proxy, origin: Origin) -> None:
    """PURGE from loopback (in purge_from) drops the entry and says how many went."""
    path = "/cache/purge?cc=max-age%3D60"
    ask(proxy, origin.url(path))
    status, _, body = ask(proxy, origin.url(path), "PURGE")
    assert (status, json.loads(body)) == (200, {"purged": 1})
    assert ask(proxy, origin.url(path))[2] == b"n=2"


def test_purge_denied(tmp_path: Path, origin: Origin) -> None:
    """PURGE from outside purge_from is 403 and the entry stays."""
    proxy = cache_proxy(tmp_path, purge_from="10.0.0.0/8")
    try:
        path = "/cache/purge-denied?cc=max-age%3D60"
        ask(proxy, origin.url(path))
        assert ask(proxy, origin.url(path), "PURGE")[0] == 403
        assert ask(proxy, origin.url(path))[1]["x-cache"] == "HIT"
    finally:
        proxy.stop()


def test_concurrent_misses_collapse(proxy: Proxy, origin: Origin) -> None:
    """Ten clients at once on a slow origin: one origin request, ten answers."""
    path = "/cache/collapse?cc=max-age%3D60&delay=1"
    answers: list[Answer] = []
    threads = [
        threading.Thread(target=lambda: answers.append(ask(proxy, origin.url(path))))
        for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert [a[2] for a in answers] == [b"n=1"] * 10
    assert sorted(a[1]["x-cache"] for a in answers) == ["HIT"] * 9 + ["MISS"]
    assert count(origin, path) == 1


def test_large_response_passes_through_unstored(proxy: Proxy, origin: Origin) -> None:
    """Over max_object_size (64KiB here): the whole body arrives, nothing is stored."""
    path = "/cache/large?cc=max-age%3D60&size=300000"
    for n in (1, 2):
        status, headers, body = ask(proxy, origin.url(path))
        assert status == 200 and len(body) == 300000 and body.startswith(b"n=%d." % n)
        assert headers["x-cache"] == "MISS"


def test_aborted_download_leaves_nothing(proxy: Proxy, origin: Origin) -> None:
    """An origin closing mid-body: the client sees a short body; the next GET is a miss."""
    path = "/cache/abort?cc=max-age%3D60&size=20000&abort=1"
    for _ in range(2):
        with pytest.raises(http.client.IncompleteRead):
            ask(proxy, origin.url(path))
    assert count(origin, path) == 2


def test_metrics_count_hits_and_misses(proxy: Proxy, origin: Origin) -> None:
    """/metrics has the cache series."""
    path = "/cache/metrics?cc=max-age%3D60"
    ask(proxy, origin.url(path))
    ask(proxy, origin.url(path))
    admin = proxy.ini.read_text().split("admin_listen = tcp:")[1].split(":")[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
        text = r.read().decode()
    for name in ("hits", "misses", "served_bytes"):
        assert f'proxyhub_cache_{name}_total{{listener="forward"}}' in text
    assert "proxyhub_cache_objects " in text and "proxyhub_cache_bytes " in text


@pytest.fixture
def front(tmp_path: Path, origin: Origin) -> Iterator[Proxy]:
    """A reverse listener: on.test caches (cache = yes), off.test does not."""
    backend = f"http://127.0.0.1:{origin.port}"
    sections = {
        "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
        "host:on.test": {"backends": backend, "cache": "yes"},
        "host:off.test": {"backends": backend},
        "cache": {"enabled": "yes"},
    }
    p = Proxy(tmp_path, {}, {"access_log_format": "json"}, sections)
    yield p
    p.stop()


def test_reverse_proxy_caches_hosts_that_opt_in(front: Proxy, origin: Origin) -> None:
    """Only the host with cache = yes answers from the cache; PURGE /path works there."""
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)

    def get(host: str, path: str, method: str = "GET") -> Answer:
        return ask(front, path, method, {"Host": host}, conn)

    on, off = "/cache/rev-on?cc=max-age%3D60", "/cache/rev-off?cc=max-age%3D60"
    assert [get("on.test", on)[1]["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert [get("off.test", off)[2] for _ in range(2)] == [b"n=1", b"n=2"]
    assert "x-cache" not in get("off.test", off)[1]
    status, _, body = get("on.test", on, "PURGE")
    assert (status, json.loads(body)) == (200, {"purged": 1})
    assert get("on.test", on)[2] == b"n=2"


def test_range_requests_are_served_from_the_cache(proxy: Proxy, origin: Origin) -> None:
    """curl -r after a full GET: 206 with the part asked for, 416 past the end; one origin hit."""
    path = "/cache/range?cc=max-age%3D60"
    assert ask(proxy, origin.url(path))[2] == b"n=1"
    part = curl("-i", "-x", proxy.url, "-r", "1-2", origin.url(path))
    head, _, body = part.stdout.partition("\n\n")  # curl -i output, newlines translated
    assert head.startswith("HTTP/1.1 206 ") and body == "=1"
    assert "Content-Range: bytes 1-2/3" in head and "X-Cache: HIT" in head
    past = curl("-i", "-x", proxy.url, "-r", "7-", origin.url(path))
    assert past.stdout.startswith("HTTP/1.1 416 ") and "Content-Range: bytes */3" in past.stdout
    assert count(origin, path) == 1
