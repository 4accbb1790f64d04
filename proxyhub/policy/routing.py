"""Virtual host and path routing for the reverse proxy: (Host, path) -> :class:`HostRoute`.

The host is chosen first, then the route within it:

1. **Host.** The Host value is lower-cased; its port, one trailing dot and IPv6 brackets are
   dropped. Exact names and aliases win; then ``*.suffix`` wildcards, the longest suffix
   first (``*.example.com`` matches ``a.example.com`` and ``a.b.example.com``, never
   ``example.com``); then ``[host:*]``. The host found is final: a request never falls
   back to a less specific host.
2. **Path.** Within that host, the longest path prefix the path starts with wins. A prefix
   ``/api/`` also takes the path ``/api`` itself (and ``/api?query``), so that a link
   without the trailing slash reaches the same backends. The host's own section (prefix
   ``/``) takes every other path; a host known only from path routes has none, and paths
   outside its prefixes get no route.

No route (``None``) means the caller answers 421. Paths are compared byte for byte, case
included, without percent-decoding or dot-segment removal (what the HTTP layer accepts is
its own business); a query (from the first ``?``) does not take part in the match.

Host lookups are memoized in a bounded dict keyed by the raw Host value, so a busy site
pays one dict probe per request for its host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxyhub.config.model import HostRoute

_QUERY = ord("?")


def host_name(value: str) -> str:
    """The host of a Host value: lower-case, without port, one trailing dot or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end != -1 else value
    name, colon, port = value.rpartition(":")
    if colon and ":" not in name and (not port or port.isdigit()):
        value = name
    return value[:-1] if value.endswith(".") else value


def _bare_match(path: bytes, bare: bytes) -> bool:
    """Whether ``path`` is ``bare`` itself, or ``bare`` followed by a query."""
    size = len(bare)
    return path.startswith(bare) and (len(path) == size or path[size] == _QUERY)


def strip(route: HostRoute, path: bytes) -> bytes:
    """The path for the backend: without the route's prefix if ``strip_prefix`` is set.

    The result always starts with ``/`` (``/api/x`` -> ``/x``, ``/api/`` and ``/api`` ->
    ``/``, ``/api?q`` -> ``/?q``); a path the route does not match is returned unchanged.
    """
    if not route.strip_prefix or route.prefix == "/":
        return path
    prefix = route.prefix.encode("ascii")
    if path.startswith(prefix):
        return path[len(prefix) - 1 :]
    if _bare_match(path, prefix[:-1]):
        return b"/" + path[len(prefix) - 1 :]
    return path


@dataclass(frozen=True)
class _Host:
    """The routes of one host name: its own section and its path routes, longest first."""

    root: HostRoute | None
    paths: tuple[tuple[bytes, bytes, HostRoute], ...]  # (prefix, prefix without "/", route)

    def route(self, path: bytes) -> HostRoute | None:
        """The route of the longest prefix ``path`` matches, else the host's own section."""
        for prefix, bare, route in self.paths:
            if path.startswith(prefix) or _bare_match(path, bare):
                return route
        return self.root


def _make_host(name: str, routes: list[HostRoute]) -> _Host:
    """Group the routes of one name; two routes for one prefix are a ``ValueError``."""
    by_prefix: dict[str, HostRoute] = {}
    for route in routes:
        if by_prefix.setdefault(route.prefix, route) is not route:
            raise ValueError(f"two routes for {name}{route.prefix}")
    root = by_prefix.pop("/", None)
    ordered = sorted(by_prefix.items(), key=lambda item: len(item[0]), reverse=True)
    paths = tuple((p.encode("ascii"), p[:-1].encode("ascii"), r) for p, r in ordered)
    return _Host(root, paths)


class Router:
    """Finds the route of a request; built once per configuration, cheap per request."""

    strip = staticmethod(strip)

    def __init__(self, routes: Iterable[HostRoute], cache_size: int = 1024) -> None:
        grouped: dict[str, list[HostRoute]] = {}
        for route in routes:
            for name in (route.name, *route.aliases):
                grouped.setdefault(name, []).append(route)
        hosts = {name: _make_host(name, group) for name, group in grouped.items()}
        self._default = hosts.pop("*", None)
        self._exact = {name: host for name, host in hosts.items() if not name.startswith("*.")}
        # "*.example.com" is stored as ".example.com": the part of the host after a label.
        self._suffixes = {name[1:]: host for name, host in hosts.items() if name.startswith("*.")}
        self._cache: dict[bytes | str, _Host | None] = {}
        self._cache_size = max(cache_size, 1)

    def route(self, host_header: bytes | str, path: bytes) -> HostRoute | None:
        """The route for a request to ``host_header`` (a Host value) and ``path``, or None."""
        try:
            host = self._cache[host_header]
        except KeyError:
            host = self._remember(host_header)
        return host.route(path) if host is not None else None

    def _remember(self, host_header: bytes | str) -> _Host | None:
        """Look a Host value up and cache the answer, forgetting the oldest when full."""
        text = host_header.decode("latin-1") if isinstance(host_header, bytes) else host_header
        host = self._find(host_name(text))
        if len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[host_header] = host
        return host

    def _find(self, name: str) -> _Host | None:
        """Exact name, then the longest wildcard suffix, then the default host."""
        host = self._exact.get(name)
        if host is not None:
            return host
        if self._suffixes:
            dot = name.find(".", 1)
            while dot != -1:
                host = self._suffixes.get(name[dot:])
                if host is not None:
                    return host
                dot = name.find(".", dot + 1)
        return self._default
