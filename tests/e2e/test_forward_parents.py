"""Parent proxies and PAC files end to end: a second proxyhub as the parent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import bcrypt

from .conftest import Proxy, curl, free_port, raw_exchange
from .origins import Origin


def test_requests_and_tunnels_go_through_the_parent(
    start_proxy: Callable[..., Proxy], origin: Origin, tls_origin: Origin
) -> None:
    """Plain requests and CONNECT tunnels both pass the parent, which logs them."""
    parent = start_proxy()
    child = start_proxy({"parent": parent.url})
    assert curl("-x", child.url, origin.url("/hello")).stdout == "hello from origin\n"
    tunnel = curl("-k", "-p", "-x", child.url, f"https://127.0.0.1:{tls_origin.port}/hello")
    assert tunnel.stdout == "hello from origin\n", tunnel.stderr
    assert parent.wait_log(f"GET {origin.url('/hello')} ")
    assert parent.wait_log(f"CONNECT 127.0.0.1:{tls_origin.port} ")


def test_parent_credentials_are_sent(
    start_proxy: Callable[..., Proxy], origin: Origin, tmp_path: Path
) -> None:
    """A parent with auth_file accepts the child's user:pass from the parent URL."""
    users = tmp_path / "htpasswd"
    users.write_text("child:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode() + "\n")
    parent = start_proxy({"auth_file": str(users)})
    child = start_proxy({"parent": f"http://child:s3cret@127.0.0.1:{parent.port}"})
    assert curl("-x", child.url, origin.url("/hello")).stdout == "hello from origin\n"
    assert parent.wait_log(" child [")


def test_failover_to_the_next_parent(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """A dead first parent is skipped; the second one carries the request."""
    parent = start_proxy()
    dead = free_port()
    child = start_proxy({"parent": f"http://127.0.0.1:{dead} {parent.url}"})
    assert curl("-x", child.url, origin.url("/hello")).stdout == "hello from origin\n"
    assert curl("-x", child.url, origin.url("/hello?again")).stdout == "hello from origin\n"


def test_no_parent_reachable_is_502_with_the_reason(
    start_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    """With every parent down the client gets 502 naming why."""
    dead = free_port()
    child = start_proxy({"parent": f"http://127.0.0.1:{dead}"})
    out = raw_exchange(
        child.port,
        f"GET {origin.url('/hello')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert out.startswith(b"HTTP/1.1 502 ")
    assert b"No parent proxy is reachable" in out
    tunnel = raw_exchange(child.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert tunnel.startswith(b"HTTP/1.1 502 ")


def test_parent_bypass_goes_direct(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """Hosts in parent_bypass never touch the (dead) parent."""
    dead = free_port()
    child = start_proxy({"parent": f"http://127.0.0.1:{dead}", "parent_bypass": "127.0.0.1"})
    assert curl("-x", child.url, origin.url("/hello")).stdout == "hello from origin\n"


def test_pac_file_is_served(start_proxy: Callable[..., Proxy]) -> None:
    """GET /proxy.pac and /wpad.dat answer a PAC file naming this listener."""
    proxy = start_proxy({"parent_bypass": "*.corp.example", "pac_direct": "intranet"})
    for path in ("/proxy.pac", "/wpad.dat"):
        result = curl("-i", f"{proxy.url}{path}")
        assert "Content-Type: application/x-ns-proxy-autoconfig" in result.stdout
        assert 'dnsDomainIs(host, ".corp.example")) return "DIRECT"' in result.stdout
        assert 'host == "intranet") return "DIRECT"' in result.stdout
        assert f'return "PROXY 127.0.0.1:{proxy.port}";' in result.stdout
