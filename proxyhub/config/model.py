"""Frozen, validated configuration records; the loader builds them, nothing mutates them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from ipaddress import IPv4Network, IPv6Network
from typing import Any

Network = IPv4Network | IPv6Network


def _hash_once(record: Any) -> int:
    """The hash of a frozen record's fields, computed on first use and kept.

    Backends and routes are dict keys on every request; the generated
    ``__hash__`` rehashed every field (a route holds its backends) each time.
    """
    cached = record.__dict__.get("_hash")
    if cached is None:
        cached = record.__dict__["_hash"] = hash(
            tuple(getattr(record, f.name) for f in fields(record))
        )
    return int(cached)


@dataclass(frozen=True)
class ParentProxy:
    """One ``parent`` entry: ``http://[user:pass@]host:port``."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class ProxyhubSettings:
    """The ``[proxyhub]`` section. Durations are seconds (float), sizes are bytes (int)."""

    name: str
    workers: int
    access_log: str  # "-" (stdout), a file path, or "off"
    access_log_format: str  # "combined" | "json"
    admin_listen: tuple[str, ...]
    connect_timeout: float
    header_timeout: float
    idle_timeout: float
    read_timeout: float
    tunnel_idle_timeout: float
    half_close_timeout: float
    tls_handshake_timeout: float
    drain_timeout: float
    max_target_size: int
    max_header_size: int
    max_headers: int
    max_body_size: int  # 0 = unlimited
    max_connections: int


@dataclass(frozen=True)
class ForwardSettings:
    """The ``[forward]`` section."""

    listen: tuple[str, ...]  # Twisted server endpoint descriptions
    allow_clients: tuple[Network, ...]
    connect_ports: frozenset[int] | None  # None means "*" (any port)
    deny_destinations: tuple[Network, ...]
    allow_domains: tuple[str, ...]  # lower-case patterns: "example.com", "*.example.com", "*"
    deny_domains: tuple[str, ...]
    auth_file: str | None
    parent: tuple[ParentProxy, ...]
    parent_bypass: tuple[str, ...]
    forwarded_for: str  # "add" | "delete" | "keep"
    via: bool
    auth_realm: str = "proxyhub"
    auth_plaintext: bool = False
    auth_cache_ttl: float = 300.0
    sni_guard: bool = False  # CONNECT: the ClientHello's SNI must match the CONNECT host
    pac_direct: tuple[str, ...] = ()


@dataclass(frozen=True)
class SocksSettings:
    """The ``[socks]`` section; the access rules are ``[forward]``'s."""

    listen: tuple[str, ...]
    ports: frozenset[int] | None  # None means "*" (any port)


@dataclass(frozen=True)
class ReverseSettings:
    """The ``[reverse]`` section."""

    listen: tuple[str, ...]  # plain HTTP listeners; may be empty when tls_listen is not
    tls_listen: tuple[str, ...]  # TLS listeners; the certificate is chosen by SNI
    certificates: tuple[str, ...]  # glob patterns as written (relative to the working directory)
    certificate_files: tuple[str, ...]  # the regular files they matched at load time, sorted
    redirect_to_https: bool
    trusted_proxies: tuple[Network, ...]
    hsts_max_age: float = 0.0  # seconds; 0 = no Strict-Transport-Security header
    proxy_protocol: bool = False  # connections start with a PROXY protocol v1/v2 header


DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Backend:
    """One ``backends`` entry: ``http://host[:port]`` or ``https://host[:port]``."""

    scheme: str  # "http" | "https"
    host: str  # lower-case name or IP address (IPv6 without brackets)
    port: int

    @property
    def tls(self) -> bool:
        """Whether the backend is reached over TLS (``https://``)."""
        return self.scheme == "https"

    @property
    def url(self) -> str:
        """``scheme://host:port``, IPv6 addresses in brackets; stable, so usable as an id."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url

    __hash__ = _hash_once


@dataclass(frozen=True)
class HostRoute:
    """One ``[host:NAME]`` (``prefix == "/"``) or ``[host:NAME/prefix/]`` section.

    A path route has no ``aliases`` key of its own: it inherits the aliases of its
    ``[host:NAME]`` section (none when that section does not exist). Every other setting is
    the route's own, with the documented defaults.
    """

    name: str  # lower-case: "example.com", "*.example.com" or "*" (the default host)
    prefix: str  # "/" for a host section, "/api/" for [host:NAME/api/]
    aliases: tuple[str, ...]  # other names of the host: "www.example.com", "*.example.org"
    backends: tuple[Backend, ...]  # at least one, no duplicates
    balance: str  # "round_robin" | "least_conn" | "random" | "ip_hash"
    health_check: str | None  # the active check path, None = no active checks
    health_interval: float
    health_timeout: float
    health_rise: int
    health_fall: int
    ca_file: str | None  # CA bundle for https:// backends, None = the system store
    tls_verify: bool
    strip_prefix: bool  # only ever True on a path route
    preserve_host: bool  # send the client's Host (True) or the backend's host:port (False)
    cache: bool = False  # keep responses in the [cache] (when it is enabled)

    __hash__ = _hash_once

    @property
    def section(self) -> str:
        """The section name, normalized: ``host:example.com`` or ``host:example.com/api/``."""
        path = self.prefix if self.prefix != "/" else ""
        return f"host:{self.name}{path}"


@dataclass(frozen=True)
class CacheSettings:
    """The ``[cache]`` section: the HTTP cache shared by the forward and reverse proxies."""

    enabled: bool
    memory_size: int  # bytes
    max_object_size: int  # bytes
    max_variants: int
    heuristic_max: float  # seconds; 0 = no heuristic freshness
    purge_from: tuple[Network, ...]
    collapse_timeout: float  # seconds; 0 = no collapsed forwarding


@dataclass(frozen=True)
class Config:
    """The whole file. Sections not present are ``None``; ``routes`` are in file order."""

    path: str
    proxyhub: ProxyhubSettings
    forward: ForwardSettings | None
    reverse: ReverseSettings | None = None
    routes: tuple[HostRoute, ...] = ()
    socks: SocksSettings | None = None
    cache: CacheSettings | None = None  # None when the file has no [cache] section
