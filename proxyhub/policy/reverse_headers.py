"""Header rewriting for the reverse proxy: X-Forwarded-*, Forwarded, Host, upgrades.

Pure code over raw field blocks, like the forward rewriter.  Values a client
sent in ``X-Forwarded-*`` or ``Forwarded`` are dropped unless the client is a
trusted proxy, in which case its ``X-Forwarded-For`` is extended.
"""

from __future__ import annotations

import re
from ipaddress import ip_address

from ..config.model import Network
from ..http import RequestHead, ResponseHead
from ..http.hop import HOP_BY_HOP
from .forward_headers import drop_pattern

_XFF = re.compile(rb"\r\nx-forwarded-for:[\t ]*([^\r]*)", re.IGNORECASE)
_UPGRADE = re.compile(rb"\r\nupgrade:[\t ]*([^\r]*)", re.IGNORECASE)
_CLIENT_SUPPLIED = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded"}
)
_PLAIN_CONNECTION_TOKENS = frozenset({b"keep-alive", b"close", b"upgrade"})


def is_trusted(client_ip: str, trusted: tuple[Network, ...]) -> bool:
    """True when ``client_ip`` is inside one of the trusted-proxy networks."""
    if not trusted:
        return False
    try:
        address = ip_address(client_ip)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def websocket_upgrade(head: RequestHead) -> bool:
    """True for a request asking to switch to WebSocket (h2c and others are not passed)."""
    if b"upgrade" not in head.connection:
        return False
    values = _UPGRADE.findall(head.raw)
    return len(values) == 1 and values[0].strip().lower() == b"websocket"


class ReverseRewriter:
    """Rewrites heads crossing the reverse proxy."""

    def __init__(self, trusted_proxies: tuple[Network, ...]) -> None:
        self.trusted_proxies = trusted_proxies
        self._response_drop = frozenset(HOP_BY_HOP)
        request_drop = HOP_BY_HOP | {b"host"}
        self._drop_untrusted = frozenset(request_drop | _CLIENT_SUPPLIED)
        self._drop_trusted = frozenset(request_drop | {b"x-forwarded-for"})
        self._response_pattern = drop_pattern(self._response_drop)
        self._untrusted_pattern = drop_pattern(self._drop_untrusted)

    def request_block(
        self,
        head: RequestHead,
        *,
        client_ip: str,
        proto: str,
        host: bytes,
        upgrade: bool,
    ) -> bytes:
        """The field block for the backend: ``host`` is the Host value to send."""
        raw = head.raw
        trusted = is_trusted(client_ip, self.trusted_proxies)
        if not trusted and head.connection <= _PLAIN_CONNECTION_TOKENS:
            pattern = self._untrusted_pattern  # the usual case, compiled in advance
        else:
            names = self._drop_trusted if trusted else self._drop_untrusted
            pattern = drop_pattern(names | (head.connection - _PLAIN_CONNECTION_TOKENS))
        forwarded_for = client_ip.encode("ascii")
        lowered = b""
        if trusted:  # its X-Forwarded-For is extended, its other X-Forwarded-* kept
            prior = [v.rstrip(b" \t") for v in _XFF.findall(raw)]
            forwarded_for = b", ".join([*prior, forwarded_for])
            lowered = raw.lower()
        parts = [b"\r\nHost: ", host, pattern.sub(b"", raw), b"\r\nX-Forwarded-For: "]
        parts.append(forwarded_for)
        # An untrusted client's X-Forwarded-* were all dropped: ours go in without a look.
        if not trusted or b"x-forwarded-proto" not in lowered:
            parts.append(b"\r\nX-Forwarded-Proto: " + proto.encode("ascii"))
        if not trusted or b"x-forwarded-host" not in lowered:
            parts.append(b"\r\nX-Forwarded-Host: " + (head.host or host))
        if upgrade:
            parts.append(b"\r\nConnection: upgrade\r\nUpgrade: websocket")
        return b"".join(parts)

    def response_block(self, resp: ResponseHead) -> bytes:
        """The field block for the client (framing fields not included)."""
        if resp.connection <= _PLAIN_CONNECTION_TOKENS:
            return self._response_pattern.sub(b"", resp.raw)
        names = self._response_drop | (resp.connection - _PLAIN_CONNECTION_TOKENS)
        return drop_pattern(names).sub(b"", resp.raw)

    def switching_block(self, resp: ResponseHead) -> bytes:
        """The field block of a 101 answer: hop-by-hop stays out, the upgrade goes through."""
        return self.response_block(resp) + b"\r\nConnection: upgrade\r\nUpgrade: websocket"
