"""The process: shared state, ports, signals, reload and graceful stop, for twistd.

``make_service(path)`` is what the twistd plugin calls.  A bad config is
reported (every problem, with file, section and key) and twistd exits 1
before any port is bound.  Signals:

- SIGHUP: reload.  The file is read and validated; if anything is wrong the
  old config stays and every problem is logged.  Otherwise new requests use
  the new config at once, while requests, tunnels and WebSockets in flight
  carry on; ports are bound and unbound to match, certificates and the
  htpasswd file are read again, and the log says what changed.
- SIGTERM / SIGINT: stop accepting, close idle connections, give in-flight
  work ``drain_timeout``, exit 0.  A second signal exits at once.
- SIGUSR1: reopen the access log file (for logrotate).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from .admin_wiring import admin_wanted
from .config import Config, ConfigError, load_config
from .http import Limits
from .listeners import BindError, ListenerSet
from .net.deadlines import DeadlineSweeper, sweep_tick
from .net.registry import ConnectionRegistry
from .net.resolver import Resolver
from .net.upstream import OriginPool
from .observe.accesslog import AccessLog, open_access_log
from .observe.metrics import Metrics
from .reverse_wiring import start_health_checks
from .wiring import Plan, PlanError, config_changes, learn_own_addresses, make_plan

log = Logger()


def limits_from(config: Config) -> Limits:
    """The request-side wire limits of a config."""
    s = config.proxyhub
    return Limits(s.max_target_size, s.max_header_size, s.max_headers, s.max_body_size)


def swept_timeouts(s: Any) -> list[float]:
    """The ``[proxyhub]`` timeouts enforced by the deadline sweeper (its tick follows them)."""
    return [
        s.header_timeout,
        s.idle_timeout,
        s.read_timeout,
        s.tunnel_idle_timeout,
        s.half_close_timeout,
        s.connect_timeout,  # covers an upstream TLS handshake
        s.tls_handshake_timeout,
    ]


class ProxyhubService(MultiService):
    """Every listener of one config, on one reactor."""

    def __init__(self, config: Config, reactor: Any, worker: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.worker = worker  # this process's index under a supervisor, None when alone
        self.access_log: AccessLog | None = None
        s = config.proxyhub
        self.sweeper = DeadlineSweeper(reactor, sweep_tick(swept_timeouts(s)))
        response_limits = Limits(65536, s.max_header_size, s.max_headers, 0)
        self.pool = OriginPool(
            reactor, self.sweeper, response_limits, s.connect_timeout, s.idle_timeout
        )
        self.resolver = Resolver(reactor)
        self.registry = ConnectionRegistry(reactor, s.max_connections)
        self.metrics = Metrics()
        self.registry.metrics = self.metrics
        self.listeners = ListenerSet(reactor, self.registry, reuse_port=worker is not None)
        self.plan: Plan | None = None
        self.purged: Callable[[bytes], None] | None = None  # a worker tells the others
        self.health_checkers: list[Any] = []
        self._stopping = False
        self._reloading = False

    # -- start ----------------------------------------------------------------
    def _shared(self, config: Config) -> dict[str, Any]:
        """What every context shares; survives reloads."""
        return {
            "reactor": self.reactor,
            "pool": self.pool,
            "resolver": self.resolver,
            "sweeper": self.sweeper,
            "limits": limits_from(config),
            "access_log": self.access_log,
            "registry": self.registry,
            "metrics": self.metrics,
        }

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._install_control_signals()
        self.access_log = open_access_log(self.config.proxyhub)
        try:
            plan = make_plan(self.config, self._shared(self.config))
        except PlanError as e:
            self._exit_on_start(str(e))
        for w in self._wanted(plan):
            try:
                entry = self.listeners.bind(w)
            except BindError as e:
                self._exit_on_start(str(e))
            log.info("proxyhub listening on {address}", address=entry.port.getHost())
        self._adopt(plan)
        self.sweeper.start()
        self.reactor.callWhenRunning(self._install_stop_signals)

    def _wanted(self, plan: Plan) -> list[Any]:
        """Every port of ``plan``; the admin site is the supervisor's when there are workers."""
        return plan.wanted + (admin_wanted(self, plan) if self.worker is None else [])

    def _exit_on_start(self, message: str) -> Any:
        self.listeners.unbind_all()
        sys.stderr.write(f"proxyhub: {message}\n")
        raise SystemExit(1)

    def _adopt(self, plan: Plan) -> None:
        """Make ``plan`` the running one: own addresses, health checks."""
        learn_own_addresses(plan, self.listeners.ports("forward", "socks"))
        for checker in self.health_checkers:
            checker.stop()
        self.health_checkers = start_health_checks(plan.reverse) if plan.reverse else []
        if plan.cache is not None:
            plan.cache.purged = self.purged
        self.plan = plan
        self.config = plan.config

    def purge_locally(self, uri: bytes) -> None:
        """Another worker was sent ``PURGE uri``: drop it from this process's cache too."""
        cache = self.plan.cache if self.plan is not None else None
        if cache is not None:
            cache.purge(uri)

    # -- signals --------------------------------------------------------------
    def _install_control_signals(self) -> None:
        """Take over SIGHUP and SIGUSR1 before any port is bound.

        A port accepts as soon as it is bound, so an operator (or a script)
        may signal a reload before the reactor runs; the default action of
        both signals would kill the process.
        """
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, self._on_reload_signal)
            signal.signal(signal.SIGUSR1, self._on_reopen_signal)

    def _install_stop_signals(self) -> None:
        """Take over SIGTERM/SIGINT (exit 0 after draining) from the running reactor.

        Twisted's own stop handlers re-raise the signal at exit (status -15);
        an operator's orderly stop is not a failure.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        if self._stopping:
            os._exit(1)
        self._stopping = True
        log.info("proxyhub received {signal}, stopping", signal=signal.Signals(signum).name)
        self.reactor.callFromThread(self.reactor.stop)

    def _on_reload_signal(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reload)

    def _on_reopen_signal(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self._reopen_access_log)

    def _reopen_access_log(self) -> None:
        if self.access_log is not None:
            self.access_log.reopen()
            log.info("proxyhub reopened the access log")

    # -- reload ---------------------------------------------------------------
    def reload(self) -> Deferred[bool]:
        """Read the config again and apply it; fires True if applied, False if refused."""
        if self._reloading or self._stopping:
            log.warn("proxyhub reload ignored: already reloading or stopping")
            return succeed(False)
        try:
            config = load_config(self.config.path)
        except ConfigError as e:
            return succeed(self._refuse_reload(e.problems))
        old_log = self.access_log
        self._switch_access_log(config)
        try:
            plan = make_plan(config, self._shared(config), self.plan)
        except PlanError as e:
            self._restore_access_log(old_log)
            return succeed(self._refuse_reload([str(e)]))
        self._reloading = True
        synced = self.listeners.sync(self._wanted(plan))
        return synced.addCallback(self._reloaded, plan, old_log)

    def _refuse_reload(self, problems: list[str]) -> bool:
        log.error(
            "proxyhub reload refused, keeping the old config:\n{problems}",
            problems="\n".join(problems),
        )
        return False

    def _switch_access_log(self, config: Config) -> None:
        old, new = self.config.proxyhub, config.proxyhub
        if (old.access_log, old.access_log_format) != (new.access_log, new.access_log_format):
            self.access_log = open_access_log(new)

    def _restore_access_log(self, old: AccessLog | None) -> None:
        if self.access_log is not old and self.access_log is not None:
            self.access_log.close()
        self.access_log = old

    def _reloaded(self, port_changes: list[str], plan: Plan, old_log: AccessLog | None) -> bool:
        self._reloading = False
        changes = config_changes(self.config, plan.config)
        self._adopt(plan)
        settings = plan.config.proxyhub
        self.registry.max_connections = settings.max_connections
        self.pool.connect_timeout, self.pool.idle_timeout = (
            settings.connect_timeout,
            settings.idle_timeout,
        )
        self.sweeper.set_tick(sweep_tick(swept_timeouts(settings)))
        if old_log is not None and old_log is not self.access_log:
            # requests in flight still write to it until they finish
            self.reactor.callLater(settings.drain_timeout, old_log.close)
        lines = changes + port_changes or ["nothing changed"]
        log.info("proxyhub reloaded: {changes}", changes="\n".join(lines))
        return True

    # -- stop -----------------------------------------------------------------
    def stopService(self) -> Any:
        """Stop accepting, let in-flight work finish within drain_timeout, then clean up."""
        self.listeners.unbind_all()
        log.info("proxyhub draining {n} connections", n=len(self.registry.live))
        drained = self.registry.drain(self.config.proxyhub.drain_timeout)
        drained.addCallback(lambda _: self._after_drain())
        return drained

    def _after_drain(self) -> Any:
        for checker in self.health_checkers:
            checker.stop()
        self.sweeper.stop()
        self.pool.close_all()
        if self.access_log is not None:
            self.access_log.close()
        return super().stopService()


def install_reactor() -> None:
    """proxyhub's epoll reactor (see net/reactor.py), unless one is installed already.

    Where there is no epoll (not Linux), Twisted's default reactor is left to install.
    """
    try:
        from .net.reactor import install_unless_chosen
    except ImportError:
        return
    install_unless_chosen()


def make_service(path: str, reactor: Any = None) -> MultiService:
    """Load ``path`` and build the service (a worker supervisor when ``workers`` > 1).

    Exits 1 with every problem when the config is invalid.
    """
    try:
        config = load_config(path)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        raise SystemExit(1) from None
    if reactor is None:
        install_reactor()
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    if config.proxyhub.workers > 1:
        from .workers import Supervisor

        return Supervisor(config, reactor)
    return ProxyhubService(config, reactor)
