"""The forward and reverse proxies with the HTTP cache on, over the in-memory reactor."""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from proxyhub.config import parse_config_text
from proxyhub.net.backends import BackendSet
from proxyhub.net.caching import make_cache
from proxyhub.net.context import ForwardContext
from proxyhub.net.forward import ForwardProtocol
from proxyhub.net.reverse import ReverseContext
from proxyhub.observe.accesslog import AccessRecord
from proxyhub.observe.metrics import Metrics

from .harness import (
    DictRoutes,
    HalfCloseTransport,
    accept_origin,
    make_context,
    make_reverse_context,
    make_route,
)

NOW = 1_700_000_000.0
_REQUEST_HEAD = re.compile(rb"[A-Z]+ \S+ HTTP/1\.1\r\n(?:[^\r\n]+\r\n)*")
URL = b"http://127.0.0.1:8080/a"
FRESH = b"Cache-Control: max-age=60"  # a response field that makes it storable and fresh


class Records:
    """An access log keeping its records."""

    def __init__(self) -> None:
        self.records: list[AccessRecord] = []

    def log(self, rec: AccessRecord) -> None:
        self.records.append(rec)

    @property
    def cache(self) -> list[str | None]:
        return [r.cache for r in self.records]


def cache_settings(**keys: str) -> Any:
    """The [cache] record of a config with ``enabled = yes`` and ``keys``."""
    body = "".join(f"{k} = {v}\n" for k, v in ({"enabled": "yes"} | keys).items())
    config = parse_config_text("[forward]\nlisten = tcp:3128\n[cache]\n" + body)
    return config.cache


def cached_context(reactor: MemoryReactorClock, **keys: str) -> ForwardContext:
    """A forward context with the cache on, metrics and a record-keeping access log."""
    if reactor.seconds() < NOW:
        reactor.advance(NOW - reactor.seconds())
    ctx = make_context(reactor)
    ctx.metrics = Metrics()
    ctx.access_log = Records()  # type: ignore[assignment]
    ctx.cache = make_cache(cache_settings(**keys), reactor, ctx.metrics, None)
    return ctx


def cached_reverse_context(
    reactor: MemoryReactorClock, sites: dict[str, bool], **keys: str
) -> ReverseContext:
    """A reverse context serving each site (cache opt-in as given) from 127.0.0.1:8001."""
    forward = cached_context(reactor, **keys)
    ctx = make_reverse_context(reactor, {})
    routes = {name.encode(): make_route(name, [8001], cache=on) for name, on in sites.items()}
    ctx.routes = DictRoutes(routes)
    ctx.backends = {route: BackendSet(route, reactor) for route in routes.values()}
    ctx.metrics, ctx.access_log, ctx.cache = forward.metrics, Records(), forward.cache
    return ctx


def client(ctx: Any, transport: StringTransport | None = None) -> tuple[Any, StringTransport]:
    """A client connection from 127.0.0.1 (of the listener ``ctx`` is for)."""
    from proxyhub.net.reverse import ReverseProtocol

    proto = ForwardProtocol(ctx) if isinstance(ctx, ForwardContext) else ReverseProtocol(ctx)
    transport = transport or HalfCloseTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    proto.makeConnection(transport)
    return proto, transport


def get(url: bytes = URL, *fields: bytes, method: bytes = b"GET") -> bytes:
    """A forward-proxy request for ``url`` with extra field lines."""
    lines = b"".join(f + b"\r\n" for f in fields)
    return method + b" " + url + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + lines + b"\r\n"


def response(body: bytes = b"ok", *fields: bytes, status: bytes = b"200 OK") -> bytes:
    """An origin response with Content-Length and extra field lines."""
    lines = b"".join(f + b"\r\n" for f in fields)
    return b"HTTP/1.1 %s\r\n%sContent-Length: %d\r\n\r\n%s" % (status, lines, len(body), body)


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def header(data: bytes, name: bytes) -> bytes | None:
    """The first value of field ``name`` in the (first) response head of ``data``."""
    head = data.partition(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.lower() == name.lower():
            return value.strip()
    return None


def body_of(data: bytes) -> bytes:
    return data.partition(b"\r\n\r\n")[2]


class Origin:
    """The proxy's origin connections on the memory reactor: what they got, and replies."""

    def __init__(self, reactor: MemoryReactorClock) -> None:
        self.reactor = reactor
        self.conns: list[tuple[Any, StringTransport]] = []
        self.answered: list[int] = []

    def _accept(self) -> None:
        while len(self.conns) < len(self.reactor.tcpClients):
            self.conns.append(accept_origin(self.reactor, len(self.conns)))
            self.answered.append(0)

    @property
    def requests(self) -> list[bytes]:
        """Every request head sent to an origin, in connection order."""
        self._accept()
        return [h for _, t in self.conns for h in _REQUEST_HEAD.findall(t.value())]

    def reply(self, data: bytes) -> tuple[Any, StringTransport]:
        """Answer the oldest unanswered request with ``data``; return its connection."""
        self._accept()
        for i, (proto, transport) in enumerate(self.conns):
            if transport.value().count(b" HTTP/1.1\r\n") > self.answered[i]:
                self.answered[i] += 1
                proto.dataReceived(data)
                return proto, transport
        raise AssertionError("no request is waiting for an answer")
