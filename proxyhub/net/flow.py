"""Flow control: one push producer per transport, many reasons to pause it.

A transport may be paused because the peer it feeds is full, because a
pipelined request must wait its turn, or because an upstream connection is
not ready yet.  :class:`ReadGate` keeps the reasons apart so that one
``resumeProducing`` cannot undo another reason's pause.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer

PEER_FULL = "peer-full"

BULK_BUFFER = 120 * 1024
"""Read size and write-buffer threshold for transports carrying bulk data.

Twisted's default is 64 KiB.  Larger reads cut the per-chunk Python cost,
but at 128 KiB and above each read buffer comes from a fresh mmap (glibc's
threshold) and throughput halves; 120 KiB measured best for tunnels.
"""


@implementer(IPushProducer)
class ReadGate:
    """Pauses reading from ``transport`` while any reason holds."""

    __slots__ = ("reasons", "transport")

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.reasons: set[str] = set()

    def pause(self, reason: str) -> None:
        """Stop reading until ``reason`` is lifted (and every other reason too)."""
        if not self.reasons:
            self.transport.pauseProducing()
        self.reasons.add(reason)

    def resume(self, reason: str) -> None:
        """Lift ``reason``; reading restarts when no reason is left."""
        if reason in self.reasons:
            self.reasons.discard(reason)
            if not self.reasons:
                self.transport.resumeProducing()

    @property
    def paused(self) -> bool:
        """True while reading is paused for any reason."""
        return bool(self.reasons)

    # IPushProducer, for registration with the transport we feed.
    def pauseProducing(self) -> None:
        self.pause(PEER_FULL)

    def resumeProducing(self) -> None:
        self.resume(PEER_FULL)

    def stopProducing(self) -> None:
        """The consumer went away; its own connectionLost does the cleaning up."""


def producer_of(transport: Any) -> Any:
    """The producer registered with ``transport``: TCP, TLS listeners and https upstreams.

    Twisted's TLS transport (``TLSMemoryBIOProtocol``, used towards https
    backends) keeps ours, wrapped, in ``_producer``; its ``producer``
    attribute reaches through to the TCP transport's, which is TLS's wrapper
    and never ours.  Comparing that with a gate was always false: a TLS
    response streamed in pieces left its producer registered, so
    ``loseConnection`` never closed, and a pooled https upstream kept feeding
    a finished client's gate.  The listeners' own TLS transport
    (:class:`~proxyhub.net.tls_server.ServerTLS`) keeps it in ``producer``.
    """
    if isinstance(transport, TLSMemoryBIOProtocol):
        membrane = transport._producer
        return None if membrane is None else membrane._producer
    return transport.producer


def feed_from(consumer_transport: Any, gate: ReadGate) -> None:
    """Make ``gate`` the producer throttled by ``consumer_transport``'s buffer."""
    consumer_transport.registerProducer(gate, True)


def stop_feeding(consumer_transport: Any, gate: ReadGate) -> None:
    """Undo :func:`feed_from` and lift any pause the consumer had asked for."""
    if producer_of(consumer_transport) is gate:
        consumer_transport.unregisterProducer()
    if gate.reasons:
        gate.resume(PEER_FULL)
