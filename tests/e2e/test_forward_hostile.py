"""Hostile and malformed input over raw sockets: clear statuses, nothing forwarded."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from .conftest import Proxy, raw_exchange
from .origins import Origin

SMUGGLING = {
    "CL and TE": b"POST {u} HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two CL": b"POST {u} HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
    b"Content-Length: 5\r\n\r\nabcde",
    "listed CL": b"POST {u} HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 4\r\n\r\nabcd",
    "TE gzip": b"POST {u} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
    "TE chunked twice": b"POST {u} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": b"GET {u} HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n",
    "bare LF": b"GET {u} HTTP/1.1\nHost: h\n\n",
    "bare CR": b"GET {u} HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    "NUL in value": b"GET {u} HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    "space before colon": b"GET {u} HTTP/1.1\r\nHost: h\r\nContent-Length : 0\r\n\r\n",
    "bad chunk size": b"POST {u} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n",
    "bad chunk extension": b"POST {u} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;a b\r\nabc\r\n0\r\n\r\n",
    "no Host": b"GET {u} HTTP/1.1\r\nX: y\r\n\r\n",
    "two Host": b"GET {u} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_ambiguous_framing_gets_400_and_nothing_is_forwarded(
    case: str, proxy: Proxy, origin: Origin
) -> None:
    """Each ambiguous message is answered 400, the connection closed, the origin untouched."""
    before = len(origin.requests)
    payload = SMUGGLING[case].replace(b"{u}", origin.url("/echo").encode())
    out = raw_exchange(proxy.port, payload)
    assert out.startswith(b"HTTP/1.1 400 "), out[:80]
    assert b"Connection: close" in out
    assert len(origin.requests) == before


def test_long_target_gets_414(proxy: Proxy, origin: Origin) -> None:
    """A request line over max_target_size is answered 414."""
    out = raw_exchange(proxy.port, f"GET {origin.url('/' + 'a' * 9000)} HTTP/1.1\r\n".encode())
    assert out.startswith(b"HTTP/1.1 414 ")


def test_large_head_gets_431(proxy: Proxy, origin: Origin) -> None:
    """A head over max_header_size is answered 431."""
    fields = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(40))
    req = b"GET " + origin.url("/").encode() + b" HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n"
    assert raw_exchange(proxy.port, req).startswith(b"HTTP/1.1 431 ")


def test_too_many_headers_gets_431(proxy: Proxy, origin: Origin) -> None:
    """More than max_headers header fields are answered 431."""
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(120))
    req = b"GET " + origin.url("/").encode() + b" HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n"
    assert raw_exchange(proxy.port, req).startswith(b"HTTP/1.1 431 ")


def test_origin_form_gets_400(proxy: Proxy) -> None:
    """A request for /path on the forward listener is not proxied."""
    out = raw_exchange(proxy.port, b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"absolute URI" in out


def test_https_absolute_form_gets_501(proxy: Proxy) -> None:
    """An https:// absolute-form request is refused: clients must use CONNECT."""
    out = raw_exchange(
        proxy.port, b"GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 501 ")


def test_trace_gets_405(proxy: Proxy, origin: Origin) -> None:
    """TRACE is refused with 405."""
    req = f"TRACE {origin.url('/')} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    assert raw_exchange(proxy.port, req.encode()).startswith(b"HTTP/1.1 405 ")


def test_our_own_via_is_a_loop(proxy: Proxy, origin: Origin) -> None:
    """A request that already carries our Via entry is answered 508."""
    req = (
        f"GET {origin.url('/')} HTTP/1.1\r\nHost: h\r\nVia: 1.1 testproxy:{proxy.port}\r\n"
        "Connection: close\r\n\r\n"
    )
    assert raw_exchange(proxy.port, req.encode()).startswith(b"HTTP/1.1 508 ")


def test_request_to_the_proxy_itself_is_a_loop(proxy: Proxy) -> None:
    """An absolute-form request naming the proxy's own address is answered 508."""
    req = f"GET {proxy.url}/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    assert raw_exchange(proxy.port, req.encode()).startswith(b"HTTP/1.1 508 ")


def test_error_pages_do_not_echo_credentials(proxy: Proxy) -> None:
    """An error page never reflects cookies or credentials, and escapes what it names."""
    req = (
        b"GET http://<script>.invalid/ HTTP/1.1\r\nHost: h\r\nCookie: secret-cookie\r\n"
        b"Proxy-Authorization: Basic c2VjcmV0\r\nConnection: close\r\n\r\n"
    )
    out = raw_exchange(proxy.port, req)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"secret" not in out and b"c2VjcmV0" not in out and b"<script>" not in out


def test_unresolvable_name_gets_502_saying_so(proxy: Proxy) -> None:
    """A name that does not resolve is answered 502 naming the problem."""
    req = b"GET http://no-such-host.invalid/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    out = raw_exchange(proxy.port, req, timeout=15)
    assert out.startswith(b"HTTP/1.1 502 ")
    assert b"does not resolve" in out


def test_refused_connection_gets_502(proxy: Proxy) -> None:
    """An origin port nobody listens on is answered 502."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    req = f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    out = raw_exchange(proxy.port, req.encode())
    assert out.startswith(b"HTTP/1.1 502 ")
    assert b"refused" in out


def test_malformed_origin_response_gets_502(proxy: Proxy) -> None:
    """An origin answering with ambiguous framing gets the client a 502."""
    from .origins import ScriptedOrigin, read_head

    def bad(conn):  # type: ignore[no-untyped-def]
        read_head(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
        )

    origin = ScriptedOrigin(bad)
    try:
        req = f"GET {origin.url('/')} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        assert raw_exchange(proxy.port, req.encode()).startswith(b"HTTP/1.1 502 ")
    finally:
        origin.close()


def test_header_timeout_is_a_total_deadline(start_proxy) -> None:  # type: ignore[no-untyped-def]
    """Trickling a head byte by byte does not extend header_timeout: 408 arrives on time."""
    p = start_proxy(header_timeout="1s")
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        started = time.monotonic()
        out = b""
        for byte in b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 100:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            s.settimeout(0.05)
            try:
                out += s.recv(4096)
                break
            except TimeoutError:
                continue
        s.settimeout(3)
        with contextlib.suppress(OSError):
            out += s.recv(4096)
    assert out.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3.0


def test_read_timeout_gets_504(start_proxy) -> None:  # type: ignore[no-untyped-def]
    """An origin that never answers is cut off after read_timeout with 504."""
    from .origins import ScriptedOrigin, read_head

    def silent(conn):  # type: ignore[no-untyped-def]
        read_head(conn)
        time.sleep(5)

    origin = ScriptedOrigin(silent)
    p = start_proxy(read_timeout="1s")
    try:
        req = f"GET {origin.url('/')} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        started = time.monotonic()
        assert raw_exchange(p.port, req.encode()).startswith(b"HTTP/1.1 504 ")
        assert time.monotonic() - started < 3.5
    finally:
        origin.close()


def test_body_over_max_body_size_gets_413(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """A declared body over max_body_size is answered 413 before anything is forwarded."""
    p = start_proxy(max_body_size="1KiB")
    before = len(origin.requests)
    req = f"POST {origin.url('/echo')} HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"
    assert raw_exchange(p.port, req.encode() + b"x" * 5000).startswith(b"HTTP/1.1 413 ")
    assert len(origin.requests) == before
