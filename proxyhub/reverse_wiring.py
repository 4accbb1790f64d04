"""Wiring of the ``[reverse]`` listeners: routes, backend sets, TLS with SNI.

Called by :mod:`proxyhub.service`; kept apart so each file stays readable.
Plain listeners redirect to HTTPS when ``redirect_to_https`` is on and a TLS
listener exists; TLS listeners pick the certificate by SNI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from .config import Config
from .config.values import endpoint_port
from .listeners import Wanted
from .net.backends import BackendSet
from .net.health_checks import HealthChecker
from .net.proxy_header import ProxyHeaderFactory
from .net.reverse import ReverseContext, ReverseFactory
from .net.tls import CertificateStore, ReloadableCertificates
from .net.tls_server import ServerTLSFactory
from .policy.reverse_headers import ReverseRewriter
from .policy.routing import Router

log = Logger()


def reverse_contexts(config: Config, shared: dict[str, Any]) -> dict[str, ReverseContext]:
    """One context per reverse listener kind ("http", "https"), sharing routes and backends."""
    reverse = config.reverse
    assert reverse is not None
    router = Router(config.routes)
    for route in config.routes:
        if not route.tls_verify and any(b.tls for b in route.backends):
            log.warn(
                "[{section}] tls_verify = no: https backends are NOT verified",
                section=route.section,
            )
    backends = {route: BackendSet(route, shared["reactor"]) for route in config.routes}
    rewriter = ReverseRewriter(reverse.trusted_proxies)
    base = dict(shared, routes=router, backends=backends, rewriter=rewriter)
    contexts = {"http": ReverseContext(**base, listener="reverse", scheme="http")}
    if reverse.tls_listen:
        store = CertificateStore.from_paths(list(reverse.certificate_files))
        hsts = b""
        if reverse.hsts_max_age:
            hsts = b"\r\nStrict-Transport-Security: max-age=%d" % int(reverse.hsts_max_age)
        contexts["https"] = ReverseContext(
            **base, listener="reverse-tls", scheme="https", certificates=store, hsts_line=hsts
        )
    return contexts


def start_health_checks(contexts: dict[str, ReverseContext]) -> list[HealthChecker]:
    """One checker per route (shared by all reverse listeners), already running."""
    context = contexts["http"]
    checkers = [HealthChecker(context.reactor, backends) for backends in context.backends.values()]
    for checker in checkers:
        checker.start()
    return checkers


def reverse_wanted(config: Config, contexts: dict[str, ReverseContext]) -> list[Wanted]:
    """The reverse ports a config asks for; plain ones learn the TLS port for redirects."""
    reverse = config.reverse
    assert reverse is not None
    plain = contexts["http"]
    wrap = _proxy_header_wrapper(config, plain) if reverse.proxy_protocol else _no_wrapper
    suffix = "+proxy-protocol" if reverse.proxy_protocol else ""
    wanted = []
    https = contexts.get("https")
    if https is not None:
        for description in reverse.tls_listen:
            wanted.append(_tls_wanted(https, description, wrap, suffix))
        tls_port = endpoint_port(reverse.tls_listen[0])
        if reverse.redirect_to_https and tls_port:
            plain.redirect_to = tls_port
    for description in reverse.listen:
        wanted.append(
            Wanted(
                "reverse" + suffix,
                description,
                plain,
                lambda: _plain_factories(plain, wrap),
            )
        )
    return wanted


def _plain_factories(ctx: ReverseContext, wrap: Callable[[Any], Any]) -> tuple[Any, Any]:
    inner = ReverseFactory(ctx)
    return wrap(inner), inner


def _tls_wanted(
    ctx: ReverseContext, description: str, wrap: Callable[[Any], Any], suffix: str
) -> Wanted:
    """A TLS port whose certificates a reload swaps in place."""

    def make() -> tuple[Any, Any]:
        holder = ReloadableCertificates(ctx.certificates)
        inner = ReverseFactory(ctx)
        inner.certificates = holder
        tls = ServerTLSFactory(holder.listener_context(), inner)
        return wrap(tls), inner

    def update(entry: Any) -> None:
        entry.inner.certificates.store = ctx.certificates

    return Wanted("reverse-tls" + suffix, description, ctx, make, update)


def _proxy_header_wrapper(config: Config, ctx: ReverseContext) -> Callable[[Any], Any]:
    reactor, timeout = ctx.reactor, config.proxyhub.header_timeout
    return lambda factory: ProxyHeaderFactory(factory, reactor, timeout)


def _no_wrapper(factory: Any) -> Any:
    return factory
