"""Wiring: build the listeners, pool, resolver and logs from a config, for twistd.

``make_service(path)`` is what the twistd plugin calls.  A bad config is
reported (every problem, with file, section and key) and twistd exits 1
before any port is bound.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from .config import Config, ConfigError, load_config
from .forward_wiring import forward_context
from .http import Limits
from .net.context import ForwardContext
from .net.deadlines import DeadlineSweeper, sweep_tick
from .net.forward import ForwardFactory
from .net.registry import ConnectionRegistry
from .net.resolver import Resolver
from .net.tls import CertificateError
from .net.upstream import OriginPool
from .observe.accesslog import AccessLog, open_access_log
from .policy.access import AccessPolicy
from .policy.htpasswd import HtpasswdError
from .reverse_wiring import listen_reverse, reverse_contexts, start_health_checks

log = Logger()


def limits_from(config: Config) -> Limits:
    """The request-side wire limits of a config."""
    s = config.proxyhub
    return Limits(s.max_target_size, s.max_header_size, s.max_headers, s.max_body_size)


class ProxyhubService(MultiService):
    """Every listener of one config, on one reactor."""

    def __init__(self, config: Config, reactor: Any) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.ports: list[Any] = []
        self.access_log: AccessLog | None = None
        s = config.proxyhub
        self.sweeper = DeadlineSweeper(
            reactor,
            sweep_tick(
                [
                    s.header_timeout,
                    s.idle_timeout,
                    s.read_timeout,
                    s.tunnel_idle_timeout,
                    s.half_close_timeout,
                ]
            ),
        )
        response_limits = Limits(65536, s.max_header_size, s.max_headers, 0)
        self.pool = OriginPool(
            reactor, self.sweeper, response_limits, s.connect_timeout, s.idle_timeout
        )
        self.resolver = Resolver(reactor)
        self.forward_ctx: ForwardContext | None = None
        self.registry = ConnectionRegistry(reactor, s.max_connections)
        self._stopping = False
        self.health_checkers: list[Any] = []

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self.access_log = open_access_log(self.config.proxyhub)
        if self.config.forward is not None:
            self._listen_forward()
        if self.config.reverse is not None:
            self._listen_reverse()
        self.sweeper.start()
        self.reactor.callWhenRunning(self._install_stop_signals)

    def _install_stop_signals(self) -> None:
        """SIGTERM/SIGINT: drain and exit 0; a second one exits at once.

        Twisted's own handlers re-raise the signal at exit (status -15); an
        operator's orderly stop is not a failure, so we take them over.
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

    def _forward_shared(self) -> dict[str, Any]:
        """What every forward and SOCKS listener shares across reloads."""
        return {
            "reactor": self.reactor,
            "pool": self.pool,
            "resolver": self.resolver,
            "sweeper": self.sweeper,
            "limits": limits_from(self.config),
            "access_log": self.access_log,
            "registry": self.registry,
        }

    def _listen_forward(self) -> None:
        fwd = self.config.forward
        assert fwd is not None
        try:
            ctx = forward_context(self.config, self._forward_shared())
        except HtpasswdError as e:
            sys.stderr.write(f"proxyhub: auth_file: {e}\n")
            raise SystemExit(1) from None
        factory = ForwardFactory(ctx)
        own: set[tuple[str, int]] = set()
        for description in fwd.listen:
            port = self._listen(description, factory)
            address = port.getHost()
            own.add((address.host, address.port))
        ctx.policy = AccessPolicy.from_settings(fwd, own_addresses=frozenset(own))
        self.forward_ctx = ctx

    def _listen_reverse(self) -> None:
        shared = {
            "reactor": self.reactor,
            "settings": self.config.proxyhub,
            "sweeper": self.sweeper,
            "limits": limits_from(self.config),
            "access_log": self.access_log,
            "name": self.config.proxyhub.name,
            "registry": self.registry,
            "pool": self.pool,
            "resolver": self.resolver,
        }
        try:
            contexts = reverse_contexts(self.config, shared)
        except CertificateError as e:
            self._stop_ports()
            sys.stderr.write(f"proxyhub: certificates: {e}\n")
            raise SystemExit(1) from None
        listen_reverse(self.config, contexts, self._listen)
        self.health_checkers = start_health_checks(contexts)

    def _listen(self, description: str, factory: Any) -> Any:
        endpoint = serverFromString(self.reactor, description)
        result: list[Any] = []
        endpoint.listen(factory).addBoth(result.append)
        outcome = result[0] if result else None
        if outcome is None or hasattr(outcome, "getErrorMessage"):
            reason = outcome.getErrorMessage() if outcome is not None else "did not start"
            self._stop_ports()
            sys.stderr.write(f"proxyhub: cannot listen on {description}: {reason}\n")
            raise SystemExit(1)
        self.ports.append(outcome)
        self.registry.ports.append(outcome)
        log.info("proxyhub listening on {address}", address=outcome.getHost())
        return outcome

    def _stop_ports(self) -> None:
        for port in self.ports:
            port.stopListening()
        self.ports = []

    def stopService(self) -> Any:
        """Stop accepting, let in-flight work finish within drain_timeout, then clean up."""
        self._stop_ports()
        self.registry.ports = []
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


def make_service(path: str, reactor: Any = None) -> ProxyhubService:
    """Load ``path`` and build the service; exit 1 with every problem when invalid."""
    try:
        config = load_config(path)
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        raise SystemExit(1) from None
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    return ProxyhubService(config, reactor)
