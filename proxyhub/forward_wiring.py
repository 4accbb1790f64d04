"""Wiring of the ``[forward]`` listener's shared state: policy, auth, parents, PAC.

Called by :mod:`proxyhub.service` at start and on every reload; kept apart
so each file stays readable.  The htpasswd file is read here (and again on
reload), so a reload picks up new users.
"""

from __future__ import annotations

from typing import Any

from .config import Config
from .config.loader import forward_rules
from .net.context import ForwardContext
from .policy.access import AccessPolicy
from .policy.forward_headers import ForwardRewriter
from .policy.htpasswd import load_htpasswd
from .policy.parents import ParentSelector
from .policy.proxy_auth import Authenticator


def forward_context(
    config: Config, shared: dict[str, Any], own: frozenset[tuple[str, int]] = frozenset()
) -> ForwardContext:
    """The context of the forward listeners (also used by SOCKS) for ``config``.

    Raises :class:`~proxyhub.policy.htpasswd.HtpasswdError` for a bad auth_file.
    """
    fwd = forward_rules(config)
    reactor = shared["reactor"]
    auth = None
    if fwd.auth_file is not None:
        users = load_htpasswd(fwd.auth_file, allow_plaintext=fwd.auth_plaintext)
        auth = Authenticator(users, clock=reactor.seconds, cache_ttl=fwd.auth_cache_ttl)
    name = config.proxyhub.name
    return ForwardContext(
        **shared,
        settings=config.proxyhub,
        forward=fwd,
        policy=AccessPolicy.from_settings(fwd, own_addresses=own),
        name=name,
        rewriter=ForwardRewriter(name, via=fwd.via, forwarded_for=fwd.forwarded_for),
        auth=auth,
        parents=ParentSelector(fwd.parent, fwd.parent_bypass, reactor.seconds),
        pac_direct=fwd.parent_bypass + fwd.pac_direct,
    )
