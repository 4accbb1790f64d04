"""bench/hotpath.py keeps working: its proxies answer 200 and reuse the origin connection."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HOTPATH = Path(__file__).resolve().parents[2] / "bench" / "hotpath.py"


def load_hotpath() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hotpath", HOTPATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["forward", "reverse"])
def test_requests_go_through(kind: str) -> None:
    """Each proxy answers a stream of requests on one pooled origin connection."""
    hotpath = load_hotpath()
    once = hotpath.proxied_request(kind)
    hotpath.repeat(once, 50)


def test_a_broken_answer_stops_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    """An origin answer the proxy does not relay as 200 ends the run with a message."""
    hotpath = load_hotpath()
    monkeypatch.setattr(hotpath, "RESPONSE", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    with pytest.raises(SystemExit, match="unexpected answer"):
        hotpath.proxied_request("reverse")
