"""The SOCKS listener with curl (SOCKS5, SOCKS5 with a user, SOCKS4a) and raw sockets."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from .conftest import Proxy, curl, free_port
from .origins import Origin


def socks_proxy(start: Callable[..., Proxy], socks: dict[str, str], **forward: str) -> Proxy:
    rules = {"allow_clients": "127.0.0.1", "deny_destinations": "", **forward}
    sections = {
        "socks": {"listen": "tcp:{port}:interface=127.0.0.1", **socks},
        "forward": {"listen": "tcp:{tls_port}:interface=127.0.0.1", **rules},
    }
    return start(sections=sections)


@pytest.fixture
def socks(start_proxy: Callable[..., Proxy]) -> Proxy:
    return socks_proxy(start_proxy, {})


def test_curl_socks5_hostname(socks: Proxy, origin: Origin) -> None:
    """curl --socks5-hostname sends the name; the proxy resolves and tunnels."""
    result = curl(
        "--socks5-hostname", f"127.0.0.1:{socks.port}", f"http://localhost:{origin.port}/hello"
    )
    assert result.stdout == "hello from origin\n", result.stderr
    assert socks.wait_log(f'"SOCKS5 localhost:{origin.port} HTTP/1.1" 200 ')


def test_curl_socks4a(socks: Proxy, origin: Origin) -> None:
    """SOCKS4a carries a name too."""
    result = curl("--socks4a", f"127.0.0.1:{socks.port}", f"http://localhost:{origin.port}/hello")
    assert result.stdout == "hello from origin\n", result.stderr


def test_curl_socks5_with_user(
    start_proxy: Callable[..., Proxy], origin: Origin, tmp_path: Path
) -> None:
    """With auth_file set, RFC 1929 credentials are checked; the user is logged."""
    users = tmp_path / "htpasswd"
    users.write_text("sam:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
    proxy = socks_proxy(start_proxy, {}, auth_file=str(users))
    url = f"http://127.0.0.1:{origin.port}/hello"
    good = curl("--socks5", f"sam:pw@127.0.0.1:{proxy.port}", url)
    assert good.stdout == "hello from origin\n", good.stderr
    assert proxy.wait_log(" sam [")
    bad = curl("--socks5", f"sam:wrong@127.0.0.1:{proxy.port}", url)
    assert bad.returncode != 0
    assert "proxy auth failed: client=127.0.0.1" in proxy.stderr_path.read_text()
    none = curl("--socks5", f"127.0.0.1:{proxy.port}", url)
    assert none.returncode != 0


def test_destination_rules_apply(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """deny_destinations (loopback by default) refuses with reply 0x02, logged as 403."""
    proxy = socks_proxy(start_proxy, {}, deny_destinations="127.0.0.0/8")
    reply = socks5_connect(proxy.port, b"\x01\x7f\x00\x00\x01", origin.port)
    assert reply[:2] == b"\x05\x02"
    assert proxy.wait_log('"SOCKS5 127.0.0.1:')
    assert any(" 403 " in line for line in proxy.log_lines())


def test_ports_rule(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """[socks] ports limits the destination ports."""
    proxy = socks_proxy(start_proxy, {"ports": "443"})
    assert socks5_connect(proxy.port, b"\x01\x7f\x00\x00\x01", origin.port)[:2] == b"\x05\x02"


def test_refused_destination_reply(socks: Proxy) -> None:
    """A closed port answers 0x05, connection refused."""
    assert socks5_connect(socks.port, b"\x01\x7f\x00\x00\x01", free_port())[:2] == b"\x05\x05"


def test_unresolvable_name_reply(socks: Proxy) -> None:
    """A name that does not resolve answers 0x04, host unreachable."""
    name = b"no-such-host.invalid"
    reply = socks5_connect(socks.port, b"\x03" + bytes([len(name)]) + name, 80)
    assert reply[:2] == b"\x05\x04"


def test_bind_is_not_supported(socks: Proxy) -> None:
    """BIND gets 0x07, command not supported."""
    with socket.create_connection(("127.0.0.1", socks.port), timeout=5) as s:
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
        assert s.recv(10)[:2] == b"\x05\x07"


@pytest.mark.parametrize("garbage", [b"\x04", b"GET / HTTP/1.1\r\n\r\n", b"\x05\x00", b"\xff" * 64])
def test_garbage_is_closed_without_a_traceback(socks: Proxy, garbage: bytes) -> None:
    """Malformed handshakes close the connection; the proxy keeps serving."""
    with socket.create_connection(("127.0.0.1", socks.port), timeout=5) as s:
        s.sendall(garbage)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(1024):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    assert "Traceback" not in socks.stderr_path.read_text()


def socks5_connect(port: int, address: bytes, dest_port: int) -> bytes:
    """A raw SOCKS5 CONNECT without authentication; returns the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00" + address + struct.pack("!H", dest_port))
        return s.recv(64)


def test_curl_socks4(socks: Proxy, origin: Origin) -> None:
    """Plain SOCKS4 (an IPv4 address, no name) works too."""
    result = curl("--socks4", f"127.0.0.1:{socks.port}", origin.url("/hello"))
    assert result.stdout == "hello from origin\n", result.stderr


def test_socks4_is_refused_when_passwords_are_required(
    start_proxy: Callable[..., Proxy], origin: Origin, tmp_path: Path
) -> None:
    """SOCKS4 carries no password, so with auth_file it gets 0x5B (rejected)."""
    users = tmp_path / "htpasswd"
    users.write_text("sam:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
    proxy = socks_proxy(start_proxy, {}, auth_file=str(users))
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(b"\x04\x01" + struct.pack("!H", origin.port) + b"\x7f\x00\x00\x01sam\x00")
        assert s.recv(8)[:2] == b"\x00\x5b"
