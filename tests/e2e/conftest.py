"""Fixtures for end-to-end tests: a real proxyhub under twistd, real origins, real clients."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .origins import Origin

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxyhub exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"proxyhub did not listen on {port}")


def render_ini(sections: dict[str, dict[str, str]]) -> str:
    lines: list[str] = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {v}" for k, v in keys.items())
        lines.append("")
    return "\n".join(lines)


def twistd_command(ini: Path) -> list[str]:
    """``twistd -n proxyhub --config INI`` with this interpreter."""
    run_twistd = "from twisted.scripts.twistd import run; run()"
    return [sys.executable, "-c", run_twistd, "-n", "--pidfile=", "proxyhub", "--config", str(ini)]


class Proxy:
    """A running proxyhub process.

    By default it has one permissive ``[forward]`` listener on ``port``; pass
    ``sections`` to write other sections instead (``{port}`` in their values is
    replaced by ``port``, ``{tls_port}`` by a second free port).
    """

    def __init__(
        self,
        tmp: Path,
        forward: dict[str, str],
        proxyhub: dict[str, str],
        sections: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.port = free_port()
        self.tls_port = free_port()
        self.access_log = tmp / f"access-{self.port}.log"
        base = {"access_log": str(self.access_log), "name": f"testproxy:{self.port}"}
        fwd = {
            "listen": f"tcp:{self.port}:interface=127.0.0.1",
            "deny_destinations": "",
            "connect_ports": "*",
        }
        others = sections if sections is not None else {"forward": fwd | forward}
        others = {
            name: {k: v.format(port=self.port, tls_port=self.tls_port) for k, v in keys.items()}
            for name, keys in others.items()
        }
        self.ini = tmp / f"proxy-{self.port}.ini"
        self.ini.write_text(render_ini({"proxyhub": base | proxyhub, **others}))
        self.stderr_path = tmp / f"proxy-{self.port}.err"
        self.stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            twistd_command(self.ini), cwd=tmp, stdout=self.stderr, stderr=subprocess.STDOUT
        )
        wait_listening(self.port, self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        deadline = time.monotonic() + 2
        text = ""
        while time.monotonic() < deadline:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            if text:
                break
            time.sleep(0.05)
        return text.splitlines()

    def wait_log(self, needle: str, timeout: float = 5.0) -> bool:
        """Whether an access-log line containing ``needle`` appears within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.access_log.exists() and needle in self.access_log.read_text():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[..., Proxy]]:
    """Start proxyhub with ``[forward]`` and ``[proxyhub]`` overrides; stopped after the test."""
    started: list[Proxy] = []

    def start(
        forward: dict[str, str] | None = None,
        sections: dict[str, dict[str, str]] | None = None,
        **proxyhub: str,
    ) -> Proxy:
        proxy = Proxy(tmp_path, forward or {}, proxyhub, sections)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxy")


@pytest.fixture(scope="module")
def proxy(module_tmp: Path) -> Iterator[Proxy]:
    """One shared proxyhub with permissive rules (loopback origins allowed)."""
    p = Proxy(module_tmp, {}, {})
    yield p
    p.stop()


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    o = Origin()
    yield o
    o.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost, made with openssl."""
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.fixture(scope="module")
def tls_origin(tls_files: tuple[Path, Path]) -> Iterator[Origin]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tls_files[1]), str(tls_files[0]))
    o = Origin(tls=ctx)
    yield o
    o.close()


def curl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run curl quietly and return the completed process (never raises on failure)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        ["curl", "-sS", "--max-time", str(timeout), *args],
        capture_output=True,
        text=True,
        timeout=timeout + 5,
        env=env,
    )


def s_client(port: int, *args: str) -> str:
    """What ``openssl s_client`` prints (stdout and stderr) for a handshake with ``port``."""
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )
    return proc.stdout + proc.stderr


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection, read until the proxy closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except TimeoutError:
            pass
        return out
