"""CONNECT tunnels with curl and raw sockets."""

from __future__ import annotations

import socket

from .conftest import Proxy, curl, raw_exchange
from .origins import Origin, ScriptedOrigin


def test_curl_https_through_tunnel(proxy: Proxy, tls_origin: Origin) -> None:
    """curl -p -x reaches a TLS origin through a CONNECT tunnel."""
    result = curl("-k", "-p", "-x", proxy.url, f"https://127.0.0.1:{tls_origin.port}/hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from origin\n"


def test_connect_answer_has_no_framing_headers(proxy: Proxy, origin: Origin) -> None:
    """The 200 answer to CONNECT is a bare status line."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = s.recv(4096)
    assert head == b"HTTP/1.1 200 Connection established\r\n\r\n"


def test_bytes_after_connect_head_are_forwarded(proxy: Proxy, origin: Origin) -> None:
    """Bytes sent right behind the CONNECT head reach the origin."""
    data = (
        f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).encode()
    out = raw_exchange(proxy.port, data)
    assert out.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.")
    assert out.endswith(b"hello from origin\n")


def test_half_close_is_passed_on(proxy: Proxy) -> None:
    """A client FIN reaches the origin, which can still answer afterwards."""

    def echo_after_eof(conn):  # type: ignore[no-untyped-def]
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.sendall(b"got:" + data)

    origin = ScriptedOrigin(echo_after_eof)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
            s.sendall(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            s.sendall(b"ping")
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(4096):
                out += chunk
        assert out == b"got:ping"
    finally:
        origin.close()


def test_connect_port_not_listed_gets_403(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """CONNECT to a port outside connect_ports is refused."""
    p = start_proxy({"connect_ports": "443"})
    out = raw_exchange(
        p.port, f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    assert out.startswith(b"HTTP/1.1 403 ")


def test_malformed_connect_target_gets_400(proxy: Proxy) -> None:
    """CONNECT needs host:port."""
    out = raw_exchange(proxy.port, b"CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")


def test_tunnel_idle_timeout_closes(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """A tunnel with no traffic is closed after tunnel_idle_timeout."""
    p = start_proxy(tunnel_idle_timeout="1s")
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.settimeout(4)
        assert s.recv(4096) == b""  # closed by the proxy, not by our timeout


def test_tunnel_is_logged(proxy: Proxy, tls_origin: Origin) -> None:
    """A finished tunnel leaves one access-log line with bytes both ways."""
    curl("-k", "-p", "-x", proxy.url, f"https://127.0.0.1:{tls_origin.port}/hello")
    lines = [line for line in proxy.log_lines() if f'"CONNECT 127.0.0.1:{tls_origin.port}' in line]
    assert lines
    assert f"127.0.0.1:{tls_origin.port}" in lines[-1].split()[-1]
