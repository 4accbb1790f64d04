"""Writes that reach the socket at once when nothing is queued ahead of them.

Twisted's ``transport.write`` only appends to a buffer and asks the reactor
for a writable event; the send happens on the next loop iteration, and each
write costs two ``epoll_ctl`` calls (register, then unregister once the
buffer is empty) besides the ``send``.  A proxy answering small requests
writes twice per request, so half of its system calls were those
registrations (``strace -c``: 4 ``epoll_ctl``, 2 ``sendto``, 2 ``recvfrom``
per request).

:func:`write` sends straight away when the transport is a plain TCP
connection with an empty buffer and an open write side, and hands whatever
the kernel did not take (or any error) to ``transport.write``.  Ordering is
kept because anything already queued makes it defer to the transport, and
the transport's own error handling still sees every failure, because a
failed send is retried there.  TLS transports and test transports always
take the ordinary path; the TLS listeners use :class:`DirectTLSFactory`,
whose records are written the same way.
"""

from __future__ import annotations

from typing import Any

from OpenSSL.SSL import WantReadError
from twisted.internet import tcp
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol

_PLAIN_TCP = (tcp.Server, tcp.Client)


def write(transport: Any, data: bytes) -> None:
    """Write ``data`` to ``transport``, sending at once when nothing is queued."""
    if transport.__class__ in _PLAIN_TCP and _idle(transport):
        try:
            sent = transport.socket.send(data)
        except OSError:  # EAGAIN, or an error the transport will report itself
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def write_parts(transport: Any, parts: list[bytes]) -> None:
    """Write ``parts`` as one piece (one system call when the socket takes it)."""
    write(transport, parts[0] if len(parts) == 1 else b"".join(parts))


def close_cut_short(transport: Any) -> None:
    """Close after what was written, in a way that says the response was cut short.

    Over TLS that means no close_notify: the TCP connection under TLS is closed
    instead, so a client can tell a response broken off (its origin failed
    mid-body) from one that ended, even when the end is only the close.
    """
    under: Any = transport.transport if isinstance(transport, TLSMemoryBIOProtocol) else None
    (under if under is not None else transport).loseConnection()


def _idle(transport: Any) -> bool:
    """True when a direct send cannot overtake or bypass anything the transport holds.

    This reads the write buffer of Twisted's ``FileDescriptor``, which has no
    public accessor: the one place proxyhub depends on Twisted's internals for
    speed.  Should they change, every write simply goes through
    ``transport.write`` again (tests/unit/net/test_send.py then fails).
    """
    try:
        return bool(
            not transport.TLS
            and transport.connected
            and not transport.disconnecting
            and not transport._aborting  # abortConnection: buffered bytes are to be dropped
            and not transport._writeDisconnecting
            and not transport.dataBuffer
            and not transport._tempDataBuffer
        )
    except AttributeError:
        return False


class DirectTLSProtocol(TLSMemoryBIOProtocol):
    """Server-side TLS whose records reach the socket through :func:`write`.

    Twisted's default, ``BufferingTLSTransport``, holds every write until the
    next reactor iteration (a ``callLater(0)`` per response) to merge small
    ones; ours are already one write per batch of events, so that only added
    a timer and a loop iteration to each response.
    """

    def _flushSendBIO(self) -> None:  # the one place Twisted moves TLS records out
        connection = getattr(self, "_tlsConnection", None)
        if connection is None or getattr(self, "_aborted", True):
            # Not the Twisted this was written for, or aborting: abortConnection
            # shuts TLS down first, and its close_notify must be dropped with the
            # rest, or a cut-off response would look complete.
            super()._flushSendBIO()
            return
        try:
            data = connection.bio_read(2**15)
        except WantReadError:
            return
        write(self.transport, data)


class DirectTLSFactory(TLSMemoryBIOFactory):
    """A ``TLSMemoryBIOFactory`` building :class:`DirectTLSProtocol` connections."""

    protocol = DirectTLSProtocol
