"""One worker process under a :class:`~proxyhub.workers.Supervisor`: ``python -m proxyhub.worker``.

A whole proxyhub on its own reactor, binding with SO_REUSEPORT.  It logs
plain lines on stderr (the supervisor adds timestamps), reports its metrics
as one JSON line a second on file descriptor 3, and stops when the
supervisor's end of its stdin closes (the supervisor died).

Each worker has its own cache, so what a ``PURGE`` or an unsafe request drops
from one is passed on: the worker writes ``{"purge": URI}`` on file
descriptor 3, and the supervisor writes ``purge URI`` to every other
worker's stdin.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any

from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import LoopingCall
from twisted.logger import Logger, eventAsText, globalLogBeginner

from .config import ConfigError, load_config
from .service import ProxyhubService, install_reactor
from .wiring import backend_states

REPORT_FD = 3
MAX_LINE = 1 << 20  # bytes of one line from the supervisor
log = Logger()


class FromSupervisor(Protocol):
    """The worker's stdin: purges passed on by the supervisor; its end means stop.

    A line longer than :data:`MAX_LINE` (a URI no worker relays) is skipped,
    never a reason to close: closing stdin would stop the worker.
    """

    def __init__(self, reactor: Any, service: Any) -> None:
        self.reactor = reactor
        self.service = service
        self._partial = b""
        self._skipping = False  # inside a line that grew past MAX_LINE

    def dataReceived(self, data: bytes) -> None:
        *lines, rest = (self._partial + data).split(b"\n")
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            command, _, uri = line.partition(b" ")
            if command == b"purge" and uri:
                self.service.purge_locally(uri)
        self._partial = rest
        if len(rest) > MAX_LINE:
            self._partial, self._skipping = b"", True

    def connectionLost(self, reason: Any = None) -> None:
        if self.reactor.running:
            self.reactor.stop()


def relay_purge(uri: bytes) -> None:
    """Ask the supervisor to drop ``uri`` from the other workers' caches."""
    if len(uri) > MAX_LINE // 2:  # beyond any sane URI; our own line limit comes first
        log.warn("proxyhub did not pass a purge of a {n}-byte URI on", n=len(uri))
        return
    tell_supervisor({"purge": uri.decode("latin-1")})


def tell_supervisor(fields: dict[str, Any]) -> None:
    """Write one JSON line to the supervisor (a report, or a purge to pass on)."""
    with contextlib.suppress(OSError):  # the supervisor is gone; stdin will tell us
        os.write(REPORT_FD, json.dumps(fields).encode() + b"\n")


def _log_to_stderr(event: dict[str, Any]) -> None:
    text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    sys.stderr.write(text.replace("\n", "\n  ") + "\n")
    sys.stderr.flush()


def _report(service: ProxyhubService) -> None:
    plan = service.plan
    backends = backend_states(plan, service.reactor.seconds()) if plan is not None else {}
    tell_supervisor({"metrics": service.metrics.snapshot(), "backends": backends})


def main(argv: list[str]) -> int:
    """Run worker ``argv[1]`` of the config at ``argv[0]`` until stopped."""
    # Until the service takes these over, a reload or log reopening must not kill us; the
    # config is read fresh at start anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    install_reactor()
    from twisted.internet import reactor as default_reactor

    reactor: Any = default_reactor

    observer: Any = _log_to_stderr
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    path, index = argv[0], int(argv[1])
    try:
        config = load_config(path)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    service = ProxyhubService(config, reactor, worker=index)
    service.purged = relay_purge
    service.privilegedStartService()
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    stdio: Any = StandardIO
    stdio(FromSupervisor(reactor, service), stdout=os.open(os.devnull, os.O_WRONLY))
    # the first report tells the supervisor our signal handlers are in place (the service
    # took SIGHUP and SIGUSR1 before binding, and takes the stop signals when the reactor
    # starts, before this runs)
    reactor.callWhenRunning(LoopingCall(_report, service).start, 1.0)
    reactor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
