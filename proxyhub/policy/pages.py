"""Error responses written by the proxy itself.

Bodies are short, plain and HTML-escaped; they name the proxy and the reason
but never reflect request headers, so credentials and cookies cannot leak.
"""

from __future__ import annotations

import html

from ..http import reason_phrase, response_head_bytes


def error_page(
    status: int, detail: str, proxy_name: str, *, close: bool, location: bytes | None = None
) -> bytes:
    """A complete HTTP/1.1 error (or redirect) response, head and body."""
    reason = reason_phrase(status)
    title = f"{status} {reason.decode('ascii')}"
    body = (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(detail)}</p>\n<hr><address>{html.escape(proxy_name)}</address>\n</body></html>\n"
    )
    payload = body.encode("utf-8")
    fields = [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Content-Length", b"%d" % len(payload)),
        (b"Cache-Control", b"no-store"),
    ]
    if location is not None:
        fields.append((b"Location", location))
    if close:
        fields.append((b"Connection", b"close"))
    return response_head_bytes(status, reason, fields) + payload
