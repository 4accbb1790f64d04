"""The reverse proxy end to end: curl --resolve, raw sockets, several live backends."""

from __future__ import annotations

import json
import socket

import pytest

from .conftest import Proxy, curl, raw_exchange
from .origins import Origin, ScriptedOrigin, read_head


@pytest.fixture(scope="module")
def second_origin() -> Origin:
    o = Origin()
    yield o  # type: ignore[misc]
    o.close()


@pytest.fixture(scope="module")
def front(module_tmp, origin: Origin, second_origin: Origin) -> Proxy:  # type: ignore[no-untyped-def]
    """A reverse listener: a.test, *.wild.test, a.test/api/ (stripped), no default host."""
    sections = {
        "reverse": {"listen": "tcp:{port}:interface=127.0.0.1", "trusted_proxies": "10.0.0.0/8"},
        "host:a.test": {"aliases": "www.a.test", "backends": f"http://127.0.0.1:{origin.port}"},
        "host:*.wild.test": {"backends": f"http://127.0.0.1:{second_origin.port}"},
        "host:a.test/api/": {
            "backends": f"http://127.0.0.1:{second_origin.port}",
            "strip_prefix": "yes",
        },
    }
    p = Proxy(module_tmp, {}, {}, sections)
    yield p  # type: ignore[misc]
    p.stop()


def fetch(front: Proxy, host: str, path: str, *extra: str) -> str:
    resolve = f"{host}:{front.port}:127.0.0.1"
    return curl("--resolve", resolve, *extra, f"http://{host}:{front.port}{path}").stdout


def test_virtual_hosts_and_aliases(front: Proxy, origin: Origin) -> None:
    """a.test and its alias reach the first backend; a wildcard name reaches the second."""
    assert fetch(front, "a.test", "/hello") == "hello from origin\n"
    assert fetch(front, "WWW.A.TEST", "/hello") == "hello from origin\n"
    before = len(origin.requests)
    assert fetch(front, "x.y.wild.test", "/hello") == "hello from origin\n"
    assert len(origin.requests) == before  # served by the second origin


def test_unknown_host_is_421(front: Proxy) -> None:
    """A name no section serves gets 421."""
    out = raw_exchange(
        front.port, b"GET / HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 421 ")
    out = raw_exchange(
        front.port, b"GET / HTTP/1.1\r\nHost: wild.test\r\nConnection: close\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 421 ")  # *.wild.test never matches wild.test itself


def test_path_route_with_strip_prefix(front: Proxy, second_origin: Origin) -> None:
    """/api/... goes to the path route's backend with the prefix removed."""
    assert fetch(front, "a.test", "/api/hello?x=1") == "hello from origin\n"
    assert second_origin.requests[-1][1] == "/hello?x=1"


def test_forwarded_headers(front: Proxy) -> None:
    """X-Forwarded-For ends in the client, Proto and Host are set, client values replaced."""
    headers = dict(json.loads(fetch(front, "a.test", "/headers", "-H", "X-Forwarded-For: 6.6.6.6")))
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == f"a.test:{front.port}"
    assert headers["Host"] == f"a.test:{front.port}"


def test_a_dead_backend_is_skipped(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """With one of two backends killed, every request still succeeds."""
    dead = ScriptedOrigin(lambda conn: None)
    dead_port = dead.port
    dead.close()
    p = start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {"backends": f"http://127.0.0.1:{dead_port} http://127.0.0.1:{origin.port}"},
        }
    )
    for _ in range(6):
        assert fetch(p, "any.test", "/hello") == "hello from origin\n"


def test_no_backend_answers_502_at_once(start_proxy) -> None:  # type: ignore[no-untyped-def]
    """When every backend is down the client gets 502 immediately, not a hang."""
    dead = ScriptedOrigin(lambda conn: None)
    port = dead.port
    dead.close()
    p = start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {"backends": f"http://127.0.0.1:{port}"},
        }
    )
    out = raw_exchange(p.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 502 ") or out.startswith(b"HTTP/1.1 503 ")


def test_websocket_upgrade_round_trip(start_proxy) -> None:  # type: ignore[no-untyped-def]
    """A WebSocket handshake answered 101 by the backend carries frames both ways."""

    def ws_echo(conn: socket.socket) -> None:
        head = read_head(conn)
        assert b"upgrade: websocket" in head.lower()
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: x\r\n\r\n"
        )
        while data := conn.recv(4096):
            conn.sendall(data)

    backend = ScriptedOrigin(ws_echo)
    p = start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {"backends": f"http://127.0.0.1:{backend.port}"},
        }
    )
    try:
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(
                b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101 ")
            s.sendall(b"\x81\x05hello")
            assert s.recv(4096) == b"\x81\x05hello"
    finally:
        backend.close()


def _https_front(start_proxy, tls_origin: Origin, **host: str) -> Proxy:  # type: ignore[no-untyped-def]
    return start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {"backends": f"https://127.0.0.1:{tls_origin.port}", **host},
        }
    )


def test_https_backend_verified_with_ca_file(start_proxy, tls_origin: Origin, tls_files) -> None:  # type: ignore[no-untyped-def]
    """An https:// backend whose certificate chains to ca_file is used."""
    p = _https_front(start_proxy, tls_origin, ca_file=str(tls_files[1]))
    assert fetch(p, "x.test", "/hello") == "hello from origin\n"


def test_https_backend_failing_verification_is_502(start_proxy, tls_origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """A self-signed backend not in the trust store is not talked to: 502."""
    p = _https_front(start_proxy, tls_origin)
    out = raw_exchange(p.port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 502 ")


def test_https_backend_without_verification_on_purpose(start_proxy, tls_origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """tls_verify = no talks to the backend anyway and logs a warning."""
    p = _https_front(start_proxy, tls_origin, tls_verify="no")
    assert fetch(p, "x.test", "/hello") == "hello from origin\n"
    assert "NOT verified" in p.stderr_path.read_text()


def test_failing_health_check_takes_a_backend_out(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """A backend answering 500 on /healthz leaves rotation; requests go to the healthy one."""

    def sick(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(b"HTTP/1.1 500 Sick\r\nContent-Length: 4\r\nConnection: close\r\n\r\nsick")

    backend = ScriptedOrigin(sick)
    p = start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1"},
            "host:*": {
                "backends": f"http://127.0.0.1:{backend.port} http://127.0.0.1:{origin.port}",
                "health_check": "/hello",
                "health_interval": "200ms",
                "health_fall": "2",
            },
        }
    )
    try:
        import time

        time.sleep(1.0)  # a few check rounds on the real reactor
        for _ in range(6):
            assert fetch(p, "x.test", "/hello") == "hello from origin\n"
    finally:
        backend.close()


def test_proxy_protocol_gives_the_real_client(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """With proxy_protocol = yes the PROXY header's source is X-Forwarded-For and is logged."""
    p = start_proxy(
        sections={
            "reverse": {"listen": "tcp:{port}:interface=127.0.0.1", "proxy_protocol": "yes"},
            "host:*": {"backends": f"http://127.0.0.1:{origin.port}"},
        }
    )
    request = b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw_exchange(p.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n" + request)
    headers = dict(json.loads(out.partition(b"\r\n\r\n")[2]))
    assert headers["X-Forwarded-For"] == "203.0.113.7"
    assert any(line.startswith("203.0.113.7 ") for line in p.log_lines())
    try:
        answer = raw_exchange(p.port, request)
    except ConnectionResetError:
        answer = b""
    assert answer == b""  # no header: dropped, nothing answered
