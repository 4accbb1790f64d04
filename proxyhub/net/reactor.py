"""The reactor proxyhub runs on when nobody chose one: Twisted's epoll reactor, leaner.

Twisted's ``EPollReactor.doPoll`` wraps every I/O event in ``log.callWithLogger``,
which asks the connection for its log prefix and pushes a fresh context dict onto a
thread-local stack, only so that old-style ``log.msg`` calls made while the event is
handled carry the connection's name as their "system".  For a proxy relaying 100-byte
responses that bookkeeping is about a tenth of the process's time (two events per
request).  proxyhub logs through ``twisted.logger`` namespaces and never reads that
context, so :class:`ProxyEPollReactor` dispatches each event without it and is otherwise
Twisted's reactor: the same poller and the same read/write/disconnect handling
(``_doReadOrWrite``, which itself logs any exception and disconnects the culprit).

``twistd proxyhub`` and the workers call :func:`install_unless_chosen`;
``twistd --reactor=epoll proxyhub ...`` (or any other ``--reactor``) keeps the one
chosen.  The class relies on three private names of ``EPollReactor``; if a Twisted
release drops one, nothing is installed and Twisted's default reactor runs.  This module
imports only where epoll exists (Linux): elsewhere the import fails, and callers skip it.
"""

from __future__ import annotations

import sys

from twisted.internet.epollreactor import EPollReactor
from twisted.logger import Logger

log = Logger()

RELIED_ON = ("_poller", "_selectables", "_doReadOrWrite")


class ProxyEPollReactor(EPollReactor):
    """Twisted's epoll reactor, dispatching each I/O event without a log context."""

    def doPoll(self, timeout: float | None) -> None:
        """Wait for events (at most ``timeout`` seconds, None: no limit); handle each."""
        try:
            ready = self._poller.poll(-1 if timeout is None else timeout, len(self._selectables))
        except InterruptedError:
            return
        handle = self._doReadOrWrite
        selectables = self._selectables
        for fd, event in ready:
            selectable = selectables.get(fd)
            if selectable is None:
                continue  # closed by an earlier event of this round
            try:
                handle(selectable, fd, event)
            except Exception:  # what callWithLogger would have caught and logged
                log.failure("unhandled error in {selectable!r}", selectable=selectable)

    doIteration = doPoll


def install_unless_chosen() -> bool:
    """Install ProxyEPollReactor unless a reactor is installed already; say if it was."""
    if "twisted.internet.reactor" in sys.modules:
        return False  # chosen with twistd --reactor, or imported by someone first
    reactor = ProxyEPollReactor()
    if not all(hasattr(reactor, name) for name in RELIED_ON):
        return False  # a Twisted that works differently: keep its own reactor
    from twisted.internet.main import installReactor

    installReactor(reactor)
    return True
