"""Tests of proxyhub.observe.accesslog: exact JSON and combined lines, escaping, the log file."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.config.model import ProxyhubSettings
from proxyhub.observe.accesslog import (
    AccessLog,
    AccessRecord,
    escape_quoted,
    escape_token,
    format_combined,
    format_json,
    formatter_for,
    iso_timestamp,
    open_access_log,
)

T0 = 1795802400.0  # 2026-11-27T18:00:00Z

RECORD = AccessRecord(
    ts=T0 + 0.1234,
    listener="forward",
    client="127.0.0.1",
    user="alice",
    method="GET",
    target="http://example.com/a?b=c",
    status=200,
    bytes_in=120,
    bytes_out=5321,
    duration_ms=12.345,
    upstream="93.184.216.34:80",
    referer="http://example.com/",
    user_agent="curl/8.5.0",
)

BARE = AccessRecord(
    ts=T0,
    listener="forward",
    client="::1",
    user=None,
    method="CONNECT",
    target="example.com:443",
    status=403,
    bytes_in=0,
    bytes_out=0,
    duration_ms=0.04,
    upstream=None,
)


def test_format_json_exact() -> None:
    """A full record becomes exactly this JSON line, in field order."""
    assert format_json(RECORD) == (
        '{"ts":"2026-11-27T18:00:00.123Z","listener":"forward","client":"127.0.0.1",'
        '"user":"alice","method":"GET","target":"http://example.com/a?b=c","status":200,'
        '"bytes_in":120,"bytes_out":5321,"duration_ms":12.3,"upstream":"93.184.216.34:80"}'
    )


def test_format_json_missing_values_are_null() -> None:
    """Missing user and upstream are JSON null; referer and user agent are not logged."""
    assert format_json(BARE) == (
        '{"ts":"2026-11-27T18:00:00.000Z","listener":"forward","client":"::1",'
        '"user":null,"method":"CONNECT","target":"example.com:443","status":403,'
        '"bytes_in":0,"bytes_out":0,"duration_ms":0.0,"upstream":null}'
    )


def test_format_json_non_finite_duration() -> None:
    """A NaN or infinite duration is logged as 0.0 so the line stays valid JSON."""
    for bad in (float("nan"), float("inf")):
        line = format_json(dataclasses.replace(BARE, duration_ms=bad))
        assert json.loads(line)["duration_ms"] == 0.0


TEXT = st.text(max_size=40)


@given(TEXT, st.one_of(st.none(), TEXT), TEXT, st.floats(0, 4e9), st.floats(0, 1e7))
def test_format_json_round_trip(
    target: str, user: str | None, client: str, ts: float, duration: float
) -> None:
    """Any record gives one ASCII line that parses back to its own values."""
    rec = dataclasses.replace(RECORD, target=target, user=user, client=client, ts=ts)
    rec = dataclasses.replace(rec, duration_ms=duration)
    line = format_json(rec)
    assert "\n" not in line and line.isascii()
    data = json.loads(line)
    assert list(data) == [
        "ts",
        "listener",
        "client",
        "user",
        "method",
        "target",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
        "upstream",
    ]
    assert (data["target"], data["user"], data["client"]) == (target, user, client)
    assert data["duration_ms"] == round(duration, 1)


TIMESTAMPS = [
    (T0, "2026-11-27T18:00:00.000Z"),
    (T0 + 0.0005, "2026-11-27T18:00:00.000Z"),
    (T0 + 0.001, "2026-11-27T18:00:00.001Z"),
    (T0 + 0.9999, "2026-11-27T18:00:01.000Z"),
    (0.0, "1970-01-01T00:00:00.000Z"),
]


@pytest.mark.parametrize(("ts", "expected"), TIMESTAMPS)
def test_iso_timestamp(ts: float, expected: str) -> None:
    """Timestamps are UTC with milliseconds, rounding into the next second when needed."""
    assert iso_timestamp(ts) == expected


def test_format_combined_exact() -> None:
    """A full record becomes exactly this combined line plus bytes_in, duration and upstream."""
    assert format_combined(RECORD) == (
        '127.0.0.1 - alice [27/Nov/2026:18:00:00 +0000] "GET http://example.com/a?b=c HTTP/1.1" '
        '200 5321 "http://example.com/" "curl/8.5.0" 120 12.3 93.184.216.34:80'
    )


def test_format_combined_dashes() -> None:
    """Missing user, referer, user agent and upstream are written as ``-``."""
    assert format_combined(BARE) == (
        '::1 - - [27/Nov/2026:18:00:00 +0000] "CONNECT example.com:443 HTTP/1.1" '
        '403 0 "-" "-" 0 0.0 -'
    )


QUOTED = [
    ('say "hi"', "say \\x22hi\\x22"),
    ("back\\slash", "back\\x5Cslash"),
    ("tab\there", "tab\\x09here"),
    ("line\r\nbreak", "line\\x0D\\x0Abreak"),
    ("nul\x00del\x7f", "nul\\x00del\\x7F"),
    ("caf\u00e9", "caf\\xE9"),
    ("snow\u2603man", "snow\\xE2\\x98\\x83man"),
    ("spaces stay", "spaces stay"),
    ("", "-"),
    (None, "-"),
]


@pytest.mark.parametrize(("text", "expected"), QUOTED)
def test_escape_quoted(text: str | None, expected: str) -> None:
    """Quotes, backslashes, controls and non-ASCII become nginx-style ``\\xHH``."""
    assert escape_quoted(text) == expected


def test_escape_token_escapes_spaces() -> None:
    """Unquoted fields also escape spaces so fields still split on blanks."""
    assert escape_token('a b"c') == "a\\x20b\\x22c"
    assert escape_token(None) == "-"


def test_format_combined_escapes_every_field() -> None:
    """Hostile user, target, referer and user agent cannot break the line or its quoting."""
    rec = dataclasses.replace(
        RECORD,
        user="eve smith",
        target='/x" 200 1 "y',
        referer='"\n',
        user_agent="a\\b",
        upstream=None,
    )
    assert format_combined(rec) == (
        "127.0.0.1 - eve\\x20smith [27/Nov/2026:18:00:00 +0000] "
        '"GET /x\\x22\\x20200\\x201\\x20\\x22y HTTP/1.1" '
        '200 5321 "\\x22\\x0A" "a\\x5Cb" 120 12.3 -'
    )


COMBINED = re.compile(
    r'(?P<client>\S+) - (?P<user>\S+) \[[^\]]+\] "\S+ (?P<target>\S+) HTTP/1\.1" \d+ \d+ '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)" \d+ \d+\.\d \S+'
)


@given(TEXT, TEXT, TEXT, st.one_of(st.none(), TEXT))
def test_format_combined_is_one_ascii_line(
    target: str, referer: str, user_agent: str, user: str | None
) -> None:
    """Whatever the values, the line is ASCII, unbroken and splits back into its fields."""
    rec = dataclasses.replace(
        RECORD, target=target, referer=referer, user_agent=user_agent, user=user
    )
    line = format_combined(rec)
    assert line.isascii() and "\n" not in line and "\r" not in line
    match = COMBINED.fullmatch(line)
    assert match is not None
    assert match["user"] == escape_token(user)
    assert (match["referer"], match["ua"]) == (escape_quoted(referer), escape_quoted(user_agent))


def test_formatter_for() -> None:
    """Format names map to their formatters; an unknown name is a ValueError."""
    assert formatter_for("json") is format_json
    assert formatter_for("combined") is format_combined
    with pytest.raises(ValueError, match="xml"):
        formatter_for("xml")


def test_access_log_writes_lines_to_file(tmp_path: Path) -> None:
    """Records are appended one formatted line each, after what the file already held."""
    path = tmp_path / "access.log"
    path.write_text("old line\n")
    log = AccessLog(str(path), "json")
    assert log.enabled
    log.log(RECORD)
    log.log(BARE)
    assert path.read_text() == f"old line\n{format_json(RECORD)}\n{format_json(BARE)}\n"
    log.close()


def test_access_log_combined_format(tmp_path: Path) -> None:
    """The combined format writes combined lines."""
    path = tmp_path / "access.log"
    log = AccessLog(str(path), "combined")
    log.log(RECORD)
    log.close()
    assert path.read_text() == format_combined(RECORD) + "\n"


def test_access_log_ignores_foreign_events(tmp_path: Path) -> None:
    """Events without an access record write nothing."""
    path = tmp_path / "access.log"
    log = AccessLog(str(path), "json")
    log._logger.info("unrelated {x}", x=1)
    log.close()
    assert path.read_text() == ""


def test_access_log_reopen_follows_rotation(tmp_path: Path) -> None:
    """After the file is moved away, reopen starts a fresh file at the configured path."""
    path = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    log = AccessLog(str(path), "json")
    log.log(RECORD)
    path.rename(rotated)
    log.log(BARE)
    log.reopen()
    log.log(RECORD)
    log.close()
    assert rotated.read_text() == f"{format_json(RECORD)}\n{format_json(BARE)}\n"
    assert path.read_text() == f"{format_json(RECORD)}\n"


def test_access_log_reopen_failure_keeps_old_file(tmp_path: Path) -> None:
    """If the path cannot be reopened the error is raised and the old file keeps logging."""
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "access.log"
    log = AccessLog(str(path), "json")
    path.unlink()
    directory.rmdir()
    with pytest.raises(OSError):
        log.reopen()
    log.log(RECORD)
    log.close()


def test_access_log_close_drops_later_records(tmp_path: Path) -> None:
    """After close, records are dropped and enabled is False."""
    path = tmp_path / "access.log"
    log = AccessLog(str(path), "json")
    log.close()
    assert not log.enabled
    log.log(RECORD)
    log.close()
    assert path.read_text() == ""


def test_access_log_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    """``-`` writes to the real stdout (not a redirected sys.stdout), and close leaves it open."""
    log = AccessLog("-", "combined")
    log.log(BARE)
    log.reopen()
    log.close()
    assert capfd.readouterr().out == format_combined(BARE) + "\n"


def test_access_log_off() -> None:
    """``off`` is disabled and logging to it is a no-op."""
    log = AccessLog("off", "json")
    assert not log.enabled
    log.log(RECORD)
    log.reopen()
    log.close()


def test_access_log_unknown_format() -> None:
    """An unknown format is refused at construction."""
    with pytest.raises(ValueError):
        AccessLog("-", "xml")


def proxyhub_settings(access_log: str, fmt: str = "json") -> ProxyhubSettings:
    """A [proxyhub] section with the given access log settings."""
    return ProxyhubSettings(
        name="testhost:3128",
        workers=1,
        access_log=access_log,
        access_log_format=fmt,
        admin_listen=(),
        connect_timeout=10.0,
        header_timeout=30.0,
        idle_timeout=60.0,
        read_timeout=60.0,
        tunnel_idle_timeout=300.0,
        half_close_timeout=30.0,
        tls_handshake_timeout=10.0,
        drain_timeout=30.0,
        max_target_size=8192,
        max_header_size=32768,
        max_headers=100,
        max_body_size=0,
        max_connections=10000,
    )


def test_open_access_log(tmp_path: Path) -> None:
    """The factory returns None for ``off`` and an enabled log otherwise."""
    assert open_access_log(proxyhub_settings("off")) is None
    path = tmp_path / "a.log"
    log = open_access_log(proxyhub_settings(str(path), "combined"))
    assert log is not None and log.enabled
    log.log(RECORD)
    log.close()
    assert path.read_text() == format_combined(RECORD) + "\n"


def test_access_record_is_frozen_and_slotted() -> None:
    """Records are immutable and carry no per-instance dict."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECORD.status = 500  # type: ignore[misc]
    assert not hasattr(RECORD, "__dict__")
