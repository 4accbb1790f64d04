"""Byte ranges answered from the cache: parsing Range, If-Range, and cutting the body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.cache.ranges import ByteRange, NotSatisfiable, body_slice, range_for, requested_range


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"bytes=0-9", ByteRange(0, 9, 100)),
        (b"bytes=90-", ByteRange(90, 99, 100)),
        (b"bytes=90-500", ByteRange(90, 99, 100)),
        (b"bytes=-10", ByteRange(90, 99, 100)),
        (b"bytes=-500", ByteRange(0, 99, 100)),
        (b"BYTES = 5-5 ", ByteRange(5, 5, 100)),
        (b"bytes=100-", NotSatisfiable(100)),
        (b"bytes=-0", NotSatisfiable(100)),
        (b"bytes=9-0", None),  # invalid: ignored
        (b"bytes=0-1,5-6", None),  # several ranges: the whole body
        (b"items=0-9", None),
        (b"bytes=-", None),
        (b"bytes=" + b"9" * 19 + b"-", None),  # absurdly large: ignored, never parsed
    ],
)
def test_requested_range(value: bytes, expected: object) -> None:
    """Each Range form of RFC 9110 section 14.1.2 is read against a 100-byte body."""
    assert requested_range(value, 100) == expected


def test_an_empty_body() -> None:
    """A first byte of an empty body is past its end (416); a suffix gets the empty 200."""
    assert requested_range(b"bytes=0-", 0) == NotSatisfiable(0)
    assert requested_range(b"bytes=-5", 0) is None


STORED = [
    (b"ETag", b'"v1"'),
    (b"Last-Modified", b"Tue, 01 Dec 2026 10:00:00 GMT"),
    (b"Date", b"Tue, 01 Dec 2026 11:00:00 GMT"),
]


@pytest.mark.parametrize(
    ("if_range", "served"),
    [
        (b'"v1"', True),
        (b'"v2"', False),
        (b'W/"v1"', False),  # If-Range compares strongly
        (b"Tue, 01 Dec 2026 10:00:00 GMT", True),
        (b"Wed, 02 Dec 2026 10:00:00 GMT", False),
    ],
)
def test_if_range_keeps_the_range_only_for_this_version(if_range: bytes, served: bool) -> None:
    """A validator naming another version means the whole body is sent."""
    request = [(b"Range", b"bytes=0-1"), (b"If-Range", if_range)]
    assert (range_for(request, STORED, 10) is not None) == served


def test_a_date_too_close_to_the_response_is_weak() -> None:
    """A Last-Modified within a second of Date may hide a change: If-Range then fails."""
    stored = [
        (b"Last-Modified", b"Tue, 01 Dec 2026 10:00:00 GMT"),
        (b"Date", b"Tue, 01 Dec 2026 10:00:00 GMT"),
    ]
    request = [(b"Range", b"bytes=0-1"), (b"If-Range", b"Tue, 01 Dec 2026 10:00:00 GMT")]
    assert range_for(request, stored, 10) is None


def test_two_range_fields_are_ignored() -> None:
    """A request with Range twice is answered whole."""
    assert range_for([(b"Range", b"bytes=0-1"), (b"range", b"bytes=2-3")], STORED, 10) is None


@given(
    st.lists(st.binary(min_size=0, max_size=9), max_size=6),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_body_slice_cuts_exactly_the_range(chunks: list[bytes], a: int, b: int) -> None:
    """Across any chunking, the slice is the range of the joined body."""
    whole = b"".join(chunks)
    first, last = min(a, b), max(a, b)
    if first >= len(whole):
        return
    wanted = ByteRange(first, min(last, len(whole) - 1), len(whole))
    assert b"".join(body_slice(chunks, wanted)) == whole[wanted.first : wanted.last + 1]


def test_whole_chunks_are_shared_not_copied() -> None:
    """A chunk lying inside the range is passed on as the same object."""
    middle = b"m" * 10
    out = body_slice([b"a" * 10, middle, b"z" * 10], ByteRange(5, 25, 30))
    assert out[1] is middle and out[0] == b"a" * 5 and out[2] == b"z" * 6
