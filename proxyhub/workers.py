"""``workers = N``: a supervisor process running N workers that share every listener.

Each worker (:mod:`proxyhub.worker`) is a whole proxyhub on its own reactor,
binding every port with SO_REUSEPORT so the kernel spreads connections over
them.  The supervisor binds no proxy port itself; it

- checks before spawning that the config can be served and its ports bound;
- restarts a worker that exits unexpectedly (logged, with a growing delay
  when it keeps crashing);
- passes SIGHUP (after checking the new file) and SIGUSR1 on, and on SIGTERM
  or SIGINT asks every worker to drain and exits 0 once all are gone (a
  second signal kills them and exits at once);
- serves the admin site once, with metrics merged from the snapshots every
  worker sends each second on its file descriptor 3;
- relays each worker's log lines into its own log, prefixed ``worker N:``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from .admin.site import make_admin_site
from .admin.source import MetricsSource
from .config import Config, ConfigError, load_config
from .listeners import BindError, ListenerSet, Wanted, reuse_port_socket, tcp_address
from .net.registry import ConnectionRegistry
from .wiring import listener_names

log = Logger()
MAX_RESTART_DELAY = 10.0
STABLE_AFTER = 10.0  # a worker that lived this long restarts at once


class WorkerProcess(ProcessProtocol):
    """The supervisor's end of one worker: its log lines, metric reports and exit."""

    transport: Any

    def __init__(self, supervisor: Supervisor, index: int) -> None:
        self.supervisor = supervisor
        self.index = index
        self.started = supervisor.reactor.seconds()
        self.ready = False  # its first report says its signal handlers are in place
        self.pending: list[int] = []  # signals held until then
        self._partial: dict[int, bytes] = {2: b"", 3: b""}

    def signal(self, signum: int) -> None:
        """Send ``signum`` now, or once the worker is ready (SIGKILL and SIGTERM at once)."""
        if not self.ready and signum not in (signal.SIGKILL, signal.SIGTERM):
            self.pending.append(signum)
            return
        with contextlib.suppress(Exception):  # the process is already gone
            self.transport.signalProcess(signum)

    def became_ready(self) -> None:
        self.ready = True
        for signum in self.pending:
            self.signal(signum)
        self.pending = []

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        lines = (self._partial.get(childFD, b"") + data).split(b"\n")
        self._partial[childFD] = lines.pop()
        for line in lines:
            if childFD == 3:
                self.supervisor.report(self.index, line)
            elif line.strip():
                text = line.decode("utf-8", "replace")
                log.info("worker {index}: {line}", index=self.index, line=text)

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.worker_ended(self, reason)


class Supervisor(MultiService):
    """Runs and watches ``workers`` worker processes."""

    def __init__(self, config: Config, reactor: Any) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.workers: dict[int, WorkerProcess] = {}
        self.reports: dict[int, dict[str, Any]] = {}
        self.delays: dict[int, float] = {}
        self.stopping = False
        self._all_gone: Deferred[None] | None = None
        self.listeners = ListenerSet(reactor, ConnectionRegistry(reactor, 1 << 30))

    # -- start ----------------------------------------------------------------
    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._install_control_signals()
        problem = servable(self.config)
        if problem is not None:
            sys.stderr.write(f"proxyhub: {problem}\n")
            raise SystemExit(1)
        self._bind_admin()
        for index in range(self.config.proxyhub.workers):
            self.spawn(index)
        self.reactor.callWhenRunning(self._install_stop_signals)

    def _bind_admin(self) -> None:
        admin = self.config.proxyhub.admin_listen
        if not admin:
            return
        source = MetricsSource(
            self.reactor,
            lambda: [r["metrics"] for r in self.reports.values() if "metrics" in r],
            self._backends,
            listeners=listener_names(self.config),
            workers=self.config.proxyhub.workers,
        )
        site = make_admin_site(source, clock=self.reactor)
        for description in admin:
            try:
                self.listeners.bind(Wanted("admin", description, None, lambda: (site, site)))
            except BindError as e:
                sys.stderr.write(f"proxyhub: {e}\n")
                raise SystemExit(1) from None

    def _backends(self) -> dict[str, dict[str, bool]]:
        """A backend counts as up when any worker sees it up."""
        merged: dict[str, dict[str, bool]] = {}
        for report in self.reports.values():
            for host, states in report.get("backends", {}).items():
                for backend, up in states.items():
                    merged.setdefault(host, {})[backend] = (
                        merged.get(host, {}).get(backend, False) or up
                    )
        return merged

    def spawn(self, index: int) -> None:
        """Start worker ``index``."""
        if self.stopping:
            return
        process = WorkerProcess(self, index)
        args = [sys.executable, "-m", "proxyhub.worker", self.config.path, str(index)]
        self.reactor.spawnProcess(
            process, sys.executable, args, env=dict(os.environ),
            childFDs={0: "w", 1: 1, 2: "r", 3: "r"},
        )  # fmt: skip
        self.workers[index] = process
        log.info(
            "proxyhub started worker {index} (pid {pid})", index=index, pid=process.transport.pid
        )

    def report(self, index: int, line: bytes) -> None:
        """A worker's line: its periodic report (metrics, backend states), or a purge."""
        try:
            fields = json.loads(line)
        except ValueError:
            log.warn("worker {index} sent an unreadable report", index=index)
            fields = None
        if isinstance(fields, dict) and "purge" in fields:
            self._pass_purge_on(index, str(fields["purge"]))
            return
        if fields is not None:
            self.reports[index] = fields
        process = self.workers.get(index)
        if process is not None and not process.ready:
            process.became_ready()

    def _pass_purge_on(self, sender: int, uri: str) -> None:
        """A client sent ``PURGE uri`` to worker ``sender``: the others drop it too."""
        line = b"purge " + uri.encode("latin-1", "replace") + b"\n"
        for index, process in self.workers.items():
            if index != sender:
                with contextlib.suppress(Exception):  # the process is already gone
                    process.transport.write(line)

    def worker_ended(self, process: WorkerProcess, reason: Failure) -> None:
        """Restart a worker that exited unexpectedly; finish stopping when all are gone."""
        index = process.index
        if self.workers.get(index) is process:
            del self.workers[index]
        self.reports.pop(index, None)
        why = describe_exit(reason)
        if self.stopping:
            if not self.workers and self._all_gone is not None:
                self._all_gone.callback(None)
            return
        lived = self.reactor.seconds() - process.started
        delay = (
            0.0
            if lived > STABLE_AFTER
            else min(MAX_RESTART_DELAY, self.delays.get(index, 0.25) * 2)
        )
        self.delays[index] = delay
        log.warn(
            "proxyhub worker {index} exited ({why}); restarting in {delay:.1f}s",
            index=index,
            why=why,
            delay=delay,
        )
        self.reactor.callLater(delay, self.spawn, index)

    # -- signals ----------------------------------------------------------------
    def _install_control_signals(self) -> None:
        """Take over SIGHUP and SIGUSR1 before the admin port is bound (see the service)."""
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGHUP, lambda s, f: self.reactor.callFromThread(self.reload))
        signal.signal(
            signal.SIGUSR1,
            lambda s, f: self.reactor.callFromThread(self._signal_all, signal.SIGUSR1),
        )

    def _install_stop_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        if self.stopping:
            self.reactor.callFromThread(self._signal_all, signal.SIGKILL)
            os._exit(1)
        log.info("proxyhub received {signal}, stopping workers", signal=signal.Signals(signum).name)
        self.reactor.callFromThread(self.reactor.stop)

    def _signal_all(self, signum: int) -> None:
        for process in list(self.workers.values()):
            process.signal(signum)

    def reload(self) -> None:
        """Check the file; if it is good, every worker reloads it."""
        try:
            load_config(self.config.path)
        except ConfigError as e:
            log.error(
                "proxyhub reload refused, keeping the old config:\n{problems}", problems=str(e)
            )
            return
        log.info("proxyhub reloading {n} workers", n=len(self.workers))
        self._signal_all(signal.SIGHUP)

    # -- stop -------------------------------------------------------------------
    def stopService(self) -> Any:
        """Ask every worker to drain; fire when all have exited (SIGKILL after the deadline)."""
        self.stopping = True
        self.listeners.unbind_all()
        super().stopService()
        if not self.workers:
            return succeed(None)
        self._all_gone = Deferred()
        self._signal_all(signal.SIGTERM)
        deadline = self.reactor.callLater(
            self.config.proxyhub.drain_timeout + 5, self._signal_all, signal.SIGKILL
        )
        self._all_gone.addBoth(lambda r: deadline.cancel() if deadline.active() else None)
        return self._all_gone


def describe_exit(reason: Failure) -> str:
    """``status 3`` or ``killed by signal 9``."""
    code = getattr(reason.value, "exitCode", None)
    signum = getattr(reason.value, "signal", None)
    if signum is not None:
        return f"killed by signal {signum}"
    return f"status {code}"


def servable(config: Config) -> str | None:
    """Why the workers could not serve ``config`` (a port taken, a bad file), or None."""
    from twisted.internet.task import Clock

    from .service import ProxyhubService
    from .wiring import PlanError, make_plan

    probe = ProxyhubService(config, Clock())
    try:
        plan = make_plan(config, probe._shared(config))
    except PlanError as e:
        return str(e)
    for wanted in plan.wanted:
        problem = _port_free(wanted.description)
        if problem is not None:
            return problem
    return None


def _port_free(description: str) -> str | None:
    """Why a worker could not bind ``description`` with SO_REUSEPORT (tcp ports only), or None."""
    address = tcp_address(description)
    if address is None:
        return None
    if address.port == 0:
        return f"cannot listen on {description}: workers need a fixed port, not 0"
    try:
        reuse_port_socket(address).close()
    except OSError as e:
        return f"cannot listen on {description}: {e.strerror or e}"
    return None
