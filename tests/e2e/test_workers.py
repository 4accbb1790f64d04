"""workers = 2: a supervisor and two SO_REUSEPORT workers, end to end."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .conftest import Proxy, curl, free_port
from .origins import Origin


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def admin_json(port: int, path: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def admin_text(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def test_two_workers_serve_restart_reload_and_stop(
    start_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    """Two workers answer, a killed one is replaced, SIGHUP reaches both, SIGTERM exits 0."""
    admin = free_port()
    proxy = start_proxy(workers="2", admin_listen=f"tcp:{admin}:interface=127.0.0.1")
    assert wait_for(lambda: len(children(proxy.proc.pid)) == 2)
    for _ in range(20):
        assert curl("-x", proxy.url, origin.url("/hello")).stdout == "hello from origin\n"
    assert admin_json(admin, "/healthz")["workers"] == 2
    total = 'proxyhub_requests_total{listener="forward",host="127.0.0.1",code="2xx"} 20'
    assert wait_for(lambda: total in admin_text(admin, "/metrics"))

    victim = min(children(proxy.proc.pid))
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: "exited (" in proxy.stderr_path.read_text())
    assert wait_for(lambda: len(children(proxy.proc.pid) - {victim}) == 2)
    assert curl("-x", proxy.url, origin.url("/hello")).stdout == "hello from origin\n"

    proxy.proc.send_signal(signal.SIGHUP)
    log = proxy.stderr_path
    assert wait_for(lambda: log.read_text().count("proxyhub reloaded: nothing changed") == 2)

    workers = children(proxy.proc.pid)
    proxy.proc.send_signal(signal.SIGTERM)
    assert proxy.proc.wait(20) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_taken_port_stops_the_supervisor(start_proxy: Callable[..., Proxy]) -> None:
    """Workers are not spawned when a port cannot be bound: exit 1 with the reason."""
    import socket
    import subprocess

    from .conftest import render_ini, twistd_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ini = Path(os.environ.get("TMPDIR", "/tmp")) / f"workers-{port}.ini"
        ini.write_text(render_ini({
            "proxyhub": {"workers": "2"},
            "forward": {"listen": f"tcp:{port}:interface=127.0.0.1"},
        }))  # fmt: skip
        run = subprocess.run(twistd_command(ini), capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert f"cannot listen on tcp:{port}:interface=127.0.0.1" in run.stdout + run.stderr


def test_a_purge_reaches_every_workers_cache(
    start_proxy: Callable[..., Proxy], origin: Origin
) -> None:
    """Each worker caches on its own; a PURGE sent to one empties them all."""
    forward = {"listen": "tcp:{port}:interface=127.0.0.1", "deny_destinations": ""}
    proxy = start_proxy(workers="2", sections={"forward": forward, "cache": {"enabled": "yes"}})
    log = proxy.stderr_path
    assert wait_for(
        lambda: all(f"worker {i}: proxyhub listening" in log.read_text() for i in (0, 1))
    )
    url = origin.url("/cache/everywhere?cc=max-age%3D60")

    def answers() -> set[str]:
        return {curl("-x", proxy.url, url).stdout for _ in range(30)}  # fresh connections

    before = answers()
    assert before == {"n=1", "n=2"}  # both workers missed once, then hit
    assert '"purged": 1' in curl("-x", proxy.url, "-X", "PURGE", url).stdout
    assert wait_for(lambda: not answers() & before)
