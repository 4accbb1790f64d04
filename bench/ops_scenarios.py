"""Operational scenarios: proxy authentication, workers, reload under load, and the HTTP cache.

Each has its own table (its own columns and ratio base); the contenders are in ops_servers.py.

- ``forward-auth``: auth_file (bcrypt, cost 10) with ``Proxy-Authorization`` on every request,
  beside the same proxy without auth_file (``proxyhub-forward``). Bar: auth/no-auth >= 0.90.
- ``workers``: ``workers = 2`` against ``workers = 1``, neither pinned.
- ``reload``: one SIGHUP a second during a wrk run; figure = failed requests (bar: 0), and
  the log must hold one "proxyhub reloaded" line per SIGHUP and worker.
- ``cache``: ``[cache] enabled = yes``: a max-age=60 path (hits) beside a no-store path
  (misses) on the same process, and the max-age path through proxyhub without a cache.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import time

import ops_servers  # noqa: F401  (registers the contenders)
from lab import Lab, Server
from load import LoadError, parse_wrk, probe, spawn, wrk, wrk_argv, wrk_errors
from ops_servers import CACHED_PATH, count_lines, wait_lines
from registry import Options, origin_target, proxy_url, scenario
from report import Figure
from servers import SMALL

RELOADED = "proxyhub reloaded"


def head_via(server: Server, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET target through the proxy: (status, X-Cache value)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Cache", "")
    except (OSError, http.client.HTTPException) as e:
        raise LoadError(f"GET {target} via {proxy_url(server)}: {e}") from e
    finally:
        conn.close()


def forward_rate(
    lab: Lab, opts: Options, server: Server, path: str = "/100b", warmup: float | None = None
) -> Figure:
    """The forward scenario's wrk run, with the server's credentials when it has any."""
    target = origin_target(lab, path)
    auth = server.info.get("auth")
    headers = [str(auth)] if auth else None
    proxy = proxy_url(server)
    if auth:
        if head_via(server, target)[0] != 407:
            raise LoadError("auth_file is set but a request without credentials was not 407")
        proxy = f"http://{server.info['user']}:{server.info['password']}@127.0.0.1:{server.port}"
    # the probe also puts the credentials in the proxy's auth cache before wrk's burst
    probe(target, cpu=opts.load_cpu, proxy=proxy, size=SMALL)
    url = proxy_url(server) + "/"
    warmup = opts.warmup if warmup is None else warmup
    if warmup > 0:
        wrk(url, cpu=opts.load_cpu, duration=warmup, target=target, headers=headers)
    figures = wrk(url, cpu=opts.load_cpu, duration=opts.duration, target=target, headers=headers)
    return Figure(float(figures["requests_per_sec"]), wrk_errors(figures), None, dict(figures))


@scenario(
    "forward-auth",
    "req/s",
    "forward proxy with auth_file (bcrypt cost 10, Proxy-Authorization on every request; "
    "auth_cache_ttl 5m) vs without, 100 B, wrk -t1 -c50 keep-alive",
    {"auth": "proxyhub-auth", "no-auth": "proxyhub-forward"},
    group="auth",
    base="auth",
    note="auth/no-auth is the cost of proxy auth with cached credentials; bar: >= 0.90",
)
def forward_auth(lab: Lab, opts: Options, server: Server) -> Figure:
    return forward_rate(lab, opts, server)


UNPINNED = (
    "workers scenarios: proxyhub is NOT pinned (may use every CPU); wrk and the origin stay "
    "on the load CPU, so the proxy shares that one with them"
)


@scenario(
    "workers",
    "req/s",
    "forward proxy, workers = 2 vs workers = 1, 100 B, wrk -t1 -c50 keep-alive",
    {"w2": "proxyhub-w2", "w1": "proxyhub-w1"},
    group="workers",
    base="w2",
    note=UNPINNED,
)
def workers(lab: Lab, opts: Options, server: Server) -> Figure:
    # at least 1 s of warm-up even with --quick: the workers' first requests are slow
    return forward_rate(lab, opts, server, warmup=max(opts.warmup, 1.0))


@scenario(
    "reload",
    "failed",
    "forward proxy under wrk -t1 -c50, one SIGHUP a second (--reloads, 10); failed requests "
    "= non-2xx + socket errors",
    {"w1": "proxyhub-w1", "w2": "proxyhub-w2"},
    group="reload",
    base=None,
    note="bar: 0 failed, and one 'proxyhub reloaded' log line per SIGHUP and worker; "
    "proxyhub not pinned, as in workers",
)
def reload(lab: Lab, opts: Options, server: Server) -> Figure:
    proc = server.proc
    if proc is None:
        raise LoadError("no process to signal")
    n_workers = int(server.info.get("workers", 1))  # type: ignore[call-overload]
    target = origin_target(lab, "/100b")
    probe(target, cpu=opts.load_cpu, proxy=proxy_url(server), size=SMALL)
    before = count_lines(proc.log, RELOADED)
    argv = wrk_argv(proxy_url(server) + "/", cpu=opts.load_cpu, duration=opts.reloads,
                    target=target)  # fmt: skip
    popen = spawn(argv)
    sent = 0
    try:
        time.sleep(0.5)
        for _ in range(opts.reloads):  # at 0.5 s, 1.5 s, ...: all inside the wrk run
            if popen.poll() is not None or not proc.alive():
                break
            os.kill(proc.popen.pid, signal.SIGHUP)  # the proxy alone, never its group
            sent += 1
            time.sleep(1.0)
        out, _ = popen.communicate(timeout=opts.reloads + 30)
    finally:
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
    text = out.decode(errors="replace")
    if popen.returncode != 0:
        raise LoadError(f"wrk exited with status {popen.returncode}:\n{text.strip()}")
    if not proc.alive():
        raise LoadError(f"proxyhub died during the reloads (status {proc.popen.returncode})")
    figures = parse_wrk(text)
    expected = sent * n_workers
    reloaded = wait_lines(proc, RELOADED, before + expected, timeout=5.0) - before
    kinds = ("connect", "read", "write", "timeout")
    socket_errors = sum(int(figures[f"errors_{k}"]) for k in kinds)
    failed = int(figures["non_2xx"]) + socket_errors
    problems = [p for p in [wrk_errors(figures)] if p]
    if reloaded != expected:
        problems.append(f"{reloaded} of {expected} reloads logged")
    per = f" ({sent} x {n_workers} workers)" if n_workers > 1 else ""
    by_kind = ", ".join(f"{k} {figures['errors_' + k]}" for k in kinds)
    note = (
        f"{int(figures.get('requests', 0)):,} requests "
        f"({float(figures['requests_per_sec']):,.0f} req/s), "
        f"non-2xx {figures['non_2xx']}, socket errors {socket_errors} ({by_kind}), "
        f"SIGHUPs {sent}, '{RELOADED}' lines {reloaded}/{expected}{per}"
    )
    detail = {**figures, "sighups": sent, "reloaded_lines": reloaded, "expected": expected}
    return Figure(float(failed), "; ".join(problems) or None, None, detail, note)


@scenario(
    "cache",
    "req/s",
    "forward proxy with [cache] enabled = yes: hits (max-age=60) vs misses (no-store) on the "
    "same process, and the max-age path without a cache, 100 B, wrk -t1 -c50",
    {"hit": "proxyhub-cache", "miss": "proxyhub-cache-miss", "no-cache": "proxyhub-forward"},
    group="cache",
    base="hit",
    note="hit and no-cache GET /max-age/100b (Cache-Control: max-age=60), miss GET "
    "/no-store/100b (no-store); hit/miss is what a hit saves over a pass through the cache",
)
def cache(lab: Lab, opts: Options, server: Server) -> Figure:
    path = str(server.info.get("path", CACHED_PATH))
    target = origin_target(lab, path)
    if server.name.startswith("proxyhub-cache"):
        head_via(server, target)  # a miss that stores (or not)
        status, x_cache = head_via(server, target)
        hit = x_cache.upper().startswith("HIT")
        if status != 200 or hit != (path == CACHED_PATH):
            raise LoadError(f"GET {path} again: status {status}, X-Cache {x_cache or '(none)'}")
    return forward_rate(lab, opts, server, path)
