"""The shipped fail2ban filter matches the line proxyhub logs for a failed login."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

FILTER = Path(__file__).resolve().parents[2] / "etc" / "fail2ban" / "proxyhub.conf"
LOGGED = (
    "2026-11-27T21:09:12+0000 [proxyhub.net.auth#warn] proxy auth failed: "
    'client=203.0.113.9 user="-" reason="wrong password"'
)


def failregex() -> re.Pattern[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(FILTER)
    pattern = parser["Definition"]["failregex"].strip()
    return re.compile(pattern.replace("<HOST>", r"(?P<host>\S+)"))


def test_filter_finds_the_client_address() -> None:
    """fail2ban's <HOST> is the client address of the failed attempt."""
    match = failregex().search(LOGGED)
    assert match is not None and match.group("host") == "203.0.113.9"


def test_filter_ignores_other_lines() -> None:
    """Ordinary log lines are not failures."""
    assert failregex().search("proxyhub listening on IPv4Address(host='0.0.0.0')") is None
