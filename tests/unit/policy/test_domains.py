"""Tests of proxyhub.policy.domains: normalization, pattern matching, compiled pattern sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.policy.domains import HostPatterns, first_match, host_matches, normalize_host

NORMALIZE = [
    ("Example.COM", "example.com"),
    ("example.com.", "example.com"),
    ("example.com..", "example.com."),
    ("[::1]", "::1"),
    ("[2001:DB8::1]", "2001:db8::1"),
    ("::1", "::1"),
    ("", ""),
]


@pytest.mark.parametrize(("host", "expected"), NORMALIZE)
def test_normalize_host(host: str, expected: str) -> None:
    """Hosts are lower-cased, lose one trailing dot and lose IPv6 brackets."""
    assert normalize_host(host) == expected


MATCHES = [
    ("example.com", "*", True),
    ("", "*", True),
    ("example.com", "example.com", True),
    ("EXAMPLE.com.", "example.com", True),
    ("example.com", "Example.COM", True),
    ("www.example.com", "example.com", False),
    ("example.com.evil.test", "example.com", False),
    ("notexample.com", "example.com", False),
    ("a.example.com", "*.example.com", True),
    ("a.b.example.com", "*.example.com", True),
    ("A.Example.Com.", "*.example.com", True),
    ("example.com", "*.example.com", False),
    ("badexample.com", "*.example.com", False),
    (".example.com", "*.example.com", False),
    ("example.com.evil.test", "*.example.com", False),
    ("a.example.com", "*.com", True),
    ("com", "*.com", False),
    ("::1", "::1", True),
    ("[::1]", "::1", True),
]


@pytest.mark.parametrize(("host", "pattern", "expected"), MATCHES)
def test_host_matches(host: str, pattern: str, expected: bool) -> None:
    """``*`` matches all, names match exactly, ``*.x`` matches strict subdomains of x."""
    assert host_matches(host, pattern) is expected


@pytest.mark.parametrize(("host", "pattern", "expected"), MATCHES)
def test_host_patterns_agree(host: str, pattern: str, expected: bool) -> None:
    """A compiled one-pattern set matches exactly when host_matches does."""
    found = HostPatterns([pattern]).match(normalize_host(host))
    assert (found is not None) is expected


FIRST = [
    ("a.example.com", ("other.test", "*.example.com", "*"), "*.example.com"),
    ("a.example.com", ("*", "*.example.com"), "*"),
    ("example.com", ("*.example.com", "example.com"), "example.com"),
    ("nothing.test", ("*.example.com", "example.com"), None),
    ("x.test", (), None),
]


@pytest.mark.parametrize(("host", "patterns", "expected"), FIRST)
def test_first_match(host: str, patterns: tuple[str, ...], expected: str | None) -> None:
    """The first matching pattern in list order is returned, as written."""
    assert first_match(host, patterns) == expected


SPECIFIC = [
    ("example.com", "example.com"),
    ("a.example.com", "*.a.example.com|*.example.com|*"),
    ("x.a.example.com", "*.a.example.com"),
    ("b.example.com", "*.example.com"),
    ("other.test", "*"),
]


@pytest.mark.parametrize(("host", "expected"), SPECIFIC)
def test_host_patterns_prefers_specific(host: str, expected: str) -> None:
    """A compiled set reports the exact name, then the longest wildcard, then ``*``."""
    patterns = HostPatterns(["*", "*.example.com", "*.a.example.com", "example.com"])
    assert patterns.match(host) in expected.split("|")
    assert patterns.match("x.a.example.com") == "*.a.example.com"


def test_host_patterns_report_spelling_and_canonicalize_ip_literals() -> None:
    """Patterns come back as written, and IP-literal patterns match their canonical form."""
    patterns = HostPatterns(["Example.COM.", "0x7f.1", "[::1]"])
    assert patterns.match("example.com") == "Example.COM."
    assert patterns.match("127.0.0.1") == "0x7f.1"
    assert patterns.match("::1") == "[::1]"


def test_host_patterns_truthiness() -> None:
    """An empty set is falsy and matches nothing; any pattern makes it truthy."""
    assert not HostPatterns([])
    assert HostPatterns([]).match("example.com") is None
    assert HostPatterns(["*"])
    assert HostPatterns(["a.test"])


LABEL = st.from_regex(r"[abcxyz][abcxyz019-]{0,5}", fullmatch=True)  # never an IP literal
HOST = st.lists(LABEL, min_size=1, max_size=5).map(".".join)


@given(HOST, st.lists(st.one_of(HOST, HOST.map("*.{}".format), st.just("*")), max_size=6))
def test_compiled_set_agrees_with_first_match(host: str, patterns: list[str]) -> None:
    """A compiled set matches some pattern exactly when first_match finds one."""
    found = HostPatterns(patterns).match(host)
    assert (found is None) == (first_match(host, patterns) is None)
    if found is not None:
        assert host_matches(host, found)
