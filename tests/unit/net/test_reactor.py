"""ProxyEPollReactor: Twisted's epoll reactor without a log context per event.

These run a private reactor instance (never installed) over real loopback sockets.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest
from twisted.internet import epollreactor
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.logger import LogEvent, globalLogPublisher

from proxyhub.net import reactor as proxy_reactor
from proxyhub.net.reactor import ProxyEPollReactor, install_unless_chosen


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        if data == b"boom":
            raise ValueError("boom")
        self.transport.write(data)


class Client(Protocol):
    """Sends ``message`` and records what comes back and how the connection ended."""

    def __init__(self, message: bytes, done: list[Any]) -> None:
        self.message, self.done, self.received = message, done, b""

    def connectionMade(self) -> None:
        self.transport.write(self.message)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.received == self.message:
            self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        self.done.append(self.received)


def converse(reactor: ProxyEPollReactor, message: bytes) -> list[Any]:
    """Run ``reactor`` until one client has sent ``message`` to an echo server and closed."""
    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    done: list[Any] = []
    client_factory = ClientFactory.forProtocol(lambda: Client(message, done))
    reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)

    def stop_when_done() -> None:
        if done:
            reactor.stop()
        else:
            reactor.callLater(0.01, stop_when_done)

    reactor.callLater(0, stop_when_done)
    reactor.callLater(10, reactor.stop)  # a safety net: the assertions then fail
    reactor.run(installSignalHandlers=False)
    port.stopListening()
    return done


@pytest.fixture
def logged() -> Any:
    """Log events published while the test runs."""
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def test_relays_bytes_both_ways() -> None:
    """A loopback echo works on it as on Twisted's own epoll reactor."""
    assert converse(ProxyEPollReactor(), b"hello") == [b"hello"]


def test_an_error_in_a_protocol_is_logged_and_drops_that_connection(logged: Any) -> None:
    """dataReceived raising still logs the failure and closes the connection."""
    assert converse(ProxyEPollReactor(), b"boom") == [b""]
    failures = [e["failure"].value for e in logged if "failure" in e]  # legacy log.err events
    assert [type(error) for error in failures] == [ValueError]


def test_an_error_escaping_the_event_handler_is_logged_and_polling_goes_on(
    logged: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Twisted's callWithLogger caught, the loop catches and logs too."""
    reactor = ProxyEPollReactor()
    real = reactor._doReadOrWrite
    calls: list[int] = []

    def fails_once(selectable: Any, fd: int, event: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise RuntimeError("handler broke")
        real(selectable, fd, event)

    monkeypatch.setattr(reactor, "_doReadOrWrite", fails_once)
    # The dropped event (epoll is level-triggered) is reported again on the next poll.
    assert converse(reactor, b"hello") == [b"hello"]
    assert [e["log_format"] for e in logged if "log_failure" in e] == [
        "unhandled error in {selectable!r}"
    ]


def test_it_replaces_twisteds_per_event_log_context() -> None:
    """If Twisted's doPoll stops dispatching this way, the override needs a new look."""
    source = inspect.getsource(epollreactor.EPollReactor.doPoll)
    assert "log.callWithLogger(selectable, _drdw, selectable, fd, event)" in source
    assert "self._poller.poll(timeout, len(self._selectables))" in source


def test_installs_when_no_reactor_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no reactor imported yet, install_unless_chosen installs ProxyEPollReactor."""
    installed: list[Any] = []
    monkeypatch.delitem(sys.modules, "twisted.internet.reactor", raising=False)
    monkeypatch.setattr("twisted.internet.main.installReactor", installed.append)
    assert install_unless_chosen() is True
    assert [type(r) for r in installed] == [ProxyEPollReactor]


def test_keeps_a_reactor_already_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reactor installed first (twistd --reactor) stays."""
    installed: list[Any] = []
    monkeypatch.setitem(sys.modules, "twisted.internet.reactor", object())
    monkeypatch.setattr("twisted.internet.main.installReactor", installed.append)
    assert install_unless_chosen() is False
    assert installed == []


def test_keeps_twisteds_reactor_when_a_name_it_relies_on_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Twisted without the private names the override uses gets its own reactor."""
    installed: list[Any] = []
    monkeypatch.delitem(sys.modules, "twisted.internet.reactor", raising=False)
    monkeypatch.setattr("twisted.internet.main.installReactor", installed.append)
    monkeypatch.setattr(proxy_reactor, "RELIED_ON", (*proxy_reactor.RELIED_ON, "_gone"))
    assert install_unless_chosen() is False
    assert installed == []
