"""The commented-out reverse proxy example in etc/proxy.ini must load once uncommented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxyhub.config import Backend
from proxyhub.config.schema import HOST_KEYS, REVERSE_KEYS

from .conftest import load
from .test_example import EXAMPLE


def uncommented() -> str:
    """etc/proxy.ini with the example block (from '; [reverse]' on) uncommented."""
    text = EXAMPLE.read_text(encoding="utf-8")
    head, marker, block = text.partition("\n; [reverse]\n")
    assert marker, "etc/proxy.ini has no commented-out [reverse] example"
    return head + "\n[reverse]\n" + re.sub(r"(?m)^; ?", "", block)


@pytest.fixture
def certs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with etc/certs/site.pem, as the example's pattern expects."""
    certs = tmp_path / "etc" / "certs"
    certs.mkdir(parents=True)
    (certs / "site.pem").write_text("placeholder\n")
    monkeypatch.chdir(tmp_path)
    return certs


@pytest.mark.usefixtures("certs_dir")
def test_reverse_example_loads() -> None:
    """Uncommented, the example serves example.com and its /api/ route beside the forward proxy."""
    config = load(uncommented())
    assert config.forward is not None
    reverse = config.reverse
    assert reverse is not None
    assert (reverse.listen, reverse.tls_listen) == (("tcp:8080",), ("tcp:8443",))
    assert reverse.certificate_files == ("etc/certs/site.pem",)
    site, api = config.routes
    assert (site.name, site.aliases, site.health_check) == (
        "example.com",
        ("www.example.com",),
        "/healthz",
    )
    assert (api.prefix, api.aliases, api.strip_prefix) == ("/api/", ("www.example.com",), True)
    assert api.backends == (Backend("http", "10.0.0.3", 9000),)


def test_reverse_example_mentions_every_key() -> None:
    """Every [reverse] and [host:...] key appears in the example block."""
    block = uncommented().partition("\n[reverse]\n")[2]
    written = set(re.findall(r"(?m)^([a-z_]+) =", block))
    assert written == {key.name for key in (*REVERSE_KEYS, *HOST_KEYS)}
