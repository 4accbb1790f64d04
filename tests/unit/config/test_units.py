"""Tests of proxyhub.config.units: durations and sizes with units."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.config.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("0", 0.0),
        ("0s", 0.0),
        (" 10s ", 10.0),
        ("10 s", 10.0),
        ("2H", 7200.0),
        ("365h", 365 * 3600.0),
    ],
)
def test_duration_accepted(text: str, seconds: float) -> None:
    """Durations with ms, s, m or h (and a bare 0) convert to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_duration_without_unit() -> None:
    """A bare number other than 0 is refused with a hint to add a unit."""
    with pytest.raises(ValueError) as info:
        parse_duration("10")
    assert str(info.value) == "durations need a unit (ms, s, m, h), e.g. 10s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ten", "not a duration: 'ten' (e.g. 500ms, 10s, 5m, 1h)"),
        ("", "not a duration: '' (e.g. 500ms, 10s, 5m, 1h)"),
        ("-1s", "not a duration: '-1s' (e.g. 500ms, 10s, 5m, 1h)"),
        ("1m30s", "not a duration: '1m30s' (e.g. 500ms, 10s, 5m, 1h)"),
        ("10sec", "unknown duration unit 'sec' (use ms, s, m or h)"),
        ("9000h", "duration too long: '9000h' (at most 365 days)"),
    ],
)
def test_duration_refused(text: str, message: str) -> None:
    """Malformed durations raise ValueError with a short message."""
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("4096", 4096),
        ("512B", 512),
        ("32KiB", 32 * 1024),
        ("1MiB", 1024**2),
        ("2GiB", 2 * 1024**3),
        ("100KB", 100_000),
        ("1MB", 1_000_000),
        ("1GB", 1_000_000_000),
        ("32kib", 32 * 1024),
        ("1.5MiB", 1536 * 1024),
        ("8 KiB", 8192),
    ],
)
def test_size_accepted(text: str, size: int) -> None:
    """Sizes with B, KiB, MiB, GiB, KB, MB, GB (any case) or none convert to bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("big", "not a size: 'big' (e.g. 32KiB, 1MiB, or a number of bytes)"),
        ("-1", "not a size: '-1' (e.g. 32KiB, 1MiB, or a number of bytes)"),
        ("10kbit", "unknown size unit 'kbit' (use B, KiB, MiB, GiB, KB, MB or GB)"),
        ("1.5", "a size without a unit is a whole number of bytes, not 1.5"),
        ("0.3KiB", "not a whole number of bytes: '0.3KiB'"),
    ],
)
def test_size_refused(text: str, message: str) -> None:
    """Malformed sizes raise ValueError with a short message."""
    with pytest.raises(ValueError) as info:
        parse_size(text)
    assert str(info.value) == message


@given(st.integers(min_value=0, max_value=10**12))
def test_size_round_trip(number: int) -> None:
    """A whole number of KiB parses to exactly 1024 times that many bytes."""
    assert parse_size(f"{number}KiB") == number * 1024


@given(st.text(max_size=20))
def test_parsers_raise_only_value_error(text: str) -> None:
    """Any text either parses or raises ValueError, never anything else."""
    for parse in (parse_duration, parse_size):
        with contextlib.suppress(ValueError):
            parse(text)
