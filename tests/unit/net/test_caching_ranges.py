"""Range requests answered from the cache, as scripted conversations on an in-memory reactor."""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock, StringTransport

from .cache_harness import (
    FRESH,
    URL,
    Origin,
    body_of,
    cached_context,
    client,
    get,
    header,
    status_of,
)

BODY = bytes(range(256)) * 4  # 1,024 bytes


def stored() -> tuple[Any, Origin, Any, StringTransport]:
    """A proxy with the cache on, whose first GET stored BODY (ETag "v1")."""
    reactor = MemoryReactorClock()
    ctx, origin = cached_context(reactor), Origin(reactor)
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(
        b'HTTP/1.1 200 OK\r\n%s\r\nETag: "v1"\r\nContent-Type: application/octet-stream\r\n'
        b"Content-Length: %d\r\n\r\n%s" % (FRESH, len(BODY), BODY)
    )
    conn.clear()
    return ctx, origin, proto, conn


def ask(proto: Any, conn: StringTransport, *fields: bytes) -> bytes:
    """GET the stored URL with ``fields``; return the answer."""
    proto.dataReceived(get(URL, *fields))
    answer = conn.value()
    conn.clear()
    return answer


def test_a_range_of_a_stored_response_is_a_206_hit() -> None:
    """bytes=100-199 gets exactly those bytes, Content-Range and the stored fields."""
    ctx, origin, proto, conn = stored()
    hit = ask(proto, conn, b"Range: bytes=100-199")
    assert status_of(hit) == 206
    assert header(hit, b"Content-Range") == b"bytes 100-199/1024"
    assert header(hit, b"Content-Length") == b"100"
    assert header(hit, b"Content-Type") == b"application/octet-stream"
    assert header(hit, b"X-Cache") == b"HIT"
    assert body_of(hit) == BODY[100:200]
    assert [r.status for r in ctx.access_log.records] == [200, 206]
    assert len(origin.conns[0][1].value().split(b"\r\n\r\n")) == 2  # the origin was asked once


def test_a_suffix_range_gets_the_last_bytes() -> None:
    """bytes=-24 is the body's last 24 bytes."""
    _, _, proto, conn = stored()
    hit = ask(proto, conn, b"Range: bytes=-24")
    assert header(hit, b"Content-Range") == b"bytes 1000-1023/1024"
    assert body_of(hit) == BODY[-24:]


def test_a_range_past_the_end_is_416_and_the_connection_goes_on() -> None:
    """A first byte past the end gets 416 with the size; the next request is served."""
    _, _, proto, conn = stored()
    refused = ask(proto, conn, b"Range: bytes=5000-")
    assert status_of(refused) == 416
    assert header(refused, b"Content-Range") == b"bytes */1024"
    assert header(refused, b"Content-Length") == b"0" and body_of(refused) == b""
    assert header(refused, b"ETag") is None  # nothing a cache downstream could store it by
    assert body_of(ask(proto, conn, b"Range: bytes=0-0")) == BODY[:1]


def test_another_version_or_several_ranges_get_the_whole_body() -> None:
    """If-Range naming another ETag, or a multi-range request, is answered 200 in full."""
    _, _, proto, conn = stored()
    for fields in ([b"Range: bytes=0-9", b'If-Range: "v0"'], [b"Range: bytes=0-1,5-6"]):
        whole = ask(proto, conn, *fields)
        assert status_of(whole) == 200 and body_of(whole) == BODY
    kept = ask(proto, conn, b"Range: bytes=0-9", b'If-Range: "v1"')
    assert status_of(kept) == 206 and body_of(kept) == BODY[:10]
