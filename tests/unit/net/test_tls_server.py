"""ServerTLS, the listeners' TLS transport: a client's conversation with it, in memory."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from proxyhub.net.tls import CertificateStore, ReloadableCertificates

from .certs import make_ca, make_leaf, pem_cert, pem_key, write_bundle
from .tls_client import Client


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A listener context serving a.test."""
    ca = make_ca()
    key, cert = make_leaf(ca, ["a.test"])
    path = write_bundle(tmp_path_factory.mktemp("c") / "a.pem", pem_key(key), pem_cert(cert))
    return ReloadableCertificates(CertificateStore.from_paths([path])).listener_context()


@pytest.fixture
def client(context: ssl.SSLContext) -> Client:
    tls = Client(context, "a.test")
    tls.handshake()
    return tls


def test_handshake_then_plaintext_both_ways(client: Client) -> None:
    """The inner protocol hears of the handshake, then gets the request and answers it."""
    assert client.inner.events == ["made", "handshake"]
    assert client.server.server_name == b"a.test"
    client.to_server(client.send(b"GET / HTTP/1.1\r\n\r\n"))
    assert client.inner.received == b"GET / HTTP/1.1\r\n\r\n"
    client.server.write(b"HTTP/1.1 200 OK\r\n")
    client.server.writeSequence([b"a: b\r\n", b"\r\n"])
    assert client.receive() == b"HTTP/1.1 200 OK\r\na: b\r\n\r\n"


def test_records_arriving_together_and_in_pieces(client: Client) -> None:
    """Several records in one read are all delivered; a partial one waits for its rest."""
    records = client.send(b"one") + client.send(b"two")
    third = client.send(b"three")
    client.to_server(records + third[:7])
    assert client.inner.received == b"onetwo"
    client.to_server(third[7:])
    assert client.inner.received == b"onetwothree"


def test_a_large_body_arrives_whole(client: Client) -> None:
    """A body bigger than one record is delivered in record-sized pieces, in order."""
    body = bytes(range(256)) * 300
    client.to_server(client.send(body))
    assert client.inner.received == body
    assert len(client.inner.events) == 2 + 5  # 76,800 bytes: five records of at most 16 KiB


def test_writes_before_the_handshake_wait_for_it(context: ssl.SSLContext) -> None:
    """What the inner protocol writes before TLS is up is sent, in order, once it is."""
    tls = Client(context, "a.test")
    tls.server.write(b"early ")
    tls.server.write(b"bytes")
    tls.handshake()
    assert tls.receive() == b"early bytes"


def test_lose_connection_sends_close_notify(client: Client) -> None:
    """loseConnection ends TLS cleanly and closes TCP without waiting for the client."""
    client.server.write(b"bye")
    client.server.loseConnection()
    assert client.transport.disconnecting
    assert client.receive() == b"bye" and client.closed
    client.server.write(b"more")  # after closing: dropped
    assert client.transport.value() == b""


def test_a_cut_short_close_sends_no_close_notify(client: Client) -> None:
    """close_cut_short closes TCP after the data but leaves TLS unfinished."""
    client.server.write(b"partial")
    client.server.close_cut_short()
    assert client.transport.disconnecting
    assert client.receive() == b"partial" and not client.closed


def test_closing_before_the_handshake_aborts(context: ssl.SSLContext) -> None:
    """A connection closed before TLS is up (a handshake timeout) is aborted, not shut down."""
    tls = Client(context, "a.test")
    tls.server.loseConnection()
    assert tls.transport.disconnecting and tls.transport.value() == b""


def test_the_clients_close_notify_is_answered(client: Client) -> None:
    """A client closing TLS gets our close_notify and the TCP connection is closed."""
    with pytest.raises(ssl.SSLWantReadError):  # it sends close_notify, then wants ours
        client.conn.unwrap()
    client.to_server(client.outgoing.read())
    assert client.transport.disconnecting
    client.from_server()
    client.conn.unwrap()  # our close_notify completes the client's shutdown
    client.server.connectionLost()
    client.server.connectionLost()
    assert client.inner.events.count("lost") == 1


def test_a_refused_handshake_gets_an_alert_and_a_close(context: ssl.SSLContext) -> None:
    """A hello OpenSSL turns down (TLS 1.1 only) is answered with an alert, then closed."""
    tls = Client(context, "a.test", max_version=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ssl.SSLError, match=r"(?i)alert"):
        tls.handshake()
    assert tls.transport.disconnecting
    assert tls.inner.events == ["made"]


def test_inner_close_stops_delivery(client: Client) -> None:
    """Once the inner protocol closes, records still in hand are not delivered."""
    client.inner.dataReceived = lambda data: client.server.loseConnection()  # type: ignore[method-assign]
    client.to_server(client.send(b"first") + client.send(b"second"))
    seen: list[bytes] = []
    client.inner.dataReceived = seen.append  # type: ignore[method-assign]
    client.to_server(client.send(b"third"))
    assert seen == []


@implementer(IPushProducer)
class Producer:
    def pauseProducing(self) -> None: ...
    def resumeProducing(self) -> None: ...
    def stopProducing(self) -> None: ...


def test_producers_and_pausing_reach_the_tcp_transport(client: Client) -> None:
    """Backpressure is the socket's: producers and pausing pass straight through."""
    producer = Producer()
    client.server.registerProducer(producer, True)
    assert client.transport.producer is producer and client.server.producer is producer
    client.server.unregisterProducer()
    assert client.transport.producer is None and client.server.producer is None
    client.server.pauseProducing()
    assert client.transport.producerState == "paused"
    client.server.resumeProducing()
    assert client.transport.producerState == "producing"
    client.transport.bufferSize = 1  # type: ignore[attr-defined]
    client.server.bufferSize = 4096
    assert client.transport.bufferSize == 4096  # type: ignore[attr-defined]


def test_unknown_sni_is_recorded_and_served_the_default(tmp_path: Path) -> None:
    """An SNI naming no certificate is still remembered, for the 421 check."""
    ca = make_ca()
    key, cert = make_leaf(ca, ["a.test"])
    path = write_bundle(tmp_path / "a.pem", pem_key(key), pem_cert(cert))
    context = ReloadableCertificates(CertificateStore.from_paths([path])).listener_context()
    tls = Client(context, "other.test")
    tls.handshake()
    assert tls.server.server_name == b"other.test"
    assert tls.peer_names() == ["a.test"]


def test_nothing_is_answered_after_an_abort(context: ssl.SSLContext) -> None:
    """A connection aborted mid-handshake (its deadline passed) sends no ServerHello later."""
    tls = Client(context, "a.test")
    tls.server.abortConnection()
    with pytest.raises(ssl.SSLWantReadError):
        tls.conn.do_handshake()
    tls.to_server(tls.outgoing.read())
    assert tls.transport.value() == b""


def test_plain_http_goes_to_the_inner_protocol_over_tcp(context: ssl.SSLContext) -> None:
    """A request line on the TLS port is handed over unencrypted, with the TCP transport."""
    tls = Client(context)
    tls.to_server(b"GET / HTTP/1.1\r\n")
    tls.to_server(b"Host: a.test\r\n\r\n")
    assert tls.inner.events[:2] == ["made", "plain"]
    assert tls.inner.received == b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"
    assert tls.inner.transport is tls.transport  # its answer goes out as it is written


def test_bytes_neither_tls_nor_http_are_dropped(context: ssl.SSLContext) -> None:
    """Anything else on the TLS port is closed at once, with nothing passed on."""
    tls = Client(context)
    tls.to_server(b"\x00\x01\x02\x03\x04\x05")
    assert tls.transport.disconnecting and tls.inner.events == ["made"]


def test_a_trickled_client_hello_still_completes(context: ssl.SSLContext) -> None:
    """A ClientHello arriving a byte at a time is held whole, then handed to OpenSSL."""
    tls = Client(context, "A.Test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.conn.do_handshake()
    for byte in tls.outgoing.read():
        tls.to_server(bytes([byte]))
    tls.from_server()
    tls.handshake()
    assert tls.server.server_name == b"a.test"
    assert tls.inner.events == ["made", "handshake"]


def test_a_non_ascii_server_name_is_refused_quietly(
    context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SNI of raw bytes never reaches OpenSSL's callback (which would print a traceback)."""
    from OpenSSL import SSL

    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    hostile = SSL.Connection(SSL.Context(SSL.TLS_METHOD), None)
    hostile.set_connect_state()
    hostile.set_tlsext_host_name(b"\xff\xfe.test")
    with pytest.raises(SSL.WantReadError):
        hostile.do_handshake()
    tls = Client(context)
    tls.to_server(hostile.bio_read(65536))
    assert tls.transport.disconnecting and tls.inner.events == ["made"]
    assert unraisable == []


def _hello(sni: bytes, key_share: bytes, session_id: bytes) -> bytes:
    """A TLS 1.3 ClientHello record offering only X25519, with ``key_share`` (maybe empty)."""

    def vec(size: int, body: bytes) -> bytes:
        return len(body).to_bytes(size, "big") + body

    def ext(kind: int, body: bytes) -> bytes:
        return kind.to_bytes(2, "big") + vec(2, body)

    extensions = (
        ext(43, vec(1, b"\x03\x04"))  # supported_versions: TLS 1.3
        + ext(10, vec(2, b"\x00\x1d"))  # supported_groups: x25519
        + ext(13, vec(2, b"\x08\x04\x04\x03\x08\x05\x08\x06\x04\x01"))  # signature algorithms
        + ext(51, vec(2, key_share))
        + ext(0, vec(2, b"\x00" + vec(2, sni)))
    )
    body = b"\x03\x03" + bytes(32) + vec(1, session_id) + vec(2, b"\x13\x01") + b"\x01\x00"
    return b"\x16\x03\x01" + vec(2, b"\x01" + vec(3, body + vec(2, extensions)))


@pytest.mark.parametrize(
    ("second_name", "goes_on"),
    [(b"a.test", True), (b"b.test", False), (b"\xff\xfe.test", False)],
)
def test_a_second_client_hello_is_screened_too(
    context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch, second_name: bytes, goes_on: bool
) -> None:
    """After a HelloRetryRequest, the new hello must name the same server, in ASCII."""
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    tls = Client(context)
    session = b"s" * 32
    tls.to_server(_hello(b"a.test", b"", session))  # no key share: the server asks again
    assert tls.transport.value()[:1] == b"\x16" and not tls.transport.disconnecting
    tls.transport.clear()
    share = b"\x00\x1d" + (32).to_bytes(2, "big") + bytes(range(32))
    tls.to_server(b"\x14\x03\x03\x00\x01\x01" + _hello(second_name, share, session))
    assert tls.transport.disconnecting is not goes_on
    assert (tls.transport.value()[:1] == b"\x16") is goes_on  # the ServerHello, or nothing
    assert tls.server.server_name == b"a.test" and unraisable == []


def test_pending_writes_go_before_those_of_handshake_completed(context: ssl.SSLContext) -> None:
    """Bytes written before TLS was up keep their place ahead of later ones."""
    tls = Client(context, "a.test")
    tls.server.write(b"first ")
    tls.inner.handshakeCompleted = lambda: tls.server.write(b"second")  # type: ignore[method-assign]
    tls.handshake()
    assert tls.receive() == b"first second"


def test_writes_after_close_notify_are_dropped_quietly(client: Client) -> None:
    """Once close_notify went out (a finished WebSocket's half-close), a late write is ignored."""
    client.transport.loseWriteConnection = lambda: None  # type: ignore[attr-defined]
    client.server.loseWriteConnection()
    client.server.write(b"late")
    assert client.receive() == b"" and client.closed
