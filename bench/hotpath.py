"""The Python cost of one proxied request, with no sockets: for tuning the hot path.

The wrk scenarios in run.py measure the whole process, system calls and all, and on a
shared VM they move by 10-20% from one run to the next.  This drives the real
ForwardProtocol / ReverseProtocol, exchange and origin pool over in-memory transports
(the unit tests' harness), so what it times is proxyhub's own Python per request:

    python3 bench/hotpath.py                      # both proxies, microseconds per request
    python3 bench/hotpath.py --kind reverse --profile tottime   # where the time goes

For a figure that does not move at all, count instructions with callgrind: run it twice
with different --requests and divide the difference (the interpreter's start-up cancels):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        "$(python3 -c 'import sys; print(sys.executable)')" bench/hotpath.py --requests 1000 --once
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from twisted.internet.testing import MemoryReactorClock  # noqa: E402

from proxyhub.observe.metrics import Metrics  # noqa: E402
from tests.unit.net.harness import (  # noqa: E402
    accept_origin,
    connect_client,
    connect_reverse_client,
    make_context,
    make_reverse_context,
)

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 23:15:29 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 100\r\n"
    b"Last-Modified: Fri, 27 Nov 2026 23:15:29 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6569a1b1-64"\r\nAccept-Ranges: bytes\r\n\r\n' + b"x" * 100
)
REQUESTS = {
    "reverse": b"GET /100b HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "forward": b"GET http://127.0.0.1:8001/100b HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n\r\n",
}


def proxied_request(kind: str) -> Callable[[], None]:
    """A function that sends one request through a warmed-up proxy and answers it."""
    reactor = MemoryReactorClock()
    if kind == "reverse":
        ctx: Any = make_reverse_context(reactor, {"a.test": [8001]})
        ctx.metrics = Metrics()  # as in the real process
        proto, client = connect_reverse_client(ctx)
    else:
        ctx = make_context(reactor)
        ctx.metrics = Metrics()
        proto, client = connect_client(ctx)
    request = REQUESTS[kind]
    proto.dataReceived(request)
    reactor.advance(0)  # the forward proxy's name lookup
    origin, upstream = accept_origin(reactor)

    def once() -> None:
        origin.dataReceived(RESPONSE)
        if not client.value().startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"unexpected answer: {client.value()[:200]!r}")
        client.clear()
        upstream.clear()
        proto.dataReceived(request)

    once()
    if len(reactor.tcpClients) != 1:
        raise SystemExit("the origin connection was not reused")
    return once


def repeat(once: Callable[[], None], requests: int) -> None:
    """Send ``requests`` requests through the proxy."""
    for _ in range(requests):
        once()


def time_per_request(once: Callable[[], None], requests: int, rounds: int = 5) -> float:
    """The best of ``rounds`` timings, in seconds per request."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        repeat(once, requests)
        best = min(best, (time.perf_counter() - started) / requests)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["forward", "reverse", "both"], default="both")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", metavar="SORT", help="cProfile, sorted by SORT")
    parser.add_argument("--once", action="store_true", help="one untimed pass (for callgrind)")
    args = parser.parse_args()
    kinds = ["forward", "reverse"] if args.kind == "both" else [args.kind]
    for kind in kinds:
        once = proxied_request(kind)
        if args.once:
            repeat(once, args.requests)
        elif args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(repeat, once, args.requests)
            pstats.Stats(profiler).sort_stats(args.profile).print_stats(30)
        else:
            seconds = time_per_request(once, args.requests)
            print(f"{kind:8s} {seconds * 1e6:6.1f} us of Python per proxied request")


if __name__ == "__main__":
    main()
