"""Collapsed forwarding: concurrent misses for one URI make one origin request."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from proxyhub.cache import CacheKey

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


def crowd(n: int, *fields: bytes, **keys: str) -> tuple[MemoryReactorClock, object, Origin, list]:  # type: ignore[type-arg]
    """``n`` clients asking for URL at once."""
    reactor = MemoryReactorClock()
    ctx = cached_context(reactor, **keys)
    clients = [client(ctx) for _ in range(n)]
    for proto, _ in clients:
        proto.dataReceived(get(URL, *fields))
    return reactor, ctx, Origin(reactor), clients


def test_concurrent_misses_make_one_origin_request() -> None:
    """Three clients, one origin request; the followers are answered from what was stored."""
    _reactor, ctx, origin, clients = crowd(3)
    assert len(origin.requests) == 1
    flights = ctx.cache.flights  # type: ignore[attr-defined]
    assert len(flights) == 1 and flights.followers(CacheKey.for_request(b"GET", URL)) == 2
    origin.reply(response(b"shared", FRESH))
    outs = [conn.value() for _, conn in clients]
    assert all(body_of(out) == b"shared" for out in outs)
    assert [header(out, b"X-Cache") for out in outs] == [b"MISS", b"HIT", b"HIT"]
    assert header(outs[1], b"Cache-Status") == b"proxyhub; fwd=uri-miss; collapsed"
    assert len(origin.requests) == 1
    assert ctx.access_log.cache == ["HIT", "HIT", "MISS"]  # type: ignore[attr-defined]


def test_followers_of_an_uncacheable_response_go_to_the_origin_at_once() -> None:
    """A leader's unstorable head sends the followers upstream in parallel; later misses of
    that URI are not collapsed."""
    _reactor, ctx, origin, clients = crowd(3)
    origin.reply(response(b"mine", b"Cache-Control: no-store"))
    assert len(origin.requests) == 3
    origin.reply(response(b"two", b"Cache-Control: no-store"))
    origin.reply(response(b"three", b"Cache-Control: no-store"))
    assert sorted(body_of(c.value()) for _, c in clients) == [b"mine", b"three", b"two"]
    more = [client(ctx) for _ in range(2)]
    for proto, _ in more:
        proto.dataReceived(get())
    assert len(origin.requests) == 5  # a "pass": no waiting behind one another


def test_follower_gives_up_waiting_after_collapse_timeout() -> None:
    """A follower whose leader is slow goes to the origin after collapse_timeout."""
    reactor, _ctx, origin, clients = crowd(2, collapse_timeout="5s")
    reactor.advance(4.9)
    assert len(origin.requests) == 1
    reactor.advance(0.2)
    assert len(origin.requests) == 2
    origin.reply(response(b"late", FRESH))
    origin.reply(response(b"own", FRESH))
    assert body_of(clients[1][1].value()) == b"own"
    assert header(clients[1][1].value(), b"X-Cache") == b"MISS"


def test_follower_leaving_does_not_disturb_the_leader() -> None:
    """A follower's client closing leaves the flight; the leader finishes normally."""
    reactor, ctx, origin, clients = crowd(2)
    clients[1][0].connectionLost(Failure(ConnectionDone()))
    assert ctx.access_log.records[-1].status == 499  # type: ignore[attr-defined]
    origin.reply(response(b"x", FRESH))
    assert body_of(clients[0][1].value()) == b"x"
    assert clients[1][1].value() == b""
    reactor.advance(60)  # the follower's timer was cancelled: nothing fires
    assert len(origin.requests) == 1


def test_leader_aborted_sends_followers_to_the_origin() -> None:
    """The leader's download breaking off sends the followers upstream themselves."""
    _reactor, _ctx, origin, clients = crowd(2)
    origin_proto, _ = origin.reply(
        b"HTTP/1.1 200 OK\r\n" + FRESH + b"\r\nContent-Length: 10\r\n\r\nhal"
    )
    origin_proto.connectionLost(Failure(ConnectionDone()))
    assert len(origin.requests) == 2
    origin.reply(response(b"whole", FRESH))
    assert body_of(clients[1][1].value()) == b"whole"


def test_no_collapsing_when_collapse_timeout_is_0() -> None:
    """collapse_timeout = 0: every miss goes upstream."""
    _reactor, _ctx, origin, _clients = crowd(3, collapse_timeout="0")
    assert len(origin.requests) == 3


def test_range_requests_are_not_collapsed() -> None:
    """Range requests neither lead nor follow."""
    _reactor, _ctx, origin, _clients = crowd(2, b"Range: bytes=0-1")
    assert len(origin.requests) == 2


def test_follower_with_no_cache_takes_the_fresh_fetch() -> None:
    """A no-cache follower accepts what its leader fetched after it arrived."""
    reactor = MemoryReactorClock()
    ctx = cached_context(reactor)
    origin = Origin(reactor)
    (leader, _), (follower, conn) = client(ctx), client(ctx)
    leader.dataReceived(get())
    follower.dataReceived(get(URL, b"Cache-Control: no-cache"))
    origin.reply(response(b"x", FRESH))
    assert header(conn.value(), b"X-Cache") == b"HIT"
    assert len(origin.requests) == 1


def test_revalidations_collapse_too() -> None:
    """Two clients on a stale entry: one conditional request; both are answered."""
    reactor = MemoryReactorClock()
    ctx = cached_context(reactor)
    origin = Origin(reactor)
    first, conn = client(ctx)
    first.dataReceived(get())
    origin.reply(response(b"body", b"Cache-Control: max-age=1", b'ETag: "e"'))
    reactor.advance(2)
    conn.clear()
    (a, a_conn), (b, b_conn) = client(ctx), client(ctx)
    a.dataReceived(get())
    b.dataReceived(get())
    assert len(origin.requests) == 2
    origin.reply(b"HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=60\r\n\r\n")
    assert header(a_conn.value(), b"X-Cache") == b"REVALIDATED"
    assert header(b_conn.value(), b"X-Cache") == b"HIT"
    assert body_of(a_conn.value()) == body_of(b_conn.value()) == b"body"


def test_purge_during_a_fetch_keeps_it_from_being_stored() -> None:
    """A PURGE while the response streams cancels its store; the leader still finishes."""
    reactor = MemoryReactorClock()
    ctx = cached_context(reactor)
    origin = Origin(reactor)
    proto, conn = client(ctx)
    proto.dataReceived(get())
    origin_proto, _ = origin.reply(
        b"HTTP/1.1 200 OK\r\n" + FRESH + b"\r\nContent-Length: 4\r\n\r\nab"
    )
    purger, purge_conn = client(ctx)
    purger.dataReceived(get(method=b"PURGE"))
    assert status_of(purge_conn.value()) == 200
    origin_proto.dataReceived(b"cd")
    assert body_of(conn.value()) == b"abcd"
    assert len(ctx.cache.store) == 0  # type: ignore[attr-defined]


def test_head_follows_and_is_answered_without_a_body() -> None:
    """A HEAD arriving during a GET's fetch waits for it and gets the head only."""
    reactor = MemoryReactorClock()
    ctx = cached_context(reactor)
    origin = Origin(reactor)
    (getter, _), (header_only, conn) = client(ctx), client(ctx)
    getter.dataReceived(get())
    header_only.dataReceived(get(method=b"HEAD"))
    origin.reply(response(b"12345", FRESH))
    assert header(conn.value(), b"Content-Length") == b"5" and body_of(conn.value()) == b""
    assert len(origin.requests) == 1


def test_follower_whose_client_half_closed_is_closed_after_its_answer() -> None:
    """A client that sent its request and shut its side down gets the answer, then close."""
    reactor = MemoryReactorClock()
    ctx = cached_context(reactor)
    origin = Origin(reactor)
    (leader, _), (follower, conn) = client(ctx), client(ctx)
    leader.dataReceived(get())
    follower.dataReceived(get())
    follower.readConnectionLost()
    origin.reply(response(b"x", FRESH))
    assert body_of(conn.value()) == b"x" and conn.disconnecting
