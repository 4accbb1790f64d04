"""The HTTP cache in the forward proxy, as scripted conversations on an in-memory reactor."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from .cache_harness import (
    FRESH,
    URL,
    Origin,
    body_of,
    cached_context,
    client,
    get,
    header,
    response,
    status_of,
)
from .harness import HalfCloseTransport


def setup(**keys: str) -> tuple[MemoryReactorClock, object, Origin]:
    reactor = MemoryReactorClock()
    return reactor, cached_context(reactor, **keys), Origin(reactor)


def test_miss_then_hit_asks_the_origin_once() -> None:
    """A storable response is relayed (MISS) and stored; the next GET is a HIT with Age."""
    reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"hello", FRESH, b'ETag: "v1"'))
    first = conn.value()
    assert status_of(first) == 200 and body_of(first) == b"hello"
    assert header(first, b"X-Cache") == b"MISS"
    assert header(first, b"Cache-Status") == b"proxyhub; fwd=uri-miss; fwd-status=200; stored"
    conn.clear()
    reactor.advance(7)
    proto.dataReceived(get())
    hit = conn.value()
    assert status_of(hit) == 200 and body_of(hit) == b"hello"
    assert header(hit, b"X-Cache") == b"HIT"
    assert header(hit, b"Cache-Status") == b"proxyhub; hit"
    assert header(hit, b"Age") == b"7"
    assert header(hit, b"ETag") == b'"v1"'
    assert header(hit, b"Content-Length") == b"5"
    assert header(hit, b"Via") == b"1.1 unit:3128"
    assert len(origin.requests) == 1
    assert ctx.access_log.cache == ["MISS", "HIT"]  # type: ignore[attr-defined]
    snap = dict((k, v) for k, v in ctx.metrics.snapshot().items())  # type: ignore[attr-defined]
    assert snap["proxyhub_cache_hits_total"] == [[["forward"], 1]]
    assert snap["proxyhub_cache_misses_total"] == [[["forward"], 1]]
    assert snap["proxyhub_cache_served_bytes_total"] == [[["forward"], 5]]
    assert snap["proxyhub_cache_objects"] == [[[], 1]]


def test_keep_alive_goes_on_after_a_hit_and_pipelining_works() -> None:
    """Two pipelined GETs answered from the cache both come back on the same connection."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH))
    conn.clear()
    proto.dataReceived(get() + get())
    assert conn.value().count(b"X-Cache: HIT") == 2
    assert not conn.disconnecting


def test_http10_and_connection_close_on_hits() -> None:
    """An HTTP/1.0 keep-alive hit says so; a Connection: close hit closes."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH))
    conn.clear()
    proto.dataReceived(
        b"GET " + URL + b" HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\n\r\n"
    )
    assert header(conn.value(), b"Connection") == b"keep-alive" and not conn.disconnecting
    conn.clear()
    proto.dataReceived(get(URL, b"Connection: close"))
    assert header(conn.value(), b"Connection") == b"close"
    assert conn.disconnecting


def test_head_is_answered_from_the_stored_get() -> None:
    """HEAD on a stored GET: the head with GET's Content-Length, no body."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"hello", FRESH))
    conn.clear()
    proto.dataReceived(get(method=b"HEAD"))
    assert header(conn.value(), b"Content-Length") == b"5"
    assert conn.value().endswith(b"\r\n\r\n")
    assert header(conn.value(), b"X-Cache") == b"HIT"


def test_head_miss_goes_to_the_origin_and_is_not_stored() -> None:
    """A HEAD miss is relayed as HEAD; the next GET still goes to the origin."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get(method=b"HEAD"))
    origin.reply(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 5\r\n\r\n")
    assert header(conn.value(), b"X-Cache") == b"MISS"
    proto.dataReceived(get())
    assert [r.split(b" ")[0] for r in origin.requests] == [b"HEAD", b"GET"]


def test_client_validators_get_304_from_the_cache() -> None:
    """If-None-Match matching the stored ETag: 304 from the cache, no body."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"hello", FRESH, b'ETag: "v1"', b"Content-Type: text/plain"))
    conn.clear()
    proto.dataReceived(get(URL, b'If-None-Match: "v0", "v1"'))
    out = conn.value()
    assert status_of(out) == 304 and out.endswith(b"\r\n\r\n")
    assert header(out, b"ETag") == b'"v1"' and header(out, b"Content-Type") is None
    assert header(out, b"Content-Length") is None
    conn.clear()
    proto.dataReceived(get(URL, b'If-None-Match: "v2"'))
    assert status_of(conn.value()) == 200 and body_of(conn.value()) == b"hello"
    assert len(origin.requests) == 1


def test_not_stored_no_store_private_authorization_and_uncacheable() -> None:
    """no-store, private, Authorization and responses without freshness are not stored."""
    cases = [
        (get(), response(b"x", b"Cache-Control: no-store")),
        (get(), response(b"x", b"Cache-Control: private, max-age=60")),
        (get(URL, b"Authorization: Basic dTpw"), response(b"x", FRESH)),
        (get(), response(b"x")),
        (get(URL, b"Cache-Control: no-store"), response(b"x", FRESH)),
    ]
    for request, answer in cases:
        _reactor, ctx, origin = setup()
        proto, conn = client(ctx)
        proto.dataReceived(request)
        origin.reply(answer)
        assert header(conn.value(), b"Cache-Status") is not None
        assert not header(conn.value(), b"Cache-Status").endswith(b"stored")  # type: ignore[union-attr]
        proto.dataReceived(get())
        assert len(origin.requests) == 2, request


def test_authorization_with_public_is_stored() -> None:
    """A response to an authorized request is stored when it says public."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get(URL, b"Authorization: Basic dTpw"))
    origin.reply(response(b"x", b"Cache-Control: public, max-age=60"))
    conn.clear()
    proto.dataReceived(get())
    assert header(conn.value(), b"X-Cache") == b"HIT"


def test_set_cookie_is_not_replayed() -> None:
    """The client that caused the store gets Set-Cookie; hits never do."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH, b"Set-Cookie: session=secret"))
    assert header(conn.value(), b"Set-Cookie") == b"session=secret"
    conn.clear()
    proto.dataReceived(get())
    assert header(conn.value(), b"X-Cache") == b"HIT"
    assert b"secret" not in conn.value()


def test_vary_keys_the_variants() -> None:
    """Vary: Accept-Language stores one response per language."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    vary = (FRESH, b"Vary: Accept-Language")
    proto.dataReceived(get(URL, b"Accept-Language: en"))
    origin.reply(response(b"hello", *vary))
    proto.dataReceived(get(URL, b"Accept-Language: fr"))
    origin.reply(response(b"bonjour", *vary))
    conn.clear()
    proto.dataReceived(get(URL, b"Accept-Language: fr"))
    assert body_of(conn.value()) == b"bonjour" and header(conn.value(), b"X-Cache") == b"HIT"
    conn.clear()
    proto.dataReceived(get(URL, b"Accept-Language: en"))
    assert body_of(conn.value()) == b"hello" and header(conn.value(), b"X-Cache") == b"HIT"
    assert len(origin.requests) == 2


def test_stale_entry_is_revalidated_and_304_refreshes_it() -> None:
    """A stale entry goes upstream with If-None-Match; a 304 serves and refreshes it."""
    reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"hello", b"Cache-Control: max-age=10", b'ETag: "v1"'))
    reactor.advance(11)
    conn.clear()
    proto.dataReceived(get())
    assert b'If-None-Match: "v1"\r\n' in origin.requests[1]
    origin.reply(b"HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=10\r\n\r\n")
    out = conn.value()
    assert status_of(out) == 200 and body_of(out) == b"hello"
    assert header(out, b"X-Cache") == b"REVALIDATED"
    assert header(out, b"Cache-Status") == b"proxyhub; fwd=stale; fwd-status=304"
    assert header(out, b"Age") == b"0"
    conn.clear()
    reactor.advance(5)
    proto.dataReceived(get())
    assert header(conn.value(), b"X-Cache") == b"HIT" and header(conn.value(), b"Age") == b"5"
    assert len(origin.requests) == 2
    assert ctx.access_log.cache == ["MISS", "REVALIDATED", "HIT"]  # type: ignore[attr-defined]
    assert ctx.access_log.records[1].upstream == "127.0.0.1:8080"  # type: ignore[attr-defined]


def test_revalidation_answered_200_replaces_the_entry() -> None:
    """A 200 to a revalidation is relayed (MISS) and replaces the stored body."""
    reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(
        response(
            b"old", b"Cache-Control: max-age=10", b"Last-Modified: Mon, 13 Nov 2023 00:00:00 GMT"
        )
    )
    reactor.advance(11)
    proto.dataReceived(get())
    assert b"If-Modified-Since: Mon, 13 Nov 2023 00:00:00 GMT\r\n" in origin.requests[1]
    conn.clear()
    origin.reply(response(b"new", FRESH))
    assert body_of(conn.value()) == b"new"
    assert header(conn.value(), b"Cache-Status") == b"proxyhub; fwd=stale; fwd-status=200; stored"
    conn.clear()
    proto.dataReceived(get())
    assert body_of(conn.value()) == b"new" and header(conn.value(), b"X-Cache") == b"HIT"


def test_client_no_cache_and_max_age_0_revalidate_a_fresh_entry() -> None:
    """no-cache (or max-age=0, or Pragma: no-cache) from the client: ask the origin."""
    for directive in (b"Cache-Control: no-cache", b"Cache-Control: max-age=0", b"Pragma: no-cache"):
        _reactor, ctx, origin = setup()
        proto, conn = client(ctx)
        proto.dataReceived(get())
        origin.reply(response(b"hello", FRESH, b'ETag: "v1"'))
        conn.clear()
        proto.dataReceived(get(URL, directive))
        assert len(origin.requests) == 2 and b"If-None-Match" in origin.requests[1]
        origin.reply(b"HTTP/1.1 304 Not Modified\r\n\r\n")
        assert header(conn.value(), b"X-Cache") == b"REVALIDATED"


def test_client_conditionals_are_not_replaced_when_revalidating() -> None:
    """A client with its own If-None-Match on a stale entry: its validator goes upstream."""
    reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"hello", b"Cache-Control: max-age=1", b'ETag: "v1"'))
    reactor.advance(2)
    conn.clear()
    proto.dataReceived(get(URL, b'If-None-Match: "mine"'))
    assert origin.requests[1].count(b"If-None-Match") == 1
    assert b'If-None-Match: "mine"' in origin.requests[1]
    origin.reply(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    assert status_of(conn.value()) == 304 and header(conn.value(), b"X-Cache") == b"MISS"


def test_only_if_cached_gets_504_without_an_entry() -> None:
    """only-if-cached and nothing stored: 504, no origin request."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get(URL, b"Cache-Control: only-if-cached"))
    assert status_of(conn.value()) == 504
    assert origin.requests == []


def test_unsafe_methods_invalidate() -> None:
    """A successful POST to the URI drops its entry (and its same-origin Location)."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    other = b"http://127.0.0.1:8080/b"
    for url in (URL, other):
        proto.dataReceived(get(url))
        origin.reply(response(b"x", FRESH))
    told: list[bytes] = []
    ctx.cache.purged = told.append  # type: ignore[attr-defined]  # as a worker's is
    proto.dataReceived(
        b"POST " + URL + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 1\r\n\r\nx"
    )
    conn.clear()
    origin.reply(response(b"done", b"Location: /b"))
    assert header(conn.value(), b"X-Cache") is None
    assert ctx.cache.store.purge(URL) == 0  # type: ignore[attr-defined]
    assert ctx.cache.store.purge(other) == 0  # type: ignore[attr-defined]
    assert sorted(told) == sorted([URL, other])  # the other workers drop them too


def test_failed_unsafe_request_does_not_invalidate() -> None:
    """A DELETE answered 500 leaves the entry alone."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH))
    proto.dataReceived(get(method=b"DELETE"))
    origin.reply(response(b"no", status=b"500 Internal Server Error"))
    conn.clear()
    proto.dataReceived(get())
    assert header(conn.value(), b"X-Cache") == b"HIT"


def test_purge_from_an_allowed_address() -> None:
    """PURGE from purge_from: 200 with the count; the next GET is a miss."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH))
    conn.clear()
    told: list[bytes] = []
    ctx.cache.purged = told.append  # type: ignore[attr-defined]  # as a worker's is
    proto.dataReceived(get(method=b"PURGE"))
    assert status_of(conn.value()) == 200 and body_of(conn.value()) == b'{"purged": 1}\n'
    conn.clear()
    proto.dataReceived(get(method=b"PURGE"))
    assert body_of(conn.value()) == b'{"purged": 0}\n'
    proto.dataReceived(get())
    assert len(origin.requests) == 2  # PURGE never went upstream
    assert told == [URL, URL]  # each PURGE is passed on, found here or not


def test_purge_from_elsewhere_is_403() -> None:
    """PURGE from an address outside purge_from is refused; the entry stays."""
    _reactor, ctx, origin = setup(purge_from="10.0.0.0/8")
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH))
    conn.clear()
    proto.dataReceived(get(method=b"PURGE"))
    assert status_of(conn.value()) == 403
    conn.clear()
    proto.dataReceived(get())
    assert header(conn.value(), b"X-Cache") == b"HIT"


def test_purge_from_ipv4_mapped_address() -> None:
    """An IPv4-mapped IPv6 client counts as its IPv4 address."""
    _reactor, ctx, _origin = setup()
    cache = ctx.cache  # type: ignore[attr-defined]
    assert cache.may_purge("::ffff:127.0.0.1") and cache.may_purge("::1")
    assert not cache.may_purge("192.0.2.1") and not cache.may_purge("bogus")


def test_object_over_max_object_size_passes_through() -> None:
    """A response larger than max_object_size reaches the client whole and is not stored."""
    for framing in (b"length", b"chunked"):
        _reactor, ctx, origin = setup(memory_size="1MiB", max_object_size="1KiB")
        proto, conn = client(ctx)
        proto.dataReceived(get())
        body = b"y" * 5000
        if framing == b"length":
            origin.reply(response(body, FRESH))
        else:
            origin.reply(
                b"HTTP/1.1 200 OK\r\n" + FRESH + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            )
        out = conn.value()
        assert body.join([b""]) in out.replace(b"\r\n1388\r\n", b"")
        assert not header(out, b"Cache-Status").endswith(b"stored") or framing == b"chunked"  # type: ignore[union-attr]
        proto.dataReceived(get())
        assert len(origin.requests) == 2
        assert ctx.cache.store.stats.too_large == 1  # type: ignore[attr-defined]


def test_aborted_download_leaves_nothing() -> None:
    """The origin closing mid-body: the client is cut off and nothing is stored."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin_proto, _ = origin.reply(
        b"HTTP/1.1 200 OK\r\n" + FRESH + b"\r\nContent-Length: 10\r\n\r\nhalf"
    )
    origin_proto.connectionLost(Failure(ConnectionDone()))
    assert conn.disconnecting
    assert len(ctx.cache.store) == 0  # type: ignore[attr-defined]
    proto2, _conn2 = client(ctx)
    proto2.dataReceived(get())
    assert len(origin.requests) == 2


def test_client_gone_mid_download_leaves_nothing() -> None:
    """The client leaving mid-body: the origin connection goes and nothing is stored."""
    _reactor, ctx, origin = setup()
    proto, _conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(b"HTTP/1.1 200 OK\r\n" + FRESH + b"\r\nContent-Length: 10\r\n\r\nhalf")
    proto.connectionLost(Failure(ConnectionDone()))
    assert len(ctx.cache.store) == 0  # type: ignore[attr-defined]
    assert ctx.cache.store.stats.aborted == 1  # type: ignore[attr-defined]
    assert len(ctx.cache.flights) == 0  # type: ignore[attr-defined]


class PausingTransport(HalfCloseTransport):
    """Pauses its producer once more than ``limit`` bytes are waiting, like a full socket."""

    limit = 100_000

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.producer is not None and len(self.value()) > self.limit:
            self.producer.pauseProducing()


def test_large_hits_are_written_under_backpressure() -> None:
    """A multi-chunk entry goes out a chunk at a time while the client keeps up."""
    _reactor, ctx, origin = setup()
    proto, _conn = client(ctx)
    proto.dataReceived(get())
    body = b"z" * 400_000
    origin_proto, _ = origin.reply(
        b"HTTP/1.1 200 OK\r\n" + FRESH + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    for i in range(0, len(body), 50_000):
        origin_proto.dataReceived(body[i : i + 50_000])
    slow, transport = client(
        ctx, PausingTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40001))
    )
    slow.dataReceived(get())
    received = transport.value()
    assert 100_000 < len(received) < 200_000  # paused after the buffer bound
    assert transport.producer is not None
    while transport.producer is not None:
        transport.clear()
        transport.producer.resumeProducing()
        received += transport.value()
    assert body_of(received) == body
    assert ctx.access_log.records[-1].bytes_out == len(body)  # type: ignore[attr-defined]
    assert ctx.access_log.records[-1].cache == "HIT"  # type: ignore[attr-defined]


def test_client_gone_during_a_large_hit() -> None:
    """A client leaving mid-hit is logged as aborted and nothing else is written."""
    _reactor, ctx, origin = setup()
    proto, _ = client(ctx)
    proto.dataReceived(get())
    body = b"z" * 300_000
    _origin_proto, _ = origin.reply(response(body, FRESH))
    slow, transport = client(
        ctx, PausingTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40001))
    )
    slow.dataReceived(get())
    slow.connectionLost(Failure(ConnectionDone()))
    assert transport.producer is None
    assert 0 < ctx.access_log.records[-1].bytes_out < len(body)  # type: ignore[attr-defined]


def test_entries_are_evicted_least_recently_used_first() -> None:
    """A full store evicts; the eviction is counted in the metrics."""
    _reactor, ctx, origin = setup(memory_size="3KiB", max_object_size="2KiB")
    proto, _conn = client(ctx)
    for path in (b"/1", b"/2", b"/3"):
        proto.dataReceived(get(b"http://127.0.0.1:8080" + path))
        origin.reply(response(b"q" * 1000, FRESH))
    snap = ctx.metrics.snapshot()  # type: ignore[attr-defined]
    assert snap["proxyhub_cache_evictions_total"][0][1] >= 1
    assert snap["proxyhub_cache_objects"] == [[[], len(ctx.cache.store)]]  # type: ignore[attr-defined]


def test_via_loop_is_still_508_with_the_cache_on() -> None:
    """A request carrying our own Via is refused before the cache is asked."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get(URL, b"Via: 1.1 unit:3128"))
    assert status_of(conn.value()) == 508
    assert origin.requests == []


def test_if_match_goes_to_the_origin() -> None:
    """Preconditions the cache does not evaluate are left to the origin."""
    _reactor, ctx, origin = setup()
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"x", FRESH, b'ETag: "a"'))
    conn.clear()
    proto.dataReceived(get(URL, b'If-Match: "b"'))
    assert len(origin.requests) == 2
    origin.reply(response(b"", status=b"412 Precondition Failed"))
    assert status_of(conn.value()) == 412


def test_a_304_to_client_validators_does_not_stop_collapsing() -> None:
    """A leader's 304 (its own If-None-Match) says nothing about the URI: no pass."""
    _reactor, ctx, origin = setup()
    proto, _ = client(ctx)
    proto.dataReceived(get(URL, b'If-None-Match: "x"'))
    origin.reply(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    assert not ctx.cache.is_pass(ctx.cache.key_of(URL))  # type: ignore[attr-defined]
    proto.dataReceived(get())
    origin.reply(response(b"x", b"Cache-Control: no-store"))
    assert ctx.cache.is_pass(ctx.cache.key_of(URL))  # type: ignore[attr-defined]


def test_revalidation_through_a_parent_carries_the_validators() -> None:
    """Through a parent proxy the conditional fields are added to the parent's head too."""
    from proxyhub.config.model import ParentProxy
    from proxyhub.policy.parents import ParentSelector

    reactor, ctx, origin = setup()
    ctx.parents = ParentSelector(  # type: ignore[attr-defined]
        (ParentProxy("127.0.0.1", 3129, "u", "p"),), (), reactor.seconds
    )
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin.reply(response(b"hi", b"Cache-Control: max-age=1", b'ETag: "p"'))
    reactor.advance(2)
    conn.clear()
    proto.dataReceived(get())
    sent = origin.requests[1]
    assert sent.startswith(b"GET " + URL) and b'If-None-Match: "p"' in sent
    assert b"Proxy-Authorization: Basic" in sent
    origin.reply(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    assert header(conn.value(), b"X-Cache") == b"REVALIDATED"
