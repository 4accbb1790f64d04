"""Tests of proxyhub.policy.addresses: every IP spelling, checked against inet_aton."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from proxyhub.policy.addresses import (
    NetworkSet,
    canonical_address,
    find_network,
    parse_inet_aton,
    parse_ip_literal,
)

SPELLINGS = [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0X7F000001", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0177.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0x7f.0.0x0.01", "127.0.0.1"),
    ("0177.0x0.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("127.1.", "127.0.0.1"),
    ("2130706433.", "127.0.0.1"),
    ("00000000000000000000177.1", "127.0.0.1"),
    ("0x000000000000007f.1", "127.0.0.1"),
    ("169.254.169.254", "169.254.169.254"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("169.16689662", "169.254.169.254"),
    ("169.254.43518", "169.254.169.254"),
    ("0", "0.0.0.0"),
    ("0x0", "0.0.0.0"),
    ("4294967295", "255.255.255.255"),
    ("0xffffffff", "255.255.255.255"),
    ("037777777777", "255.255.255.255"),
    ("1.16777215", "1.255.255.255"),
    ("1.2.65535", "1.2.255.255"),
    ("10.0.0.1 trailing words", "10.0.0.1"),
    ("10.1\tx", "10.0.0.1"),
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("::ffff:7f00:1", "::ffff:127.0.0.1"),
    ("[2001:DB8::1]", "2001:db8::1"),
    ("fe80::1", "fe80::1"),
]

NOT_LITERALS = [
    "",
    "example.com",
    "localhost",
    "1password.com",
    "127.0.0.1.example.com",
    "127.0.0.1..",
    "127..1",
    ".127.0.0.1",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.256.1.1",
    "1.2.3.256",
    "1.16777216",
    "1.2.65536",
    "4294967296",
    "0x100000000",
    "040000000000",
    "08",
    "09.1.1.1",
    "0x",
    "0x.1",
    "0xg",
    "00x1",
    "1e3",
    "-1",
    "+1",
    " 1.2.3.4",
    "1. 2",
    "\u0661\u0662\u0667.0.0.1",
    "127.0.0.\u00b9",
    "9" * 5000,
    "fe80::1%eth0",
    "[fe80::1%25eth0]",
    "[fe80::1%eth0]",
    "[127.0.0.1]",
    "[::1",
    "::1]",
    "[::1].",
    ":::",
    "1:2:3:4:5:6:7:8:9",
    "[v1.fe]",
    "::ffff:0x7f.1",
]


@pytest.mark.parametrize(("text", "expected"), SPELLINGS)
def test_spellings(text: str, expected: str) -> None:
    """Each spelling parses to the address a resolver gives it."""
    assert parse_ip_literal(text) == ip_address(expected)


@pytest.mark.parametrize(("text", "expected"), [s for s in SPELLINGS if ":" not in s[0]])
def test_ipv4_spellings_agree_with_inet_aton(text: str, expected: str) -> None:
    """Each IPv4 spelling (minus a trailing dot) is what socket.inet_aton makes of it."""
    text = text[:-1] if text.endswith(".") else text
    assert IPv4Address(socket.inet_aton(text)) == IPv4Address(expected)


@pytest.mark.parametrize("text", NOT_LITERALS)
def test_not_literals(text: str) -> None:
    """Host names, out-of-range values, zone ids and garbage are not IP literals."""
    assert parse_ip_literal(text) is None


@pytest.mark.parametrize("text", [t for t in NOT_LITERALS if ":" not in t and "[" not in t])
def test_inet_aton_refuses_what_we_refuse(text: str) -> None:
    """Every IPv4-looking refusal above is also refused by socket.inet_aton."""
    text = text[:-1] if text.endswith(".") and not text.endswith("..") else text
    try:
        socket.inet_aton(text)
    except (OSError, ValueError):
        return
    pytest.fail(f"inet_aton accepts {text!r}")


def _inet_aton(text: str) -> IPv4Address | None:
    """Return what socket.inet_aton makes of ``text``, or None if it refuses."""
    try:
        return IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


IPV4_ALPHABET = "0123456789.xXaAfFg \t"


@given(st.text(alphabet=IPV4_ALPHABET, max_size=24))
@example("0x7f.1")
@example("0177.1")
@example("1 .")
def test_inet_aton_property(text: str) -> None:
    """Whenever inet_aton accepts a string, parse_inet_aton gives the same address, and back."""
    expected = _inet_aton(text)
    value = parse_inet_aton(text)
    assert (None if value is None else IPv4Address(value)) == expected


@given(st.text(alphabet=IPV4_ALPHABET, max_size=24))
def test_parse_ip_literal_property(text: str) -> None:
    """parse_ip_literal agrees with inet_aton after dropping one trailing dot."""
    stripped = text[:-1] if text.endswith(".") else text
    expected = _inet_aton(stripped) if text[:1].isdigit() else None
    assert parse_ip_literal(text) == expected


@given(
    st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=4),
    st.lists(st.sampled_from(["dec", "hex", "HEX", "oct"]), min_size=4, max_size=4),
)
def test_mixed_radix_property(numbers: list[int], radixes: list[str]) -> None:
    """Random parts in mixed radixes agree with inet_aton whether in range or not."""
    spell = {"dec": "{}", "hex": "0x{:x}", "HEX": "0X{:X}", "oct": "0{:o}"}
    text = ".".join(spell[r].format(n) for n, r in zip(numbers, radixes, strict=False))
    assert parse_ip_literal(text) == _inet_aton(text)


@given(st.integers(0, 0xFFFFFFFF))
def test_every_ipv4_round_trips(value: int) -> None:
    """Every 32-bit value as a decimal, hex and dotted literal parses to itself."""
    address = IPv4Address(value)
    for text in (str(value), hex(value), str(address), f"::ffff:{address}"):
        assert canonical_address(parse_ip_literal(text)) == address  # type: ignore[arg-type]


CANONICAL = [
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("::ffff:a9fe:a9fe", "169.254.169.254"),
    ("::1", "::1"),
    ("::127.0.0.1", "::127.0.0.1"),
    ("64:ff9b::7f00:1", "64:ff9b::7f00:1"),
    ("10.0.0.1", "10.0.0.1"),
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL)
def test_canonical_address(text: str, expected: str) -> None:
    """Only IPv4-mapped IPv6 addresses become IPv4; everything else is unchanged."""
    assert canonical_address(ip_address(text)) == ip_address(expected)


NETWORKS = tuple(ip_network(n) for n in ("10.0.0.0/8", "::1/128", "127.0.0.0/8", "0.0.0.0/0"))

FIND = [
    ("10.1.2.3", "10.0.0.0/8"),
    ("127.0.0.1", "127.0.0.0/8"),
    ("::ffff:127.0.0.1", "127.0.0.0/8"),
    ("::1", "::1/128"),
    ("8.8.8.8", "0.0.0.0/0"),
    ("2001:db8::1", None),
]


@pytest.mark.parametrize(("text", "expected"), FIND)
def test_find_network(text: str, expected: str | None) -> None:
    """The first network holding the canonical address is returned; none gives None."""
    found = find_network(ip_address(text), NETWORKS)
    assert found == (None if expected is None else ip_network(expected))
    assert NetworkSet(NETWORKS).find(ip_address(text)) == found


def test_find_network_matches_mapped_networks_too() -> None:
    """An operator listing ::ffff:0:0/96 still catches a mapped address."""
    mapped = (ip_network("::ffff:0:0/96"),)
    assert find_network(IPv6Address("::ffff:10.0.0.1"), mapped) == mapped[0]
    assert find_network(IPv4Address("10.0.0.1"), mapped) is None


def test_network_set_empty() -> None:
    """An empty set is falsy and finds nothing."""
    assert not NetworkSet(())
    assert NetworkSet(()).find(IPv4Address("127.0.0.1")) is None


ADDRESS = st.one_of(
    st.integers(0, 0xFFFFFFFF).map(IPv4Address),
    st.integers(0, 2**128 - 1).map(IPv6Address),
    st.integers(0, 0xFFFFFFFF).map(lambda v: IPv6Address(0xFFFF00000000 | v)),
)
NETWORK = st.one_of(
    st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 32)).map(
        lambda t: ip_network((t[0], t[1]), strict=False)
    ),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: ip_network((t[0], t[1]), strict=False)
    ),
    st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(96, 128)).map(
        lambda t: ip_network((0xFFFF00000000 | t[0], t[1]), strict=False)
    ),
)


@given(ADDRESS, st.lists(NETWORK, max_size=6))
def test_network_set_agrees_with_find_network(
    ip: IPv4Address | IPv6Address, nets: list[Any]
) -> None:
    """The compiled set finds exactly what find_network finds."""
    assert NetworkSet(nets).find(ip) == find_network(ip, nets)
