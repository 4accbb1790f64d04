"""Proxy authentication end to end: curl --proxy-user, raw headers, the log lines."""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest

from .conftest import Proxy, curl, raw_exchange
from .origins import Origin, ScriptedOrigin


def _openssl_hash(flag: str, password: str) -> str:
    out = subprocess.run(
        ["openssl", "passwd", flag, password], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Users with bcrypt ($2y$), SHA-512 crypt and apr1 passwords."""
    bcrypt_hash = bcrypt.hashpw(b"alice-pw", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    lines = [
        f"alice:{bcrypt_hash}",
        f"bob:{_openssl_hash('-6', 'bob-pw')}",
        f"carol:{_openssl_hash('-apr1', 'carol-pw')}",
    ]
    path = tmp_path_factory.mktemp("auth") / "htpasswd"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def auth_proxy(start_proxy: Callable[..., Proxy], htpasswd: Path) -> Iterator[Proxy]:
    yield start_proxy({"auth_file": str(htpasswd), "auth_realm": "Corp Proxy"})


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_each_hash_format_lets_its_user_through(
    auth_proxy: Proxy, origin: Origin, user: str
) -> None:
    """bcrypt, SHA-crypt and apr1 entries all verify with curl --proxy-user."""
    result = curl("-x", auth_proxy.url, "--proxy-user", f"{user}:{user}-pw", origin.url("/hello"))
    assert result.stdout == "hello from origin\n", result.stderr


def test_missing_credentials_get_407_with_a_challenge(auth_proxy: Proxy, origin: Origin) -> None:
    """No Proxy-Authorization: 407 and a Basic challenge naming the realm."""
    out = raw_exchange(
        auth_proxy.port,
        f"GET {origin.url('/hello')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert out.startswith(b"HTTP/1.1 407 ")
    assert b'Proxy-Authenticate: Basic realm="Corp Proxy"' in out


def test_wrong_password_is_refused_and_logged(auth_proxy: Proxy, origin: Origin) -> None:
    """A wrong password gets 407, never the origin, and one fail2ban-friendly line."""
    before = len(origin.requests)
    result = curl(
        "-x", auth_proxy.url, "--proxy-user", "alice:nope", "-w", "%{http_code}",
        "-o", "/dev/null", origin.url("/hello"),
    )  # fmt: skip
    assert result.stdout == "407"
    assert len(origin.requests) == before
    errors = auth_proxy.stderr_path.read_text()
    assert 'proxy auth failed: client=127.0.0.1 user="-" reason="wrong password"' in errors
    assert "nope" not in errors


def test_credentials_never_reach_the_origin(auth_proxy: Proxy, origin: Origin) -> None:
    """Proxy-Authorization is consumed by the proxy."""
    result = curl("-x", auth_proxy.url, "--proxy-user", "bob:bob-pw", origin.url("/headers"))
    assert result.returncode == 0
    assert "proxy-authorization" not in result.stdout.lower()


def test_user_appears_in_access_log(auth_proxy: Proxy, origin: Origin) -> None:
    """The combined log's user field names the authenticated user."""
    curl("-x", auth_proxy.url, "--proxy-user", "carol:carol-pw", origin.url("/hello"))
    assert auth_proxy.wait_log(" carol [")


def test_connect_needs_credentials_too(auth_proxy: Proxy, tls_origin: Origin) -> None:
    """CONNECT without credentials gets 407; with them the tunnel opens."""
    target = f"127.0.0.1:{tls_origin.port}"
    out = raw_exchange(auth_proxy.port, f"CONNECT {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 407 ")
    result = curl(
        "-k", "-p", "-x", auth_proxy.url, "--proxy-user", "alice:alice-pw",
        f"https://{target}/hello",
    )  # fmt: skip
    assert result.stdout == "hello from origin\n", result.stderr


def test_a_post_body_waits_for_verification(auth_proxy: Proxy, origin: Origin) -> None:
    """A request body that arrives while credentials are verified is forwarded whole."""
    token = base64.b64encode(b"bob:bob-pw").decode()
    body = b"x" * 100_000
    head = (
        f"POST {origin.url('/count')} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic {token}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    out = raw_exchange(auth_proxy.port, head + body)
    assert out.startswith(b"HTTP/1.1 200 ")
    assert out.endswith(b"100000")


def test_malformed_authorization_is_407_not_400(auth_proxy: Proxy, origin: Origin) -> None:
    """Junk credentials are refused like missing ones, without echoing them."""
    out = raw_exchange(
        auth_proxy.port,
        (
            f"GET {origin.url('/hello')} HTTP/1.1\r\nHost: x\r\n"
            "Proxy-Authorization: Basic !!!secret-junk!!!\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    assert out.startswith(b"HTTP/1.1 407 ")
    assert b"secret-junk" not in out


def test_bad_htpasswd_stops_startup(tmp_path: Path) -> None:
    """A plaintext entry is a startup error naming the file and line, never the password."""
    from .conftest import render_ini, twistd_command

    bad = tmp_path / "htpasswd"
    bad.write_text("dave:plain-secret\n")
    ini = tmp_path / "p.ini"
    ini.write_text(render_ini({"forward": {"listen": "tcp:0", "auth_file": str(bad)}}))
    run = subprocess.run(twistd_command(ini), cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1
    output = run.stdout + run.stderr
    assert f"[forward] auth_file: {bad}:1: user 'dave': plaintext passwords are refused" in output
    assert "plain-secret" not in output


def test_pipelined_request_waiting_for_auth_does_not_read_on(
    start_proxy: Callable[..., Proxy], origin: Origin, tmp_path: Path
) -> None:
    """A second pipelined request waiting for its check keeps reading paused (bounded memory)."""
    users = tmp_path / "htpasswd"
    users.write_text("slow:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(12)).decode() + "\n")
    proxy = start_proxy({"auth_file": str(users)})
    bad1 = base64.b64encode(b"slow:wrong1").decode()
    bad2 = base64.b64encode(b"slow:wrong2").decode()
    heads = (
        f"GET {origin.url('/hello')} HTTP/1.1\r\nHost: x\r\n"
        f"Proxy-Authorization: Basic {bad1}\r\n\r\n"
        f"POST {origin.url('/count')} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic {bad2}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(heads)
        s.setblocking(False)
        sent, answers, deadline = 0, b"", time.monotonic() + 10
        while answers.count(b"HTTP/1.1 407") < 2 and time.monotonic() < deadline:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                answers += s.recv(65536)
    assert answers.count(b"HTTP/1.1 407") >= 1
    assert sent < 32 * 1024 * 1024, f"the proxy read {sent} bytes while the check ran"


def test_a_silent_parent_times_out(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """A parent that accepts and never answers CONNECT gives 504 after connect_timeout."""
    closed = threading.Event()

    def silent(conn: socket.socket) -> None:
        try:
            while conn.recv(4096):
                pass
        finally:  # a FIN or a reset: either way the proxy let go
            closed.set()

    parent = ScriptedOrigin(silent)
    try:
        proxy = start_proxy({"parent": f"http://127.0.0.1:{parent.port}"}, connect_timeout="1s")
        started = time.monotonic()
        out = raw_exchange(proxy.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 504 ")
        assert b"did not answer in time" in out
        assert time.monotonic() - started < 5
        assert closed.wait(5), "the connection to the parent was left open"
    finally:
        parent.close()


def test_half_close_while_connect_waits_for_auth(
    start_proxy: Callable[..., Proxy], origin: Origin, tmp_path: Path
) -> None:
    """A client that sends CONNECT and its FIN during the check is not left open."""
    users = tmp_path / "htpasswd"
    users.write_text("slow:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(12)).decode() + "\n")
    proxy = start_proxy({"auth_file": str(users)}, tunnel_idle_timeout="60s")
    token = base64.b64encode(b"slow:pw").decode()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(
            f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n"
            f"Proxy-Authorization: Basic {token}\r\n\r\n".encode()
        )
        s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        while s.recv(65536):
            pass
    assert time.monotonic() - started < 8
