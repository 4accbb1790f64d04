"""Access rules end to end: clients, domains, destinations in every IP spelling."""

from __future__ import annotations

import pytest

from .conftest import curl, raw_exchange
from .origins import Origin


def _get(port: int, url: str) -> bytes:
    req = f"GET {url} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    return raw_exchange(port, req.encode())


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "169.254.169.254",
        "0xa9fea9fe",
        "0.0.0.0",
    ],
)
def test_default_deny_destinations_cover_every_spelling(start_proxy, host: str) -> None:  # type: ignore[no-untyped-def]
    """Loopback, link-local and unspecified targets are refused 403 however they are written."""
    p = start_proxy({"deny_destinations": "127.0.0.0/8 ::1 169.254.0.0/16 0.0.0.0/8"})
    out = _get(p.port, f"http://{host}:9/")
    assert out.startswith(b"HTTP/1.1 403 "), out[:60]


def test_default_config_denies_loopback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With deny_destinations left out, the built-in list refuses loopback origins."""
    from .conftest import Proxy

    p = Proxy.__new__(Proxy)  # built by hand: the fixture always clears deny_destinations
    import subprocess

    from .conftest import free_port, twistd_command, wait_listening

    port = free_port()
    ini = tmp_path / "p.ini"
    ini.write_text(
        f"[proxyhub]\naccess_log = off\n[forward]\nlisten = tcp:{port}:interface=127.0.0.1\n"
    )
    proc = subprocess.Popen(twistd_command(ini), cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        assert _get(port, "http://localhost:9/").startswith(b"HTTP/1.1 403 ")
        assert _get(port, "http://[::ffff:7f00:1]:9/").startswith(b"HTTP/1.1 403 ")
    finally:
        proc.terminate()
        proc.wait(10)
    del p


def test_client_not_allowed_gets_403(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """A client outside allow_clients is refused."""
    p = start_proxy({"allow_clients": "10.0.0.0/8"})
    out = _get(p.port, origin.url("/hello"))
    assert out.startswith(b"HTTP/1.1 403 ")
    assert b"allow_clients" in out


def test_deny_domains_wins_over_allow(start_proxy) -> None:  # type: ignore[no-untyped-def]
    """deny_domains refuses a host that allow_domains would let through."""
    p = start_proxy({"allow_domains": "*.example.test", "deny_domains": "bad.example.test"})
    assert _get(p.port, "http://bad.example.test/").startswith(b"HTTP/1.1 403 ")
    assert _get(p.port, "http://other.test/").startswith(b"HTTP/1.1 403 ")


def test_allowed_domain_passes(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """A host matching allow_domains is proxied."""
    p = start_proxy({"allow_domains": "localhost"})
    result = curl("-x", p.url, f"http://localhost:{origin.port}/hello")
    assert result.stdout == "hello from origin\n"


def test_json_access_log(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """access_log_format = json writes one object per request with the contract's fields."""
    import json

    p = start_proxy(access_log_format="json")
    curl("-x", p.url, origin.url("/hello"))
    record = json.loads(p.log_lines()[-1])
    assert record["method"] == "GET" and record["status"] == 200
    assert record["bytes_out"] == 18 and record["upstream"] == f"127.0.0.1:{origin.port}"
    assert set(record) >= {"ts", "listener", "client", "user", "target", "bytes_in", "duration_ms"}
