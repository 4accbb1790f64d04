"""Strict parsing of request and response heads (RFC 9112 sections 2-6).

Input is one head without its final empty line.  Anything ambiguous is
refused rather than repaired: obs-fold, bare CR or LF, control bytes,
whitespace before a colon, conflicting or listed Content-Length, any
Transfer-Encoding but ``chunked``, and a missing or repeated Host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import RemoteProtocolError
from .heads import Fields, RequestHead, ResponseHead

_TCHAR = rb"!#$%&'*+.^_`|~0-9A-Za-z-"
_METHOD = re.compile(rb"[" + _TCHAR + rb"]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_FIELD = re.compile(rb"([" + _TCHAR + rb"]+):([\t\x20-\x7e\x80-\xff]*)")
_REASON = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_HOST = re.compile(rb"[A-Za-z0-9._~!$&'()*+,;=:%\[\]-]*")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_SUPPORTED = (b"HTTP/1.1", b"HTTP/1.0")
_FIELD_LINES = rb"((?:\r\n[" + _TCHAR + rb"]+:[\t\x20-\x7e\x80-\xff]*)*)"
_REQUEST_FAST = re.compile(rb"([" + _TCHAR + rb"]+) ([\x21-\x7e]+) (HTTP/1\.[01])" + _FIELD_LINES)
_RESPONSE_FAST = re.compile(
    rb"(HTTP/1\.[01]) ([1-9][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)" + _FIELD_LINES
)
_FRAMING_FIELD = re.compile(
    rb"\r\n(content-length|transfer-encoding|connection|host):[\t ]*([^\r]*)", re.IGNORECASE
)


@dataclass(frozen=True)
class Limits:
    """Size limits applied while reading; 0 for ``max_body_size`` means none."""

    max_target_size: int = 8 * 1024
    max_header_size: int = 32 * 1024
    max_headers: int = 100
    max_body_size: int = 0


def _fail(message: str, status: int = 400) -> RemoteProtocolError:
    return RemoteProtocolError(message, status)


def parse_fields(lines: list[bytes], max_headers: int) -> Fields:
    """Validate header lines and return their ``(name, value)`` pairs."""
    if len(lines) > max_headers:
        raise _fail(f"more than {max_headers} header fields", 431)
    fields: Fields = []
    match = _FIELD.fullmatch
    for line in lines:
        m = match(line)
        if m is None:
            raise _fail(_describe_bad_line(line))
        fields.append((m[1], m[2].strip(b" \t")))
    return fields


def _describe_bad_line(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "obsolete line folding in header"
    if b"\r" in line or b"\n" in line:
        return "bare CR or LF in header"
    name, colon, _ = line.partition(b":")
    if not colon:
        return "header line without a colon"
    if name != name.rstrip(b" \t"):
        return "whitespace before the colon of a header"
    if not _METHOD.fullmatch(name):
        return "invalid character in a header name"
    return "invalid character in a header value"


_NO_TOKENS: frozenset[bytes] = frozenset()
_COMMON_CONNECTION = {  # the values nearly every peer sends, pre-split
    b"keep-alive": frozenset({b"keep-alive"}),
    b"close": frozenset({b"close"}),
}
_CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION, _HOST_FIELD = range(4)
_FRAMING_FIELDS = {
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
    b"host": _HOST_FIELD,
}
_MAX_LENGTH_DIGITS = 18

Framing = tuple[int | None, bool, frozenset[bytes], bytes | None, int]
"""Content-Length, chunked, Connection tokens, Host value and the number of Host fields."""


def _scan_framing(fields: Iterable[tuple[bytes, bytes]], status_for_errors: int) -> Framing:
    """Find Content-Length, Transfer-Encoding, Connection and Host in one pass.

    ``status_for_errors`` is 400 for requests and 502 for responses; responses
    alone may repeat an identical Content-Length (RFC 9110 section 8.6).
    Values may still carry trailing whitespace.
    """
    content_length: int | None = None
    chunked = False
    connection = _NO_TOKENS
    host = None
    host_count = 0
    kind_of = _FRAMING_FIELDS.get
    for name, value in fields:
        kind = kind_of(name.lower())
        if kind is None:
            continue
        value = value.rstrip(b" \t")
        if kind == _CONTENT_LENGTH:
            length = _content_length(value, status_for_errors)
            if content_length is not None and (
                status_for_errors == 400 or length != content_length
            ):
                raise _fail("repeated Content-Length", status_for_errors)
            content_length = length
        elif kind == _CONNECTION:
            tokens = _COMMON_CONNECTION.get(value.lower()) or _connection_tokens(value)
            connection = connection | tokens if connection else tokens
        elif kind == _TRANSFER_ENCODING:
            if chunked or value.lower() != b"chunked":
                raise _fail("unsupported or repeated Transfer-Encoding", status_for_errors)
            chunked = True
        else:
            host_count += 1
            host = value
    if chunked and content_length is not None:
        raise _fail("both Content-Length and Transfer-Encoding", status_for_errors)
    return content_length, chunked, connection, host, host_count


def _content_length(value: bytes, status_for_errors: int) -> int:
    if not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:  # bytes.isdigit: ASCII only
        raise _fail("invalid Content-Length", status_for_errors)
    return int(value)


def _connection_tokens(value: bytes) -> frozenset[bytes]:
    return frozenset(t.strip(b" \t").lower() for t in value.split(b",")) - {b""}


def _keep_alive(version: bytes, connection: frozenset[bytes]) -> bool:
    return b"close" not in connection and (version == b"HTTP/1.1" or b"keep-alive" in connection)


def _framing_of_raw(raw: bytes, max_headers: int, status_for_errors: int) -> Framing:
    """Framing facts of a field block whose shape one regex already validated.

    Only the four framing fields are picked out (by one C-level ``findall``);
    the full list of fields is built later, and only if someone asks for it.
    """
    if len(raw) > 4 * max_headers and raw.count(b"\r\n") > max_headers:  # 4+ bytes a line
        raise _fail(f"more than {max_headers} header fields", 431)
    return _scan_framing(_FRAMING_FIELD.findall(raw), status_for_errors)


def parse_request_head(head: bytes, limits: Limits) -> RequestHead:
    """Parse one request head (request line and fields, no final CRLF CRLF).

    A single regex validates the common well-formed head at C speed; anything
    it does not match goes through the line-by-line path, which is the
    specification and names the fault precisely.
    """
    m = _REQUEST_FAST.fullmatch(head)
    fields: Fields | None = None
    raw: bytes | None = None
    if m is not None and m.end(2) - m.start(2) <= limits.max_target_size:
        method, target, version, raw = m.groups()
        framing = _framing_of_raw(raw, limits.max_headers, 400)
    else:
        lines = head.split(b"\r\n")
        method, target, version = _split_request_line(lines[0], limits)
        fields = parse_fields(lines[1:], limits.max_headers)
        framing = _scan_framing(fields, 400)
    content_length, chunked, connection, host, host_count = framing
    if chunked and version == b"HTTP/1.0":
        raise _fail("Transfer-Encoding in an HTTP/1.0 request")
    if host_count > 1 or (host_count == 0 and version == b"HTTP/1.1"):
        raise _fail("an HTTP/1.1 request needs exactly one Host header")
    if host is not None and not _HOST.fullmatch(host):
        raise _fail("invalid Host header")
    if limits.max_body_size and (content_length or 0) > limits.max_body_size:
        raise _fail("request body larger than max_body_size", 413)
    return RequestHead(
        method,
        target,
        version,
        fields,
        raw=raw,
        host=host,
        content_length=content_length,
        chunked=chunked,
        connection=connection,
        keep_alive=_keep_alive(version, connection),
    )


def _split_request_line(line: bytes, limits: Limits) -> tuple[bytes, bytes, bytes]:
    parts = line.split(b" ")
    if len(parts) != 3:
        if b"\r" in line or b"\n" in line:
            raise _fail("bare CR or LF in the request line")
        raise _fail("malformed request line")
    method, target, version = parts
    if len(target) > limits.max_target_size:
        raise _fail("request target too long", 414)
    if not _METHOD.fullmatch(method) or not _TARGET.fullmatch(target):
        raise _fail("malformed request line")
    if version not in _SUPPORTED:
        if _VERSION.fullmatch(version):
            raise _fail("HTTP version not supported", 505)
        raise _fail("malformed request line")
    return method, target, version


def parse_response_head(head: bytes, limits: Limits) -> ResponseHead:
    """Parse one response head; every fault is the origin's, hence 502."""
    m = _RESPONSE_FAST.fullmatch(head)
    fields: Fields | None = None
    raw: bytes | None = None
    try:
        if m is not None:
            version, code, reason, raw = m.groups()
            status = int(code)
            framing = _framing_of_raw(raw, limits.max_headers, 502)
        else:
            lines = head.split(b"\r\n")
            status, reason, version = _split_status_line(lines[0])
            fields = parse_fields(lines[1:], limits.max_headers)
            framing = _scan_framing(fields, 502)
    except RemoteProtocolError as e:
        if e.status == 502:
            raise
        raise _fail(f"origin sent {e}", 502) from None
    return ResponseHead(
        status,
        reason,
        version,
        fields,
        raw=raw,
        content_length=framing[0],
        chunked=framing[1],
        connection=framing[2],
        keep_alive=_keep_alive(version, framing[2]),
    )


def _split_status_line(line: bytes) -> tuple[int, bytes, bytes]:
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in _SUPPORTED or len(code) != 3 or not code.isdigit():
        raise _fail("origin sent a malformed status line", 502)
    if not _REASON.fullmatch(reason):
        raise _fail("origin sent a malformed reason phrase", 502)
    status = int(code)
    if status < 100:
        raise _fail("origin sent a malformed status code", 502)
    return status, reason, version
