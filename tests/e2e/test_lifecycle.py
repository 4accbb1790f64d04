"""Process lifecycle: bad configs exit non-zero, SIGTERM drains in-flight requests."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

from .conftest import curl, free_port, twistd_command
from .origins import Origin


def test_bad_config_exits_1_with_every_problem_and_binds_nothing(tmp_path: Path) -> None:
    """twistd reports each problem with file, line, section and key, and exits 1."""
    port = free_port()
    ini = tmp_path / "bad.ini"
    ini.write_text(
        f"[proxyhub]\nconnect_timeout = 10\n[forward]\nlisten = tcp:{port}\nalow_clients = x\n"
    )
    proc = subprocess.run(twistd_command(ini), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"{ini}:2: [proxyhub] connect_timeout: durations need a unit" in proc.stderr
    assert f"{ini}:5: [forward] alow_clients: unknown key; did you mean 'allow_clients'?" in (
        proc.stderr
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # nothing was listening there


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(start_proxy, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    """After SIGTERM the listener closes, the slow request in flight completes, exit is 0."""
    p = start_proxy(drain_timeout="10s")
    results: list[str] = []
    slow = threading.Thread(
        target=lambda: results.append(curl("-x", p.url, origin.url("/slow=1.5")).stdout)
    )
    slow.start()
    time.sleep(0.5)
    p.proc.terminate()
    time.sleep(0.3)
    refused = curl("-x", p.url, origin.url("/hello"), timeout=3)
    slow.join()
    assert results == ["slow\n"]
    assert refused.returncode != 0
    assert p.proc.wait(10) == 0


def test_twistd_runs_proxyhubs_reactor_unless_one_is_chosen(tmp_path: Path, origin: Origin) -> None:
    """Plain ``twistd proxyhub`` runs ProxyEPollReactor; ``--reactor=poll`` keeps poll."""
    from .conftest import render_ini, wait_listening

    choices = [
        ([], "proxyhub.net.reactor.ProxyEPollReactor"),
        (["--reactor=poll"], "twisted.internet.pollreactor.PollReactor"),
    ]
    for reactor_args, expected in choices:
        port = free_port()
        ini = tmp_path / f"p{port}.ini"
        ini.write_text(render_ini({"forward": {"listen": f"tcp:{port}:interface=127.0.0.1",
                                               "deny_destinations": ""}}))  # fmt: skip
        command = twistd_command(ini)
        command[3:3] = reactor_args  # twistd's own options go before the plugin name
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, proc)
            answer = curl("-x", f"http://127.0.0.1:{port}", origin.url("/hello"))
            assert answer.stdout == "hello from origin\n"
        finally:
            proc.terminate()
            output = proc.communicate(timeout=10)[0].decode()
        assert f"reactor class: {expected}." in output
