"""Script-like tests of ResponseReader: framing by status and method, close-delimited bodies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.http import END, Limits, LocalProtocolError, RemoteProtocolError, ResponseHead
from proxyhub.http import ResponseReader as Reader

from .support import bytewise, pieces, response_error, summarize

OK_CL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: o\r\n\r\nhello"
OK_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nEtag: 1\r\nX: 2\r\n\r\n"
)


def reader(method: bytes = b"GET", **limits: int) -> Reader:
    """A ResponseReader expecting the answer to ``method``."""
    r = Reader(Limits(**limits))
    r.expect(method)
    return r


def test_content_length_response() -> None:
    """Status line, fields and a Content-Length body come out as head, data, END."""
    r = reader()
    events = r.feed(OK_CL)
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.reason, head.version) == (200, b"OK", b"HTTP/1.1")
    assert head.fields == [(b"Content-Length", b"5"), (b"Server", b"o")]
    assert head.content_length == 5
    assert head.keep_alive is True
    assert events[1:] == [b"hello", END]
    assert r.head is head


def test_chunked_response_dechunked_trailers_dropped() -> None:
    """A chunked response body arrives de-chunked and its trailers are dropped."""
    events = summarize(reader().feed(OK_CHUNKED))
    assert events[0][6] is True
    assert events[1:] == [("data", b"abcde"), ("end",)]


def test_status_line_without_reason() -> None:
    """A missing reason phrase is an empty reason, with or without the space."""
    for line in (b"HTTP/1.1 404", b"HTTP/1.1 404 "):
        head = reader().feed(line + b"\r\nContent-Length: 0\r\n\r\n")[0]
        assert isinstance(head, ResponseHead)
        assert (head.status, head.reason) == (404, b"")


def test_reason_keeps_spaces_and_obs_text() -> None:
    """The reason phrase is kept byte for byte."""
    head = reader().feed(b"HTTP/1.0 200 Tr\xe8s  bien\r\nContent-Length: 0\r\n\r\n")[0]
    assert isinstance(head, ResponseHead)
    assert head.reason == b"Tr\xe8s  bien"
    assert head.version == b"HTTP/1.0"
    assert head.keep_alive is False


def test_response_to_head_has_no_body() -> None:
    """A response to HEAD ends with its head, whatever its framing fields say."""
    for framing in (b"Content-Length: 50\r\n", b"Transfer-Encoding: chunked\r\n", b""):
        r = reader(b"HEAD")
        events = r.feed(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\nHTTP/1.1")
        assert events[1:] == [END]
        assert r.buffered == 8


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status: int) -> None:
    """204 and 304 responses end with their head."""
    r = reader()
    data = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status
    events = r.feed(data)
    assert isinstance(events[0], ResponseHead)
    assert events[0].status == status
    assert events[1:] == [END]


def test_interim_responses_then_final() -> None:
    """1xx heads are passed on without END and the final response follows in the same feed."""
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    events = summarize(reader(b"POST").feed(data))
    assert [e[:2] for e in events] == [
        ("response", 100),
        ("response", 103),
        ("response", 200),
        ("data", b"ok"),
        ("end",),
    ]


def test_101_switches_protocols() -> None:
    """After a 101 the reader stops parsing and hands over the rest."""
    r = reader()
    events = r.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05")
    assert len(events) == 1
    assert isinstance(events[0], ResponseHead)
    assert events[0].status == 101
    assert r.feed(b"hello") == []
    assert r.take_buffer() == b"\x81\x05hello"


def test_connect_2xx_switches_but_error_has_body() -> None:
    """A 2xx answer to CONNECT opens a tunnel; a 4xx answer is an ordinary response."""
    r = reader(b"CONNECT")
    events = r.feed(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03")
    assert len(events) == 1
    assert r.feed(b"\x01") == []
    assert r.take_buffer() == b"\x16\x03\x01"
    r = reader(b"CONNECT")
    events = r.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    assert events[1:] == [b"no", END]


def test_close_delimited_body_ends_at_eof() -> None:
    """Without Content-Length or chunked, the body runs to EOF and keep_alive is off."""
    r = reader()
    events = r.feed(b"HTTP/1.1 200 OK\r\nServer: o\r\n\r\nsome")
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert head.keep_alive is False
    assert head.content_length is None
    assert events[1:] == [b"some"]
    assert r.feed(b" more\r\n\r\nHTTP/1.1 200") == [b" more\r\n\r\nHTTP/1.1 200"]
    assert r.feed_eof() == [END]
    assert r.feed_eof() == []


def test_close_delimited_empty_body() -> None:
    """A close-delimited response may have no body at all."""
    r = reader()
    assert len(r.feed(b"HTTP/1.0 200 OK\r\n\r\n")) == 1
    assert r.feed_eof() == [END]


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
    ids=["length", "chunk-data", "chunk-size", "trailers", "head"],
)
def test_truncated_response_raises_502_at_eof(data: bytes) -> None:
    """EOF in the middle of a response is the origin's fault: 502."""
    r = reader()
    r.feed(data)
    with pytest.raises(RemoteProtocolError) as info:
        r.feed_eof()
    assert info.value.status == 502


def test_eof_after_interim_response_gives_no_end() -> None:
    """EOF after only a 1xx completes nothing: no END, so the caller reports a 502 itself."""
    r = reader()
    assert len(r.feed(b"HTTP/1.1 100 Continue\r\n\r\n")) == 1
    assert r.feed_eof() == []


def test_keep_alive_response_sequence() -> None:
    """One reader reads successive responses on a keep-alive connection, with expect() each."""
    r = reader()
    events = r.feed(OK_CL + b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    assert events[1:] == [b"hello", END]
    with pytest.raises(LocalProtocolError):
        reader().next_message()
    r.expect(b"HEAD")
    events = r.next_message()
    assert events[1:] == [END]
    assert r.buffered == 3


def test_response_head_too_large_and_too_many_fields_are_502() -> None:
    """Response limits are the origin's fault, so they map to 502, not 431."""
    big = b"HTTP/1.1 200 OK\r\nX: " + b"v" * 300 + b"\r\nContent-Length: 0\r\n\r\n"
    assert response_error([big], max_header_size=200)[0] == 502
    assert response_error(bytewise(big), max_header_size=200)[0] == 502
    many = b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 5 + b"Content-Length: 0\r\n\r\n"
    assert response_error([many], max_headers=5)[0] == 502


def test_response_identical_content_lengths_allowed() -> None:
    """An origin may repeat an identical Content-Length (RFC 9110 section 8.6)."""
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    assert reader().feed(data)[1:] == [b"ok", END]


RESPONSES = (
    b"HTTP/1.1 100 Continue\r\n\r\n" + OK_CHUNKED + OK_CL + b"HTTP/1.1 204 No Content\r\n\r\n"
)


def drive_responses(chunks: list[bytes]) -> list[tuple[object, ...]]:
    """Read a keep-alive sequence of responses to GETs, calling next_message() after each END."""
    r = reader()
    events = []
    for chunk in chunks:
        new = r.feed(chunk)
        while new:
            events.extend(new)
            new = r.next_message() if new[-1] is END else []
    return summarize(events)


def test_bytewise_responses_equal_one_feed() -> None:
    """Feeding responses one byte at a time gives the same merged events as one feed."""
    whole = drive_responses([RESPONSES])
    assert [e[0] for e in whole].count("end") == 3
    assert drive_responses(bytewise(RESPONSES)) == whole


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(RESPONSES)), max_size=10))
def test_any_response_split_equals_one_feed(cuts: list[int]) -> None:
    """Any split of a response sequence gives the same merged events as one feed."""
    assert drive_responses(pieces(RESPONSES, cuts)) == drive_responses([RESPONSES])


def test_response_body_limit_is_502_not_413() -> None:
    """A body over max_body_size from an origin is the origin's fault: 502, before the head."""
    declared = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
    status, events = response_error([declared], max_body_size=10)
    assert (status, events) == (502, [])
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert response_error([chunked, b"b\r\n"], max_body_size=10)[0] == 502
    until_close = b"HTTP/1.1 200 OK\r\n\r\n"
    assert response_error([until_close, b"x" * 6, b"y" * 5], max_body_size=10)[0] == 502
    bodyless = reader(b"HEAD", max_body_size=10).feed(declared)
    assert bodyless[1:] == [END]
