"""Access log: one record per request or tunnel, formatted as JSON or Apache combined.

The protocols build an ``AccessRecord`` when a request finishes and hand it to
``AccessLog.log``; the log emits it as a ``twisted.logger`` event on a private
publisher whose only observer writes formatted lines to stdout or a file.  A
failing write is caught by the publisher and never reaches the protocol.

Both formats are one line per record and pure ASCII: JSON escapes non-ASCII,
the combined format escapes ``"``, ``\\``, control characters and non-ASCII
bytes as ``\\xHH`` the way nginx does.  Characters U+0080..U+00FF stand for the
byte of the same value (heads are decoded as latin-1); others are escaped as
their UTF-8 bytes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any

from twisted.logger import FileLogObserver, ILogObserver, LogEvent, Logger, LogPublisher

from proxyhub.config.model import ProxyhubSettings

FORMATS = ("combined", "json")
_EVENT_KEY = "proxyhub_access"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """What happened on one request: who, what, the outcome and the bytes each way.

    ``ts`` is the Unix time the request started; ``bytes_in`` counts bytes
    received from the client, ``bytes_out`` bytes sent to it; ``upstream`` is
    the ``host:port`` the proxy talked to, if any; ``cache`` is ``HIT``, ``MISS``
    or ``REVALIDATED`` when the request went through the HTTP cache, else None.
    """

    ts: float
    listener: str
    client: str
    user: str | None
    method: str
    target: str
    status: int
    bytes_in: int
    bytes_out: int
    duration_ms: float
    upstream: str | None
    referer: str | None = None
    user_agent: str | None = None
    cache: str | None = None


# --- JSON -------------------------------------------------------------------


@lru_cache(maxsize=8)
def _iso_second(second: int) -> str:
    """Return ``YYYY-MM-DDTHH:MM:SS`` in UTC for a whole Unix second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def iso_timestamp(ts: float) -> str:
    """Return ``ts`` as ISO 8601 UTC with milliseconds: ``2026-11-27T18:00:00.123Z``."""
    second, millis = divmod(round(ts * 1000), 1000)
    return f"{_iso_second(second)}.{millis:03d}Z"


def _duration(duration_ms: float) -> float:
    """Return the duration rounded to 0.1 ms; a non-finite value becomes 0.0."""
    return round(duration_ms, 1) if math.isfinite(duration_ms) else 0.0


def format_json(rec: AccessRecord) -> str:
    """Return ``rec`` as one JSON object on one line (DESIGN.md section 4 fields).

    ``cache`` is only present for requests that went through the HTTP cache.
    """
    fields: dict[str, Any] = {
        "ts": iso_timestamp(rec.ts),
        "listener": rec.listener,
        "client": rec.client,
        "user": rec.user,
        "method": rec.method,
        "target": rec.target,
        "status": rec.status,
        "bytes_in": rec.bytes_in,
        "bytes_out": rec.bytes_out,
        "duration_ms": _duration(rec.duration_ms),
        "upstream": rec.upstream,
    }
    if rec.cache is not None:
        fields["cache"] = rec.cache
    return json.dumps(fields, separators=(",", ":"), allow_nan=False)


# --- Apache combined ----------------------------------------------------------


def _escape_table(extra: str) -> dict[int, str]:
    """Return a ``str.translate`` table for ``"``, ``\\``, controls, U+007F..U+00FF, ``extra``."""
    codes = [*range(0x20), 0x22, 0x5C, *range(0x7F, 0x100), *map(ord, extra)]
    return {code: f"\\x{code:02X}" for code in codes}


_QUOTED = _escape_table("")
_TOKEN = _escape_table(" ")


def _escape(text: str, table: dict[int, str]) -> str:
    """Escape ``text`` with ``table``; characters past U+00FF become their UTF-8 bytes."""
    escaped = text.translate(table)
    if escaped.isascii():
        return escaped
    return "".join(
        char
        if ord(char) < 0x80
        else "".join(f"\\x{b:02X}" for b in char.encode("utf-8", "replace"))
        for char in escaped
    )


def escape_quoted(text: str | None) -> str:
    """Return a value for a quoted combined-log field: ``-`` when missing or empty."""
    return _escape(text, _QUOTED) if text else "-"


def escape_token(text: str | None) -> str:
    """Return a value for an unquoted field: like ``escape_quoted`` but spaces escaped too."""
    return _escape(text, _TOKEN) if text else "-"


@lru_cache(maxsize=8)
def clf_timestamp(second: int) -> str:
    """Return a whole Unix second as ``27/Nov/2026:18:00:00 +0000`` (UTC, English months)."""
    t = time.gmtime(second)
    month = _MONTHS[t.tm_mon - 1]
    return (
        f"{t.tm_mday:02d}/{month}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def format_combined(rec: AccessRecord) -> str:
    """Return ``rec`` as Apache combined plus `` bytes_in duration_ms upstream``."""
    request = f"{escape_token(rec.method)} {escape_token(rec.target)} HTTP/1.1"
    return (
        f"{escape_token(rec.client)} - {escape_token(rec.user)} "
        f"[{clf_timestamp(math.floor(rec.ts))}] "
        f'"{request}" {rec.status} {rec.bytes_out} '
        f'"{escape_quoted(rec.referer)}" "{escape_quoted(rec.user_agent)}" '
        f"{rec.bytes_in} {_duration(rec.duration_ms):.1f} {escape_token(rec.upstream)}"
    )


Formatter = Callable[[AccessRecord], str]
_FORMATTERS: dict[str, Formatter] = {"combined": format_combined, "json": format_json}


def formatter_for(fmt: str) -> Formatter:
    """Return the formatter named by ``access_log_format``; ValueError for an unknown name."""
    try:
        return _FORMATTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown access log format {fmt!r}; expected one of {FORMATS}") from None


# --- the log ------------------------------------------------------------------


class AccessLog:
    """Writes access records to stdout (``-``), a file (appended) or nowhere (``off``).

    Callers check ``enabled`` and skip building records when it is False.
    ``-`` means the process's real standard output (``sys.__stdout__``), not
    twistd's redirected ``sys.stdout``, so lines stay bare; it is never closed.
    """

    def __init__(self, destination: str, fmt: str) -> None:
        self.destination = destination
        self.enabled = destination != "off"
        self._format = formatter_for(fmt)
        self._publisher = LogPublisher()
        self._logger = Logger(namespace="proxyhub.access", observer=ILogObserver(self._publisher))
        self._file: IO[Any] | None = None
        self._observer: ILogObserver | None = None
        if self.enabled:
            self._attach(self._open())

    def _open(self) -> IO[Any]:
        """Open the destination: stdout for ``-``, else the path for line-buffered append."""
        if self.destination == "-":
            return sys.__stdout__ or sys.stdout
        return open(self.destination, "a", buffering=1, encoding="ascii", errors="replace")

    def _attach(self, out: IO[Any]) -> None:
        """Make ``out`` the only output, detaching and closing the previous one."""
        observer = ILogObserver(FileLogObserver(out, self._format_event))
        self._publisher.addObserver(observer)
        self._detach()
        self._file, self._observer = out, observer

    def _detach(self) -> None:
        """Remove the current observer and close its file (never stdout)."""
        if self._observer is not None:
            self._publisher.removeObserver(self._observer)
        if self._file is not None and self.destination != "-":
            self._file.close()
        self._file = self._observer = None

    def _format_event(self, event: LogEvent) -> str | None:
        """Return the line for an access event, or None for anything else."""
        record = event.get(_EVENT_KEY)
        if not isinstance(record, AccessRecord):
            return None
        return self._format(record) + "\n"

    def log(self, rec: AccessRecord) -> None:
        """Emit one record (nothing happens once disabled or closed)."""
        if self._observer is not None:
            self._logger.info(proxyhub_access=rec)

    def reopen(self) -> None:
        """Reopen a file destination (after log rotation); the old file stays on failure."""
        if self._observer is not None and self.destination != "-":
            self._attach(self._open())

    def close(self) -> None:
        """Flush and close the destination; later records are dropped."""
        self._detach()
        self.enabled = False


def open_access_log(settings: ProxyhubSettings) -> AccessLog | None:
    """Return the access log ``[proxyhub]`` asks for, or None when ``access_log = off``."""
    if settings.access_log == "off":
        return None
    return AccessLog(settings.access_log, settings.access_log_format)
