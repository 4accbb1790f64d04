"""proxyhub benchmark: proxyhub beside its references, in one run, on a pinned loopback setup.

    python3 bench/run.py [--duration 10] [--scenarios forward,connect] [--quick]

Every proxy under test runs on one CPU (taskset -c 0); wrk/curl and the nginx origin share
the other (taskset -c 1). Prints one table (each contender's figure, then proxyhub's ratio to
each) and writes the same results as JSON to bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ops_scenarios  # noqa: F401  (registers forward-auth, workers, reload, cache)
import reverse_servers  # noqa: F401  (registers the reverse contenders)
from lab import BENCH_DIR, Lab, Server, StartError
from load import LoadError, best_download, probe, wrk, wrk_errors
from registry import SCENARIOS, Options, Scenario, ordered, origin_target, proxy_url, scenario
from report import PROXYHUB, Figure, best, environment, table, write_json
from servers import LARGE, MEDIUM, SMALL, squid_binary

RESULTS_DIR = BENCH_DIR / "results"


# ---------------------------------------------------------------- scenarios


@scenario(
    "forward",
    "req/s",
    "forward proxy, absolute-form GET of 100 B, wrk -t1 -c50 keep-alive",
    {
        "direct": "origin",
        PROXYHUB: "proxyhub-forward",
        "twisted": "stock-forward",
        "squid": "squid",
    },
)
def forward(lab: Lab, opts: Options, server: Server) -> Figure:
    target = origin_target(lab, "/100b")
    if server.name == "origin":
        url, absolute = target, None
    else:
        url, absolute = proxy_url(server) + "/", target
    probe(target, cpu=opts.load_cpu, proxy=None if absolute is None else url, size=SMALL)
    if opts.warmup > 0:
        wrk(url, cpu=opts.load_cpu, duration=opts.warmup, target=absolute)
    figures = wrk(url, cpu=opts.load_cpu, duration=opts.duration, target=absolute)
    return Figure(float(figures["requests_per_sec"]), wrk_errors(figures), None, dict(figures))


@scenario(
    "connect",
    "MB/s",
    "CONNECT tunnel, one curl -p download of 100 MiB, best of N",
    {
        "direct": "origin",
        PROXYHUB: "proxyhub-forward",
        "twisted": None,
        "squid": "squid",
        "tw-relay": "twisted-relay",
    },
    {"twisted": "twisted.web.proxy has no CONNECT"},
)
def connect(lab: Lab, opts: Options, server: Server) -> Figure:
    target = origin_target(lab, "/100m")
    if server.name == "origin":
        got = best_download(target, cpu=opts.load_cpu, size=LARGE, runs=opts.connect_runs)
    elif server.name == "twisted-relay":  # a plain TCP relay: no proxy protocol at all
        url = proxy_url(server) + "/100m"
        got = best_download(url, cpu=opts.load_cpu, size=LARGE, runs=opts.connect_runs)
    else:
        got = best_download(
            target,
            cpu=opts.load_cpu,
            size=LARGE,
            runs=opts.connect_runs,
            proxy=proxy_url(server),
            tunnel=True,
        )
    return Figure(float(got["mb_per_sec"]), None, None, got)  # type: ignore[arg-type]


REVERSE_CONTENDERS: dict[str, str | None] = {
    "direct": "origin",
    PROXYHUB: "proxyhub-reverse",
    "twisted": "stock-reverse",
    "nginx": "nginx-reverse",
}


def _reverse(lab: Lab, opts: Options, server: Server, path: str, size: int) -> dict[str, object]:
    url = f"{proxy_url(server)}{path}"
    probe(url, cpu=opts.load_cpu, proxy=None, size=size)
    if opts.warmup > 0:
        wrk(url, cpu=opts.load_cpu, duration=opts.warmup)
    return dict(wrk(url, cpu=opts.load_cpu, duration=opts.duration))


@scenario("reverse", "req/s", "reverse proxy, GET of 100 B, wrk -t1 -c50", REVERSE_CONTENDERS)
def reverse(lab: Lab, opts: Options, server: Server) -> Figure:
    figures = _reverse(lab, opts, server, "/100b", SMALL)
    return Figure(float(figures["requests_per_sec"]), wrk_errors(figures), None, figures)  # type: ignore[arg-type]


@scenario("reverse-1m", "MB/s", "reverse proxy, GET of 1 MiB, wrk -t1 -c50", REVERSE_CONTENDERS)
def reverse_1m(lab: Lab, opts: Options, server: Server) -> Figure:
    figures = _reverse(lab, opts, server, "/1m", MEDIUM)
    mb = float(figures["requests_per_sec"]) * MEDIUM / 1e6  # type: ignore[arg-type]
    return Figure(mb, wrk_errors(figures), None, figures)  # type: ignore[arg-type]


@scenario(
    "tls",
    "req/s",
    "TLS front end, keep-alive GET of 100 B over HTTPS, wrk -t1 -c50",
    {PROXYHUB: "proxyhub-tls", "nginx": "nginx-tls"},
)
def tls(lab: Lab, opts: Options, server: Server) -> Figure:
    url = f"https://127.0.0.1:{server.port}/100b"
    probe(url, cpu=opts.load_cpu, proxy=None, size=SMALL)
    if opts.warmup > 0:
        wrk(url, cpu=opts.load_cpu, duration=opts.warmup)
    figures = dict(wrk(url, cpu=opts.load_cpu, duration=opts.duration))
    return Figure(float(figures["requests_per_sec"]), wrk_errors(figures), None, figures)  # type: ignore[arg-type]


# ---------------------------------------------------------------- running


def run_scenario(lab: Lab, opts: Options, sc: Scenario, only: set[str] | None) -> dict[str, Figure]:
    print(f"\n== {sc.name}: {sc.what}", flush=True)
    if sc.note:
        print(f"   note: {sc.note}", flush=True)
    figures: dict[str, list[Figure]] = {}
    for rnd in range(opts.rounds):
        for label, server_name in sc.contenders.items():
            if only is not None and label not in only:
                continue
            if server_name is None:
                figures[label] = [Figure(error="n/a: " + sc.na_reason.get(label, "not supported"))]
                continue
            if any(f.error for f in figures.get(label, [])):
                continue  # failed in an earlier round: do not retry
            server = lab.get(server_name)
            if server is None:
                why = lab.failures.get(server_name, "did not start")
                figures.setdefault(label, []).append(Figure(error=why))
                continue
            try:
                fig = sc.measure(lab, opts, server)
            except (LoadError, StartError) as e:
                fig = Figure(error=str(e).splitlines()[0])
                print(f"  ERROR: {sc.name}/{label}: {e}", file=sys.stderr, flush=True)
            else:
                extra = f"  ({fig.flag})" if fig.flag else ""
                tag = f" round {rnd + 1}" if opts.rounds > 1 else ""
                print(f"  {label:<10}{tag} {fig.value:>12,.0f} {sc.unit}{extra}", flush=True)
                if fig.note:
                    print(f"  {'':<10}{tag} {fig.note}", flush=True)
            figures.setdefault(label, []).append(fig)
    return {label: best(figs) for label, figs in figures.items()}


def print_tables(results: dict[str, dict[str, Figure]], units: dict[str, str]) -> None:
    """One table per scenario group, in run order, each with its group's ratio base."""
    groups: dict[str, list[str]] = {}
    for name in results:
        groups.setdefault(SCENARIOS[name].group, []).append(name)
    for n, names in enumerate(groups.values()):
        first = SCENARIOS[names[0]]
        if n:
            print()
        notes = [f"  note: {SCENARIOS[x].note}" for x in names if SCENARIOS[x].note]
        print(table({x: results[x] for x in names}, units, base=first.base, notes=notes))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, help="seconds of wrk load per run (default 10)")
    p.add_argument(
        "--scenarios",
        default=",".join(ordered()),
        help=f"comma-separated, from: {', '.join(ordered())}",
    )
    p.add_argument("--contenders", help="comma-separated column labels to run (default all)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="3 s runs, no warm-up, one download per CONNECT contender",
    )
    p.add_argument("--warmup", type=float, help="seconds of wrk warm-up before each run (2)")
    p.add_argument("--connect-runs", type=int, help="downloads per CONNECT contender (3)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat every contender this often, interleaved; keep the best",
    )
    p.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for proxyhub and the stock Twisted proxies (e.g. pypy3)",
    )
    p.add_argument(
        "--reloads", type=int, default=10, help="SIGHUPs (one a second) of the reload scenario"
    )
    p.add_argument("--proxy-cpu", default="0", help="CPU for the proxies under test")
    p.add_argument("--load-cpu", default="1", help="CPU for wrk, curl and the origin")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    args = p.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


def preflight(args: argparse.Namespace) -> None:
    from shutil import which

    missing = [tool for tool in ("taskset", "wrk", "curl", "nginx") if not which(tool)]
    if missing:
        sys.exit(f"bench: missing tools: {', '.join(missing)}")
    cpus = os.sched_getaffinity(0)
    for cpu in (args.proxy_cpu, args.load_cpu):
        if int(cpu) not in cpus:
            sys.exit(f"bench: CPU {cpu} is not available here (have {sorted(cpus)})")
    load1 = os.getloadavg()[0]
    if load1 > 0.5:
        print(
            f"note: load average is {load1:.2f}: absolute figures will be low; compare the ratios",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preflight(args)
    quick = args.quick
    opts = Options(
        duration=args.duration or (3 if quick else 10),
        warmup=args.warmup if args.warmup is not None else (0 if quick else 2),
        connect_runs=args.connect_runs or (1 if quick else 3),
        rounds=max(1, args.rounds),
        load_cpu=args.load_cpu,
        reloads=max(1, args.reloads),
    )
    only = set(args.contenders.split(",")) if args.contenders else None
    env = environment(args.python, squid_binary())
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    # SIGTERM/SIGHUP unwind like Ctrl-C, so the finally below kills every child.
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    results: dict[str, dict[str, Figure]] = {}
    lab = Lab(args.proxy_cpu, args.load_cpu, args.python, keep=args.keep)
    try:
        print(
            f"bench: proxies on CPU {args.proxy_cpu}, load and origin on CPU {args.load_cpu}; "
            f"{opts.duration:g}s runs, temp dir {lab.root}"
        )
        if lab.get("origin") is None:
            return 2
        for name in args.scenarios.split(","):
            results[name] = run_scenario(lab, opts, SCENARIOS[name], only)
    finally:
        lab.close()

    print()
    units = {name: SCENARIOS[name].unit for name in results}
    what = {name: SCENARIOS[name].what for name in results}
    bases = {name: SCENARIOS[name].base for name in results}
    print_tables(results, units)
    if not args.no_json:
        options = {**asdict(opts), "proxy_cpu": args.proxy_cpu, "python": args.python}
        out = write_json(RESULTS_DIR, started, options, env, results, units, what, bases)
        print(f"\nresults: {out.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
