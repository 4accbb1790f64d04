"""Serializing heads and chunked framing: every forwarded message is re-written."""

from __future__ import annotations

from collections.abc import Iterable

LAST_CHUNK = b"0\r\n\r\n"

_REASONS = {
    100: b"Continue",
    101: b"Switching Protocols",
    200: b"OK",
    204: b"No Content",
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    304: b"Not Modified",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    407: b"Proxy Authentication Required",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    421: b"Misdirected Request",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
    508: b"Loop Detected",
}


def reason_phrase(status: int) -> bytes:
    """The standard reason phrase for ``status``."""
    return _REASONS.get(status, b"Unknown")


def _fields_bytes(parts: list[bytes], fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    for name, value in fields:
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def request_head_bytes(
    method: bytes, target: bytes, fields: Iterable[tuple[bytes, bytes]]
) -> bytes:
    """Serialize an HTTP/1.1 request head."""
    return _fields_bytes([method, b" ", target, b" HTTP/1.1\r\n"], fields)


def response_head_bytes(status: int, reason: bytes, fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Serialize an HTTP/1.1 response head."""
    return _fields_bytes([b"HTTP/1.1 %d %s\r\n" % (status, reason)], fields)


def chunk_header(size: int) -> bytes:
    """The size line that precedes ``size`` bytes of chunk data."""
    return b"%x\r\n" % size
