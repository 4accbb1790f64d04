"""The server name (SNI) in a TLS ClientHello, read from a tunnel's first bytes, sans-I/O.

The domain-fronting guard compares it with the host a CONNECT or SOCKS request named.
:func:`read_client_hello` takes every byte the client has sent so far (the caller
accumulates and calls again) and returns :data:`NEED_MORE`, :class:`NotTLS` with a reason,
or :class:`Hello`.  Only what leads to the name is parsed: TLS handshake records (the
ClientHello may span several), the handshake header, and the hello body down to its
extensions; everything else is skipped by length.  Answers are prefix-consistent: a
decision taken on some bytes is the decision on any longer input.

Decisions: a ClientHello over ``max_size`` bytes (16 KiB), spread over more than
:data:`MAX_RECORDS` records, with a duplicate extension, or with more than one host_name is
refused.  A host_name must be dot-separated labels of 1-63 ASCII letters, digits, ``-`` or
``_`` (IDNA names travel as punycode); it is lower-cased and one trailing dot is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HELLO = 16 * 1024
MAX_RECORDS = 64
_MAX_FRAGMENT = 2**14
_HANDSHAKE, _CLIENT_HELLO, _SERVER_NAME, _HOST_NAME = 22, 1, 0, 0
_HOST = re.compile(rb"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")


@dataclass(frozen=True, slots=True)
class NeedMore:
    """Every byte so far is a valid start of a ClientHello; call again with more."""


NEED_MORE = NeedMore()


@dataclass(frozen=True, slots=True)
class NotTLS:
    """The bytes are not a well-formed ClientHello within our bounds."""

    reason: str


@dataclass(frozen=True, slots=True)
class Hello:
    """A complete ClientHello; ``sni`` is its host_name, None when it sent none."""

    sni: str | None


class _Malformed(ValueError):
    pass


def read_client_hello(data: bytes, max_size: int = MAX_HELLO) -> NeedMore | NotTLS | Hello:
    """Read the ClientHello at the start of ``data``, all the bytes received so far."""
    try:
        body = _handshake_message(data, max_size)
        return NEED_MORE if body is None else Hello(_parse_hello(body))
    except _Malformed as error:
        return NotTLS(str(error))


def _handshake_message(data: bytes, max_size: int) -> bytes | None:
    """The ClientHello body gathered from the leading handshake records, None if incomplete."""
    message = b""
    pos = 0
    for _ in range(MAX_RECORDS):
        length = _record_length(data[pos : pos + 5])
        if length is None:
            return None
        fragment = data[pos + 5 : pos + 5 + length]
        message += fragment
        size = _message_size(message, max_size)
        if size is not None and len(message) >= size:
            return message[4:size]
        if len(fragment) < length:
            return None
        pos += 5 + length
    raise _Malformed("ClientHello spread over too many records")


def _record_length(header: bytes) -> int | None:
    if header[:1] not in (b"", bytes((_HANDSHAKE,))):
        raise _Malformed("not a TLS handshake record")
    if header[1:2] not in (b"", b"\x03"):
        raise _Malformed("not a TLS record version")
    if len(header) < 5:
        return None
    length = int.from_bytes(header[3:5], "big")
    if not 0 < length <= _MAX_FRAGMENT:
        raise _Malformed("bad TLS record length")
    return length


def _message_size(message: bytes, max_size: int) -> int | None:
    if message[:1] not in (b"", bytes((_CLIENT_HELLO,))):
        raise _Malformed("first handshake message is not a ClientHello")
    if len(message) < 4:
        return None
    size = int.from_bytes(message[1:4], "big")
    if size > max_size:
        raise _Malformed(f"ClientHello larger than {max_size} bytes")
    return 4 + size


class _Cursor:
    """Reads a complete structure front to back; running short means it is malformed."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def done(self) -> bool:
        return self.pos == len(self.data)

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _Malformed("truncated ClientHello")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_size: int) -> bytes:
        return self.take(self.uint(length_size))


def _parse_hello(body: bytes) -> str | None:
    hello = _Cursor(body)
    hello.take(2 + 32)  # legacy_version, random
    if len(hello.vector(1)) > 32:
        raise _Malformed("session id longer than 32 bytes")
    suites = hello.vector(2)
    if not suites or len(suites) % 2:
        raise _Malformed("bad cipher suite list")
    if not hello.vector(1):
        raise _Malformed("empty compression method list")
    if hello.done():
        return None  # no extensions at all (TLS 1.2 and older may do this)
    extensions = _Cursor(hello.vector(2))
    if not hello.done():
        raise _Malformed("bytes after the extensions")
    seen: set[int] = set()
    sni = None
    while not extensions.done():
        kind, content = extensions.uint(2), extensions.vector(2)
        if kind in seen:
            raise _Malformed(f"duplicate extension {kind}")
        seen.add(kind)
        if kind == _SERVER_NAME:
            sni = _server_name(content)
    return sni


def _server_name(content: bytes) -> str | None:
    outer = _Cursor(content)
    names = _Cursor(outer.vector(2))
    if not outer.done() or names.done():
        raise _Malformed("bad server_name extension")
    host = None
    while not names.done():
        kind, name = names.uint(1), names.vector(2)
        if kind != _HOST_NAME:
            continue
        if host is not None:
            raise _Malformed("more than one host_name")
        host = _host(name)
    return host


def _host(name: bytes) -> str:
    if len(name) > 254 or _HOST.fullmatch(name) is None:
        raise _Malformed("invalid host_name")
    return name.decode("ascii").lower().removesuffix(".")
