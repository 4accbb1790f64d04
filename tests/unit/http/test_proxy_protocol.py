"""PROXY protocol v1 and v2 headers, parsed without sockets."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from proxyhub.http.proxy_protocol import V2_SIGNATURE, ProxyHeaderError, parse_proxy_header


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family, len(body)) + body


V2_TCP4 = v2(
    1,
    0x11,
    IPv4Address("203.0.113.7").packed + IPv4Address("10.0.0.1").packed + b"\x30\x39\x01\xbb",
)
V2_TCP6 = v2(
    1, 0x21, IPv6Address("2001:db8::7").packed + IPv6Address("::1").packed + b"\x30\x39\x01\xbb"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PROXY TCP4 203.0.113.7 10.0.0.1 12345 443\r\nGET /", ("203.0.113.7", 43)),
        (b"PROXY TCP6 2001:db8::7 ::1 12345 443\r\n", ("2001:db8::7", 38)),
        (b"PROXY UNKNOWN\r\nGET", (None, 15)),
        (V2_TCP4 + b"GET", ("203.0.113.7", len(V2_TCP4))),
        (V2_TCP6, ("2001:db8::7", len(V2_TCP6))),
        (v2(0, 0x00, b""), (None, 16)),
    ],
)
def test_valid_headers(data: bytes, expected: tuple[str | None, int]) -> None:
    """Each header gives the client address (None for LOCAL/UNKNOWN) and its length."""
    assert parse_proxy_header(data) == expected


@pytest.mark.parametrize("cut", [1, 5, 12, 15, 20])
def test_partial_headers_need_more(cut: int) -> None:
    """Any prefix of a header asks for more bytes."""
    assert parse_proxy_header(V2_TCP4[:cut]) is None
    assert parse_proxy_header(b"PROXY TCP4 203.0.113.7 10.0.0.1 12345 443\r\n"[:cut]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 10.0.0.1 0 2\r\n",
        b"PROXY TCP5 1.2.3.4 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4  10.0.0.1 1 2\r\n",
        b"PROXY " + b"x" * 120,
        V2_SIGNATURE + b"\x31\x11\x00\x00",
        v2(1, 0x31, b"/tmp/sock"),
    ],
)
def test_malformed_headers_are_refused(data: bytes) -> None:
    """Anything but a well-formed header is an error, not a guess."""
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(data)
