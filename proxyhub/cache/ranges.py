"""Byte ranges (RFC 9110 section 14) for answers from the cache.

A stored 200 answers ``Range: bytes=...`` with 206 and the part asked for,
as Squid and nginx do, so a resumed download is a hit too.  One range is
served; several ranges, another unit or a malformed value get the whole
response, which a server may always send instead.  A range starting past
the end gets 416.  ``If-Range`` keeps the range only when it names the
stored response's strong ETag or its exact Last-Modified date; anything
else means the client's part may be of another version, so it gets all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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
        if suffix == 0 or size == 0:
            return NotSatisfiable(size)
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
    name = b"etag" if value.startswith(b'"') else b"last-modified"
    return any(n.lower() == name and v.strip() == value for n, v in stored)


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
