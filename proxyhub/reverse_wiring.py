"""Wiring of the ``[reverse]`` listeners: routes, backend sets, TLS with SNI.

Called by :mod:`proxyhub.service`; kept apart so each file stays readable.
Plain listeners redirect to HTTPS when ``redirect_to_https`` is on and a TLS
listener exists; TLS listeners pick the certificate by SNI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from .config import Config
from .net.backends import BackendSet
from .net.health_checks import HealthChecker
from .net.proxy_header import ProxyHeaderFactory
from .net.reverse import ReverseContext, ReverseFactory
from .net.tls import CertificateStore
from .policy.reverse_headers import ReverseRewriter
from .policy.routing import Router

Listen = Callable[[str, Any], Any]
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


def listen_reverse(config: Config, contexts: dict[str, ReverseContext], listen: Listen) -> None:
    """Bind every reverse listener; plain ones learn the TLS port for redirects."""
    reverse = config.reverse
    assert reverse is not None
    if reverse.proxy_protocol:
        reactor, timeout = contexts["http"].reactor, config.proxyhub.header_timeout
        bind = listen

        def listen(description: str, factory: Any) -> Any:
            return bind(description, ProxyHeaderFactory(factory, reactor, timeout))

    tls_ports = []
    https = contexts.get("https")
    if https is not None:
        store: CertificateStore = https.certificates
        factory = TLSMemoryBIOFactory(store.options(), False, ReverseFactory(https))  # type: ignore[arg-type]
        for description in reverse.tls_listen:
            tls_ports.append(listen(description, factory).getHost().port)
    plain = contexts["http"]
    if reverse.redirect_to_https and tls_ports:
        plain.redirect_to = tls_ports[0]
    for description in reverse.listen:
        listen(description, ReverseFactory(plain))
