"""Durations and sizes with units, as written in the INI file.

``parse_duration("500ms") == 0.5`` and ``parse_size("32KiB") == 32768``. Both raise
``ValueError`` with a short message meant to be shown to the person editing the file.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_NUMBER_UNIT = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[A-Za-z]*)")

_DURATION_UNITS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}

_MAX_SECONDS = 365 * 24 * 3600.0

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

DURATION_EXAMPLES = "e.g. 500ms, 10s, 5m, 1h"
SIZE_EXAMPLES = "e.g. 32KiB, 1MiB, or a number of bytes"


def _split(text: str) -> tuple[Decimal, str] | None:
    """Split ``"1.5 MiB"`` into ``(Decimal("1.5"), "mib")``; None when it is not that shape."""
    match = _NUMBER_UNIT.fullmatch(text.strip())
    if match is None:
        return None
    return Decimal(match["number"]), match["unit"].lower()


def parse_duration(text: str) -> float:
    """Return the duration ``text`` (``500ms``, ``10s``, ``5m``, ``1h``, ``0``) in seconds."""
    parts = _split(text)
    if parts is None:
        raise ValueError(f"not a duration: {text.strip()!r} ({DURATION_EXAMPLES})")
    number, unit = parts
    if not unit:
        if number == 0:
            return 0.0
        raise ValueError("durations need a unit (ms, s, m, h), e.g. 10s")
    factor = _DURATION_UNITS.get(unit)
    if factor is None:
        raise ValueError(f"unknown duration unit {unit!r} (use ms, s, m or h)")
    seconds = float(number * factor)
    if not math.isfinite(seconds) or seconds > _MAX_SECONDS:
        raise ValueError(f"duration too long: {text.strip()!r} (at most 365 days)")
    return seconds


def parse_size(text: str) -> int:
    """Return the size ``text`` (``32KiB``, ``1MiB``, ``100KB``, ``512B``, ``4096``) in bytes."""
    parts = _split(text)
    if parts is None:
        raise ValueError(f"not a size: {text.strip()!r} ({SIZE_EXAMPLES})")
    number, unit = parts
    if not unit and number != number.to_integral_value():
        raise ValueError(f"a size without a unit is a whole number of bytes, not {number}")
    factor = _SIZE_UNITS.get(unit or "b")
    if factor is None:
        raise ValueError(f"unknown size unit {unit!r} (use B, KiB, MiB, GiB, KB, MB or GB)")
    size = number * factor
    if size != size.to_integral_value():
        raise ValueError(f"not a whole number of bytes: {text.strip()!r}")
    return int(size)
