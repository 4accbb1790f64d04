"""Tests of proxyhub.policy.access: every decision with the rule it names and its status."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_network

import pytest

from proxyhub.config.model import ForwardSettings
from proxyhub.policy.access import AccessPolicy, Decision

DEFAULT_DENY = (
    "127.0.0.0/8 ::1/128 0.0.0.0/8 ::/128 169.254.0.0/16 fe80::/10 "
    "224.0.0.0/4 ff00::/8 255.255.255.255/32"
)


def settings(**changes: object) -> ForwardSettings:
    """A [forward] section with documented defaults plus ``changes``."""
    base = ForwardSettings(
        listen=("tcp:3128:interface=127.0.0.1",),
        allow_clients=tuple(ip_network(n) for n in ("127.0.0.0/8", "::1/128", "10.0.0.0/8")),
        connect_ports=frozenset({443}),
        deny_destinations=tuple(ip_network(n) for n in DEFAULT_DENY.split()),
        allow_domains=("*",),
        deny_domains=(),
        auth_file=None,
        parent=(),
        parent_bypass=(),
        forwarded_for="add",
        via=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


OWN = frozenset({("127.0.0.1", 3128), ("0.0.0.0", 8080), ("::", 8081), ("192.0.2.7", 3129)})
POLICY = AccessPolicy.from_settings(settings(), own_addresses=OWN)
RESTRICTED = AccessPolicy.from_settings(
    settings(
        allow_domains=("example.com", "*.example.com", "10.9.8.7"),
        deny_domains=("*.evil.test", "bad.example.com", "0xc0000201"),
        connect_ports=frozenset({443, 563}),
    )
)
OPEN = AccessPolicy.from_settings(
    settings(connect_ports=None, deny_destinations=(), allow_clients=(ip_network("::/0"),))
)


def allow(rule: str) -> Decision:
    """An approval naming ``rule``."""
    return Decision(True, rule, 200)


def deny(rule: str, status: int = 403) -> Decision:
    """A denial naming ``rule``."""
    return Decision(False, rule, status)


CLIENTS = [
    (POLICY, "127.0.0.1", allow("allow_clients: 127.0.0.0/8")),
    (POLICY, "10.1.2.3", allow("allow_clients: 10.0.0.0/8")),
    (POLICY, "::1", allow("allow_clients: ::1/128")),
    (POLICY, "::ffff:10.0.0.5", allow("allow_clients: 10.0.0.0/8")),
    (POLICY, "192.0.2.1", deny("allow_clients: 192.0.2.1 not listed")),
    (POLICY, "2001:db8::1", deny("allow_clients: 2001:db8::1 not listed")),
    (POLICY, "unix", deny("allow_clients: unix is not an IP address")),
    (OPEN, "2001:db8::1", allow("allow_clients: ::/0")),
    (OPEN, "192.0.2.1", deny("allow_clients: 192.0.2.1 not listed")),
]


@pytest.mark.parametrize(("policy", "ip", "expected"), CLIENTS)
def test_check_client(policy: AccessPolicy, ip: str, expected: Decision) -> None:
    """Clients are allowed by the first allow_clients network holding their canonical address."""
    assert policy.check_client(ip) == expected


HOSTS = [
    (POLICY, "example.com", allow("allow_domains: *")),
    (POLICY, "EXAMPLE.com.", allow("allow_domains: *")),
    (POLICY, "93.184.216.34", allow("allow_domains: *")),
    (POLICY, "127.0.0.1", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (POLICY, "0x7f.1", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (POLICY, "0177.1", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (POLICY, "2130706433", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (POLICY, "127.1.", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (POLICY, "[::1]", deny("deny_destinations: ::1/128 (literal ::1)")),
    (POLICY, "[::ffff:127.0.0.1]", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (POLICY, "::ffff:7f00:1", deny("deny_destinations: 127.0.0.0/8 (literal 127.0.0.1)")),
    (
        POLICY,
        "0xa9fea9fe",
        deny("deny_destinations: 169.254.0.0/16 (literal 169.254.169.254)"),
    ),
    (
        POLICY,
        "0251.0376.0251.0376",
        deny("deny_destinations: 169.254.0.0/16 (literal 169.254.169.254)"),
    ),
    (POLICY, "0", deny("deny_destinations: 0.0.0.0/8 (literal 0.0.0.0)")),
    (POLICY, "[fe80::1%25eth0]", deny("host: IPv6 zone identifiers are refused")),
    (POLICY, "fe80::1%eth0", deny("host: IPv6 zone identifiers are refused")),
    (POLICY, "", deny("host: empty", 400)),
    (POLICY, "[]", deny("host: empty", 400)),
    (RESTRICTED, "example.com", allow("allow_domains: example.com")),
    (RESTRICTED, "www.example.com", allow("allow_domains: *.example.com")),
    (RESTRICTED, "bad.example.com", deny("deny_domains: bad.example.com")),
    (RESTRICTED, "x.evil.test", deny("deny_domains: *.evil.test")),
    (RESTRICTED, "a.b.evil.test", deny("deny_domains: *.evil.test")),
    (RESTRICTED, "evil.test", deny("allow_domains: evil.test not listed")),
    (RESTRICTED, "example.org", deny("allow_domains: example.org not listed")),
    (RESTRICTED, "192.0.2.1", deny("deny_domains: 0xc0000201")),
    (RESTRICTED, "3221225985", deny("deny_domains: 0xc0000201")),
    (RESTRICTED, "10.9.8.7", allow("allow_domains: 10.9.8.7")),
    (RESTRICTED, "0xa.9.0x807", allow("allow_domains: 10.9.8.7")),
    (RESTRICTED, "10.9.8.8", deny("allow_domains: 10.9.8.8 not listed")),
    (OPEN, "127.0.0.1", allow("allow_domains: *")),
]


@pytest.mark.parametrize(("policy", "host", "expected"), HOSTS)
def test_check_host(policy: AccessPolicy, host: str, expected: Decision) -> None:
    """deny_domains wins, IP literals in any spelling are canonical, allow_domains decides last."""
    assert policy.check_host(host) == expected


def test_deny_domains_wins_over_allow_domains() -> None:
    """A host matched by both lists is denied, whichever pattern is more specific."""
    policy = AccessPolicy.from_settings(
        settings(allow_domains=("a.example.com", "*"), deny_domains=("*.example.com",))
    )
    assert policy.check_host("a.example.com") == deny("deny_domains: *.example.com")
    assert policy.check_host("example.com") == allow("allow_domains: *")


def test_empty_allow_domains_denies_everything() -> None:
    """With allow_domains empty no host is allowed."""
    policy = AccessPolicy.from_settings(settings(allow_domains=()))
    assert policy.check_host("example.com") == deny("allow_domains: example.com not listed")


PORTS = [
    (POLICY, 443, allow("connect_ports: 443")),
    (POLICY, 8443, deny("connect_ports: 8443 not listed")),
    (POLICY, 80, deny("connect_ports: 80 not listed")),
    (RESTRICTED, 563, allow("connect_ports: 563")),
    (OPEN, 22, allow("connect_ports: *")),
]


@pytest.mark.parametrize(("policy", "port", "expected"), PORTS)
def test_check_connect_port(policy: AccessPolicy, port: int, expected: Decision) -> None:
    """CONNECT reaches listed ports only, or any port with ``*``."""
    assert policy.check_connect_port(port) == expected


DESTINATIONS = [
    (POLICY, "93.184.216.34", 443, allow("deny_destinations: 93.184.216.34 not listed")),
    (POLICY, "127.0.0.1", 80, deny("deny_destinations: 127.0.0.0/8 (resolved 127.0.0.1)")),
    (POLICY, "::1", 80, deny("deny_destinations: ::1/128 (resolved ::1)")),
    (POLICY, "::ffff:127.0.0.1", 80, deny("deny_destinations: 127.0.0.0/8 (resolved 127.0.0.1)")),
    (POLICY, "fe80::1%eth0", 80, deny("deny_destinations: fe80::/10 (resolved fe80::1%eth0)")),
    (
        POLICY,
        "169.254.169.254",
        80,
        deny("deny_destinations: 169.254.0.0/16 (resolved 169.254.169.254)"),
    ),
    (POLICY, "224.0.0.1", 80, deny("deny_destinations: 224.0.0.0/4 (resolved 224.0.0.1)")),
    (POLICY, "not-an-ip", 80, deny("deny_destinations: not-an-ip is not an IP address")),
    (POLICY, "127.0.0.1", 3128, deny("listen: 127.0.0.1:3128 is this proxy (loop)", 508)),
    (POLICY, "::ffff:127.0.0.1", 3128, deny("listen: 127.0.0.1:3128 is this proxy (loop)", 508)),
    (POLICY, "127.0.0.2", 3128, deny("deny_destinations: 127.0.0.0/8 (resolved 127.0.0.2)")),
    (POLICY, "127.0.0.2", 8080, deny("listen: 0.0.0.0:8080 is this proxy (loop)", 508)),
    (POLICY, "::1", 8080, deny("listen: 0.0.0.0:8080 is this proxy (loop)", 508)),
    (POLICY, "0.0.0.0", 8080, deny("listen: 0.0.0.0:8080 is this proxy (loop)", 508)),
    (POLICY, "127.0.0.1", 8081, deny("listen: [::]:8081 is this proxy (loop)", 508)),
    (POLICY, "93.184.216.34", 8080, allow("deny_destinations: 93.184.216.34 not listed")),
    (POLICY, "192.0.2.7", 3129, deny("listen: 192.0.2.7:3129 is this proxy (loop)", 508)),
    (POLICY, "192.0.2.7", 3128, allow("deny_destinations: 192.0.2.7 not listed")),
    (OPEN, "127.0.0.1", 80, allow("deny_destinations: 127.0.0.1 not listed")),
]


@pytest.mark.parametrize(("policy", "ip", "port", "expected"), DESTINATIONS)
def test_check_destination(policy: AccessPolicy, ip: str, port: int, expected: Decision) -> None:
    """Own listeners give 508 before deny_destinations gives 403; the rest is allowed."""
    assert policy.check_destination(ip, port) == expected


def test_own_listener_by_name_covers_loopback() -> None:
    """A listener given by host name is taken to cover loopback on its port."""
    policy = AccessPolicy.from_settings(
        settings(deny_destinations=()), own_addresses=frozenset({("localhost", 3128)})
    )
    assert policy.check_destination("127.0.0.1", 3128).status == 508
    assert policy.check_destination("127.0.0.1", 3129).allowed


def test_decision_is_frozen() -> None:
    """Decisions cannot be changed after the fact."""
    decision = POLICY.check_connect_port(443)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]
