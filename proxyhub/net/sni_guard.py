"""The domain-fronting guard of CONNECT tunnels (``sni_guard = yes``).

A client may CONNECT to an allowed host and then ask, inside TLS, for
another one.  With the guard on, the first bytes of the tunnel must be a TLS
ClientHello whose SNI names the CONNECT host and passes the domain rules;
otherwise the tunnel is closed (nothing reaches the origin) and one warning
line says why.  Nothing is decrypted: only the ClientHello is read.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from ..policy.domains import normalize_host
from ..wire.client_hello import Hello, NeedMore, read_client_hello

log = Logger()


class SniGuard:
    """Holds a tunnel's first client bytes until their ClientHello is judged."""

    def __init__(self, ctx: Any, connect_host: str, client: str) -> None:
        self.ctx = ctx
        self.connect_host = normalize_host(connect_host)
        self.client = client
        self.waiting = True
        self.refused = False
        self._held = b""

    def inspect(self, data: bytes) -> bytes:
        """Feed client bytes; returns what may now go to the origin (all held bytes once ok)."""
        self._held += data
        result = read_client_hello(self._held)
        if isinstance(result, NeedMore):
            return b""
        self.waiting = False
        problem = self._problem(result)
        if problem is not None:
            self.refused = True
            log.warn(
                "sni_guard closed a tunnel: client={client} connect={host} reason={reason}",
                client=self.client,
                host=self.connect_host,
                reason=problem,
            )
            return b""
        held, self._held = self._held, b""
        return held

    def _problem(self, result: object) -> str | None:
        """Why the tunnel must close, or None when the ClientHello is acceptable."""
        if not isinstance(result, Hello):
            return f"not a TLS ClientHello ({getattr(result, 'reason', 'unreadable')})"
        if result.sni is None:
            return "the ClientHello names no server (no SNI)"
        sni = normalize_host(result.sni)
        if sni != self.connect_host:
            return f"the ClientHello asks for {sni!r}"
        decision = self.ctx.policy.check_host(sni)
        if not decision.allowed:
            return f"{sni!r} is denied ({decision.rule})"
        return None
