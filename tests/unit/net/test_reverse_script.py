"""The reverse proxy as scripts of conversations, on an in-memory reactor."""

from __future__ import annotations

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from .harness import accept_origin, connect_reverse_client, make_reverse_context

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def get(host: bytes, path: bytes = b"/", extra: bytes = b"") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra + b"\r\n"


def test_host_picks_the_site_and_headers_are_set() -> None:
    """The Host header picks the backend; X-Forwarded-* are set, client values replaced."""
    reactor = MemoryReactorClock()
    ctx = make_reverse_context(reactor, {"a.test": [8001], "b.test": [8002]})
    proto, client = connect_reverse_client(ctx)
    proto.dataReceived(get(b"b.test", b"/x?y=1", b"X-Forwarded-For: 6.6.6.6\r\n"))
    assert reactor.tcpClients[0][:2] == ("127.0.0.1", 8002)
    origin, upstream = accept_origin(reactor)
    sent = upstream.value()
    assert sent.startswith(b"GET /x?y=1 HTTP/1.1\r\nHost: b.test\r\n")
    assert b"X-Forwarded-For: 192.0.2.7\r\n" in sent and b"6.6.6.6" not in sent
    assert b"X-Forwarded-Proto: http\r\n" in sent and b"X-Forwarded-Host: b.test\r\n" in sent
    origin.dataReceived(OK)
    assert client.value().startswith(b"HTTP/1.1 200 OK\r\n")


def test_unknown_host_gets_421() -> None:
    """A Host no route serves is answered 421."""
    reactor = MemoryReactorClock()
    proto, client = connect_reverse_client(make_reverse_context(reactor, {"a.test": [8001]}))
    proto.dataReceived(get(b"other.test"))
    assert client.value().startswith(b"HTTP/1.1 421 ")
    assert reactor.tcpClients == []


def test_round_robin_spreads_requests() -> None:
    """Two requests in a row go to two different backends."""
    reactor = MemoryReactorClock()
    proto, _ = connect_reverse_client(make_reverse_context(reactor, {"a.test": [8001, 8002]}))
    proto.dataReceived(get(b"a.test"))
    origin, _ = accept_origin(reactor)
    origin.dataReceived(OK)
    proto.dataReceived(get(b"a.test"))
    ports = {reactor.tcpClients[0][1], reactor.tcpClients[1][1]}
    assert ports == {8001, 8002}


def test_failed_connect_moves_to_another_backend() -> None:
    """A refused connect is retried on the next backend, even for a POST."""
    reactor = MemoryReactorClock()
    proto, client = connect_reverse_client(make_reverse_context(reactor, {"a.test": [8001, 8002]}))
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nhi")
    first_port = reactor.tcpClients[0][1]
    reactor.tcpClients[0][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
    assert len(reactor.tcpClients) == 2 and reactor.tcpClients[1][1] != first_port
    origin, upstream = accept_origin(reactor)
    assert upstream.value().endswith(b"\r\n\r\nhi")
    origin.dataReceived(OK)
    assert client.value().startswith(b"HTTP/1.1 200 OK")


def test_all_backends_failing_gives_502() -> None:
    """When every backend refuses, the client gets a 502 at once."""
    reactor = MemoryReactorClock()
    proto, client = connect_reverse_client(make_reverse_context(reactor, {"a.test": [8001, 8002]}))
    proto.dataReceived(get(b"a.test"))
    for i in range(2):
        reactor.tcpClients[i][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
    assert client.value().startswith(b"HTTP/1.1 502 ")


def test_websocket_upgrade_becomes_a_splice() -> None:
    """A 101 from the backend switches both legs to raw bytes."""
    reactor = MemoryReactorClock()
    proto, client = connect_reverse_client(make_reverse_context(reactor, {"a.test": [8001]}))
    proto.dataReceived(get(b"a.test", b"/ws", b"Connection: Upgrade\r\nUpgrade: websocket\r\n"))
    origin, upstream = accept_origin(reactor)
    assert b"\r\nConnection: upgrade\r\nUpgrade: websocket\r\n" in upstream.value()
    origin.dataReceived(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi"
    )
    assert client.value().startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert client.value().endswith(b"\r\n\r\nhi")
    upstream.clear()
    proto.dataReceived(b"\x81\x02yo")
    assert upstream.value() == b"\x81\x02yo"


def test_h2c_upgrade_is_not_passed_on() -> None:
    """Upgrade: h2c is dropped; the request stays plain HTTP/1.1."""
    reactor = MemoryReactorClock()
    proto, _ = connect_reverse_client(make_reverse_context(reactor, {"a.test": [8001]}))
    proto.dataReceived(
        get(
            b"a.test",
            b"/",
            b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: x\r\n",
        )
    )
    _, upstream = accept_origin(reactor)
    assert b"pgrade" not in upstream.value() and b"HTTP2-Settings" not in upstream.value()


def test_plain_http_is_redirected_when_asked() -> None:
    """With redirect_to_https, plain requests get 308 to the https URL."""
    reactor = MemoryReactorClock()
    ctx = make_reverse_context(reactor, {"a.test": [8001]}, redirect_to=8443)
    proto, client = connect_reverse_client(ctx)
    proto.dataReceived(get(b"a.test:8080", b"/p?q"))
    assert client.value().startswith(b"HTTP/1.1 308 ")
    assert b"\r\nLocation: https://a.test:8443/p?q\r\n" in client.value()


def test_preserve_host_no_sends_the_backends_own_name() -> None:
    """With preserve_host = no, the backend hears its own host:port as Host."""
    from .harness import make_route

    reactor = MemoryReactorClock()
    ctx = make_reverse_context(reactor, {"a.test": [8001]})
    route = make_route("a.test", [8001], preserve_host=False)
    ctx.routes.routes[b"a.test"] = route  # type: ignore[attr-defined]
    ctx.backends[route] = ctx.backends.pop(next(iter(ctx.backends)))
    proto, _ = connect_reverse_client(ctx)
    proto.dataReceived(get(b"a.test"))
    _, upstream = accept_origin(reactor)
    assert upstream.value().startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n")
    assert b"X-Forwarded-Host: a.test\r\n" in upstream.value()


def test_hsts_is_added_on_tls_listeners_only() -> None:
    """A context with an HSTS line adds it to every relayed response."""
    reactor = MemoryReactorClock()
    ctx = make_reverse_context(
        reactor, {"a.test": [8001]}, hsts_line=b"\r\nStrict-Transport-Security: max-age=60"
    )
    proto, client = connect_reverse_client(ctx)
    proto.dataReceived(get(b"a.test"))
    origin, _ = accept_origin(reactor)
    origin.dataReceived(OK)
    assert b"\r\nStrict-Transport-Security: max-age=60\r\n" in client.value()
