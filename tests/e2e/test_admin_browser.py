"""The admin site over a real socket: HTTP answers, and the dashboard rendered by headless Chromium.

The site runs in a subprocess (``admin_fixture_server.py``) over a fake source
whose series grows on every poll.  Chromium's virtual time lets five seconds of
polling happen in well under a second of real time.  The screenshot and the DOM
are kept under ``tests/artifacts/`` for a human to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def admin_url() -> Iterator[str]:
    """Start the fixture admin server on a free loopback port; yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "admin_fixture_server.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    try:
        assert line.isdigit(), f"fixture server said {line!r}"
        yield f"http://127.0.0.1:{line}"
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Return status, lower-cased headers and body; HTTP errors are answers too."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def chromium(tmp_path: Path, url: str, *mode: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` with five seconds of virtual time."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    command = [
        CHROMIUM,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,900",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        *mode,
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Content Security Policy" in line], console
    assert not [line for line in console if "Uncaught" in line], console
    return result


def test_endpoints_over_a_real_socket(admin_url: str) -> None:
    """/healthz, /metrics and /status.json answer with their types and the security headers."""
    code, headers, body = fetch(admin_url + "/healthz")
    assert code == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["status"] == "ok"
    code, headers, body = fetch(admin_url + "/metrics")
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b'proxyhub_backend_up{host="example.com",backend="http://10.0.0.2:8080"} 0' in body
    code, headers, _ = fetch(admin_url + "/status.json")
    assert code == 200 and headers["cache-control"] == "no-store"
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert fetch(admin_url + "/nope")[0] == 404
    assert fetch(admin_url + "/healthz", "POST")[0] == 405


def test_dashboard_renders_and_updates(admin_url: str, tmp_path: Path) -> None:
    """After a few polls the charts have lines, the legend has values, the table has backends."""
    dom = chromium(tmp_path, admin_url + "/status", "--dump-dom").stdout
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "admin-status.html").write_text(dom)
    polls = re.search(r'<body[^>]*data-polls="(\d+)"', dom)
    assert polls and int(polls.group(1)) >= 3, "the page did not poll /status.json repeatedly"
    assert 'data-failures="0"' in dom
    for name in ("requests_per_s", "errors_4xx_per_s", "errors_5xx_per_s", "active_tunnels"):
        line = re.search(rf'<polyline [^>]*data-name="{name}" points="([^"]*)"', dom)
        assert line, name
        # every poll adds 20 points to the fake series: more than one poll's worth is drawn
        assert len(line.group(1).split()) > 20, name
    assert re.search(r'id="now-requests_per_s">[0-9.]+<', dom)
    assert re.search(r'id="uptime">1h 0m \d+s<', dom)
    assert '<td class="state down">down</td>' in dom
    assert dom.count("<tr><td ") == 3


def test_dashboard_screenshot(admin_url: str, tmp_path: Path) -> None:
    """A 1200x900 screenshot of the dashboard is written to tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "admin-status.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, admin_url + "/status", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 900)
    assert len(data) > 20_000, "the screenshot looks blank"
