"""Byte ranges (RFC 9110 section 14) for answers from the cache.

A stored 200 answers ``Range: bytes=...`` with 206 and the part asked for,
as Squid and nginx do, so a resumed download is a hit too.  One range is
served; several ranges, another unit or a malformed value get the whole
response, which a server may always send instead.  A range starting past
the end gets 416.  ``If-Range`` keeps the range only when it names the
stored response's strong ETag, or its exact Last-Modified date when that is
a strong validator; anything else means the client's part may be of another
version, so it gets all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .rules import parse_http_date

_SINGLE = re.compile(rb"bytes[ \t]*=[ \t]*([0-9]{0,18})-([0-9]{0,18})[ \t]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """The bytes ``first`` to ``last`` (inclusive) of a ``size``-byte body."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class NotSatisfiable:
    """The range starts past the end of a ``size``-byte body: 416."""

    size: int


Ranged = ByteRange | NotSatisfiable | None


def requested_range(value: bytes, size: int) -> Ranged:
    """What one ``Range`` value asks of a ``size``-byte body; None: send it all."""
    m = _SINGLE.fullmatch(value.strip())
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0:
            return NotSatisfiable(size)
        if size == 0:
            return None  # satisfiable, but no Content-Range can say so: the empty 200
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid, so ignored (RFC 9110 section 14.1.1)
    if start >= size:
        return NotSatisfiable(size)
    return ByteRange(start, min(end, size - 1), size)


def range_for(
    request: Sequence[tuple[bytes, bytes]], stored: Sequence[tuple[bytes, bytes]], size: int
) -> Ranged:
    """The range to answer a request's fields with, from a stored response's fields."""
    ranges = [v for n, v in request if n.lower() == b"range"]
    if len(ranges) != 1:
        return None
    if_range = [v.strip() for n, v in request if n.lower() == b"if-range"]
    if if_range and not _validator_holds(if_range, stored):
        return None
    return requested_range(ranges[0], size)


def _validator_holds(if_range: list[bytes], stored: Sequence[tuple[bytes, bytes]]) -> bool:
    if len(if_range) != 1:
        return False
    value = if_range[0]
    if value.startswith(b"W/"):
        return False  # If-Range compares strongly; a weak tag never matches
    if value.startswith(b'"'):
        return _field(stored, b"etag") == value
    # A date is a strong validator only when the response was sent a second or
    # more after that modification (RFC 9110 section 8.8.2.2).
    modified, sent = (
        parse_http_date(_field(stored, b"last-modified")),
        parse_http_date(_field(stored, b"date")),
    )
    return (
        _field(stored, b"last-modified") == value
        and modified is not None
        and sent is not None
        and sent - modified >= 1
    )


def _field(fields: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for n, v in fields:
        if n.lower() == name:
            return v.strip()
    return None


def body_slice(chunks: Sequence[bytes], wanted: ByteRange) -> tuple[bytes, ...]:
    """The chunks covering ``wanted``, cut at its ends (whole chunks shared, not copied)."""
    out: list[bytes] = []
    start, stop = wanted.first, wanted.last + 1
    offset = 0
    for chunk in chunks:
        end = offset + len(chunk)
        if end > start and offset < stop:
            if offset >= start and end <= stop:
                out.append(chunk)
            else:
                out.append(chunk[max(0, start - offset) : min(len(chunk), stop - offset)])
        offset = end
        if offset >= stop:
            break
    return tuple(out)
