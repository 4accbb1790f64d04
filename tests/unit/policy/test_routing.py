"""Tests of proxyhub.policy.routing: host precedence, longest prefix, strip_prefix, the cache."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.config.model import Backend, HostRoute
from proxyhub.policy.routing import Router, host_name, strip


def make_route(
    name: str, prefix: str = "/", aliases: tuple[str, ...] = (), strip_prefix: bool = False
) -> HostRoute:
    """A route with one backend and default settings."""
    return HostRoute(
        name=name,
        prefix=prefix,
        aliases=aliases,
        backends=(Backend("http", "backend", 80),),
        balance="round_robin",
        health_check=None,
        health_interval=10.0,
        health_timeout=2.0,
        health_rise=2,
        health_fall=3,
        ca_file=None,
        tls_verify=True,
        strip_prefix=strip_prefix,
        preserve_host=True,
    )


ROUTES = [
    make_route("example.com", aliases=("www.example.com", "*.example.net")),
    make_route("example.com", "/api/", aliases=("www.example.com", "*.example.net")),
    make_route("example.com", "/api/v1/", aliases=("www.example.com", "*.example.net")),
    make_route("*.example.com"),
    make_route("*.example.com", "/static/"),
    make_route("*.b.example.com"),
    make_route("only.example", "/docs/"),
    make_route("*"),
    make_route("*", "/assets/"),
]
ROUTER = Router(ROUTES)


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("example.com", b"/", "host:example.com"),
        ("EXAMPLE.com:8080", b"/x", "host:example.com"),
        ("example.com.", b"/", "host:example.com"),
        ("example.com.:443", b"/", "host:example.com"),
        (b"Example.Com", b"/", "host:example.com"),
        ("www.example.com", b"/api/x", "host:example.com/api/"),
        ("a.example.net", b"/api/v1/x", "host:example.com/api/v1/"),
        ("example.com", b"/api/", "host:example.com/api/"),
        ("example.com", b"/api", "host:example.com/api/"),
        ("example.com", b"/api?x=1", "host:example.com/api/"),
        ("example.com", b"/apix", "host:example.com"),
        ("example.com", b"/api/v1", "host:example.com/api/v1/"),
        ("example.com", b"/api/v1/users", "host:example.com/api/v1/"),
        ("example.com", b"/api/v10", "host:example.com/api/"),
        ("example.com", b"/API/", "host:example.com"),
        ("example.com", b"/assets/x", "host:example.com"),
        ("example.com", b"*", "host:example.com"),
        ("a.example.com", b"/", "host:*.example.com"),
        ("a.example.com", b"/static/x", "host:*.example.com/static/"),
        ("a.b.example.com", b"/", "host:*.b.example.com"),
        ("a.b.example.com", b"/static/x", "host:*.b.example.com"),
        ("x.a.b.example.com", b"/", "host:*.b.example.com"),
        ("b.example.com", b"/", "host:*.example.com"),
        ("example.net", b"/", "host:*"),
        ("badexample.com", b"/", "host:*"),
        (".example.com", b"/", "host:*"),
        ("example.org", b"/assets/a.css", "host:*/assets/"),
        ("", b"/", "host:*"),
        ("[::1]:8080", b"/", "host:*"),
        ("10.0.0.1", b"/", "host:*"),
        ("only.example", b"/docs/a", "host:only.example/docs/"),
        ("only.example", b"/docs", "host:only.example/docs/"),
        ("only.example", b"/other", None),
        ("only.example", b"/", None),
    ],
)
def test_route(host: str | bytes, path: bytes, expected: str | None) -> None:
    """Exact names and aliases, then longer wildcards, then [host:*]; then the longest prefix."""
    route = ROUTER.route(host, path)
    assert (route.section if route is not None else None) == expected


def test_no_default_host() -> None:
    """Without [host:*] an unknown host has no route (the caller answers 421)."""
    router = Router([make_route("example.com")])
    assert router.route("example.org", b"/") is None
    assert router.route("sub.example.com", b"/") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("example.com:", "example.com"),
        ("example.com.", "example.com"),
        ("example.com.:80", "example.com"),
        ("[2001:DB8::1]:443", "2001:db8::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("example.com:http", "example.com:http"),
        (" example.com ", "example.com"),
        ("", ""),
    ],
)
def test_host_name(value: str, expected: str) -> None:
    """A Host value loses case, port, a trailing dot and IPv6 brackets, and nothing else."""
    assert host_name(value) == expected


@pytest.mark.parametrize(
    ("prefix", "strip_prefix", "path", "expected"),
    [
        ("/api/", True, b"/api/users", b"/users"),
        ("/api/", True, b"/api/users?id=1", b"/users?id=1"),
        ("/api/", True, b"/api/", b"/"),
        ("/api/", True, b"/api", b"/"),
        ("/api/", True, b"/api?q=1", b"/?q=1"),
        ("/api/v1/", True, b"/api/v1/x/y", b"/x/y"),
        ("/api/", True, b"/other", b"/other"),
        ("/api/", False, b"/api/users", b"/api/users"),
        ("/", False, b"/x", b"/x"),
    ],
)
def test_strip(prefix: str, strip_prefix: bool, path: bytes, expected: bytes) -> None:
    """strip_prefix removes the prefix but keeps the leading slash; otherwise paths pass as-is."""
    route = make_route("example.com", prefix, strip_prefix=strip_prefix)
    assert strip(route, path) == expected
    assert Router.strip(route, path) == expected


def test_duplicate_routes_refused() -> None:
    """Two routes for one name and prefix (an alias counts) are a ValueError."""
    with pytest.raises(ValueError, match=r"two routes for www\.example\.com/"):
        Router(
            [make_route("example.com", aliases=("www.example.com",)), make_route("www.example.com")]
        )


def test_cache_is_bounded() -> None:
    """The host cache never grows past its size, and answers stay right after evictions."""
    router = Router(ROUTES, cache_size=2)
    expected: dict[str | bytes, str] = {
        "example.com": "example.com",
        "a.example.com": "*.example.com",
        "example.org": "*",
        b"example.com": "example.com",
    }
    for _ in range(2):
        for host, name in expected.items():
            route = router.route(host, b"/")
            assert route is not None
            assert route.name == name
            assert len(router._cache) <= 2


LABELS = st.sampled_from(["a", "b", "c"])
NAMES = st.lists(LABELS, min_size=1, max_size=3).map(".".join)
PATTERNS = st.one_of(NAMES, NAMES.map(lambda name: "*." + name), st.just("*"))


def reference_host(host: str, patterns: set[str]) -> str | None:
    """The pattern DESIGN.md section 4 says should win, by brute force."""
    if host in patterns:
        return host
    wildcards = [p for p in patterns if p.startswith("*.") and host.endswith(p[1:])]
    if wildcards:
        return max(wildcards, key=len)
    return "*" if "*" in patterns else None


@given(
    st.sets(PATTERNS, min_size=1, max_size=8),
    st.lists(LABELS, min_size=1, max_size=5).map(".".join),
    st.sampled_from(["", ".", ":8080", ".:443"]),
    st.booleans(),
)
def test_host_precedence_property(
    patterns: set[str], host: str, decoration: str, upper: bool
) -> None:
    """For any patterns and host: exact, then longest wildcard, then '*', else no route."""
    router = Router([make_route(pattern) for pattern in patterns])
    value = (host.upper() if upper else host) + decoration
    route = router.route(value, b"/")
    assert (route.name if route is not None else None) == reference_host(host, patterns)


SEGMENTS = st.sampled_from(["a", "b", "ab"])
PREFIXES = st.lists(SEGMENTS, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s) + "/")


@given(
    st.sets(PREFIXES, max_size=6),
    st.booleans(),
    st.lists(SEGMENTS, max_size=4).map(lambda s: "/" + "/".join(s)),
    st.sampled_from(["", "/", "?q"]),
)
def test_longest_prefix_property(prefixes: set[str], with_root: bool, path: str, tail: str) -> None:
    """The longest prefix the path starts with (or equals without its slash) wins, else '/'."""
    routes = [make_route("h", prefix) for prefix in prefixes]
    routes += [make_route("h")] if with_root else []
    target = path + tail
    bare = target.partition("?")[0]
    matching = [p for p in prefixes if target.startswith(p) or bare == p[:-1]]
    expected = max(matching, key=len) if matching else ("/" if with_root else None)
    route = Router(routes).route("h", target.encode())
    assert (route.prefix if route is not None else None) == expected
