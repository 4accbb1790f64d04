"""What a finished request leaves behind: its metrics and its access-log line."""

from __future__ import annotations

from typing import Any

from ..http import RequestHead
from ..observe.accesslog import AccessRecord


def record_request(
    ctx: Any,
    *,
    started: float,
    client: str,
    user: str | None,
    head: RequestHead | None,
    status: int,
    bytes_in: int,
    bytes_out: int,
    upstream: str | None,
    route: Any,
    cache: str | None,
) -> None:
    """Count a request in ``ctx``'s metrics and write its line to ``ctx``'s access log."""
    now = ctx.reactor.seconds()
    started = started or now
    metrics = ctx.metrics
    if metrics is not None:
        host = route.host_label if route is not None else "-"
        metrics.request_done(ctx.listener, host, status, bytes_in, bytes_out, now - started)
    access_log = ctx.access_log
    if access_log is None:
        return
    access_log.log(
        AccessRecord(
            ts=started,
            listener=ctx.listener,
            client=client,
            user=user,
            method=head.method.decode("latin-1") if head else "-",
            target=head.target.decode("latin-1") if head else "-",
            status=status,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            duration_ms=(now - started) * 1000.0,
            upstream=upstream,
            cache=cache,
        )
    )
