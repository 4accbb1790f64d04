"""Error responses written by the proxy itself.

Bodies are short, plain and HTML-escaped; they name the proxy and the reason
but never reflect request headers, so credentials and cookies cannot leak.
"""

from __future__ import annotations

import html

from ..http import reason_phrase, response_head_bytes

Fields = tuple[tuple[bytes, bytes], ...]


def error_page(
    status: int,
    detail: str,
    proxy_name: str,
    *,
    close: bool,
    location: bytes | None = None,
    fields: Fields = (),
    head_only: bool = False,
) -> bytes:
    """A complete HTTP/1.1 error (or redirect) response, head and body.

    ``head_only`` (the answer to a HEAD) leaves the body out, keeping its Content-Length.
    """
    reason = reason_phrase(status)
    title = f"{status} {reason.decode('ascii')}"
    body = (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(detail)}</p>\n<hr><address>{html.escape(proxy_name)}</address>\n</body></html>\n"
    )
    payload = body.encode("utf-8")
    head = [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Content-Length", b"%d" % len(payload)),
        (b"Cache-Control", b"no-store"),
        *fields,
    ]
    if location is not None:
        head.append((b"Location", location))
    if close:
        head.append((b"Connection", b"close"))
    return response_head_bytes(status, reason, head) + (b"" if head_only else payload)


def local_response(status: int, content_type: bytes, body: bytes, *, close: bool) -> bytes:
    """A complete response the proxy answers itself (a PAC file, for instance)."""
    head = [
        (b"Content-Type", content_type),
        (b"Content-Length", b"%d" % len(body)),
        (b"Cache-Control", b"max-age=300"),
    ]
    if close:
        head.append((b"Connection", b"close"))
    return response_head_bytes(status, reason_phrase(status), head) + body
