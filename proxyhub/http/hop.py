"""The hop-by-hop header names (RFC 9110 section 7.6.1) every forwarded message loses.

Framing headers are in the set too: the proxy re-frames every message it
forwards and adds Content-Length or Transfer-Encoding itself.  The header
rewriters (``policy/forward_headers.py``, ``policy/reverse_headers.py``)
remove these, and those named in Connection, from the raw field block.
"""

from __future__ import annotations

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
