"""A PURGE sent to one worker reaches the caches of the others, through the supervisor."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from proxyhub.config import parse_config_text
from proxyhub.service import ProxyhubService
from proxyhub.wiring import make_plan
from proxyhub.worker import MAX_LINE, FromSupervisor, relay_purge
from proxyhub.workers import Supervisor, WorkerProcess


def supervisor_of_three() -> tuple[Supervisor, dict[int, StringTransport]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = f"[proxyhub]\naccess_log = off\nworkers = 3\n[forward]\nlisten = tcp:{port}\n"
    supervisor = Supervisor(parse_config_text(text), MemoryReactorClock())
    stdins = {}
    for index in range(3):
        process = WorkerProcess(supervisor, index)
        process.transport = stdins[index] = StringTransport()
        supervisor.workers[index] = process
    return supervisor, stdins


def test_the_supervisor_passes_a_purge_to_the_other_workers() -> None:
    """Worker 1's purge line goes to workers 0 and 2, and is not taken for a report."""
    supervisor, stdins = supervisor_of_three()
    supervisor.report(1, json.dumps({"purge": "http://a.test/x"}).encode())
    assert stdins[0].value() == stdins[2].value() == b"purge http://a.test/x\n"
    assert stdins[1].value() == b""
    assert supervisor.reports == {} and not supervisor.workers[1].ready


def test_reports_still_count_as_reports() -> None:
    """A metrics line is kept as the worker's report and reaches no other worker."""
    supervisor, stdins = supervisor_of_three()
    supervisor.report(0, b'{"metrics": {}, "backends": {}}')
    assert supervisor.reports == {0: {"metrics": {}, "backends": {}}}
    assert supervisor.workers[0].ready
    assert all(stdin.value() == b"" for stdin in stdins.values())


def test_a_worker_purges_what_the_supervisor_passes_on() -> None:
    """``purge URI`` on a worker's stdin drops the URI from its cache, nothing else."""
    reactor = MemoryReactorClock()
    text = "[proxyhub]\naccess_log = off\n[forward]\nlisten = tcp:0\n[cache]\nenabled = yes\n"
    service = ProxyhubService(parse_config_text(text), reactor)
    service.plan = make_plan(service.config, service._shared(service.config))
    assert service.plan.cache is not None
    purged: list[bytes] = []
    service.plan.cache.purge = purged.append  # type: ignore[method-assign,assignment]
    stdin: Any = FromSupervisor(reactor, service)
    stdin.makeConnection(StringTransport())
    stdin.dataReceived(b"purge http://a.test/x\nnonsense\npurge \n")
    assert purged == [b"http://a.test/x"]


def test_a_workers_cache_tells_of_purges() -> None:
    """The hook a worker sets before starting reaches the cache of the plan it runs."""
    reactor = MemoryReactorClock()
    text = "[proxyhub]\naccess_log = off\n[forward]\nlisten = tcp:0\n[cache]\nenabled = yes\n"
    service = ProxyhubService(parse_config_text(text), reactor)
    service.purged = print
    service._adopt(make_plan(service.config, service._shared(service.config)))
    assert service.plan is not None and service.plan.cache is not None
    assert service.plan.cache.purged is print


def test_an_overlong_line_is_skipped_and_stdin_stays_open() -> None:
    """A line past MAX_LINE is dropped whole; the worker goes on reading (and running)."""
    reactor = MemoryReactorClock()
    purged: list[bytes] = []
    service: Any = type("Service", (), {"purge_locally": lambda self, uri: purged.append(uri)})()
    stdin = FromSupervisor(reactor, service)
    transport = StringTransport()
    stdin.makeConnection(transport)
    stdin.dataReceived(b"purge http://a.test/" + b"x" * MAX_LINE)
    stdin.dataReceived(b"y" * 10 + b"\npurge http://a.test/ok\n")
    assert purged == [b"http://a.test/ok"]
    assert not transport.disconnecting


def test_a_huge_uri_is_not_relayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URI too long for the supervisor's lines stays local (and is logged)."""
    told: list[dict[str, Any]] = []
    monkeypatch.setattr("proxyhub.worker.tell_supervisor", told.append)
    relay_purge(b"http://a.test/" + b"x" * MAX_LINE)
    relay_purge(b"http://a.test/\xe9")
    assert told == [{"purge": "http://a.test/\xe9"}]
