"""Forward proxying with real clients: curl and http.client through a live proxyhub."""

from __future__ import annotations

import http.client
import json

from .conftest import Proxy, curl, raw_exchange
from .origins import Origin, ScriptedOrigin, read_head


def test_get_through_proxy(proxy: Proxy, origin: Origin) -> None:
    """A plain GET through the proxy returns the origin's body."""
    result = curl("-x", proxy.url, origin.url("/hello"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from origin\n"


def test_response_carries_via(proxy: Proxy, origin: Origin) -> None:
    """Responses get a Via entry naming the proxy."""
    result = curl("-i", "-x", proxy.url, origin.url("/hello"))
    assert f"Via: 1.0 testproxy:{proxy.port}" in result.stdout or (
        f"Via: 1.1 testproxy:{proxy.port}" in result.stdout
    )


def test_post_body_is_forwarded(proxy: Proxy, origin: Origin) -> None:
    """A POST body with Content-Length reaches the origin intact."""
    result = curl("-x", proxy.url, "--data-binary", "a=1&b=2", origin.url("/echo"))
    assert result.stdout == "a=1&b=2"


def test_chunked_upload_is_forwarded(proxy: Proxy, origin: Origin) -> None:
    """A chunked request body reaches the origin re-chunked and whole."""
    result = curl(
        "-x",
        proxy.url,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "x" * 5000,
        origin.url("/count"),
    )
    assert result.stdout == "5000"


def test_chunked_response_is_relayed(proxy: Proxy, origin: Origin) -> None:
    """A chunked origin response arrives whole."""
    result = curl("-x", proxy.url, origin.url("/chunked"))
    assert result.stdout == "one,two,three"


def test_close_delimited_response_is_rechunked(proxy: Proxy, origin: Origin) -> None:
    """A body delimited by the origin's close is re-framed as chunked for HTTP/1.1."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", origin.url("/close"))
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.read() == b"until close"
    conn.request("GET", origin.url("/hello"))  # the client connection stays usable
    assert conn.getresponse().read() == b"hello from origin\n"
    conn.close()


def test_host_is_rewritten_from_the_uri(proxy: Proxy, origin: Origin) -> None:
    """The URI's authority wins over a disagreeing Host header."""
    result = curl("-x", proxy.url, "-H", "Host: evil.example", origin.url("/headers"))
    headers = dict(json.loads(result.stdout))
    assert headers["Host"] == f"127.0.0.1:{origin.port}"


def test_hop_by_hop_and_proxy_credentials_are_not_forwarded(proxy: Proxy, origin: Origin) -> None:
    """Proxy-Authorization, Connection-named and hop-by-hop fields never reach the origin."""
    result = curl(
        "-x",
        proxy.url,
        "-H",
        "Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==",
        "-H",
        "Connection: keep-alive, X-Private",
        "-H",
        "X-Private: 1",
        "-H",
        "Keep-Alive: timeout=5",
        "-H",
        "X-Public: yes",
        origin.url("/headers"),
    )
    names = {name.lower() for name, _ in json.loads(result.stdout)}
    assert "x-public" in names
    assert not names & {"proxy-authorization", "x-private", "keep-alive"}


def test_x_forwarded_for_and_via_are_added(proxy: Proxy, origin: Origin) -> None:
    """The origin sees X-Forwarded-For with the client and a Via entry."""
    result = curl("-x", proxy.url, "-H", "X-Forwarded-For: 10.9.9.9", origin.url("/headers"))
    headers = dict(json.loads(result.stdout))
    assert headers["X-Forwarded-For"] == "10.9.9.9, 127.0.0.1"
    assert headers["Via"] == f"1.1 testproxy:{proxy.port}"


def test_head_204_304_have_no_body(proxy: Proxy, origin: Origin) -> None:
    """HEAD, 204 and 304 responses end at their head and the connection is reused."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("HEAD", origin.url("/hello"))
    resp = conn.getresponse()
    assert resp.getheader("Content-Length") == "18"
    assert resp.read() == b""
    for code in (204, 304):
        conn.request("GET", origin.url(f"/status/{code}"))
        resp = conn.getresponse()
        assert resp.status == code and resp.read() == b""
    conn.request("GET", origin.url("/hello"))
    assert conn.getresponse().read() == b"hello from origin\n"
    conn.close()


def test_expect_100_continue(proxy: Proxy, origin: Origin) -> None:
    """A client waiting for 100 Continue gets it and its body goes through."""
    result = curl(
        "-x",
        proxy.url,
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "y" * 2048,
        origin.url("/count"),
    )
    assert result.stdout == "2048"


def test_origin_connections_are_pooled(proxy: Proxy) -> None:
    """Sequential requests from separate clients reuse one origin connection."""

    def keep_alive_origin(conn):  # type: ignore[no-untyped-def]
        while read_head(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    origin = ScriptedOrigin(keep_alive_origin)
    try:
        for _ in range(5):
            assert curl("-x", proxy.url, origin.url("/")).stdout == "ok"
        assert origin.accepted == 1
    finally:
        origin.close()


def test_stale_pooled_connection_is_retried(proxy: Proxy) -> None:
    """An idempotent request that meets a closed pooled connection is retried once."""

    def one_shot_origin(conn):  # type: ignore[no-untyped-def]
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        # then close without saying so: the pooled connection goes stale

    origin = ScriptedOrigin(one_shot_origin)
    try:
        assert curl("-x", proxy.url, origin.url("/")).stdout == "ok"
        assert curl("-x", proxy.url, origin.url("/")).stdout == "ok"
        assert origin.accepted == 2
    finally:
        origin.close()


def test_pipelined_requests_are_answered_in_order(proxy: Proxy, origin: Origin) -> None:
    """Two requests sent at once get two responses, in order."""
    req = (
        f"GET {origin.url('/status/204')} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET {origin.url('/hello')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).encode()
    out = raw_exchange(proxy.port, req)
    assert out.startswith(b"HTTP/1.1 204 ")
    assert out.count(b"HTTP/1.1 ") == 2
    assert out.endswith(b"hello from origin\n")


def test_http10_client_gets_a_close_delimited_body(proxy: Proxy, origin: Origin) -> None:
    """An HTTP/1.0 client gets the chunked origin body without chunked framing."""
    out = raw_exchange(proxy.port, f"GET {origin.url('/chunked')} HTTP/1.0\r\n\r\n".encode())
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert body == b"one,two,three"


def test_access_log_line(proxy: Proxy, origin: Origin) -> None:
    """Each request leaves one combined-format line with status and upstream."""
    curl("-x", proxy.url, "-A", "probe-agent", origin.url("/hello?log=1"))
    lines = [line for line in proxy.log_lines() if "/hello?log=1" in line]
    assert len(lines) == 1
    assert f'"GET {origin.url("/hello?log=1")} HTTP/1.1" 200 18' in lines[0]
    assert lines[0].endswith(f"127.0.0.1:{origin.port}")
