"""A forward proxy wired to an in-memory reactor: no sockets, a clock we move by hand."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from proxyhub.config import parse_config_text
from proxyhub.config.model import Backend, HostRoute
from proxyhub.net.backends import BackendSet
from proxyhub.net.context import ForwardContext
from proxyhub.net.deadlines import DeadlineSweeper
from proxyhub.net.forward import ForwardProtocol
from proxyhub.net.registry import ConnectionRegistry
from proxyhub.net.resolver import Resolver
from proxyhub.net.reverse import ReverseContext, ReverseProtocol
from proxyhub.net.upstream import OriginPool
from proxyhub.policy.access import AccessPolicy
from proxyhub.policy.forward_headers import ForwardRewriter
from proxyhub.policy.reverse_headers import ReverseRewriter
from proxyhub.service import limits_from


class HalfCloseTransport(StringTransport):
    """A StringTransport that also accepts half-closes."""

    def loseWriteConnection(self) -> None:
        self.write_closed = True


def make_context(reactor: MemoryReactorClock, **proxyhub: str) -> ForwardContext:
    """A ForwardContext over ``reactor`` with loopback origins allowed."""
    base = {"access_log": "off", "name": "unit:3128"} | proxyhub
    text = "[proxyhub]\n" + "".join(f"{k} = {v}\n" for k, v in base.items())
    text += "[forward]\nlisten = tcp:3128\ndeny_destinations =\nconnect_ports = *\n"
    config = parse_config_text(text)
    assert config.forward is not None
    s = config.proxyhub
    sweeper = DeadlineSweeper(reactor, 0.1)
    sweeper.start()
    limits = limits_from(config)
    pool = OriginPool(reactor, sweeper, limits, s.connect_timeout, s.idle_timeout)
    return ForwardContext(
        reactor=reactor,
        settings=s,
        forward=config.forward,
        policy=AccessPolicy.from_settings(config.forward),
        pool=pool,
        resolver=Resolver(reactor),
        sweeper=sweeper,
        limits=limits,
        access_log=None,
        name=s.name,
        rewriter=ForwardRewriter(s.name, via=True, forwarded_for="add"),
        registry=ConnectionRegistry(reactor, s.max_connections),
    )


def connect_client(ctx: ForwardContext) -> tuple[ForwardProtocol, HalfCloseTransport]:
    """A ForwardProtocol with a client at 127.0.0.1 on an in-memory transport."""
    proto = ForwardProtocol(ctx)
    transport = HalfCloseTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    proto.makeConnection(transport)
    return proto, transport


def accept_origin(reactor: MemoryReactorClock, index: int = -1) -> tuple[Any, StringTransport]:
    """Complete the proxy's pending outgoing connection ``index``; return protocol and transport."""
    host, port, factory, _timeout, _bind = reactor.tcpClients[index]
    proto = factory.buildProtocol(IPv4Address("TCP", host, port))
    transport = HalfCloseTransport(peerAddress=IPv4Address("TCP", host, port))
    proto.makeConnection(transport)
    return proto, transport


class DictRoutes:
    """A route table keyed by exact host name (port ignored); None for unknown hosts."""

    def __init__(self, routes: dict[bytes, HostRoute]) -> None:
        self.routes = routes

    def route(self, host: bytes, path: bytes) -> HostRoute | None:
        return self.routes.get(host.split(b":")[0].lower())


def make_route(name: str, ports: list[int], **overrides: Any) -> HostRoute:
    """A [host:NAME] route over backends on 127.0.0.1 ports, passive health only."""
    settings: dict[str, Any] = {
        "name": name,
        "prefix": "/",
        "aliases": (),
        "backends": tuple(Backend("http", "127.0.0.1", port) for port in ports),
        "balance": "round_robin",
        "health_check": None,
        "health_interval": 10.0,
        "health_timeout": 2.0,
        "health_rise": 2,
        "health_fall": 3,
        "ca_file": None,
        "tls_verify": True,
        "strip_prefix": False,
        "preserve_host": True,
    }
    return HostRoute(**(settings | overrides))


def make_reverse_context(
    reactor: MemoryReactorClock, sites: dict[str, list[int]], **extra: Any
) -> ReverseContext:
    """A ReverseContext serving each site name from backends on 127.0.0.1 ports."""
    forward = make_context(reactor)
    routes = {name.encode(): make_route(name, ports) for name, ports in sites.items()}
    backends = {route: BackendSet(route, reactor) for route in routes.values()}
    return ReverseContext(
        reactor=reactor,
        settings=forward.settings,
        sweeper=forward.sweeper,
        limits=forward.limits,
        access_log=None,
        name="unit:8080",
        registry=forward.registry,
        pool=forward.pool,
        resolver=forward.resolver,
        routes=DictRoutes(routes),
        backends=backends,
        rewriter=ReverseRewriter(()),
        **extra,
    )


def connect_reverse_client(ctx: ReverseContext) -> tuple[ReverseProtocol, HalfCloseTransport]:
    """A ReverseProtocol with a client at 192.0.2.7 on an in-memory transport."""
    proto = ReverseProtocol(ctx)
    transport = HalfCloseTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 40000))
    proto.makeConnection(transport)
    return proto, transport
