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
take the ordinary path; the TLS listeners' records, once encrypted, are
written the same way (:mod:`proxyhub.net.tls_server`).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

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

    Over TLS that means no close_notify (:meth:`ServerTLS.close_cut_short`), so
    a client can tell a response broken off (its origin failed mid-body) from
    one that ended, even when the end is only the close.
    """
    cut_short = getattr(transport, "close_cut_short", None)
    (cut_short if cut_short is not None else transport.loseConnection)()


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
