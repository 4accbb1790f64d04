"""send.write: straight to the socket when nothing is queued, else through the transport.

These use one real loopback TCP connection (no reactor runs: a MemoryReactorClock
only records the transport's requests to be told about writability).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport

from proxyhub.net import send

Pair = tuple[tcp.Server, socket.socket, MemoryReactorClock]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A tcp.Server transport over a loopback connection, and the peer's socket."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        ours, addr = listener.accept()
    ours.setblocking(False)
    reactor = MemoryReactorClock()
    transport = tcp.Server(ours, Protocol(), addr, None, 1, reactor)  # type: ignore[arg-type]
    yield transport, peer, reactor
    peer.close()
    ours.close()


def receive(peer: socket.socket, size: int) -> bytes:
    peer.settimeout(5)
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_idle_transport_sends_at_once(pair: Pair) -> None:
    """With nothing queued, the bytes reach the peer before any reactor iteration."""
    transport, peer, reactor = pair
    send.write(transport, b"hello")
    assert receive(peer, 5) == b"hello"
    assert transport not in reactor.getWriters()


def test_queued_bytes_keep_their_place(pair: Pair) -> None:
    """Bytes already buffered in the transport make later writes queue behind them."""
    transport, peer, reactor = pair
    transport.write(b"first ")
    send.write_parts(transport, [b"second"])
    assert transport in reactor.getWriters()
    transport.doWrite()
    assert receive(peer, 12) == b"first second"


def test_what_the_kernel_refuses_is_queued(pair: Pair) -> None:
    """A write larger than the socket buffers leaves the rest in the transport, in order."""
    transport, peer, reactor = pair
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than loopback buffers hold
    send.write(transport, data)
    assert transport in reactor.getWriters()
    peer.settimeout(5)
    got = b""
    while len(got) < len(data):
        got += peer.recv(1 << 20)
        transport.doWrite()
    assert got == data


def test_half_closed_transport_is_left_to_twisted(
    pair: Pair,
) -> None:
    """After loseWriteConnection the transport decides, and the FIN still comes last."""
    transport, peer, _ = pair
    transport.loseWriteConnection()
    send.write(transport, b"late")
    assert b"late" in b"".join(transport._tempDataBuffer)
    transport.doWrite()
    transport.doWrite()
    assert receive(peer, 4) == b"late"
    assert peer.recv(1) == b""


def test_other_transports_use_their_own_write() -> None:
    """A transport that is not plain TCP (TLS, tests) gets an ordinary write."""
    transport = StringTransport()
    send.write_parts(transport, [b"a", b"b"])
    assert transport.value() == b"ab"


def test_missing_twisted_internals_fall_back_to_write(pair: Pair) -> None:
    """Without the buffer attributes it reads, every write goes through transport.write."""
    transport, _, _ = pair
    vars(transport).pop("_tempDataBuffer")  # as if Twisted had renamed it
    assert not hasattr(transport, "_tempDataBuffer")
    writes: list[bytes] = []
    transport.write = writes.append  # type: ignore[method-assign]
    send.write(transport, b"hello")
    assert writes == [b"hello"]


def test_nothing_is_sent_after_an_abort(pair: Pair) -> None:
    """abortConnection drops what is buffered; a later write must not reach the peer."""
    transport, peer, reactor = pair
    transport.abortConnection()
    send.write(transport, b"late")
    reactor.advance(0)  # the abort's connectionLost
    peer.settimeout(5)
    with pytest.raises(ConnectionResetError):
        assert peer.recv(10) == b""  # a reset, and no b"late" before it
