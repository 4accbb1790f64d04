"""Wiring of the admin site (``admin_listen``): metrics, health, dashboard and PAC file.

One site per process, built on first use and kept across reloads (it reads
the service's current plan on every request), so its ports can be bound and
unbound like any other.
"""

from __future__ import annotations

from typing import Any

from .admin.cache_pages import cache_pages
from .admin.site import Fixed, make_admin_site
from .admin.source import MetricsSource
from .listeners import Wanted
from .policy.pac import PAC_MIME_TYPE, pac_file
from .wiring import Plan, backend_states, listener_names


def admin_wanted(service: Any, plan: Plan) -> list[Wanted]:
    """The admin ports ``plan``'s config asks for (none without admin_listen)."""
    descriptions = plan.config.proxyhub.admin_listen
    if not descriptions:
        return []
    site = _site(service)
    site.source.listeners = tuple(listener_names(plan.config))
    return [Wanted("admin", d, None, lambda: (site, site)) for d in descriptions]


def _site(service: Any) -> Any:
    site = getattr(service, "admin_site", None)
    if site is None:
        cache = cache_pages(lambda: getattr(service.plan, "cache", None))
        site = service.admin_site = make_admin_site(
            _source(service), extra={**_pac_pages(service), **cache}, clock=service.reactor
        )
    return site


def _source(service: Any) -> MetricsSource:
    def backends() -> dict[str, dict[str, bool]]:
        plan = service.plan
        return backend_states(plan, service.reactor.seconds()) if plan is not None else {}

    return MetricsSource(
        service.reactor,
        lambda: [service.metrics.snapshot()],
        backends,
        workers=service.config.proxyhub.workers,
    )


def _pac_pages(service: Any) -> dict[bytes, Any]:
    """``/proxy.pac`` and ``/wpad.dat`` naming the first forward port."""

    def body() -> bytes:
        ports = service.listeners.ports("forward")
        plan = service.plan
        if not ports or plan is None or plan.forward is None:
            return b'function FindProxyForURL(url, host) { return "DIRECT"; }\n'
        address = ports[0].getHost()
        host = f"[{address.host}]" if ":" in address.host else address.host
        return pac_file(f"{host}:{address.port}", plan.forward.pac_direct)

    page = Fixed(PAC_MIME_TYPE, body)
    return {b"proxy.pac": page, b"wpad.dat": page}
