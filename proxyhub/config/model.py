"""Frozen, validated configuration records; the loader builds them, nothing mutates them."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

Network = IPv4Network | IPv6Network


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


@dataclass(frozen=True)
class Config:
    """The whole file. Sections not present are ``None``."""

    path: str
    proxyhub: ProxyhubSettings
    forward: ForwardSettings | None
