"""The shipped etc/proxy.ini must load, and its commented-out defaults must be the real ones.

The commented-out reverse proxy block is an example to adapt, not a list of defaults; it is
checked in test_example_reverse.py.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from proxyhub.config import load_config
from proxyhub.config.schema import SECTIONS

from .conftest import load

EXAMPLE = Path(__file__).resolve().parents[3] / "etc" / "proxy.ini"

# Commented-out keys that show an example value rather than the default.
_EXAMPLES_ONLY = {"name", "admin_listen", "auth_file", "parent", "parent_bypass"}


def test_example_loads() -> None:
    """etc/proxy.ini parses as-is into a loopback forward proxy on port 3128."""
    config = load_config(EXAMPLE)
    assert config.forward is not None
    assert config.forward.listen == ("tcp:3128:interface=127.0.0.1",)
    assert config.proxyhub.name == "testhost:3128"


def test_example_documents_defaults() -> None:
    """Uncommenting every documented default in etc/proxy.ini changes nothing."""
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^;(?=[a-z_]+ =|\s{2,}\S)", "", text)
    kept = [line for line in uncommented.splitlines() if line.split(" =")[0] not in _EXAMPLES_ONLY]
    keys = {line.split(" =")[0] for line in kept if re.match(r"[a-z_]+ =", line)}
    documented_sections = ("proxyhub", "forward")
    expected = {key.name for section in documented_sections for key in SECTIONS[section]}
    assert keys == expected - _EXAMPLES_ONLY
    documented = load("\n".join(kept))
    default = load_config(EXAMPLE)
    for section in documented_sections:
        assert dataclasses.asdict(getattr(documented, section)) == dataclasses.asdict(
            getattr(default, section)
        ), section
