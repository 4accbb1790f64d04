"""Host name patterns: ``*``, exact names and ``*.suffix`` wildcards.

``*`` matches any host; ``example.com`` matches only itself; ``*.example.com``
matches ``a.example.com`` and ``a.b.example.com`` but never ``example.com``.
Matching is on normalized hosts: lower-case, one trailing dot dropped, IPv6
brackets removed.
"""

from __future__ import annotations

from collections.abc import Iterable

from proxyhub.policy.addresses import canonical_address, parse_ip_literal


def normalize_host(host: str) -> str:
    """Return ``host`` lower-cased, without one trailing dot and without IPv6 brackets."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    if host.endswith("."):
        return host[:-1]
    return host


def host_matches(host: str, pattern: str) -> bool:
    """Return whether ``host`` matches one pattern (both are normalized first)."""
    return _matches(normalize_host(host), normalize_host(pattern))


def first_match(host: str, patterns: Iterable[str]) -> str | None:
    """Return the first of ``patterns`` that ``host`` matches, as written, or None."""
    host = normalize_host(host)
    for pattern in patterns:
        if _matches(host, normalize_host(pattern)):
            return pattern
    return None


def _matches(host: str, pattern: str) -> bool:
    """Match a normalized host against a normalized pattern."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return len(host) > len(suffix) and host.endswith(suffix)
    return host == pattern


class HostPatterns:
    """A pattern list compiled for cheap lookups: one set probe per label.

    Exact patterns that are IP literals are stored in canonical form (so
    ``0x7f.1`` in a list matches a host checked as ``127.0.0.1``).  When
    several patterns match, the most specific one is reported: an exact name,
    then the longest wildcard, then ``*``.
    """

    __slots__ = ("_any", "_exact", "_suffixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        self._exact: dict[str, str] = {}
        self._suffixes: dict[str, str] = {}
        self._any: str | None = None
        for pattern in patterns:
            self._add(pattern)

    def _add(self, pattern: str) -> None:
        """Compile one pattern; the first spelling of a duplicate wins."""
        key = normalize_host(pattern)
        if key == "*":
            self._any = self._any or pattern
        elif key.startswith("*."):
            self._suffixes.setdefault(key[1:], pattern)
        else:
            literal = parse_ip_literal(key)
            if literal is not None:
                key = str(canonical_address(literal))
            self._exact.setdefault(key, pattern)

    def __bool__(self) -> bool:
        """Return whether any pattern was given."""
        return bool(self._exact or self._suffixes or self._any is not None)

    def match(self, host: str) -> str | None:
        """Return the pattern (as written) that the normalized ``host`` matches, or None."""
        found = self._exact.get(host)
        if found is not None:
            return found
        if self._suffixes:
            dot = host.find(".", 1)
            while dot != -1:
                found = self._suffixes.get(host[dot:])
                if found is not None:
                    return found
                dot = host.find(".", dot + 1)
        return self._any
