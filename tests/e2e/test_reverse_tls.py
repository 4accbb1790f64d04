"""TLS termination end to end: curl and openssl s_client against SNI-chosen certificates."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ..unit.net.certs import make_ca, make_leaf, pem_cert, pem_key, write_bundle
from .conftest import Proxy, curl, s_client
from .origins import Origin, ScriptedOrigin, read_head
from .test_streaming import GIB, MIB, RssSampler, read_until, rss


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and two bundles: a.test (+www) and *.b.test."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    (d / "ca.pem").write_bytes(pem_cert(ca[1]))
    certs = d / "certs"
    certs.mkdir()
    a_key, a_cert = make_leaf(ca, ["a.test", "www.a.test"])
    b_key, b_cert = make_leaf(ca, ["*.b.test"])
    write_bundle(certs / "a.pem", pem_cert(a_cert), pem_key(a_key))
    write_bundle(certs / "b.pem", pem_key(b_key), pem_cert(b_cert))
    return d


@pytest.fixture(scope="module")
def tls_front(module_tmp: Path, pki: Path, origin: Origin) -> Proxy:
    sections = {
        "reverse": {
            "listen": "tcp:{port}:interface=127.0.0.1",
            "tls_listen": "tcp:{tls_port}:interface=127.0.0.1",
            "certificates": str(pki / "certs" / "*.pem"),
            "redirect_to_https": "yes",
            "hsts_max_age": "1h",
        },
        "host:a.test": {"aliases": "www.a.test", "backends": f"http://127.0.0.1:{origin.port}"},
        "host:*.b.test": {"backends": f"http://127.0.0.1:{origin.port}"},
    }
    p = Proxy(module_tmp, {}, {}, sections)
    yield p  # type: ignore[misc]
    p.stop()


def https(
    front: Proxy, pki: Path, host: str, path: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    resolve = f"{host}:{front.tls_port}:127.0.0.1"
    url = f"https://{host}:{front.tls_port}{path}"
    return curl("--cacert", str(pki / "ca.pem"), "--resolve", resolve, *extra, url)


def test_https_with_verified_certificates(tls_front: Proxy, pki: Path) -> None:
    """curl verifies the certificate chosen by SNI for each site."""
    assert https(tls_front, pki, "a.test", "/hello").stdout == "hello from origin\n"
    assert https(tls_front, pki, "x.b.test", "/hello").stdout == "hello from origin\n"


def test_hsts_header_over_https(tls_front: Proxy, pki: Path) -> None:
    """HTTPS answers carry Strict-Transport-Security with hsts_max_age in seconds."""
    head = https(tls_front, pki, "a.test", "/hello", "-D", "-", "-o", "/dev/null").stdout
    assert "Strict-Transport-Security: max-age=3600" in head


def test_forwarded_proto_is_https(tls_front: Proxy, pki: Path) -> None:
    """Requests that came over TLS say so to the backend."""
    assert '"X-Forwarded-Proto", "https"' in https(tls_front, pki, "a.test", "/headers").stdout


def test_sni_picks_the_certificate_and_unknown_gets_the_default(tls_front: Proxy) -> None:
    """openssl s_client -servername sees the matching leaf; an unknown name gets a.pem's."""
    assert "subject=CN = x.b.test" in s_client(
        tls_front.tls_port, "-servername", "x.b.test"
    ).replace("*.b.test", "x.b.test")
    assert "CN = a.test" in s_client(tls_front.tls_port, "-servername", "nobody.test")
    assert "ALPN protocol: http/1.1" in s_client(
        tls_front.tls_port, "-servername", "a.test", "-alpn", "h2,http/1.1"
    )


@pytest.mark.parametrize(
    ("version", "accepted"),
    [("-tls1", False), ("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True)],
)
def test_only_tls_1_2_and_1_3_are_accepted(tls_front: Proxy, version: str, accepted: bool) -> None:
    """TLS 1.0 and 1.1 handshakes fail; 1.2 and 1.3 complete."""
    out = s_client(tls_front.tls_port, "-servername", "a.test", version)
    assert ("Cipher is (NONE)" not in out and "New, TLSv1." in out) is accepted


def test_sni_and_host_for_different_sites_is_421(tls_front: Proxy, pki: Path) -> None:
    """A TLS connection for a.test cannot be used to reach x.b.test."""
    result = https(
        tls_front,
        pki,
        "a.test",
        "/hello",
        "-H",
        "Host: x.b.test",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    )
    assert result.stdout == "421"


def test_plain_http_redirects_to_https(tls_front: Proxy) -> None:
    """redirect_to_https answers plain requests with 308 to the TLS port."""
    resolve = f"a.test:{tls_front.port}:127.0.0.1"
    result = curl("-i", "--resolve", resolve, f"http://a.test:{tls_front.port}/p?q=1")
    assert result.stdout.startswith("HTTP/1.1 308 ")
    assert f"Location: https://a.test:{tls_front.tls_port}/p?q=1" in result.stdout


def test_plain_http_on_the_tls_port_is_answered_400(tls_front: Proxy) -> None:
    """curl http:// to the TLS port gets a readable 400 (as nginx answers), logged."""
    answer = curl(
        "-i",
        f"http://a.test:{tls_front.tls_port}/page",
        "--resolve",
        f"a.test:{tls_front.tls_port}:127.0.0.1",
    )
    assert answer.stdout.startswith("HTTP/1.1 400 ")
    assert "speaks HTTPS" in answer.stdout
    assert any('"GET /page HTTP/1.1" 400' in line for line in tls_front.log_lines())


def test_bytes_neither_tls_nor_http_are_cut_at_once(tls_front: Proxy) -> None:
    """Binary garbage on the TLS port is closed without an answer, long before any timeout."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", tls_front.tls_port), timeout=10) as s:
        s.sendall(b"\x00\x01garbage\xff" * 4)
        with contextlib.suppress(ConnectionResetError):  # a reset is equally final
            assert s.recv(100) == b""
    assert time.monotonic() - started < 5


def test_stalled_handshake_is_cut_at_tls_handshake_timeout(
    start_proxy, pki: Path, origin: Origin
) -> None:  # type: ignore[no-untyped-def]
    """A client that connects and never says hello is dropped after tls_handshake_timeout."""
    import contextlib

    p = tls_front_of(start_proxy, pki, origin.port, tls_handshake_timeout="1s")
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=5) as s:
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):  # a reset is as good as a FIN here
            assert s.recv(1024) == b""
        assert time.monotonic() - started < 3


def test_proxy_protocol_before_tls_closes_promptly(
    start_proxy,
    pki: Path,
    origin: Origin,  # type: ignore[no-untyped-def]
) -> None:
    """PROXY header, then TLS: Connection: close ends with close_notify and EOF at once."""

    p = start_proxy(
        sections={
            "reverse": {
                "listen": "tcp:{port}:interface=127.0.0.1",
                "tls_listen": "tcp:{tls_port}:interface=127.0.0.1",
                "certificates": str(pki / "certs" / "*.pem"),
                "proxy_protocol": "yes",
            },
            "host:*": {"backends": f"http://127.0.0.1:{origin.port}"},
        },
        idle_timeout="30s",
    )
    raw = socket.create_connection(("127.0.0.1", p.tls_port), timeout=10)
    raw.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 443\r\n")
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with context.wrap_socket(raw, server_hostname="a.test") as tls:
        tls.sendall(b"GET /hello HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        started, data = time.monotonic(), b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.endswith(b"hello from origin\n")
    assert time.monotonic() - started < 5
    assert p.wait_log("203.0.113.9 ")


def test_sighup_reloads_certificates(
    start_proxy,
    tmp_path: Path,
    pki: Path,
    origin: Origin,  # type: ignore[no-untyped-def]
) -> None:
    """A certificate file replaced on disk is served after SIGHUP, for new handshakes."""
    import signal

    certs = tmp_path / "live"
    certs.mkdir()
    shutil.copy(pki / "certs" / "a.pem", certs / "site.pem")
    p = start_proxy(
        sections={
            "reverse": {
                "listen": "tcp:{port}:interface=127.0.0.1",
                "tls_listen": "tcp:{tls_port}:interface=127.0.0.1",
                "certificates": str(certs / "*.pem"),
            },
            "host:*": {"backends": f"http://127.0.0.1:{origin.port}"},
        }
    )
    before = s_client(p.tls_port, "-servername", "x.b.test")
    shutil.copy(pki / "certs" / "b.pem", certs / "site.pem")
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "proxyhub reloaded" not in p.stderr_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    after = s_client(p.tls_port, "-servername", "x.b.test")
    assert "CN = a.test" in before
    assert "CN = *.b.test" in after


@pytest.mark.skipif(shutil.which("testssl") is None, reason="testssl.sh is not installed")
def test_testssl_finds_the_intermediate_profile(tls_front: Proxy, tmp_path: Path) -> None:
    """testssl.sh: only TLS 1.2/1.3, and only AEAD ciphers among its cipher categories."""
    report = tmp_path / "testssl.json"
    subprocess.run(
        ["testssl", "--quiet", "--color", "0", "--protocols", "--std", "--jsonfile", str(report),
         f"127.0.0.1:{tls_front.tls_port}"],
        capture_output=True, timeout=240, check=False,
    )  # fmt: skip
    found = {item["id"]: item["finding"] for item in json.loads(report.read_text())}
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert found[old].startswith("not offered"), (old, found[old])
    for current in ("TLS1_2", "TLS1_3"):
        assert found[current].startswith("offered"), (current, found[current])
    weak = ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE")
    for category in weak:
        assert found[f"cipherlist_{category}"] == "not offered", category
    assert found["cipherlist_STRONG"] == "offered"


def tls_front_of(start_proxy: Any, pki: Path, backend_port: int, **proxyhub: str) -> Proxy:
    """A TLS listener serving every host from one backend ([proxyhub] keys in ``proxyhub``)."""
    return start_proxy(  # type: ignore[no-any-return]
        sections={
            "reverse": {
                "listen": "tcp:{port}:interface=127.0.0.1",
                "tls_listen": "tcp:{tls_port}:interface=127.0.0.1",
                "certificates": str(pki / "certs" / "*.pem"),
            },
            "host:*": {"backends": f"http://127.0.0.1:{backend_port}"},
        },
        **proxyhub,
    )


def read_over_tls(front: Proxy, pki: Path, request: bytes) -> bytes:
    """Send ``request`` to a.test over TLS and read until the server closes.

    Ragged EOFs are not suppressed: a close without close_notify raises
    ``ssl.SSLEOFError`` (with what was read so far in ``partial`` of the test).
    """
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", front.tls_port), timeout=10)
    data = b""
    with context.wrap_socket(raw, server_hostname="a.test", suppress_ragged_eofs=False) as tls:
        tls.sendall(request)
        try:
            while chunk := tls.recv(65536):
                data += chunk
        except ssl.SSLEOFError as e:
            e.partial = data  # type: ignore[attr-defined]
            raise
    return data


def test_streamed_tls_response_with_connection_close_ends(start_proxy: Any, pki: Path) -> None:
    """A response arriving in two pieces still ends with close_notify and EOF over TLS."""

    def head_then_body(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.3)  # the proxy starts streaming before the body arrives
        conn.sendall(b"hello")
        time.sleep(2)

    origin = ScriptedOrigin(head_then_body)
    try:
        front = tls_front_of(start_proxy, pki, origin.port)
        request = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        assert read_over_tls(front, pki, request).endswith(b"\r\n\r\nhello")
    finally:
        origin.close()


def test_a_response_cut_short_ends_without_close_notify(start_proxy: Any, pki: Path) -> None:
    """An origin failing mid-body ends an HTTP/1.0 client's TLS stream without close_notify."""

    def chunk_then_die(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")

    origin = ScriptedOrigin(chunk_then_die)
    try:
        front = tls_front_of(start_proxy, pki, origin.port)
        with pytest.raises(ssl.SSLEOFError) as cut:  # a clean close_notify would not raise
            read_over_tls(front, pki, b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n")
        data = cut.value.partial  # type: ignore[attr-defined]
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\nhello")
        assert b"Content-Length" not in data and b"chunked" not in data  # close-delimited
    finally:
        origin.close()


def test_websocket_over_tls_ends_with_close_notify(start_proxy: Any, pki: Path) -> None:
    """wss: frames go both ways through TLS; the backend's close ends TLS cleanly."""

    def echo_once(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        conn.sendall(conn.recv(4096))

    origin = ScriptedOrigin(echo_once)
    try:
        front = tls_front_of(start_proxy, pki, origin.port)
        context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        raw = socket.create_connection(("127.0.0.1", front.tls_port), timeout=10)
        with context.wrap_socket(raw, server_hostname="a.test", suppress_ragged_eofs=False) as s:
            s.sendall(
                b"GET /chat HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101 ")
            s.sendall(b"\x81\x05hello")
            echoed = b""
            while chunk := s.recv(4096):  # ends with close_notify, else SSLEOFError
                echoed += chunk
            assert echoed == b"\x81\x05hello"
    finally:
        origin.close()


def test_1gib_over_tls_to_a_slow_reader_keeps_memory_flat(
    start_proxy: Any, pki: Path, origin: Origin
) -> None:
    """TLS adds no buffer of its own: a stalled client stops the backend, memory stays flat."""
    front = tls_front_of(start_proxy, pki, origin.port)
    baseline = rss(front.proc.pid)
    sampler = RssSampler(front.proc.pid)
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", front.tls_port), timeout=30)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    received = 0
    with context.wrap_socket(raw, server_hostname="a.test") as s:
        s.sendall(f"GET /big?size={GIB} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 ")
        received = len(head.partition(b"\r\n\r\n")[2])
        time.sleep(2.0)  # the slow part: the backend keeps offering meanwhile
        received = read_until(s, received, GIB)
    peak = sampler.stop()
    assert received == GIB
    assert peak - baseline < 32 * MIB
