"""Shared helpers for the configuration tests."""

from __future__ import annotations

import socket

import pytest

from proxyhub.config import Config, ConfigError, parse_config_text

PATH = "t.ini"


@pytest.fixture(autouse=True)
def fixed_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the default ``name`` predictable: the host is always called 'testhost'."""
    monkeypatch.setattr(socket, "gethostname", lambda: "testhost")


def make(proxyhub: str | None = None, forward: str | None = "listen = tcp:3128") -> str:
    """Config text with the given bodies for [proxyhub] and [forward] (None leaves it out)."""
    parts = []
    if proxyhub is not None:
        parts.append(f"[proxyhub]\n{proxyhub}\n")
    if forward is not None:
        parts.append(f"[forward]\n{forward}\n")
    return "".join(parts)


def load(text: str) -> Config:
    """Parse ``text`` as the file ``t.ini``."""
    return parse_config_text(text, PATH)


def problems(text: str) -> list[str]:
    """The problems reported for ``text``, asserting that there are some."""
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value.problems
