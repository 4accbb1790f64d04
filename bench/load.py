"""Load generators: wrk for request rates, curl for bulk throughput, and their output parsing.

Both run pinned to the load CPU, in their own process group, and are killed if the run is
interrupted. Figures come back as plain dicts so they go into the JSON results unchanged.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ABSOLUTE_LUA = BENCH_DIR / "absolute.lua"

MB = 1_000_000  # throughput figures are in MB/s = 10^6 bytes per second


class LoadError(Exception):
    """The load generator could not produce a figure (message says why)."""


def spawn(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a command in its own process group, its stdout and stderr in one pipe."""
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    except OSError as e:
        raise LoadError(f"cannot run {argv[0]}: {e}") from e


def run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a command to completion in its own process group; (status, stdout+stderr)."""
    popen = spawn(argv, env)
    try:
        out, _ = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LoadError(f"{argv[0]} did not finish within {timeout:.0f}s") from e
    finally:
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
    return popen.returncode, out.decode(errors="replace")


# ---------------------------------------------------------------- wrk

_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _size(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(text: str) -> dict[str, float | int]:
    """The figures of one wrk run: rate, bytes, counts of errors. Raises LoadError if absent."""
    out: dict[str, float | int] = {}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not m:
        raise LoadError("no Requests/sec in wrk output:\n" + text.strip())
    out["requests_per_sec"] = float(m.group(1))
    m = re.search(r"^Transfer/sec:\s+(\S+)", text, re.M)
    if m:
        out["bytes_per_sec"] = _size(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h), (\S+) read", text)
    if m:
        out["requests"] = int(m.group(1))
        out["seconds"] = float(m.group(2)) * _TIME[m.group(3)]
        out["bytes_read"] = _size(m.group(4))
    m = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)", text, re.M)
    if m:
        out["latency_avg_ms"] = float(m.group(1)) * _TIME[m.group(2)] * 1e3
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s|m|h)", text, re.M)
        if m:
            out[f"latency_p{pct}_ms"] = float(m.group(1)) * _TIME[m.group(2)] * 1e3
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    for i, kind in enumerate(("connect", "read", "write", "timeout"), 1):
        out[f"errors_{kind}"] = int(m.group(i)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    return out


def wrk_errors(figures: dict[str, float | int]) -> str | None:
    """A short description of what went wrong during a wrk run, or None if it was clean."""
    bad = {
        k: figures.get(k, 0)
        for k in ("non_2xx", "errors_connect", "errors_read", "errors_write", "errors_timeout")
    }
    parts = [f"{k.removeprefix('errors_')}={v}" for k, v in bad.items() if v]
    return ", ".join(parts) or None


def wrk_argv(
    url: str,
    *,
    cpu: str,
    duration: float,
    connections: int = 50,
    threads: int = 1,
    target: str | None = None,
    headers: list[str] | None = None,
) -> list[str]:
    """The wrk command line (see wrk below)."""
    argv = [
        "taskset",
        "-c",
        cpu,
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for header in headers or []:
        argv += ["-H", header]
    if target:
        argv += ["-s", str(ABSOLUTE_LUA), url, "--", target]
    else:
        argv += [url]
    return argv


def wrk(
    url: str,
    *,
    cpu: str,
    duration: float,
    connections: int = 50,
    threads: int = 1,
    target: str | None = None,
    headers: list[str] | None = None,
) -> dict[str, float | int]:
    """wrk -t1 -c50 keep-alive against url; with target, absolute-form requests for it;
    headers ("Name: value") are sent on every request."""
    argv = wrk_argv(
        url,
        cpu=cpu,
        duration=duration,
        connections=connections,
        threads=threads,
        target=target,
        headers=headers,
    )
    status, out = run(argv, timeout=duration + 30)
    if status != 0:
        raise LoadError(f"wrk exited with status {status}:\n{out.strip()}")
    return parse_wrk(out)


# ---------------------------------------------------------------- curl

CURL_FORMAT = "%{http_code} %{size_download} %{time_total}"


def curl(
    url: str,
    *,
    cpu: str,
    proxy: str | None = None,
    tunnel: bool = False,
    timeout: float = 120,
) -> dict[str, float | int]:
    """One curl download (optionally through a proxy, tunnelled with CONNECT when tunnel)."""
    argv = [
        "taskset",
        "-c",
        cpu,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        CURL_FORMAT,
        "--max-time",
        str(int(timeout)),
        "-k",  # the TLS contenders use a throwaway self-signed certificate
    ]
    if proxy:
        argv += ["-x", proxy]
        if tunnel:
            argv += ["-p"]
    argv.append(url)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    status, out = run(argv, timeout=timeout + 10, env=env)
    fields = out.split()
    if status != 0 or len(fields) < 3:
        why = {
            7: "connection refused",
            28: "timed out",
            52: "empty reply",
            56: "receive failure (CONNECT refused or tunnel broken?)",
        }.get(status, "")
        raise LoadError(f"curl exited with status {status} {why}: {out.strip()}".rstrip(": "))
    code, size, seconds = int(fields[0]), int(fields[1]), float(fields[2])
    return {"status": code, "bytes": size, "seconds": seconds}


def probe(url: str, *, cpu: str, proxy: str | None, size: int) -> None:
    """Check one request gets 200 and the expected body size; raise LoadError otherwise."""
    got = curl(url, cpu=cpu, proxy=proxy, timeout=10)
    if got["status"] != 200 or got["bytes"] != size:
        via = f" via {proxy}" if proxy else ""
        raise LoadError(
            f"probe GET {url}{via}: status {got['status']}, {got['bytes']} bytes "
            f"(expected 200, {size} bytes)"
        )


def best_download(
    url: str, *, cpu: str, size: int, runs: int, proxy: str | None = None, tunnel: bool = False
) -> dict[str, object]:
    """Best of ``runs`` downloads of ``size`` bytes, in MB/s; every run is kept."""
    results = []
    for _ in range(runs):
        got = curl(url, cpu=cpu, proxy=proxy, tunnel=tunnel)
        if got["status"] != 200 or got["bytes"] != size:
            raise LoadError(
                f"download {url}: status {got['status']}, {got['bytes']} of {size} bytes"
            )
        results.append(got)
    rates = [r["bytes"] / r["seconds"] / MB for r in results if r["seconds"] > 0]
    if not rates:
        raise LoadError("no timed download")
    return {"mb_per_sec": max(rates), "runs_mb_per_sec": rates}
