"""From a validated config to contexts and the ports they serve: a :class:`Plan`.

The service builds a plan at start and again on every reload; a plan that
cannot be built (an unreadable htpasswd, a bad certificate) is refused as a
whole with :class:`PlanError`, so a reload never half-applies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .config.loader import forward_rules
from .forward_wiring import forward_context
from .listeners import Wanted
from .net.caching import HttpCache, make_cache
from .net.context import ForwardContext
from .net.forward import ForwardFactory
from .net.reverse import ReverseContext
from .net.socks import SocksFactory
from .net.tls import CertificateError
from .policy.access import AccessPolicy
from .policy.htpasswd import HtpasswdError
from .reverse_wiring import reverse_contexts, reverse_wanted


class PlanError(Exception):
    """The config is valid but cannot be served (certificates, htpasswd)."""


@dataclass
class Plan:
    """Contexts for one config and every port it wants."""

    config: Config
    forward: ForwardContext | None = None
    socks: ForwardContext | None = None
    reverse: dict[str, ReverseContext] = field(default_factory=dict)
    wanted: list[Wanted] = field(default_factory=list)
    cache: HttpCache | None = None


def make_plan(config: Config, shared: dict[str, Any], previous: Plan | None = None) -> Plan:
    """Build every context of ``config``; raise :class:`PlanError` if one cannot be.

    ``previous`` is the running plan on a reload: its cache's store is kept
    (unless the store's sizes changed), so a reload does not empty the cache.
    """
    plan = Plan(config)
    old_cache = previous.cache if previous is not None else None
    plan.cache = make_cache(config.cache, shared["reactor"], shared.get("metrics"), old_cache)
    shared = dict(shared, cache=plan.cache)
    try:
        if config.forward is not None or config.socks is not None:
            _forward_and_socks(plan, shared)
        if config.reverse is not None:
            reverse_shared = dict(shared, settings=config.proxyhub, name=config.proxyhub.name)
            plan.reverse = reverse_contexts(config, reverse_shared)
            plan.wanted += reverse_wanted(config, plan.reverse)
    except HtpasswdError as e:
        raise PlanError(f"auth_file: {e}") from None
    except CertificateError as e:
        raise PlanError(f"certificates: {e}") from None
    return plan


def _forward_and_socks(plan: Plan, shared: dict[str, Any]) -> None:
    config = plan.config
    ctx = forward_context(config, shared)
    if config.forward is not None:
        plan.forward = ctx
        for description in config.forward.listen:
            plan.wanted.append(Wanted("forward", description, ctx, _factories(ForwardFactory, ctx)))
    if config.socks is not None:
        socks = dataclasses.replace(ctx, listener="socks", socks_ports=config.socks.ports)
        plan.socks = socks
        for description in config.socks.listen:
            plan.wanted.append(Wanted("socks", description, socks, _factories(SocksFactory, socks)))


def _factories(cls: Any, ctx: Any) -> Any:
    def make() -> tuple[Any, Any]:
        factory = cls(ctx)
        return factory, factory

    return make


def learn_own_addresses(plan: Plan, ports: list[Any]) -> None:
    """Give the forward rules the bound forward and SOCKS addresses (requests to them: 508)."""
    own = frozenset((p.getHost().host, p.getHost().port) for p in ports)
    rules = forward_rules(plan.config)
    for ctx in (plan.forward, plan.socks):
        if ctx is not None:
            ctx.policy = AccessPolicy.from_settings(rules, own_addresses=own)


def backend_states(plan: Plan, now: float) -> dict[str, dict[str, bool]]:
    """Every route's backends, up or down, for the admin site."""
    http = plan.reverse.get("http")
    if http is None:
        return {}
    return {
        route.section: {b.url: backends.health.is_up(b, now) for b in route.backends}
        for route, backends in http.backends.items()
    }


def listener_names(config: Config) -> list[str]:
    """``kind description`` of every proxy listener of ``config``, for /healthz."""
    names = []
    for kind in ("forward", "socks", "reverse"):
        section = getattr(config, kind)
        if section is not None:
            names += [f"{kind} {d}" for d in section.listen]
    if config.reverse is not None:
        names += [f"reverse-tls {d}" for d in config.reverse.tls_listen]
    return names


def config_changes(old: Config, new: Config) -> list[str]:
    """One line per section added, removed or changed (naming the keys), for the reload log."""
    before, after = _sections(old), _sections(new)
    lines = [f"[{name}] added" for name in after if name not in before]
    lines += [f"[{name}] removed" for name in before if name not in after]
    for name in before.keys() & after.keys():
        keys = [k for k in after[name] if before[name].get(k) != after[name][k]]
        if keys:
            lines.append(f"[{name}] changed: {', '.join(sorted(keys))}")
    return sorted(lines)


def _sections(config: Config) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {"proxyhub": dataclasses.asdict(config.proxyhub)}
    for name in ("forward", "socks", "reverse", "cache"):
        section = getattr(config, name)
        if section is not None:
            found[name] = dataclasses.asdict(section)
    for route in config.routes:
        found[route.section] = dataclasses.asdict(route)
    return found
