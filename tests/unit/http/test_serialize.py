"""Serialization round trips, chunk framing, hop-by-hop stripping and field helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.http import (
    END,
    LAST_CHUNK,
    Limits,
    RequestHead,
    RequestReader,
    ResponseHead,
    ResponseReader,
    chunk_header,
    field_tokens,
    get_field,
    reason_phrase,
    request_head_bytes,
    response_head_bytes,
)

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TOKEN_TABLE = bytes(TCHAR[i % len(TCHAR)] for i in range(256))
_VALUE_TABLE = bytes((0x21 + i % 94) if i < 0x80 else i for i in range(256))

_VCHAR_TABLE = bytes(0x21 + i % 94 for i in range(256))

targets = st.binary(max_size=40).map(lambda b: b"/" + b.translate(_VCHAR_TABLE))
tokens = st.binary(min_size=1, max_size=16).map(lambda b: b.translate(_TOKEN_TABLE))
values = st.binary(max_size=30).map(lambda b: b.translate(_VALUE_TABLE))
fields_st = st.lists(
    st.tuples(
        tokens.filter(
            lambda n: n.lower() not in (b"host", b"content-length", b"transfer-encoding")
        ),
        values,
    ),
    max_size=10,
)


def test_request_head_bytes_exact() -> None:
    """A request head is written as method, target, HTTP/1.1, one line per field, empty line."""
    data = request_head_bytes(b"GET", b"/x?y", [(b"Host", b"h"), (b"X-A", b"1")])
    assert data == b"GET /x?y HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"


def test_response_head_bytes_exact() -> None:
    """A response head is written as HTTP/1.1, status, reason, fields, empty line."""
    data = response_head_bytes(404, b"Not Found", [(b"Content-Length", b"0")])
    assert data == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    assert response_head_bytes(200, b"OK", []) == b"HTTP/1.1 200 OK\r\n\r\n"


@settings(max_examples=100, deadline=None)
@given(tokens, targets, fields_st)
def test_request_head_round_trip(
    method: bytes, target: bytes, fields: list[tuple[bytes, bytes]]
) -> None:
    """A serialized request head parses back to the same method, target and fields."""
    fields = [(b"Host", b"example.com"), *fields]
    events = RequestReader(Limits()).feed(request_head_bytes(method, target, fields))
    head = events[0]
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.version) == (method, target, b"HTTP/1.1")
    assert head.fields == fields
    assert events[1:] == [END]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(100, 999).filter(lambda s: s != 101),
    st.binary(max_size=20).map(lambda b: b.translate(_VALUE_TABLE)),
    fields_st,
)
def test_response_head_round_trip(
    status: int, reason: bytes, fields: list[tuple[bytes, bytes]]
) -> None:
    """A serialized response head parses back to the same status, reason and fields."""
    reader = ResponseReader(Limits())
    reader.expect(b"HEAD")
    events = reader.feed(response_head_bytes(status, reason, fields))
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.reason, head.version) == (status, reason, b"HTTP/1.1")
    assert head.fields == fields
    assert events[1:] == ([] if status < 200 else [END])


@pytest.mark.parametrize(
    ("size", "line"),
    [
        (1, b"1\r\n"),
        (10, b"a\r\n"),
        (255, b"ff\r\n"),
        (4096, b"1000\r\n"),
        (2**40, b"10000000000\r\n"),
    ],
)
def test_chunk_header(size: int, line: bytes) -> None:
    """chunk_header writes the size in lower-case hex followed by CRLF."""
    assert chunk_header(size) == line


def test_last_chunk() -> None:
    """LAST_CHUNK is the zero-size chunk with an empty trailer section."""
    assert LAST_CHUNK == b"0\r\n\r\n"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=6))
def test_chunked_framing_round_trip(chunks: list[bytes]) -> None:
    """Chunks framed with chunk_header and LAST_CHUNK read back as the same body."""
    body = b"".join(chunk_header(len(c)) + c + b"\r\n" for c in chunks) + LAST_CHUNK
    head = request_head_bytes(b"POST", b"/", [(b"Host", b"h"), (b"Transfer-Encoding", b"chunked")])
    events = RequestReader(Limits()).feed(head + body)
    assert events[1:] == [*chunks, END]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (200, b"OK"),
        (308, b"Permanent Redirect"),
        (413, b"Content Too Large"),
        (431, b"Request Header Fields Too Large"),
        (502, b"Bad Gateway"),
        (508, b"Loop Detected"),
        (299, b"Unknown"),
    ],
)
def test_reason_phrase(status: int, reason: bytes) -> None:
    """Standard reasons for the statuses proxyhub sends, Unknown for the rest."""
    assert reason_phrase(status) == reason


def test_connection_tokens_of_every_connection_field() -> None:
    """A RequestHead carries the lower-cased tokens of all its Connection fields."""
    data = (
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: X-A\r\nconnection: x-b\r\n"
        b"X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n"
    )
    head = RequestReader(Limits()).feed(data)[0]
    assert isinstance(head, RequestHead)
    assert head.connection == frozenset({b"x-a", b"x-b"})


def test_get_field_and_field_tokens() -> None:
    """get_field finds the first value case-insensitively; field_tokens splits every list."""
    fields = [
        (b"Accept", b"a"),
        (b"ACCEPT", b"b"),
        (b"Cache-Control", b"No-Cache, ,max-age=0"),
        (b"cache-control", b"\tPrivate "),
    ]
    assert get_field(fields, b"accept") == b"a"
    assert get_field(fields, b"missing") is None
    assert field_tokens(fields, b"cache-control") == {b"no-cache", b"max-age=0", b"private"}
    assert field_tokens(fields, b"missing") == set()


def test_request_head_has_body() -> None:
    """has_body is true for chunked or a non-zero Content-Length only."""
    assert RequestHead(b"GET", b"/", b"HTTP/1.1", []).has_body is False
    assert RequestHead(b"POST", b"/", b"HTTP/1.1", [], content_length=0).has_body is False
    assert RequestHead(b"POST", b"/", b"HTTP/1.1", [], content_length=1).has_body is True
    assert RequestHead(b"POST", b"/", b"HTTP/1.1", [], chunked=True).has_body is True
    assert (
        repr(RequestHead(b"GET", b"/", b"HTTP/1.1", [])) == "RequestHead(b'GET', b'/', b'HTTP/1.1')"
    )
    assert (
        repr(ResponseHead(200, b"OK", b"HTTP/1.1", [])) == "ResponseHead(200, b'OK', b'HTTP/1.1')"
    )
