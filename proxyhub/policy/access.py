"""Forward-proxy access rules: who may use the proxy, and where it may go.

``AccessPolicy`` is built once from ``[forward]`` and answers each question
with a ``Decision`` naming the configuration rule that decided, so a denial
can be logged and explained.  Checks are cheap: patterns, networks and the
proxy's own addresses are compiled in ``from_settings``.

The caller asks, in order: ``check_client`` when a connection arrives,
``check_host`` on the request's target host, ``check_connect_port`` for
CONNECT, and ``check_destination`` on every address the host resolved to
(which also catches a request addressed to the proxy itself: 508).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address

from proxyhub.config.model import ForwardSettings, Network
from proxyhub.policy.addresses import (
    IPAddress,
    NetworkSet,
    canonical_address,
    parse_ip_literal,
)
from proxyhub.policy.domains import HostPatterns, normalize_host

OK = 200
_MEMO_SIZE = 4096
FORBIDDEN = 403
BAD_REQUEST = 400
LOOP = 508

# Listener interfaces that mean "every address of this machine".
_WILDCARD_INTERFACES = frozenset({"", "*", "0.0.0.0", "::"})


@dataclass(frozen=True, slots=True)
class Decision:
    """One answer: allowed or not, the rule that decided, and the status to answer if denied.

    ``status`` is 200 for allowed decisions.
    """

    allowed: bool
    rule: str
    status: int


def _deny(rule: str, status: int = FORBIDDEN) -> Decision:
    """Return a denial naming ``rule``."""
    return Decision(False, rule, status)


def _allow(rule: str) -> Decision:
    """Return an approval naming ``rule``."""
    return Decision(True, rule, OK)


class AccessPolicy:
    """The ``[forward]`` access rules, compiled; every check returns a ``Decision``."""

    __slots__ = (
        "_allow_clients",
        "_allow_domains",
        "_connect_ports",
        "_deny_destinations",
        "_deny_domains",
        "_memo",
        "_own_exact",
        "_own_ports",
    )

    def __init__(
        self,
        *,
        allow_clients: Iterable[Network],
        connect_ports: frozenset[int] | None,
        deny_destinations: Iterable[Network],
        allow_domains: Iterable[str],
        deny_domains: Iterable[str],
        own_addresses: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self._allow_clients = NetworkSet(allow_clients)
        self._connect_ports = connect_ports
        self._deny_destinations = NetworkSet(deny_destinations)
        self._allow_domains = HostPatterns(allow_domains)
        self._deny_domains = HostPatterns(deny_domains)
        self._own_exact: dict[tuple[IPAddress, int], str] = {}
        self._own_ports: dict[int, str] = {}
        self._memo: dict[tuple[str, object], Decision] = {}
        for host, port in sorted(own_addresses):
            self._add_own(host, port)

    @classmethod
    def from_settings(
        cls,
        fwd: ForwardSettings,
        own_addresses: frozenset[tuple[str, int]] = frozenset(),
    ) -> AccessPolicy:
        """Build the policy of a ``[forward]`` section plus the proxy's listening addresses."""
        return cls(
            allow_clients=fwd.allow_clients,
            connect_ports=fwd.connect_ports,
            deny_destinations=fwd.deny_destinations,
            allow_domains=fwd.allow_domains,
            deny_domains=fwd.deny_domains,
            own_addresses=own_addresses,
        )

    def _add_own(self, host: str, port: int) -> None:
        """Record one listening address; a wildcard or a name covers loopback on its port."""
        label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        literal = parse_ip_literal(host)
        if host in _WILDCARD_INTERFACES or literal is None:
            self._own_ports.setdefault(port, label)
        else:
            self._own_exact.setdefault((canonical_address(literal), port), label)

    def _remember(self, key: tuple[str, object], decision: Decision) -> Decision:
        """Keep a decision: the policy is immutable, so the same question has the same answer."""
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = decision
        return decision

    def check_client(self, ip: str) -> Decision:
        """Decide whether the client at ``ip`` may use the proxy (``allow_clients``)."""
        hit = self._memo.get(("client", ip))
        return hit if hit is not None else self._remember(("client", ip), self._client(ip))

    def check_host(self, host: str) -> Decision:
        """Decide whether the target ``host`` may be reached, before resolving it.

        ``deny_domains`` wins over ``allow_domains``.  An IP literal, in any
        spelling, is matched as its canonical form against both pattern lists
        and against ``deny_destinations``.
        """
        hit = self._memo.get(("host", host))
        return hit if hit is not None else self._remember(("host", host), self._host(host))

    def check_destination(self, ip: str, port: int) -> Decision:
        """Decide whether a resolved address may be connected to.

        The proxy's own listening addresses give 508 (a loop); ``deny_destinations``
        gives 403.
        """
        key = (ip, port)
        hit = self._memo.get(key)
        return hit if hit is not None else self._remember(key, self._destination(ip, port))

    def _client(self, ip: str) -> Decision:
        address = _parse_address(ip)
        if address is None:
            return _deny(f"allow_clients: {ip} is not an IP address")
        network = self._allow_clients.find(address)
        if network is None:
            return _deny(f"allow_clients: {ip} not listed")
        return _allow(f"allow_clients: {network}")

    def _host(self, host: str) -> Decision:
        name = normalize_host(host)
        if not name:
            return _deny("host: empty", BAD_REQUEST)
        if "%" in name:
            return _deny("host: IPv6 zone identifiers are refused")
        literal = parse_ip_literal(name)
        if literal is not None:
            literal = canonical_address(literal)
            name = str(literal)
        pattern = self._deny_domains.match(name)
        if pattern is not None:
            return _deny(f"deny_domains: {pattern}")
        if literal is not None:
            network = self._deny_destinations.find(literal)
            if network is not None:
                return _deny(f"deny_destinations: {network} (literal {name})")
        pattern = self._allow_domains.match(name)
        if pattern is None:
            return _deny(f"allow_domains: {name} not listed")
        return _allow(f"allow_domains: {pattern}")

    def check_connect_port(self, port: int) -> Decision:
        """Decide whether CONNECT may reach ``port`` (``connect_ports``)."""
        if self._connect_ports is None:
            return _allow("connect_ports: *")
        if port in self._connect_ports:
            return _allow(f"connect_ports: {port}")
        return _deny(f"connect_ports: {port} not listed")

    def _destination(self, ip: str, port: int) -> Decision:
        address = _parse_address(ip)
        if address is None:
            return _deny(f"deny_destinations: {ip} is not an IP address")
        address = canonical_address(address)
        own = self._own_listener(address, port)
        if own is not None:
            return _deny(f"listen: {own} is this proxy (loop)", LOOP)
        network = self._deny_destinations.find(address)
        if network is not None:
            return _deny(f"deny_destinations: {network} (resolved {address})")
        return _allow(f"deny_destinations: {address} not listed")

    def _own_listener(self, address: IPAddress, port: int) -> str | None:
        """Return the label of our listener that ``address:port`` reaches, or None."""
        exact = self._own_exact.get((address, port))
        if exact is not None:
            return exact
        if port in self._own_ports and (address.is_loopback or address.is_unspecified):
            return self._own_ports[port]
        return None


@lru_cache(maxsize=4096)
def _parse_address(ip: str) -> IPAddress | None:
    """Parse a socket-reported address (scope ids allowed), falling back to any literal.

    Cached: clients and resolved destinations repeat, and parsing costs microseconds.
    """
    try:
        return ip_address(ip.strip("[]"))
    except ValueError:
        return parse_ip_literal(ip)
