"""The domain-fronting guard (sni_guard = yes) with openssl s_client and raw sockets."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from .conftest import Proxy, raw_exchange
from .origins import Origin


@pytest.fixture
def guarded(start_proxy: Callable[..., Proxy]) -> Proxy:
    return start_proxy({"sni_guard": "yes"})


def s_client(proxy: Proxy, connect: str, servername: str) -> subprocess.CompletedProcess[str]:
    """openssl s_client through the proxy's CONNECT, asking for ``servername``."""
    return subprocess.run(
        ["openssl", "s_client", "-proxy", f"127.0.0.1:{proxy.port}", "-connect", connect,
         "-servername", servername, "-brief"],
        input="", capture_output=True, text=True, timeout=20,
    )  # fmt: skip


def test_matching_sni_passes(guarded: Proxy, tls_origin: Origin) -> None:
    """A ClientHello naming the CONNECT host reaches the origin and completes."""
    result = s_client(guarded, f"localhost:{tls_origin.port}", "localhost")
    assert "CONNECTION ESTABLISHED" in result.stderr, result.stderr


def test_fronted_sni_is_closed_and_logged(guarded: Proxy, tls_origin: Origin) -> None:
    """CONNECT to one name with an SNI of another: the tunnel closes, a warning says why."""
    result = s_client(guarded, f"localhost:{tls_origin.port}", "blocked.example")
    assert "CONNECTION ESTABLISHED" not in result.stderr
    assert guarded.wait_log("CONNECT localhost:")
    log = guarded.stderr_path.read_text()
    assert "sni_guard closed a tunnel: client=127.0.0.1 connect=localhost" in log
    assert "blocked.example" in log


def test_plaintext_in_a_guarded_tunnel_is_closed(guarded: Proxy, origin: Origin) -> None:
    """Bytes that are not TLS never reach the origin."""
    before = len(origin.requests)
    out = raw_exchange(
        guarded.port,
        f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    )
    assert out == b"HTTP/1.1 200 Connection established\r\n\r\n"
    assert len(origin.requests) == before
