"""A TLS upstream connection counts as connected only after its handshake (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.error import TimeoutError as ConnectTimeout
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from proxyhub.http import Limits
from proxyhub.net.connect import HandshakeFailed
from proxyhub.net.deadlines import DeadlineSweeper
from proxyhub.net.routes import describe_connect_failure
from proxyhub.net.upstream import OriginPool, UpstreamProtocol


def _tls_connect(connect_timeout: float = 2.0) -> tuple[MemoryReactorClock, UpstreamProtocol, Any]:
    """Start a TLS connect and complete its TCP part; the protocol and the waiter's results."""
    reactor = MemoryReactorClock()
    sweeper = DeadlineSweeper(reactor, 0.1)
    sweeper.start()
    pool = OriginPool(reactor, sweeper, Limits(), connect_timeout, 60.0)
    results: list[Any] = []
    pool.connect(("127.0.0.1", 443, "backend.test"), tls=object()).addBoth(results.append)
    host, port, factory, _creator, _timeout, _bind = reactor.sslClients[-1]
    proto = factory.buildProtocol(IPv4Address("TCP", host, port))
    proto.makeConnection(StringTransport())
    return reactor, proto, results


def test_tcp_alone_is_not_connected_and_the_handshake_is() -> None:
    """The waiter fires at handshakeCompleted, not at connectionMade."""
    _, proto, results = _tls_connect()
    assert results == []
    proto.handshakeCompleted()
    assert results == [proto]
    assert proto.deadline == 0.0


def test_a_stalled_handshake_fails_after_connect_timeout() -> None:
    """No handshake within connect_timeout: a connect timeout, and the connection aborted."""
    reactor, proto, results = _tls_connect(connect_timeout=2.0)
    reactor.advance(1.9)
    assert results == []
    reactor.advance(0.2)
    assert isinstance(results[0], Failure) and results[0].check(ConnectTimeout)
    assert proto.transport.disconnecting


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (
            SSL.Error([("SSL routines", "", "certificate verify failed")]),
            "certificate verify failed",
        ),
        (VerificationError(errors=[]), "its certificate does not name it"),
        (ConnectionDone(), "it closed the connection"),
    ],
)
def test_a_failed_handshake_is_a_failed_connect_that_says_why(error: Exception, why: str) -> None:
    """connectionLost during the handshake errbacks HandshakeFailed; its 502 names the cause."""
    _, proto, results = _tls_connect()
    proto.connectionLost(Failure(error))
    failure = results[0]
    assert isinstance(failure, Failure) and failure.check(HandshakeFailed)
    route_failure = describe_connect_failure("backend.test:443", failure)
    assert route_failure.status == 502
    assert route_failure.detail == f"TLS handshake with backend.test:443 failed: {why}."
