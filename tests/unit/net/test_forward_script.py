"""The forward proxy as a script of one conversation, on an in-memory reactor."""

from __future__ import annotations

from twisted.internet.error import ConnectionRefusedError, TimeoutError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from .harness import accept_origin, connect_client, make_context

GET = b"GET http://127.0.0.1:8080/a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_request_is_relayed_and_connection_pooled() -> None:
    """A GET goes upstream in origin-form and the response comes back; the origin is pooled."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, client = connect_client(ctx)
    proto.dataReceived(GET)
    assert reactor.tcpClients[0][:2] == ("127.0.0.1", 8080)
    origin, upstream = accept_origin(reactor)
    assert upstream.value().startswith(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    origin.dataReceived(OK)
    assert client.value().startswith(b"HTTP/1.1 200 OK\r\n")
    assert client.value().endswith(b"\r\n\r\nok")
    assert ctx.pool.idle_count() == 1


def test_second_request_reuses_the_pooled_connection() -> None:
    """A keep-alive client's next request rides the same origin connection."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, _client = connect_client(ctx)
    proto.dataReceived(GET)
    origin, upstream = accept_origin(reactor)
    origin.dataReceived(OK)
    upstream.clear()
    proto.dataReceived(GET)
    assert len(reactor.tcpClients) == 1
    assert upstream.value().startswith(b"GET /a HTTP/1.1")


def test_header_timeout_answers_408() -> None:
    """A head still incomplete at header_timeout gets 408 and the connection closes."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor, header_timeout="2s")
    proto, client = connect_client(ctx)
    proto.dataReceived(b"GET http://127.0.0.1:8080/ HT")
    reactor.advance(1.0)
    proto.dataReceived(b"T")  # a trickle does not extend the deadline
    reactor.advance(1.1)
    assert client.value().startswith(b"HTTP/1.1 408 ")
    assert client.disconnecting


def test_idle_keep_alive_is_closed_quietly() -> None:
    """A keep-alive connection idle past idle_timeout is closed without a response."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor, idle_timeout="5s")
    proto, client = connect_client(ctx)
    proto.dataReceived(GET)
    origin, _ = accept_origin(reactor)
    origin.dataReceived(OK)
    client.clear()
    reactor.advance(4.0)
    assert not client.disconnecting
    reactor.advance(1.2)
    assert client.disconnecting and client.value() == b""


def test_read_timeout_answers_504() -> None:
    """An origin silent past read_timeout gets the client a 504."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor, read_timeout="3s")
    proto, client = connect_client(ctx)
    proto.dataReceived(GET)
    accept_origin(reactor)
    reactor.advance(3.2)
    assert client.value().startswith(b"HTTP/1.1 504 ")


def test_connect_timeout_answers_504_and_refusal_502() -> None:
    """A connect that times out is 504, a refused one 502."""
    for error, status in ((TimeoutError(), b"504"), (ConnectionRefusedError(), b"502")):
        reactor = MemoryReactorClock()
        proto, client = connect_client(make_context(reactor))
        proto.dataReceived(GET)
        factory = reactor.tcpClients[0][2]
        factory.clientConnectionFailed(None, Failure(error))
        assert client.value().startswith(b"HTTP/1.1 " + status)


def test_stale_pooled_connection_is_retried_once() -> None:
    """A GET that meets a pooled connection closing unanswered is sent again on a new one."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, client = connect_client(ctx)
    proto.dataReceived(GET)
    origin, _ = accept_origin(reactor)
    origin.dataReceived(OK)
    client.clear()
    proto.dataReceived(GET)
    origin.connectionLost(Failure(ConnectionRefusedError()))
    assert len(reactor.tcpClients) == 2
    fresh, upstream = accept_origin(reactor)
    assert upstream.value().startswith(b"GET /a ")
    fresh.dataReceived(OK)
    assert client.value().startswith(b"HTTP/1.1 200 OK")


def test_post_is_not_retried() -> None:
    """A request with a body that meets a stale connection gets 502, not a second send."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, client = connect_client(ctx)
    proto.dataReceived(GET)
    origin, _ = accept_origin(reactor)
    origin.dataReceived(OK)
    client.clear()
    proto.dataReceived(
        b"POST http://127.0.0.1:8080/a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"
    )
    origin.connectionLost(Failure(ConnectionRefusedError()))
    assert len(reactor.tcpClients) == 1
    assert client.value().startswith(b"HTTP/1.1 502 ")


def test_slow_client_pauses_the_origin() -> None:
    """While the client's buffer is full the origin connection stops being read."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, client = connect_client(ctx)
    proto.dataReceived(GET)
    origin, upstream = accept_origin(reactor)
    origin.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
    assert client.producer is origin.gate
    client.producer.pauseProducing()  # what a full socket buffer does
    assert upstream.producerState == "paused"
    client.producer.resumeProducing()
    assert upstream.producerState == "producing"


def test_tunnel_splices_and_passes_half_close() -> None:
    """CONNECT answers 200, forwards early bytes, and passes a client FIN on."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, client = connect_client(ctx)
    proto.dataReceived(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\nhello")
    origin, upstream = accept_origin(reactor)
    assert client.value() == b"HTTP/1.1 200 Connection established\r\n\r\n"
    assert upstream.value() == b"hello"
    origin.dataReceived(b"world")
    assert client.value().endswith(b"world")
    proto.readConnectionLost()
    assert getattr(upstream, "write_closed", False)


def test_tunnel_idle_timeout_closes_both_sides() -> None:
    """A tunnel without traffic for tunnel_idle_timeout is closed."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor, tunnel_idle_timeout="10s")
    proto, client = connect_client(ctx)
    proto.dataReceived(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    _, upstream = accept_origin(reactor)
    reactor.advance(9.0)
    assert not client.disconnecting
    reactor.advance(1.2)
    assert client.disconnecting and upstream.disconnecting


def test_half_closed_tunnel_is_closed_after_half_close_timeout() -> None:
    """With only the client's side finished, the tunnel ends after half_close_timeout."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor, half_close_timeout="5s", tunnel_idle_timeout="300s")
    proto, client = connect_client(ctx)
    proto.dataReceived(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    _, upstream = accept_origin(reactor)
    proto.readConnectionLost()
    reactor.advance(4.0)
    assert not upstream.disconnecting
    reactor.advance(1.2)
    assert client.disconnecting and upstream.disconnecting


def test_pipelined_requests_wait_their_turn() -> None:
    """A second request sent early is forwarded only after the first response is done."""
    reactor = MemoryReactorClock()
    ctx = make_context(reactor)
    proto, client = connect_client(ctx)
    proto.dataReceived(GET + GET.replace(b"/a ", b"/b "))
    origin, upstream = accept_origin(reactor)
    assert upstream.value().count(b"GET ") == 1
    origin.dataReceived(OK)
    assert upstream.value().count(b"GET ") == 2
    assert b"GET /b " in upstream.value()
    origin.dataReceived(OK)
    assert client.value().count(b"HTTP/1.1 200 OK") == 2
