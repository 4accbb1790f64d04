"""When the service and the supervisor take over the operator's signals."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock

from proxyhub.config import parse_config_text
from proxyhub.service import ProxyhubService
from proxyhub.workers import Supervisor

SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)


@pytest.fixture(autouse=True)
def restore_signals() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_service_takes_reload_and_reopen_before_binding() -> None:
    """A SIGHUP that arrives once the port accepts but before the reactor runs is queued."""
    reactor = MemoryReactorClock()
    config = parse_config_text("[proxyhub]\naccess_log = off\n[forward]\nlisten = tcp:0\n")
    service = ProxyhubService(config, reactor)
    service.privilegedStartService()
    assert reactor.tcpServers  # the port is bound (and would accept) before the reactor runs
    assert signal.getsignal(signal.SIGHUP) == service._on_reload_signal
    assert signal.getsignal(signal.SIGUSR1) == service._on_reopen_signal
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # Twisted's, until it runs
    reactor.run()
    assert signal.getsignal(signal.SIGTERM) == service._on_stop_signal
    service.listeners.unbind_all()


def test_supervisor_takes_reload_and_reopen_before_binding(monkeypatch: Any) -> None:
    """The supervisor passes a reload on even before its reactor runs."""
    reactor = MemoryReactorClock()
    port = free_port()
    text = f"[proxyhub]\naccess_log = off\nworkers = 2\n[forward]\nlisten = tcp:{port}\n"
    supervisor = Supervisor(parse_config_text(text), reactor)
    monkeypatch.setattr(supervisor, "spawn", lambda index: None)
    supervisor.privilegedStartService()
    assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, None)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    reactor.run()
    assert signal.getsignal(signal.SIGTERM) == supervisor._on_stop_signal
