"""The configuration contract: every section and key, its default and how it is read.

Defaults are written as the text a user would write, and go through the same parser as a
value from the file, so a default can never bypass validation. The tables here are the
single source for the loader and for tools that explain the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxyhub.config import values as v
from proxyhub.config.units import parse_size


@dataclass(frozen=True)
class Key:
    """One key of a section: its name, default text (None = computed), parser and meaning."""

    name: str
    default: str | None
    parse: Callable[[str], object]
    doc: str


DEFAULT_DENY_DESTINATIONS = (
    "127.0.0.0/8 ::1/128 0.0.0.0/8 ::/128 169.254.0.0/16 fe80::/10 "
    "224.0.0.0/4 ff00::/8 255.255.255.255/32"
)

PROXYHUB_KEYS: tuple[Key, ...] = (
    Key("name", None, v.server_name, "our name in Via and error pages; unique per instance"),
    Key("workers", "1", v.workers, 'processes sharing the listeners; "auto" = one per CPU'),
    Key("access_log", "-", v.access_log, '"-" stdout, a file path, or "off"'),
    Key("access_log_format", "combined", v.one_of("combined", "json"), "combined | json"),
    Key("admin_listen", "", v.list_of(v.endpoint), "/healthz, /metrics, /status; optional"),
    Key("connect_timeout", "10s", v.positive_duration, "upstream TCP/TLS connect"),
    Key("header_timeout", "30s", v.positive_duration, "the whole request head must arrive"),
    Key("idle_timeout", "60s", v.positive_duration, "keep-alive idle, and idle body receive"),
    Key("read_timeout", "60s", v.positive_duration, "waiting for an upstream response"),
    Key("tunnel_idle_timeout", "300s", v.positive_duration, "an idle CONNECT tunnel"),
    Key("half_close_timeout", "30s", v.positive_duration, "a tunnel with one side closed"),
    Key("tls_handshake_timeout", "10s", v.positive_duration, "a TLS handshake"),
    Key("drain_timeout", "30s", v.positive_duration, "graceful stop: in-flight work gets this"),
    Key("max_target_size", "8KiB", v.positive_size, "request line; over it -> 414"),
    Key("max_header_size", "32KiB", v.positive_size, "request head; over it -> 431"),
    Key("max_headers", "100", v.positive_int, "header count; over it -> 431"),
    Key("max_body_size", "0", parse_size, "0 = unlimited (streamed); over it -> 413"),
    Key("max_connections", "10000", v.positive_int, "per process; over it, wait in backlog"),
)

FORWARD_KEYS: tuple[Key, ...] = (
    Key("listen", "tcp:3128:interface=127.0.0.1", v.non_empty(v.list_of(v.endpoint)),
        "Twisted endpoint descriptions, one or more"),
    Key("allow_clients", "127.0.0.0/8 ::1", v.list_of(v.network), "who may use the proxy"),
    Key("connect_ports", "443", v.port_or_any, "ports CONNECT may reach; * = any"),
    Key("deny_destinations", DEFAULT_DENY_DESTINATIONS, v.list_of(v.network),
        "networks never connected to, checked on resolved addresses"),
    Key("allow_domains", "*", v.list_of(v.domain_pattern), "example.com, *.example.com, *"),
    Key("deny_domains", "", v.list_of(v.domain_pattern), "deny wins over allow"),
    Key("auth_file", "", v.existing_file, "htpasswd; when set, proxy auth is required"),
    Key("auth_realm", "proxyhub", v.realm, "the realm named in 407 Proxy-Authenticate"),
    Key("auth_plaintext", "no", v.boolean, "yes: accept plaintext htpasswd entries (not advised)"),
    Key("auth_cache_ttl", "5m", v.duration,
        "how long a verified user:password is remembered; 0 = verify every request"),
    Key("parent", "", v.list_of(v.parent_proxy), "http://[user:pass@]host:port parents"),
    Key("parent_bypass", "", v.list_of(v.domain_pattern), "host patterns reached directly"),
    Key("forwarded_for", "add", v.one_of("add", "delete", "keep"), "add | delete | keep"),
    Key("via", "yes", v.boolean, "add a Via header"),
    Key("sni_guard", "no", v.boolean,
        "CONNECT: the TLS ClientHello's SNI must name the CONNECT host (domain-fronting guard)"),
    Key("pac_direct", "", v.list_of(v.domain_pattern),
        "extra host patterns the PAC file sends DIRECT (besides parent_bypass)"),
)  # fmt: skip

SOCKS_KEYS: tuple[Key, ...] = (
    Key("listen", "tcp:1080:interface=127.0.0.1", v.non_empty(v.list_of(v.endpoint)),
        "SOCKS5 and SOCKS4a listeners; client and destination rules come from [forward]"),
    Key("ports", "*", v.port_or_any, "destination ports allowed; * = any"),
)  # fmt: skip

REVERSE_KEYS: tuple[Key, ...] = (
    Key("listen", "tcp:8080", v.list_of(v.endpoint),
        "plain HTTP listeners; may be empty when tls_listen is set"),
    Key("tls_listen", "", v.list_of(v.endpoint), "TLS listeners; the certificate is chosen by SNI"),
    Key("certificates", "", v.list_of(v.certificate_pattern),
        "PEM files (glob patterns, relative to the working directory): key, leaf and chain"),
    Key("redirect_to_https", "no", v.boolean, "answer plain HTTP with 308 to https://"),
    Key("hsts_max_age", "0", v.duration,
        "Strict-Transport-Security max-age on HTTPS answers, e.g. 8760h; 0 = off"),
    Key("trusted_proxies", "", v.list_of(v.network),
        "CIDRs whose X-Forwarded-* / Forwarded are kept"),
    Key("proxy_protocol", "no", v.boolean,
        "yes: every reverse connection starts with a PROXY v1/v2 header (behind an L4 balancer)"),
)  # fmt: skip

BALANCE_CHOICES = ("round_robin", "least_conn", "random", "ip_hash")

# The keys of every [host:NAME] and [host:NAME/prefix/] section. ``backends`` has no default:
# every route needs its own. ``aliases`` is only allowed on [host:NAME].
HOST_KEYS: tuple[Key, ...] = (
    Key("aliases", "", v.list_of(v.host_alias), "other names: www.example.com, *.example.org"),
    Key("backends", None, v.non_empty(v.list_of(v.backend)),
        "http://host[:port] or https://host[:port] URLs, one or more"),
    Key("balance", "round_robin", v.one_of(*BALANCE_CHOICES),
        "round_robin | least_conn | random | ip_hash"),
    Key("health_check", "", v.health_path, "active check path, e.g. /healthz; off when empty"),
    Key("health_interval", "10s", v.positive_duration, "time between active checks"),
    Key("health_timeout", "2s", v.positive_duration, "an active check must answer within this"),
    Key("health_rise", "2", v.positive_int, "passes in a row to mark a backend up"),
    Key("health_fall", "3", v.positive_int,
        "failures in a row (active or connect) to mark a backend down"),
    Key("ca_file", "", v.existing_file, "CA bundle for https:// backends; default: system store"),
    Key("tls_verify", "yes", v.boolean, '"no" only on purpose, and logged as a warning'),
    Key("strip_prefix", "no", v.boolean, "path routes: remove the prefix before forwarding"),
    Key("preserve_host", "yes", v.boolean,
        "send the client's Host (yes) or the backend's host:port (no)"),
    Key("cache", "no", v.boolean,
        "yes: keep this route's responses in the [cache] (needs [cache] enabled = yes)"),
)  # fmt: skip

CACHE_KEYS: tuple[Key, ...] = (
    Key("enabled", "no", v.boolean,
        "yes: an HTTP cache (RFC 9111) for [forward] and the host sections with cache = yes"),
    Key("memory_size", "64MiB", v.positive_size,
        "bound of the in-memory store: bodies, stored fields and a per-entry overhead"),
    Key("max_object_size", "8MiB", v.positive_size,
        "larger responses stream through without being stored"),
    Key("max_variants", "8", v.positive_int, "responses kept per URI for different Vary values"),
    Key("heuristic_max", "24h", v.duration,
        "cap of heuristic freshness (10% of the age of Last-Modified); 0 = no heuristic"),
    Key("purge_from", "127.0.0.1/32 ::1/128", v.list_of(v.network),
        "client networks allowed to send PURGE"),
    Key("collapse_timeout", "30s", v.duration,
        "a miss waiting for another request's fetch of the same URI waits at most this; "
        "0 = no collapsing"),
)  # fmt: skip

SECTIONS: dict[str, tuple[Key, ...]] = {
    "proxyhub": PROXYHUB_KEYS,
    "forward": FORWARD_KEYS,
    "socks": SOCKS_KEYS,
    "reverse": REVERSE_KEYS,
    "cache": CACHE_KEYS,
}

# Virtual host sections: [host:NAME] and [host:NAME/prefix/], all with HOST_KEYS.
HOST_PREFIX = "host:"
HOST_SECTION = "host:NAME"  # how the family is named in messages

# Recognised, but not implemented yet.
PLANNED_SECTIONS: tuple[str, ...] = ()


def sections_of(key: str) -> list[str]:
    """The sections that have ``key`` (``host:NAME`` for the host keys), in schema order."""
    homes = [section for section, keys in SECTIONS.items() if any(k.name == key for k in keys)]
    if any(spec.name == key for spec in HOST_KEYS):
        homes.append(HOST_SECTION)
    return homes
