"""The plain-HTTP reverse proxy against the configuration contract, over loopback.

Host matching (exact, wildcards by length, ``[host:*]``, case, port and trailing dot,
absolute-form targets, Host count), path routes (longest prefix, ``strip_prefix``,
partial segments), the four ``balance`` methods, failure handling (a backend killed
under load, passive ejection and re-admission, active checks with rise and fall, no
backend left, stale pooled connections, non-idempotent requests never retried),
forwarding headers (``preserve_host``, ``trusted_proxies``), upgrades (h2c, a declined
WebSocket, early WebSocket data) and the JSON access log. Every backend here is a
named origin that says who it is, so each test can tell which one answered.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .conftest import Proxy, free_port
from .origins import ScriptedOrigin, next_request_head, read_head

# -- a named backend that can be killed and brought back on its port --------------------------


@dataclass
class Seen:
    """One request a backend received."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Backend

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner.connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    """Answers every request with JSON naming the backend; /healthz, /hold and /delay/MS."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/healthz":
            owner.checks.append(owner.health_status)
            self._send(owner.health_status, b"health\n")
            return
        owner.requests.append(Seen(self.command, self.path, list(self.headers.items()), body))
        if self.path.startswith("/hold"):
            owner.release.wait(10)
        elif self.path.startswith("/delay/"):
            time.sleep(int(self.path.split("/")[2].split("?")[0]) / 1000)
        payload = {"backend": owner.name, "path": self.path, "headers": self.headers.items()}
        self._send(200, json.dumps(payload).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


class Backend:
    """An HTTP/1.1 origin on 127.0.0.1 whose answers name it; ``kill`` and ``revive`` it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self.requests: list[Seen] = []
        self.checks: list[int] = []  # statuses answered to /healthz, in order
        self.health_status = 200
        self.release = threading.Event()
        self.connections: set[socket.socket] = set()
        self.server: _Server | None = None
        self.revive()

    def revive(self) -> None:
        """Listen (again, on the same port once it had one) and serve."""
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def kill(self) -> None:
        """Stop listening and cut every open connection, idle keep-alives included."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]


@pytest.fixture
def make_backend() -> Iterator[Callable[[str], Backend]]:
    """Backends made by a test; released and killed after it."""
    made: list[Backend] = []

    def make(name: str) -> Backend:
        backend = Backend(name)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.release.set()
        backend.kill()


# -- a small raw-socket HTTP client ------------------------------------------------------------


@dataclass
class Answer:
    """A response as the client saw it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def backend(self) -> str:
        assert self.status == 200, (self.status, self.body[:300])
        return str(self.json["backend"])

    def sent(self, name: str) -> list[str]:
        """Every value of header ``name`` the backend received (from its JSON echo)."""
        return [v for k, v in self.json["headers"] if k.lower() == name.lower()]


def read_response(
    sock: socket.socket, buf: bytes = b"", method: str = "GET"
) -> tuple[Answer, bytes]:
    """Read one response from ``sock`` (``buf`` holds bytes already read); (answer, leftover)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed before a response head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    answer = Answer(status, headers, b"", head + b"\r\n\r\n")
    length = answer.header("Content-Length")
    if method == "HEAD" or status in (101, 204, 304) or status < 200:
        body = b""
    elif length is not None:
        while len(rest) < int(length):
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed inside a body")
            rest += chunk
        body, rest = rest[: int(length)], rest[int(length) :]
    elif (answer.header("Transfer-Encoding") or "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body, rest = body + rest[:size], rest[size + 2 :]
            if not size:
                break
    else:
        while chunk := sock.recv(65536):
            rest += chunk
        body, rest = rest, b""
    answer.body = body
    return answer, rest


def connect(port: int, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    """A client connection to the proxy from ``source`` (any 127.0.0.0/8 address works)."""
    return socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )


def ask(
    port: int,
    host: str | None,
    path: str = "/",
    *,
    method: str = "GET",
    headers: tuple[str, ...] = (),
    body: bytes = b"",
    source: str = "127.0.0.1",
) -> Answer:
    """One request with ``Connection: close`` on a fresh connection from ``source``."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines.extend(headers)
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with connect(port, source) as sock:
        sock.sendall(data)
        return read_response(sock, method=method)[0]


def closes_after(sock: socket.socket, timeout: float = 3.0) -> bool:
    """Whether the peer closes ``sock`` within ``timeout`` (after whatever it still sends)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def reverse(**keys: str) -> dict[str, str]:
    """A [reverse] section listening on the proxy's port on loopback, plus ``keys``."""
    return {"listen": "tcp:{port}:interface=127.0.0.1", **keys}


# -- one site with many hosts and routes, shared by the routing and header tests --------------

NAMES = ("exact", "wild", "wildb", "fallback", "api", "apiv2", "raw", "one", "two", "three")


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Backend]]:
    made = {name: Backend(name) for name in NAMES}
    yield made
    for backend in made.values():
        backend.release.set()
        backend.kill()


@pytest.fixture(scope="module")
def dead_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture(scope="module")
def site(module_tmp: Path, backends: dict[str, Backend], dead_port: int) -> Iterator[Proxy]:
    """Hosts under site.test, every balance method, one trusted client address (127.0.0.2)."""
    b = {name: backend.url for name, backend in backends.items()}
    pair = f"{b['one']} {b['two']}"
    sections = {
        "reverse": reverse(trusted_proxies="127.0.0.2/32"),
        "host:exact.site.test": {"backends": b["exact"]},
        "host:*.site.test": {"backends": b["wild"]},
        "host:*.b.site.test": {"backends": b["wildb"]},
        "host:*": {"backends": b["fallback"]},
        "host:exact.site.test/api/": {"backends": b["api"]},
        "host:exact.site.test/api/v2/": {"backends": b["apiv2"], "strip_prefix": "yes"},
        "host:raw.site.test": {"backends": b["raw"], "preserve_host": "no"},
        "host:rr.site.test": {"backends": pair, "balance": "round_robin"},
        "host:hash.site.test": {"backends": pair, "balance": "ip_hash"},
        "host:random.site.test": {"backends": pair, "balance": "random"},
        "host:least.site.test": {"backends": pair, "balance": "least_conn"},
        "host:dead.site.test": {"backends": f"http://127.0.0.1:{dead_port} {b['three']}"},
    }
    proxy = Proxy(module_tmp, {}, {"access_log_format": "json"}, sections)
    yield proxy
    proxy.stop()


# -- host matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("exact.site.test", "exact"),  # an exact name beats *.site.test
        ("a.site.test", "wild"),
        ("b.site.test", "wild"),  # *.b.site.test never matches b.site.test itself
        ("x.b.site.test", "wildb"),  # the longer wildcard beats the shorter one
        ("y.x.b.site.test", "wildb"),  # a wildcard covers several labels
        ("a.b.c.site.test", "wild"),
        ("site.test", "fallback"),  # *.site.test never matches site.test: [host:*] takes it
        ("unknown.example", "fallback"),
        ("127.0.0.1", "fallback"),
        ("[::1]:8080", "fallback"),
    ],
)
def test_most_specific_host_wins(site: Proxy, host: str, expected: str) -> None:
    """Exact name, then the longest matching wildcard, then [host:*]."""
    assert ask(site.port, host, "/").backend == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("EXACT.Site.Test", "exact"),
        ("exact.site.test:8080", "exact"),
        ("exact.site.test.", "exact"),
        ("Exact.Site.Test.:65535", "exact"),
        ("X.B.SITE.TEST.", "wildb"),
    ],
)
def test_host_case_port_and_trailing_dot_are_ignored(site: Proxy, host: str, expected: str) -> None:
    """Host is matched case-insensitively, without its port or a trailing dot."""
    assert ask(site.port, host, "/").backend == expected


def test_absolute_form_target_is_routed_and_sent_in_origin_form(
    site: Proxy, backends: dict[str, Backend]
) -> None:
    """GET http://exact.site.test/api/x reaches the /api/ route; the backend sees /api/x."""
    answer = ask(site.port, "exact.site.test", "http://exact.site.test/api/x?q=1")
    assert answer.backend == "api"
    assert answer.json["path"] == "/api/x?q=1"


def test_absolute_form_authority_beats_a_disagreeing_host(site: Proxy) -> None:
    """With an absolute-form target the URI's authority picks the site, not the Host header."""
    answer = ask(site.port, "a.site.test", "http://exact.site.test/hello")
    assert answer.backend == "exact"


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: exact.site.test\r\nHost: exact.site.test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: exact.site.test\r\nHost: a.site.test\r\n\r\n",
        b"GET http://exact.site.test/ HTTP/1.1\r\n\r\n",
    ],
    ids=["no-host", "same-host-twice", "two-hosts", "absolute-form-no-host"],
)
def test_http11_without_exactly_one_host_is_400_and_closed(
    site: Proxy, backends: dict[str, Backend], head: bytes
) -> None:
    """No Host, or two of them, on HTTP/1.1: 400, the connection closed, nothing forwarded."""
    before = {name: len(b.requests) for name, b in backends.items()}
    with connect(site.port) as sock:
        sock.sendall(head)
        answer, _ = read_response(sock)
        assert answer.status == 400
        assert closes_after(sock)
    assert {name: len(b.requests) for name, b in backends.items()} == before


def test_http10_without_host_goes_to_the_default_host(site: Proxy) -> None:
    """An HTTP/1.0 request may omit Host; it is served by [host:*]."""
    with connect(site.port) as sock:
        sock.sendall(b"GET /ten HTTP/1.0\r\n\r\n")
        answer, _ = read_response(sock)
    assert answer.backend == "fallback"


# -- path routes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected", "seen"),
    [
        ("/api/v2/items", "apiv2", "/items"),  # the longest prefix wins and is stripped
        ("/api/v2/items?q=a/b&next=/api/v2/", "apiv2", "/items?q=a/b&next=/api/v2/"),
        ("/api/v2/", "apiv2", "/"),
        ("/api/v2?x=1", "apiv2", "/?x=1"),  # the prefix without its slash, then a query
        ("/api/users?id=7", "api", "/api/users?id=7"),  # strip_prefix = no keeps the path
        ("/api/v2x/y", "api", "/api/v2x/y"),  # /api/v2/ is not a prefix of /api/v2x/
        ("/apiary", "exact", "/apiary"),  # /api/ does not match half a segment
        ("/ap", "exact", "/ap"),
        ("/", "exact", "/"),
        ("/x/api/v2/", "exact", "/x/api/v2/"),
    ],
)
def test_path_routes(site: Proxy, path: str, expected: str, seen: str) -> None:
    """Longest prefix wins; strip_prefix decides the path (and query) the backend sees."""
    answer = ask(site.port, "exact.site.test", path)
    assert (answer.backend, answer.json["path"]) == (expected, seen)


def test_path_routes_belong_to_their_host_only(site: Proxy) -> None:
    """/api/ under exact.site.test is not a route of other names: a.site.test/api/ is wild."""
    answer = ask(site.port, "a.site.test", "/api/v2/x")
    assert (answer.backend, answer.json["path"]) == ("wild", "/api/v2/x")


# -- balance -----------------------------------------------------------------------------------


def test_round_robin_alternates(site: Proxy) -> None:
    """round_robin: consecutive requests go to the two backends in turn."""
    seen = [ask(site.port, "rr.site.test", f"/rr/{i}").backend for i in range(8)]
    assert set(seen) == {"one", "two"}
    assert all(a != b for a, b in itertools.pairwise(seen)), seen


def test_round_robin_alternates_on_one_keep_alive_connection(site: Proxy) -> None:
    """Balancing is per request, not per client connection."""
    seen = []
    with connect(site.port) as sock:
        rest = b""
        for i in range(6):
            sock.sendall(f"GET /ka/{i} HTTP/1.1\r\nHost: rr.site.test\r\n\r\n".encode())
            answer, rest = read_response(sock, rest)
            seen.append(answer.backend)
    assert all(a != b for a, b in itertools.pairwise(seen)), seen


def test_ip_hash_keeps_each_client_on_one_backend(site: Proxy) -> None:
    """ip_hash: one address always reaches the same backend; many addresses use both."""
    chosen: dict[str, set[str]] = {}
    for n in range(1, 17):
        source = f"127.0.0.{n}"
        chosen[source] = {
            ask(site.port, "hash.site.test", "/h", source=source).backend for _ in range(3)
        }
    assert all(len(names) == 1 for names in chosen.values()), chosen
    assert set().union(*chosen.values()) == {"one", "two"}, chosen


def test_least_conn_avoids_the_busy_backend(site: Proxy, backends: dict[str, Backend]) -> None:
    """least_conn: while one request is held open on a backend, new ones go to the other."""
    one, two = backends["one"], backends["two"]
    one.release.clear()
    two.release.clear()
    held: list[Answer] = []
    holder = threading.Thread(
        target=lambda: held.append(ask(site.port, "least.site.test", "/hold"))
    )
    holder.start()
    try:
        assert wait_until(lambda: "/hold" in one.paths() + two.paths(), 5)
        busy = "one" if "/hold" in one.paths() else "two"
        seen = [ask(site.port, "least.site.test", f"/quick/{i}").backend for i in range(6)]
        assert busy not in seen, (busy, seen)
    finally:
        one.release.set()
        two.release.set()
        holder.join(10)
    assert held and held[0].backend == busy


def test_random_uses_both_backends(site: Proxy) -> None:
    """random: over many requests both backends answer, not in strict alternation."""
    seen = [ask(site.port, "random.site.test", f"/rnd/{i}").backend for i in range(40)]
    assert set(seen) == {"one", "two"}
    assert any(a == b for a, b in itertools.pairwise(seen)), seen  # round robin never repeats


# -- headers -----------------------------------------------------------------------------------


def test_host_is_preserved_by_default(site: Proxy) -> None:
    """The backend hears exactly the Host the client sent, port included."""
    host = f"Exact.Site.Test:{site.port}"
    answer = ask(site.port, host, "/h")
    assert answer.sent("Host") == [host]


def test_preserve_host_no_sends_the_backend_address(
    site: Proxy, backends: dict[str, Backend]
) -> None:
    """preserve_host = no: Host is the backend's host:port; X-Forwarded-Host keeps the client's."""
    host = f"raw.site.test:{site.port}"
    answer = ask(site.port, host, "/h")
    assert answer.backend == "raw"
    assert answer.sent("Host") == [f"127.0.0.1:{backends['raw'].port}"]
    assert answer.sent("X-Forwarded-Host") == [host]


SPOOFED = (
    "X-Forwarded-For: 6.6.6.6",
    "X-Forwarded-For: 7.7.7.7, 8.8.8.8",
    "X-Forwarded-Proto: https",
    "X-Forwarded-Host: evil.example",
    "Forwarded: for=6.6.6.6;proto=https;host=evil.example",
)


def test_untrusted_client_values_are_replaced(site: Proxy) -> None:
    """An untrusted client's X-Forwarded-* and Forwarded never reach the backend."""
    host = f"exact.site.test:{site.port}"
    answer = ask(site.port, host, "/h", headers=SPOOFED)
    assert answer.sent("X-Forwarded-For") == ["127.0.0.1"]
    assert answer.sent("X-Forwarded-Proto") == ["http"]
    assert answer.sent("X-Forwarded-Host") == [host]
    assert not any("6.6.6.6" in v or "evil" in v for v in answer.sent("Forwarded"))


def test_trusted_proxy_values_are_kept_and_extended(site: Proxy) -> None:
    """A client in trusted_proxies keeps its X-Forwarded-*; one X-Forwarded-For ends in it."""
    host = f"exact.site.test:{site.port}"
    answer = ask(site.port, host, "/h", headers=SPOOFED, source="127.0.0.2")
    assert answer.sent("X-Forwarded-For") == ["6.6.6.6, 7.7.7.7, 8.8.8.8, 127.0.0.2"]
    assert answer.sent("X-Forwarded-Proto") == ["https"]
    assert answer.sent("X-Forwarded-Host") == ["evil.example"]
    assert answer.sent("Forwarded") == [SPOOFED[-1].partition(": ")[2]]


def test_trusted_proxy_without_forwarding_headers_gets_ours(site: Proxy) -> None:
    """A trusted client that sent nothing still gets X-Forwarded-For, -Proto and -Host."""
    host = f"exact.site.test:{site.port}"
    answer = ask(site.port, host, "/h", source="127.0.0.2")
    assert answer.sent("X-Forwarded-For") == ["127.0.0.2"]
    assert answer.sent("X-Forwarded-Proto") == ["http"]
    assert answer.sent("X-Forwarded-Host") == [host]


# -- upgrades ----------------------------------------------------------------------------------


def test_h2c_upgrade_is_dropped_and_the_connection_stays_http(site: Proxy) -> None:
    """Upgrade: h2c and HTTP2-Settings never reach the backend; the next request still works."""
    request = (
        b"GET /h2c HTTP/1.1\r\nHost: exact.site.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    with connect(site.port) as sock:
        sock.sendall(request)
        first, rest = read_response(sock)
        assert first.status == 200
        assert first.sent("Upgrade") == [] and first.sent("HTTP2-Settings") == []
        assert not any("upgrade" in v.lower() for v in first.sent("Connection"))
        sock.sendall(b"GET /after HTTP/1.1\r\nHost: exact.site.test\r\n\r\n")
        second, _ = read_response(sock, rest)
    assert (second.backend, second.json["path"]) == ("exact", "/after")


def test_websocket_upgrade_declined_with_200_stays_http(site: Proxy) -> None:
    """A backend answering 200 to a WebSocket upgrade: a plain response, keep-alive goes on."""
    request = (
        b"GET /ws HTTP/1.1\r\nHost: exact.site.test\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with connect(site.port) as sock:
        sock.sendall(request)
        first, rest = read_response(sock)
        assert first.status == 200 and first.backend == "exact"
        assert first.sent("Upgrade") == ["websocket"]
        assert (first.header("Connection") or "").lower() != "close"
        assert first.header("Upgrade") is None
        sock.sendall(b"GET /after-ws HTTP/1.1\r\nHost: exact.site.test\r\n\r\n")
        second, _ = read_response(sock, rest)
    assert second.json["path"] == "/after-ws"


def _front(start_proxy: Any, host: dict[str, str], **proxyhub: str) -> Proxy:
    """A reverse listener whose [host:*] has the keys in ``host``."""
    proxy: Proxy = start_proxy(sections={"reverse": reverse(), "host:*": host}, **proxyhub)
    return proxy


def test_websocket_data_right_after_101_reaches_the_client(start_proxy: Any) -> None:
    """Bytes the backend sends in the same packet as its 101 are relayed after the head."""

    def ws(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05early"
        )
        while data := conn.recv(4096):
            conn.sendall(data)

    backend = ScriptedOrigin(ws)
    try:
        p = _front(start_proxy, {"backends": backend.url("")})
        with connect(p.port) as sock:
            sock.sendall(
                b"GET /chat HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            answer, rest = read_response(sock)
            assert answer.status == 101
            while len(rest) < 7:
                chunk = sock.recv(4096)
                assert chunk, rest
                rest += chunk
            assert rest == b"\x81\x05early"
            sock.sendall(b"\x81\x04echo")
            assert sock.recv(4096) == b"\x81\x04echo"
    finally:
        backend.close()


# -- failure handling --------------------------------------------------------------------------


def test_a_backend_killed_between_requests_loses_none(start_proxy: Any, make_backend: Any) -> None:
    """Requests keep flowing over keep-alive pools while one backend dies: every one succeeds."""
    a, b = make_backend("a"), make_backend("b")
    p = _front(start_proxy, {"backends": f"{a.url} {b.url}"})
    seen = []
    with connect(p.port) as sock:
        rest = b""
        for i in range(30):
            if i == 10:
                b.kill()
            sock.sendall(f"GET /flow/{i} HTTP/1.1\r\nHost: x.test\r\n\r\n".encode())
            answer, rest = read_response(sock, rest)
            assert answer.status == 200, (i, answer.body)
            seen.append(answer.backend)
    assert set(seen[:10]) == {"a", "b"}
    assert set(seen[10:]) == {"a"}


def test_failing_backend_is_ejected_then_readmitted(start_proxy: Any, make_backend: Any) -> None:
    """health_fall failed connects take a backend out for a while; after it, it serves again."""
    a, b = make_backend("a"), make_backend("b")
    p = _front(start_proxy, {"backends": f"{a.url} {b.url}", "health_fall": "2"})
    assert {ask(p.port, "x.test", "/warm").backend for _ in range(2)} == {"a", "b"}
    b.kill()
    for i in range(6):  # at least two connects to b fail; each request is retried on a
        assert ask(p.port, "x.test", f"/down/{i}").backend == "a"
    b.revive()
    revived = time.monotonic()
    while time.monotonic() - revived < 1.5:  # ejected: b gets nothing although it is back
        assert ask(p.port, "x.test", "/ejected").backend == "a"
    assert b.paths() == ["/warm"]
    assert wait_until(lambda: ask(p.port, "x.test", "/again").backend == "b", 20, step=0.1)


def _checked_front(start_proxy: Any, a: Backend, b: Backend, interval: str, fall: str) -> Proxy:
    """Round robin over ``a`` and ``b`` with /healthz checks every ``interval``."""
    host = {
        "backends": f"{a.url} {b.url}",
        "health_check": "/healthz",
        "health_interval": interval,
        "health_timeout": "300ms",
        "health_fall": fall,
        "health_rise": "2",
    }
    return _front(start_proxy, host)


def _logged(proxy: Proxy, needle: str) -> bool:
    return needle in proxy.stderr_path.read_text(errors="replace")


def test_active_checks_honour_fall_and_rise(start_proxy: Any, make_backend: Any) -> None:
    """health_fall failed checks take a backend out; health_rise passed ones bring it back."""
    a, b = make_backend("a"), make_backend("b")
    p = _checked_front(start_proxy, a, b, "300ms", "3")

    def answered_by() -> set[str]:
        return {ask(p.port, "x.test", "/probe").backend for _ in range(2)}

    assert wait_until(lambda: len(b.checks) >= 2, 5)
    assert answered_by() == {"a", "b"}
    b.health_status = 500
    failed_from = len(b.checks)
    assert wait_until(lambda: _logged(p, "up -> down"), 5)  # no traffic meanwhile
    assert b.checks[failed_from:].count(500) >= 3  # not before the third failure
    assert answered_by() == {"a"}
    b.health_status = 200
    passed_from = len(b.checks)
    assert wait_until(lambda: len(b.checks) > passed_from, 3)
    assert answered_by() == {"a"}  # taken out by checks, only checks bring it back
    assert wait_until(lambda: _logged(p, "down -> up"), 5)
    assert b.checks[passed_from:].count(200) >= 2
    assert wait_until(lambda: "b" in answered_by(), 3)


def test_failing_checks_take_a_backend_out_under_traffic(
    start_proxy: Any, make_backend: Any
) -> None:
    """A backend failing every check leaves rotation even while requests keep reaching it."""
    a, b = make_backend("a"), make_backend("b")
    p = _checked_front(start_proxy, a, b, "200ms", "2")
    assert wait_until(lambda: len(b.checks) >= 1, 5)
    b.health_status = 500
    failed_from = len(b.checks)
    seen: list[str] = []
    while b.checks[failed_from:].count(500) < 8:  # four times health_fall
        seen.append(ask(p.port, "x.test", "/busy").backend)
    assert "b" not in seen[-6:], seen


def test_no_healthy_backend_is_answered_at_once(start_proxy: Any, make_backend: Any) -> None:
    """Every backend failing its checks: 502/503 immediately, and no request reaches one."""
    sick = make_backend("sick")
    sick.health_status = 503
    p = _front(
        start_proxy,
        {
            "backends": sick.url,
            "health_check": "/healthz",
            "health_interval": "200ms",
            "health_fall": "1",
        },
    )
    assert wait_until(lambda: len(sick.checks) >= 2, 5)
    for _ in range(3):
        started = time.monotonic()
        answer = ask(p.port, "x.test", "/nothing")
        assert answer.status in (502, 503)
        assert time.monotonic() - started < 1.0
    assert sick.requests == []


def _serve_then(on_second: str) -> tuple[ScriptedOrigin, list[str], threading.Event]:
    """A keep-alive origin whose first connection answers once, then misbehaves.

    ``on_second``: ``"idle"`` closes the connection while it is idle in the proxy's pool;
    ``"request"`` reads the next request on it and closes without a byte; anything else
    answers every request. Later connections answer normally. The list records
    ``N/open`` for each connection and ``N/path`` for each request read on it; the event
    is set once the proxy has closed its side of the idle connection.
    """
    log: list[str] = []
    closed = threading.Event()

    def script(conn: socket.socket) -> None:
        number = len([entry for entry in log if entry.endswith("/open")]) + 1
        log.append(f"{number}/open")
        buf = b""
        while (request := next_request_head(conn, buf)) is not None:
            head, buf = request
            path = head.split(b" ")[1].decode()
            log.append(f"{number}{path}")
            if number == 1 and len(log) > 2 and on_second == "request":
                return  # the request was read: close without answering
            body = f"conn {number}".encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            if number == 1 and on_second == "idle":
                conn.shutdown(socket.SHUT_WR)  # idle now: close our side ...
                while conn.recv(65536):  # ... and see the proxy close its own
                    pass
                closed.set()
                return

    return ScriptedOrigin(script), log, closed


def test_stale_pooled_connection_closed_while_idle(start_proxy: Any) -> None:
    """The origin closes a pooled connection while idle (and the proxy saw it): GET succeeds."""
    origin, _, closed = _serve_then("idle")
    try:
        p = _front(start_proxy, {"backends": origin.url("")})
        assert ask(p.port, "x.test", "/first").body == b"conn 1"
        assert closed.wait(5)
        answer = ask(p.port, "x.test", "/second")
        assert (answer.status, answer.body) == (200, b"conn 2")
    finally:
        origin.close()


def test_stale_pooled_connection_is_retried_on_the_same_backend(start_proxy: Any) -> None:
    """A GET sent on a pooled connection that the origin closes unanswered is retried: 200."""
    origin, log, _ = _serve_then("request")
    try:
        p = _front(start_proxy, {"backends": origin.url("")})
        assert ask(p.port, "x.test", "/first").body == b"conn 1"
        answer = ask(p.port, "x.test", "/second")
        assert (answer.status, answer.body) == (200, b"conn 2"), answer.body
        assert log == ["1/open", "1/first", "1/second", "2/open", "2/second"]
    finally:
        origin.close()


def test_stale_pooled_connection_retry_with_two_backends(start_proxy: Any) -> None:
    """With two backends the stale GET is retried once and answered 200."""
    first, first_log, _ = _serve_then("request")
    second, second_log, _ = _serve_then("never")
    try:
        p = _front(start_proxy, {"backends": f"{first.url('')} {second.url('')}"})
        assert ask(p.port, "x.test", "/a").status == 200  # pools a connection to each
        assert ask(p.port, "x.test", "/b").status == 200
        answer = ask(p.port, "x.test", "/stale")
        assert answer.status == 200
        stale = [entry for entry in first_log + second_log if entry.endswith("/stale")]
        assert len(stale) == 2  # sent once on the stale connection, once more fresh
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("pooled", [False, True], ids=["fresh-connection", "pooled-connection"])
def test_post_dropped_by_the_backend_is_not_retried(start_proxy: Any, pooled: bool) -> None:
    """A POST whose bytes reached a backend that then drops the connection: 502, sent once."""
    posts: list[bytes] = []

    def script(conn: socket.socket) -> None:
        buf = b""
        while (request := next_request_head(conn, buf)) is not None:
            head, buf = request
            match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
            size = int(match.group(1)) if match else 0
            while len(buf) < size:
                buf += conn.recv(65536)
            body, buf = buf[:size], buf[size:]
            if head.startswith(b"POST "):
                posts.append(body)
                return  # read it all, then drop the connection without answering
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    first, second = ScriptedOrigin(script), ScriptedOrigin(script)
    try:
        p = _front(start_proxy, {"backends": f"{first.url('')} {second.url('')}"})
        if pooled:
            assert ask(p.port, "x.test", "/warm-1").status == 200
            assert ask(p.port, "x.test", "/warm-2").status == 200
        answer = ask(p.port, "x.test", "/order", method="POST", body=b"charge=1")
        assert answer.status == 502
        assert posts == [b"charge=1"]
    finally:
        first.close()
        second.close()


# -- access log --------------------------------------------------------------------------------


def _log_record(proxy: Proxy, target: str) -> dict[str, Any]:
    assert proxy.wait_log(f'"target":"{target}"'), proxy.log_lines()
    records = [json.loads(line) for line in proxy.log_lines()]
    matching = [r for r in records if r.get("target") == target]
    assert len(matching) == 1, matching
    return matching[0]


def test_json_access_log_line_has_the_contract_fields(
    site: Proxy, backends: dict[str, Backend]
) -> None:
    """One JSON object per request with ts, listener, client, user, method, ... upstream."""
    target = "/delay/150?log=1"
    request = f"GET {target} HTTP/1.1\r\nHost: exact.site.test\r\nConnection: close\r\n\r\n"
    with connect(site.port) as sock:
        sock.sendall(request.encode())
        answer, _ = read_response(sock)
    assert answer.backend == "exact"
    record = _log_record(site, target)
    expected = {"ts", "listener", "client", "user", "method", "target", "status"}
    expected |= {"bytes_in", "bytes_out", "duration_ms", "upstream"}
    assert set(record) == expected
    ts = datetime.datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - ts).total_seconds()) < 60
    assert isinstance(record["listener"], str) and record["listener"]
    assert record["client"] == "127.0.0.1"
    assert record["user"] in (None, "", "-")
    assert (record["method"], record["status"]) == ("GET", 200)
    assert 0 < record["bytes_in"] <= len(request)
    assert len(answer.body) <= record["bytes_out"] <= len(answer.raw) + len(answer.body)
    assert 150 <= record["duration_ms"] < 5000
    assert record["upstream"] == f"127.0.0.1:{backends['exact'].port}"


def test_access_log_names_the_backend_that_answered(
    site: Proxy, backends: dict[str, Backend]
) -> None:
    """A request retried after a refused connect logs the backend that served it."""
    targets = [f"/retry/{i}" for i in range(4)]
    for target in targets:
        assert ask(site.port, "dead.site.test", target).backend == "three"
    upstreams = {_log_record(site, target)["upstream"] for target in targets}
    assert upstreams == {f"127.0.0.1:{backends['three'].port}"}
