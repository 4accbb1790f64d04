"""IP literals in every spelling a resolver accepts, and network membership.

Policy must see ``0x7f.1``, ``2130706433`` and ``0177.0.0.1`` for what they
are (127.0.0.1), or a client could name a denied address in a spelling the
rules never anticipated while ``getaddrinfo`` happily connects to it.  The
IPv4 parser below therefore mirrors glibc ``inet_aton`` exactly:

- one to four parts separated by ``.``; each part starts with a digit;
- a part is C ``strtoul`` base 0: ``0x``/``0X`` hex, a leading ``0`` octal,
  otherwise decimal; nothing may follow the digits but the next ``.``;
- every part but the last is at most 255; the last fills the remaining bytes
  (``a.b`` gives ``b`` 24 bits, ``a.b.c`` gives ``c`` 16 bits);
- the whole number stops at the first ASCII whitespace: what follows is ignored.

On top of that one trailing dot is accepted (``127.0.0.1.``), as browsers and
curl do.  IPv6 literals are accepted bare or bracketed; zone identifiers
(``fe80::1%eth0``) are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address

from proxyhub.config.model import Network

IPAddress = IPv4Address | IPv6Address

# One inet_aton part: hex (at least one digit after 0x), octal (0 then 0-7), decimal.
_PART = re.compile(r"0[xX]([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*)")
# What C isspace() accepts in the "C" locale; the number ends at the first of these.
_SPACE = re.compile(r"[ \t\n\v\f\r]")
# Largest value of the last part, indexed by the number of parts before it.
_LAST_MAX = (0xFFFFFFFF, 0xFFFFFF, 0xFFFF, 0xFF)
_DIGITS = frozenset("0123456789")


def parse_ip_literal(host: str) -> IPAddress | None:
    """Return the address ``host`` spells, or None when it is a host name.

    Accepts every IPv4 spelling ``inet_aton`` accepts (plus one trailing dot)
    and IPv6 literals with or without brackets; never raises.
    """
    if not host:
        return None
    if host[0] == "[":
        if host[-1] != "]":
            return None
        return _parse_ipv6(host[1:-1])
    if ":" in host:
        return _parse_ipv6(host)
    if host[0] not in _DIGITS:
        return None
    if host[-1] == ".":
        host = host[:-1]
    value = parse_inet_aton(host)
    return None if value is None else IPv4Address(value)


def parse_inet_aton(text: str) -> int | None:
    """Return the 32-bit value glibc ``inet_aton`` gives ``text``, or None if it refuses it."""
    space = _SPACE.search(text)
    if space is not None:
        text = text[: space.start()]
    parts = text.split(".")
    if len(parts) > 4:
        return None
    value = 0
    for index, part in enumerate(parts):
        number = _parse_part(part)
        if number is None:
            return None
        if index < len(parts) - 1:
            if number > 0xFF:
                return None
            value |= number << (8 * (3 - index))
        elif number > _LAST_MAX[index]:
            return None
        else:
            value |= number
    return value


def _parse_part(part: str) -> int | None:
    """Return one part's value as C ``strtoul(part, &end, 0)`` reads it, or None."""
    match = _PART.fullmatch(part)
    if match is None:
        return None
    hex_digits, octal_digits, decimal_digits = match.groups()
    if hex_digits is not None:
        return _bounded(hex_digits, 16, 8)
    if octal_digits is not None:
        return _bounded(octal_digits, 8, 11)
    return _bounded(decimal_digits, 10, 10)


def _bounded(digits: str, base: int, max_len: int) -> int | None:
    """Return ``int(digits, base)`` if it fits 32 bits; long strings never reach ``int``."""
    digits = digits.lstrip("0")
    if len(digits) > max_len:
        return None
    value = int(digits, base) if digits else 0
    return value if value <= 0xFFFFFFFF else None


def _parse_ipv6(text: str) -> IPv6Address | None:
    """Return the IPv6 address ``text`` spells, refusing zone identifiers."""
    if "%" in text or not text.isascii():
        return None
    try:
        return IPv6Address(text)
    except ValueError:
        return None


def canonical_address(ip: IPAddress) -> IPAddress:
    """Return ``ip`` with an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) turned into IPv4."""
    if isinstance(ip, IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return mapped
    return ip


def find_network(ip: IPAddress, networks: Iterable[Network]) -> Network | None:
    """Return the first of ``networks`` containing ``ip`` or its canonical form, else None.

    Both forms are tried, so ``::ffff:127.0.0.1`` is found in ``127.0.0.0/8``
    and also in ``::ffff:0:0/96`` if that is what the operator listed.
    """
    canonical = canonical_address(ip)
    for network in networks:
        if canonical in network or (canonical is not ip and ip in network):
            return network
    return None


class NetworkSet:
    """A network list compiled to integers; ``find`` behaves like ``find_network``."""

    __slots__ = ("_entries", "networks")

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)
        self._entries = tuple(
            (net.version, int(net.netmask), int(net.network_address), net) for net in self.networks
        )

    def __bool__(self) -> bool:
        """Return whether any network was given."""
        return bool(self._entries)

    def find(self, ip: IPAddress) -> Network | None:
        """Return the first network containing ``ip`` or its canonical form, else None."""
        canonical = canonical_address(ip)
        version, value = canonical.version, int(canonical)
        other_version, other_value = ip.version, int(ip)
        for net_version, mask, prefix, network in self._entries:
            if (net_version == version and value & mask == prefix) or (
                net_version == other_version and other_value & mask == prefix
            ):
                return network
        return None
