"""Active health checks: ``GET health_check`` on every backend each ``health_interval``.

A check passes on a 2xx or 3xx status line within ``health_timeout``; a
refused connect, a timeout or any other status fails it.  Results feed the
route's :class:`~proxyhub.policy.health.HealthMonitor` through its
:class:`~.backends.BackendSet`, which logs every change of state.  Routes
without ``health_check`` still get a periodic ``expire`` so passive
re-admissions are logged on time.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import LoopingCall

from ..config.model import Backend
from .backends import BackendSet
from .connect import Connectable, connect_to


class CheckProtocol(Connectable):
    """Sends one check request and reads just enough to see the status line."""

    transport: Any

    def __init__(self, request: bytes, done: Any) -> None:
        self.request = request
        self.done = done
        self.buffer = b""

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        line, found, _ = self.buffer.partition(b"\r\n")
        if found or len(self.buffer) > 1024:
            parts = line.split(b" ", 2)
            ok = len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1][:1] in b"23"
            self._finish(ok and len(parts[1]) == 3)

    def connectionLost(self, reason: Any = None) -> None:
        self._finish(False)

    def _finish(self, passed: bool) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(passed)
            if self.transport is not None:
                self.transport.loseConnection()


class HealthChecker:
    """Runs the checks of one route's backends on the reactor."""

    def __init__(self, reactor: Any, backends: BackendSet) -> None:
        self.reactor = reactor
        self.backends = backends
        route = backends.route
        self.interval = route.health_interval if route.health_check else 1.0
        self._loop = LoopingCall(self.run)
        self._loop.clock = reactor

    def start(self) -> None:
        """Check now and every interval after."""
        self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        """No more checks."""
        if self._loop.running:
            self._loop.stop()

    def run(self) -> None:
        """One round: a check per backend (or only the passive expiry)."""
        self.backends.expire()
        if self.backends.route.health_check is None:
            return
        for backend in self.backends.route.backends:
            self._check(backend)

    def _check(self, backend: Backend) -> None:
        route = self.backends.route
        host = backend.host if ":" not in backend.host else f"[{backend.host}]"
        request = (
            f"GET {route.health_check} HTTP/1.1\r\nHost: {host}:{backend.port}\r\n"
            "User-Agent: proxyhub-health-check\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        timer: list[Any] = []

        def finished(passed: bool) -> None:
            if timer and timer[0].active():
                timer[0].cancel()
            self.backends.check_result(backend, passed)

        proto = CheckProtocol(request, finished)
        tls = self.backends.tls_for(backend) if backend.tls else None
        d = connect_to(self.reactor, backend.host, backend.port, route.health_timeout, proto, tls)
        d.addErrback(lambda _: proto._finish(False) if proto.done else None)
        timer.append(self.reactor.callLater(route.health_timeout, self._timed_out, proto))

    @staticmethod
    def _timed_out(proto: CheckProtocol) -> None:
        if proto.done is not None:
            done, proto.done = proto.done, None
            done(False)
            if proto.transport is not None:
                proto.transport.abortConnection()
