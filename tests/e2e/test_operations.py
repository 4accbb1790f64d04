"""Operations end to end: the admin site, SIGHUP reload, SIGUSR1 log reopening."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .conftest import Proxy, curl, free_port, raw_exchange
from .origins import Origin, ScriptedOrigin


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def reload(proxy: Proxy, text: str) -> None:
    """Write a new config, send SIGHUP and wait until the proxy says it handled it."""
    before = proxy.stderr_path.read_text().count("proxyhub reload")
    proxy.ini.write_text(text)
    proxy.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: proxy.stderr_path.read_text().count("proxyhub reload") > before)


def get(port: int, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read().decode()


def test_admin_site_counts_requests(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """/metrics counts requests by listener, host and class; /healthz and PAC answer."""
    admin = free_port()
    proxy = start_proxy(admin_listen=f"tcp:{admin}:interface=127.0.0.1")
    for _ in range(3):
        assert curl("-x", proxy.url, origin.url("/hello")).returncode == 0
    curl("-x", proxy.url, origin.url("/status/503"))
    status, ctype, text = get(admin, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert 'proxyhub_requests_total{listener="forward",host="127.0.0.1",code="2xx"} 3' in text
    assert 'proxyhub_requests_total{listener="forward",host="127.0.0.1",code="5xx"} 1' in text
    assert "proxyhub_request_duration_seconds_bucket" in text
    health = json.loads(get(admin, "/healthz")[2])
    assert health["status"] == "ok"
    assert health["listeners"] == [f"forward tcp:{proxy.port}:interface=127.0.0.1"]
    status, ctype, pac = get(admin, "/proxy.pac")
    assert ctype == "application/x-ns-proxy-autoconfig"
    assert f"PROXY 127.0.0.1:{proxy.port}" in pac


def test_reload_applies_new_rules(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """After SIGHUP new requests follow the new rules; the log names what changed."""
    proxy = start_proxy()
    assert curl("-x", proxy.url, origin.url("/hello")).stdout == "hello from origin\n"
    reload(
        proxy, proxy.ini.read_text().replace("[forward]\n", "[forward]\ndeny_domains = 127.0.0.1\n")
    )
    out = raw_exchange(
        proxy.port,
        f"GET {origin.url('/hello')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert out.startswith(b"HTTP/1.1 403 ")
    assert "proxyhub reloaded: [forward] changed: deny_domains" in proxy.stderr_path.read_text()


def test_invalid_reload_keeps_the_old_config(
    start_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    """A broken file is refused with every problem logged; service goes on unchanged."""
    proxy = start_proxy()
    good = proxy.ini.read_text()
    reload(proxy, good.replace("[forward]\n", "[forward]\nvia = sometimes\nbogus = 1\n"))
    errors = proxy.stderr_path.read_text()
    assert "reload refused, keeping the old config" in errors
    assert "via: expected yes or no" in errors and "bogus: unknown key" in errors
    assert curl("-x", proxy.url, origin.url("/hello")).stdout == "hello from origin\n"


def test_reload_binds_and_unbinds_ports(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """A listener added by a reload answers; one removed stops accepting."""
    proxy = start_proxy()
    extra = free_port()
    original = proxy.ini.read_text()
    listen = f"listen = tcp:{proxy.port}:interface=127.0.0.1"
    reload(proxy, original.replace(listen, f"{listen} tcp:{extra}:interface=127.0.0.1"))
    assert curl("-x", f"http://127.0.0.1:{extra}", origin.url("/hello")).returncode == 0
    reload(proxy, original)
    assert wait_for(lambda: not _accepts(extra))


def test_tunnel_in_flight_survives_reload(start_proxy: Callable[..., Proxy]) -> None:
    """A CONNECT tunnel open during a reload keeps passing bytes."""

    def echo(conn: socket.socket) -> None:
        while data := conn.recv(4096):
            conn.sendall(data)

    origin = ScriptedOrigin(echo)
    proxy = start_proxy()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
            s.sendall(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
            reload(proxy, proxy.ini.read_text().replace("[forward]\n", "[forward]\nvia = no\n"))
            s.sendall(b"still here")
            assert s.recv(1024) == b"still here"
    finally:
        origin.close()


def test_sigusr1_reopens_the_access_log(start_proxy: Callable[..., Proxy], origin: Origin) -> None:
    """After logrotate moves the file, SIGUSR1 makes the proxy write a new one."""
    proxy = start_proxy()
    curl("-x", proxy.url, origin.url("/hello?first"))
    assert proxy.wait_log("/hello?first")
    rotated = Path(str(proxy.access_log) + ".1")
    proxy.access_log.rename(rotated)
    proxy.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: "reopened the access log" in proxy.stderr_path.read_text())
    curl("-x", proxy.url, origin.url("/hello?second"))
    assert proxy.wait_log("/hello?second")
    assert "/hello?second" not in rotated.read_text()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_twistd_logfile_and_syslog_options(tmp_path: Path, origin: Origin) -> None:
    """twistd --logfile writes the proxy's log there; --syslog starts and serves too."""
    import subprocess
    import sys

    from .conftest import render_ini, wait_listening

    for option in (f"--logfile={tmp_path / 'proxy.log'}", "--syslog"):
        port = free_port()
        ini = tmp_path / f"p{port}.ini"
        ini.write_text(render_ini({"forward": {"listen": f"tcp:{port}:interface=127.0.0.1",
                                               "deny_destinations": ""}}))  # fmt: skip
        run = "from twisted.scripts.twistd import run; run()"
        argv = [
            sys.executable,
            "-c",
            run,
            "-n",
            "--pidfile=",
            option,
            "proxyhub",
            "--config",
            str(ini),
        ]
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_listening(port, proc)
            assert curl("-x", f"http://127.0.0.1:{port}", origin.url("/hello")).returncode == 0
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
    assert "proxyhub listening on" in (tmp_path / "proxy.log").read_text()
