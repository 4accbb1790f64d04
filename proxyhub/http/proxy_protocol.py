"""The PROXY protocol header (HAProxy, versions 1 and 2), sans-I/O.

A TCP load balancer in front of proxyhub may prepend one header naming the
real client.  :func:`parse_proxy_header` takes the first bytes of a
connection and returns the client address and how many bytes the header
took, None when more bytes are needed, or raises :class:`ProxyHeaderError`.
A ``LOCAL`` (v2) or ``UNKNOWN`` (v1) header gives no address: the caller
keeps the peer's.
"""

from __future__ import annotations

import re
import struct
from ipaddress import IPv4Address, IPv6Address

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_MAX = 107
_V1 = re.compile(
    rb"PROXY (?:(TCP4|TCP6) ([0-9a-fA-F.:]+) ([0-9a-fA-F.:]+) ([0-9]{1,5}) ([0-9]{1,5})"
    rb"|UNKNOWN[^\r\n]*)"
)


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY protocol header."""


def parse_proxy_header(data: bytes) -> tuple[str | None, int] | None:
    """``(client address or None, header length)``, or None when more bytes are needed."""
    if data.startswith(V2_SIGNATURE[: len(data)]) and len(data) < len(V2_SIGNATURE):
        return None
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if b"PROXY "[: len(data)] == data[:6] and len(data) < 6:
        return None
    if data.startswith(b"PROXY "):
        return _parse_v1(data)
    raise ProxyHeaderError("the connection does not start with a PROXY protocol header")


def _parse_v1(data: bytes) -> tuple[str | None, int] | None:
    end = data.find(b"\r\n", 0, _V1_MAX)
    if end < 0:
        if len(data) >= _V1_MAX:
            raise ProxyHeaderError("PROXY v1 header too long")
        return None
    m = _V1.fullmatch(data, 0, end)
    if m is None:
        raise ProxyHeaderError("malformed PROXY v1 header")
    if m[1] is None:
        return None, end + 2
    kind = IPv4Address if m[1] == b"TCP4" else IPv6Address
    try:
        source = kind(m[2].decode("ascii"))
        kind(m[3].decode("ascii"))
    except ValueError:
        raise ProxyHeaderError("bad address in PROXY v1 header") from None
    if not (0 < int(m[4]) < 65536 and 0 < int(m[5]) < 65536):
        raise ProxyHeaderError("bad port in PROXY v1 header")
    return str(source), end + 2


def _parse_v2(data: bytes) -> tuple[str | None, int] | None:
    if len(data) < 16:
        return None
    version_command, family, length = struct.unpack("!BBH", data[12:16])
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        raise ProxyHeaderError("unsupported PROXY v2 version or command")
    total = 16 + length
    if len(data) < total:
        return None
    if version_command & 0x0F == 0:  # LOCAL: the balancer's own connection
        return None, total
    body = data[16:total]
    if family == 0x11 and length >= 12:
        return str(IPv4Address(body[:4])), total
    if family == 0x21 and length >= 36:
        return str(IPv6Address(body[:16])), total
    if family == 0x00:
        return None, total
    raise ProxyHeaderError("unsupported PROXY v2 address family")
