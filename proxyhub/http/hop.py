"""Hop-by-hop header removal (RFC 9110 section 7.6.1).

Framing headers are dropped too: the proxy re-frames every message it
forwards and adds Content-Length or Transfer-Encoding itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from .heads import Fields

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)


def strip_hop_by_hop(
    fields: Iterable[tuple[bytes, bytes]], connection: frozenset[bytes] = frozenset()
) -> Fields:
    """Return ``fields`` without hop-by-hop ones, those named in Connection included.

    Content-Length and Transfer-Encoding go too: callers add the framing they send.
    """
    drop = HOP_BY_HOP | connection if connection else HOP_BY_HOP
    return [(n, v) for n, v in fields if n.lower() not in drop]
