"""What every forward-proxy connection shares: settings, policy, pool, resolver, log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config.model import ForwardSettings, ProxyhubSettings
from ..http import Limits
from ..observe.accesslog import AccessLog
from ..policy.access import AccessPolicy
from ..policy.forward_headers import ForwardRewriter
from .deadlines import DeadlineSweeper
from .registry import ConnectionRegistry
from .resolver import Resolver
from .upstream import OriginPool


@dataclass
class ForwardContext:
    """Shared state of one forward listener; built once by the service wiring."""

    reactor: Any
    settings: ProxyhubSettings
    forward: ForwardSettings
    policy: AccessPolicy
    pool: OriginPool
    resolver: Resolver
    sweeper: DeadlineSweeper
    limits: Limits
    access_log: AccessLog | None
    name: str
    rewriter: ForwardRewriter
    registry: ConnectionRegistry
    listener: str = "forward"
    auth: Any = None  # an Authenticator when auth_file is set
    parents: Any = None  # a ParentSelector when parent is set
    pac_direct: tuple[str, ...] = ()  # host patterns the PAC file sends DIRECT
    socks_ports: frozenset[int] | None = None  # [socks] ports; None = any
    metrics: Any = None  # the process's Metrics
    cache: Any = None  # the HttpCache (caching.py) when [cache] enabled = yes, else None
