"""The listening ports of one process, kept in step with the configuration across reloads.

Each port is known by its kind (``forward``, ``socks``, ``reverse``,
``reverse-tls``, ``admin``) and endpoint description.  On reload a port that
is still wanted keeps its socket and gets the new context (connections read
it at their next request); a port no longer wanted stops listening; a new
one is bound.  Binding errors are reported, never raised mid-reload.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString

from .config.values import split_description

ListenerKey = tuple[str, str]


@dataclass
class Wanted:
    """A port the configuration asks for: ``make`` builds (outer factory, inner factory).

    The inner factory carries ``ctx``; the outer one is what is bound (it may
    wrap the inner one in TLS or the PROXY protocol).  ``update`` is called
    instead of rebinding when the port already exists.
    """

    kind: str
    description: str
    ctx: Any
    make: Callable[[], tuple[Any, Any]]
    update: Callable[[Any], None] | None = None

    @property
    def key(self) -> ListenerKey:
        return (self.kind, self.description)


@dataclass
class Listening:
    """One bound port and the factory whose ``ctx`` a reload replaces."""

    port: Any
    inner: Any
    outer: Any


class BindError(Exception):
    """A port could not be bound; the message names the endpoint and the reason."""


def bind_now(reactor: Any, description: str, factory: Any, reuse_port: bool = False) -> Any:
    """Listen on ``description`` and return the port, or raise :class:`BindError`.

    With ``reuse_port`` (worker processes) ``tcp:``/``tcp6:`` ports are bound
    with SO_REUSEPORT, so every worker has its own socket on the same address
    and the kernel spreads connections over them.
    """
    if reuse_port:
        adopted = bind_reuse_port(reactor, description, factory)
        if adopted is not None:
            return adopted
    endpoint = serverFromString(reactor, description)  # type: ignore[no-untyped-call]
    result: list[Any] = []
    endpoint.listen(factory).addBoth(result.append)
    outcome = result[0] if result else None
    if outcome is None or hasattr(outcome, "getErrorMessage"):
        reason = outcome.getErrorMessage() if outcome is not None else "did not start"
        raise BindError(f"cannot listen on {description}: {reason}")
    return outcome


@dataclass(frozen=True)
class TcpAddress:
    """Where a ``tcp:``/``tcp6:`` endpoint description listens."""

    family: int
    interface: str
    port: int
    backlog: int


def tcp_address(description: str) -> TcpAddress | None:
    """The address of a ``tcp:``/``tcp6:`` (or bare ``PORT``) description, None for others."""
    words = split_description(description)
    if len(words) == 1 and words[0].isdigit():
        words = ["tcp", words[0]]
    if not words or words[0] not in ("tcp", "tcp6"):
        return None
    named = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    positional = [w for w in words[1:] if "=" not in w]
    family = socket.AF_INET6 if words[0] == "tcp6" else socket.AF_INET
    return TcpAddress(
        family=family,
        interface=named.get("interface", "::" if family == socket.AF_INET6 else ""),
        port=int(positional[0] if positional else named.get("port", "0")),
        backlog=int(named.get("backlog", "50")),
    )


def reuse_port_socket(address: TcpAddress) -> socket.socket:
    """A socket bound to ``address`` with SO_REUSEADDR and SO_REUSEPORT (raises OSError)."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((address.interface, address.port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_reuse_port(reactor: Any, description: str, factory: Any) -> Any:
    """A ``tcp:``/``tcp6:`` port bound with SO_REUSEPORT, or None for other endpoint kinds."""
    address = tcp_address(description)
    if address is None:
        return None
    try:
        with reuse_port_socket(address) as sock:  # the reactor keeps its own duplicate
            sock.listen(address.backlog)
            sock.setblocking(False)
            return reactor.adoptStreamPort(sock.fileno(), address.family, factory)
    except OSError as e:
        raise BindError(f"cannot listen on {description}: {e.strerror or e}") from None


class ListenerSet:
    """Every port of the process, by (kind, description)."""

    def __init__(self, reactor: Any, registry: Any, reuse_port: bool = False) -> None:
        self.reactor = reactor
        self.registry = registry
        self.reuse_port = reuse_port
        self.active: dict[ListenerKey, Listening] = {}

    def ports(self, *kinds: str) -> list[Any]:
        """The bound ports of the given kinds (all when none given)."""
        return [entry.port for key, entry in self.active.items() if not kinds or key[0] in kinds]

    def bind(self, wanted: Wanted) -> Listening:
        """Bind one wanted port now (raises :class:`BindError`)."""
        outer, inner = wanted.make()
        port = bind_now(self.reactor, wanted.description, outer, self.reuse_port)
        entry = Listening(port, inner, outer)
        self.active[wanted.key] = entry
        if wanted.kind != "admin":
            self.registry.ports.append(port)
        return entry

    def unbind(self, key: ListenerKey) -> Deferred[Any]:
        """Stop listening on one port; fires once the socket is closed."""
        entry = self.active.pop(key)
        if entry.port in self.registry.ports:
            self.registry.ports.remove(entry.port)
        return maybeDeferred(entry.port.stopListening)

    def unbind_all(self) -> Deferred[Any]:
        """Stop listening everywhere."""
        return DeferredList([self.unbind(key) for key in list(self.active)])

    def sync(self, wanted: list[Wanted]) -> Deferred[list[str]]:
        """Make the ports match ``wanted``; fires with one line per change or problem."""
        keys = {w.key for w in wanted}
        removed = [key for key in self.active if key not in keys]
        changes = [f"stopped listening on {kind} {desc}" for kind, desc in removed]
        for w in wanted:
            entry = self.active.get(w.key)
            if entry is not None:
                entry.inner.ctx = w.ctx
                if w.update is not None:
                    w.update(entry)
        stopping = DeferredList([self.unbind(key) for key in removed]) if removed else succeed([])
        return stopping.addCallback(lambda _: changes + self._bind_new(wanted))

    def _bind_new(self, wanted: list[Wanted]) -> list[str]:
        lines = []
        for w in wanted:
            if w.key in self.active:
                continue
            try:
                entry = self.bind(w)
            except BindError as e:
                lines.append(f"problem: {e}")
                continue
            lines.append(f"listening on {w.kind} {entry.port.getHost()}")
        return lines
