"""One worker process under a :class:`~proxyhub.workers.Supervisor`: ``python -m proxyhub.worker``.

A whole proxyhub on its own reactor, binding with SO_REUSEPORT.  It logs
plain lines on stderr (the supervisor adds timestamps), reports its metrics
as one JSON line a second on file descriptor 3, and stops when the
supervisor's end of its stdin closes (the supervisor died).
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
from twisted.logger import eventAsText, globalLogBeginner

from .config import ConfigError, load_config
from .service import ProxyhubService, install_reactor
from .wiring import backend_states

REPORT_FD = 3


class _SupervisorGone(Protocol):
    """Watches stdin: when the supervisor goes away, so does the worker."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def connectionLost(self, reason: Any = None) -> None:
        if self.reactor.running:
            self.reactor.stop()


def _log_to_stderr(event: dict[str, Any]) -> None:
    text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    sys.stderr.write(text.replace("\n", "\n  ") + "\n")
    sys.stderr.flush()


def _report(service: ProxyhubService) -> None:
    plan = service.plan
    backends = backend_states(plan, service.reactor.seconds()) if plan is not None else {}
    line = json.dumps({"metrics": service.metrics.snapshot(), "backends": backends})
    with contextlib.suppress(OSError):  # the supervisor is gone; stdin will tell us
        os.write(REPORT_FD, line.encode() + b"\n")


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
    service.privilegedStartService()
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    stdio: Any = StandardIO
    stdio(_SupervisorGone(reactor), stdout=os.open(os.devnull, os.O_WRONLY))
    # the first report tells the supervisor our signal handlers are in place (the service
    # installs them when the reactor starts, before this runs)
    reactor.callWhenRunning(LoopingCall(_report, service).start, 1.0)
    reactor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
