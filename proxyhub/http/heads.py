"""Parsed message heads: small slotted records shared by both directions.

A head keeps its header fields two ways: ``raw``, the field block exactly as
validated (``b"\\r\\nName: value"`` per line, so whole-block regex work runs at
C speed on the hot path; joined at once when a head is built from fields), and
``fields``, a list of ``(name, value)`` pairs in the peer's spelling, split from
``raw`` only if someone asks.  Framing facts the parser had to work out anyway
(and ``has_body``) are plain attributes so nobody re-derives them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

Fields = list[tuple[bytes, bytes]]

_FIELD_SPLIT = re.compile(rb"\r\n([^:\r\n]+):[\t ]*([^\r\n]*)")
_NO_TOKENS: frozenset[bytes] = frozenset()


def get_field(fields: Iterable[tuple[bytes, bytes]], lname: bytes) -> bytes | None:
    """Return the first value of the field named ``lname`` (lower-case), or None."""
    for name, value in fields:
        if name.lower() == lname:
            return value
    return None


def field_tokens(fields: Iterable[tuple[bytes, bytes]], lname: bytes) -> set[bytes]:
    """Return the lower-cased comma-separated tokens of every ``lname`` field."""
    tokens: set[bytes] = set()
    for name, value in fields:
        if name.lower() == lname:
            for token in value.split(b","):
                token = token.strip(b" \t").lower()
                if token:
                    tokens.add(token)
    return tokens


def split_raw(raw: bytes) -> Fields:
    """The ``(name, value)`` pairs of a validated field block."""
    return [(n, v.rstrip(b" \t")) for n, v in _FIELD_SPLIT.findall(raw)]


def join_raw(fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The field block of ``(name, value)`` pairs."""
    return b"".join([b"\r\n" + n + b": " + v for n, v in fields])


class _Head:
    """Field storage common to request and response heads."""

    __slots__ = ("_fields", "chunked", "connection", "content_length", "keep_alive", "raw")

    _fields: Fields | None
    raw: bytes
    """The header fields as one block, ``b"\\r\\nName: value"`` per field."""

    @property
    def fields(self) -> Fields:
        """The header fields as ``(name, value)`` pairs."""
        if self._fields is None:
            self._fields = split_raw(self.raw)
        return self._fields


class RequestHead(_Head):
    """A request line and its header fields."""

    __slots__ = ("has_body", "host", "method", "target", "version")

    has_body: bool
    """True when body bytes follow the head."""

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        fields: Fields | None,
        *,
        raw: bytes | None = None,
        host: bytes | None = None,
        content_length: int | None = None,
        chunked: bool = False,
        connection: frozenset[bytes] = _NO_TOKENS,
        keep_alive: bool = True,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self._fields = fields
        self.raw = raw if raw is not None else join_raw(fields or [])
        self.host = host
        self.content_length = content_length
        self.chunked = chunked
        self.connection = connection
        self.keep_alive = keep_alive
        self.has_body = chunked or bool(content_length)

    def __repr__(self) -> str:
        return f"RequestHead({self.method!r}, {self.target!r}, {self.version!r})"


class ResponseHead(_Head):
    """A status line and its header fields."""

    __slots__ = ("reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: bytes,
        version: bytes,
        fields: Fields | None,
        *,
        raw: bytes | None = None,
        content_length: int | None = None,
        chunked: bool = False,
        connection: frozenset[bytes] = _NO_TOKENS,
        keep_alive: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self._fields = fields
        self.raw = raw if raw is not None else join_raw(fields or [])
        self.content_length = content_length
        self.chunked = chunked
        self.connection = connection
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"ResponseHead({self.status}, {self.reason!r}, {self.version!r})"
