"""Header rewriting for the forward proxy: Host, Via, X-Forwarded-For, hop-by-hop.

Pure code over parsed heads.  It works on each head's raw field block with
precompiled regexes, so a request costs a handful of C-level passes however
many fields it has; the Twisted layer appends the framing fields it sends.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..http import RequestHead, ResponseHead
from ..http.hop import HOP_BY_HOP
from ..http.target import Authority

_PLAIN_CONNECTION_TOKENS = frozenset({b"keep-alive", b"close"})
_VIA = re.compile(rb"\r\nvia:[\t ]*([^\r]*)", re.IGNORECASE)
_XFF = re.compile(rb"\r\nx-forwarded-for:[\t ]*([^\r]*)", re.IGNORECASE)


@lru_cache(maxsize=256)
def drop_pattern(names: frozenset[bytes]) -> re.Pattern[bytes]:
    """A regex that deletes every field line named in ``names`` from a raw block."""
    alternatives = b"|".join(re.escape(n) for n in sorted(names))
    return re.compile(rb"\r\n(?:" + alternatives + rb"):[^\r]*", re.IGNORECASE)


def via_names(raw: bytes) -> list[str]:
    """The received-by names of every Via entry in a raw block (``1.1 a, 1.0 b (c)``)."""
    names: list[str] = []
    for value in _VIA.findall(raw):
        for entry in value.decode("latin-1").split(","):
            parts = entry.split()
            if len(parts) >= 2:
                names.append(parts[1].lower())
    return names


class ForwardRewriter:
    """Rewrites heads crossing the forward proxy, per the ``[forward]`` settings."""

    def __init__(self, our_name: str, *, via: bool, forwarded_for: str) -> None:
        self.our_name = our_name.lower()
        self.via_line = b"\r\nVia: 1.1 " + our_name.encode("ascii", "replace") if via else b""
        self.forwarded_for = forwarded_for
        request_drop = HOP_BY_HOP | {b"host"}
        if forwarded_for != "keep":
            request_drop = request_drop | {b"x-forwarded-for"}
        self._request_drop = frozenset(request_drop)
        self._response_drop = frozenset(HOP_BY_HOP)
        self._request_pattern = drop_pattern(self._request_drop)
        self._response_pattern = drop_pattern(self._response_drop)

    def request_block(
        self, head: RequestHead, authority: Authority, client_ip: str
    ) -> bytes | None:
        """The field block to send upstream, or None when our own Via shows a loop."""
        raw = head.raw
        if b"ia:" in raw and self.our_name in via_names(raw):  # cheap test for a Via line first
            return None
        parts = [b"\r\nHost: ", authority.host_header(80).encode("ascii"), self._strip(raw, head)]
        if self.forwarded_for == "add":
            prior = [v.rstrip(b" \t") for v in _XFF.findall(raw)]
            prior.append(client_ip.encode("ascii"))
            parts.append(b"\r\nX-Forwarded-For: " + b", ".join(prior))
        parts.append(self.via_line)
        return b"".join(parts)

    def _strip(self, raw: bytes, head: RequestHead) -> bytes:
        if head.connection <= _PLAIN_CONNECTION_TOKENS:
            return self._request_pattern.sub(b"", raw)
        names = self._request_drop | (head.connection - _PLAIN_CONNECTION_TOKENS)
        return drop_pattern(names).sub(b"", raw)

    def response_block(self, resp: ResponseHead) -> bytes:
        """The field block to send back to the client (framing fields not included)."""
        if resp.connection <= _PLAIN_CONNECTION_TOKENS:
            return self._response_pattern.sub(b"", resp.raw) + self.via_line
        names = self._response_drop | (resp.connection - _PLAIN_CONNECTION_TOKENS)
        return drop_pattern(names).sub(b"", resp.raw) + self.via_line
