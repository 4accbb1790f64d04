"""Script-like tests of RequestReader: heads, bodies, pipelining, splits and limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.http import (
    END,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    RequestHead,
    RequestReader,
)

from .support import bytewise, drive, pieces, request_error, request_events, summarize

GET = b"GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
POST_CL = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
POST_CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\nhello\r\n1;ext=1;q="a b"\r\n \r\nA\r\nworld12345\r\n0\r\nX-Trailer: t\r\n\r\n'
)


def test_get_head_fields() -> None:
    """A GET head comes out as one RequestHead with every field and framing fact, then END."""
    reader = RequestReader(Limits())
    events = reader.feed(GET)
    assert len(events) == 2
    head, end = events
    assert isinstance(head, RequestHead)
    assert end is END
    assert head.method == b"GET"
    assert head.target == b"http://example.com/a?b=c"
    assert head.version == b"HTTP/1.1"
    assert head.fields == [(b"Host", b"example.com"), (b"Accept", b"*/*")]
    assert head.host == b"example.com"
    assert head.content_length is None
    assert head.chunked is False
    assert head.has_body is False
    assert head.keep_alive is True
    assert reader.head is head
    assert reader.buffered == 0


def test_field_values_lose_surrounding_whitespace_only() -> None:
    """Optional whitespace around a value is dropped, inner whitespace and obs-text are kept."""
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-A:\t a \t b \t\r\nX-B:\r\nX-C: \xe9t\xe9\r\n\r\n"
    head = request_events(data)[0]
    assert head[4] == ((b"Host", b"h"), (b"X-A", b"a \t b"), (b"X-B", b""), (b"X-C", b"\xe9t\xe9"))


def test_field_names_keep_their_spelling() -> None:
    """Names keep the client's case and order, and repeats stay separate."""
    data = b"GET / HTTP/1.1\r\nhOsT: h\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n"
    head = request_events(data)[0]
    assert head[4] == ((b"hOsT", b"h"), (b"X-Dup", b"1"), (b"x-dup", b"2"))
    assert head[5] == b"h"


def test_partial_head_is_held_until_complete() -> None:
    """A head split across feeds is kept, not dropped, and parsed once its end arrives."""
    reader = RequestReader(Limits())
    assert reader.feed(GET[:20]) == []
    assert reader.buffered == 20
    assert reader.feed(GET[20:-1]) == []
    assert reader.buffered == len(GET) - 1
    events = reader.feed(GET[-1:])
    assert isinstance(events[0], RequestHead)
    assert events[0].fields == [(b"Host", b"example.com"), (b"Accept", b"*/*")]
    assert reader.buffered == 0


def test_content_length_body() -> None:
    """A Content-Length body is delivered exactly, then END."""
    assert request_events(POST_CL)[1:] == [("data", b"hello world"), ("end",)]
    reader = RequestReader(Limits())
    head = reader.feed(POST_CL[:-11])[0]
    assert isinstance(head, RequestHead)
    assert head.content_length == 11
    assert head.has_body is True
    assert reader.feed(b"hello") == [b"hello"]
    assert reader.feed(b" world") == [b" world", END]


def test_content_length_zero_has_no_body() -> None:
    """Content-Length: 0 ends the message with the head."""
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n"
    events = request_events(data)
    assert events[0][6] == 0
    assert events[1:] == [("end",)]


def test_chunked_body_is_dechunked_and_trailers_dropped() -> None:
    """Chunk data arrives without sizes, extensions or trailers."""
    events = request_events(POST_CHUNKED)
    assert events[0][7] is True
    assert events[0][6] is None
    assert events[1:] == [("data", b"hello world12345"), ("end",)]


def test_chunked_events_per_chunk() -> None:
    """Each chunk's data is its own event when fed whole."""
    reader = RequestReader(Limits())
    events = reader.feed(POST_CHUNKED)
    assert events[1:] == [b"hello", b" ", b"world12345", END]


def test_chunked_uppercase_hex_and_leading_zeros() -> None:
    """Chunk sizes are hex in either case, leading zeros allowed up to 16 digits."""
    body = b"00000000000000Ff\r\n" + b"x" * 255 + b"\r\n0\r\n\r\n"
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n" + body
    assert request_events(data)[1:] == [("data", b"x" * 255), ("end",)]


def test_pipelined_requests_held_until_next_message() -> None:
    """After END the reader holds the next request's bytes until next_message()."""
    second = b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
    reader = RequestReader(Limits())
    events = reader.feed(POST_CL + second + b"GET /3")
    assert [type(e) for e in events] == [RequestHead, bytes, type(END)]
    assert reader.buffered == len(second) + 6
    assert reader.feed(b" HTTP/1.1\r\nHost: h\r\n\r\n") == []
    nxt = reader.next_message()
    assert len(nxt) == 2
    assert isinstance(nxt[0], RequestHead)
    assert nxt[0].target == b"/2"
    assert nxt[1] is END
    third = reader.next_message()
    assert isinstance(third[0], RequestHead)
    assert third[0].target == b"/3"
    assert reader.next_message() == []
    assert reader.buffered == 0


def test_next_message_before_end_is_a_local_error() -> None:
    """Asking for the next message in the middle of one is proxyhub's own bug."""
    reader = RequestReader(Limits())
    reader.feed(POST_CL[:-3])
    with pytest.raises(LocalProtocolError):
        reader.next_message()


def test_leading_crlfs_tolerated() -> None:
    """A few empty lines before a request line are skipped (RFC 9112 section 2.2)."""
    data = b"\r\n\r\n" + GET
    assert request_events(data) == request_events(GET)
    assert request_events(b"", bytewise(data)) == request_events(GET)


def test_leading_crlfs_between_pipelined_requests() -> None:
    """A stray CRLF after a body (old clients) does not break the next request."""
    data = POST_CL + b"\r\n" + GET
    events = request_events(data)
    assert [e[0] for e in events] == ["request", "data", "end", "request", "end"]


def test_too_many_leading_crlfs_refused() -> None:
    """More than eight empty lines before a message is not a client, it is noise."""
    assert request_error([b"\r\n" * 9 + GET])[0] == 400
    assert request_events(b"\r\n" * 8 + GET) == request_events(GET)


@pytest.mark.parametrize("prefix", [b"\n", b"\r\r\n", b"\r\n\n", b"\rGET"])
def test_leading_bare_line_breaks_refused(prefix: bytes) -> None:
    """Empty lines before a head must be CRLF, not bare LF or CR."""
    assert request_error([prefix + GET])[0] == 400
    assert request_error(bytewise(prefix + GET))[0] == 400


def test_eof_between_messages_is_clean() -> None:
    """EOF before any byte, or after only empty lines, gives no event and no error."""
    reader = RequestReader(Limits())
    assert reader.feed_eof() == []
    reader = RequestReader(Limits())
    assert reader.feed(b"\r\n\r") == []
    assert reader.feed_eof() == []


@pytest.mark.parametrize(
    "data",
    [b"GET / HT", GET[:-1], POST_CL[:-1], POST_CHUNKED[:-3], POST_CHUNKED[:60]],
    ids=["request-line", "head", "length-body", "trailers", "chunk-data"],
)
def test_eof_inside_a_message_raises(data: bytes) -> None:
    """A message cut short by EOF (head, length body or chunked body) is a 400."""
    reader = RequestReader(Limits())
    reader.feed(data)
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed_eof()
    assert info.value.status == 400


def test_keep_alive_rules() -> None:
    """keep_alive follows the version and the Connection tokens."""
    cases = [
        (b"HTTP/1.1", b"", True),
        (b"HTTP/1.1", b"Connection: close\r\n", False),
        (b"HTTP/1.1", b"Connection: Keep-Alive, CLOSE\r\n", False),
        (b"HTTP/1.0", b"", False),
        (b"HTTP/1.0", b"Connection: keep-alive\r\n", True),
    ]
    for version, extra, keep in cases:
        data = b"GET / " + version + b"\r\nHost: h\r\n" + extra + b"\r\n"
        head = request_events(data)[0]
        assert head[9] is keep, (version, extra)


def test_connection_tokens_lowercased() -> None:
    """Connection tokens from every Connection field are collected lower-cased."""
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Foo , ,Upgrade\r\nConnection: TE\r\n\r\n"
    assert request_events(data)[0][8] == frozenset({b"x-foo", b"upgrade", b"te"})


def test_http10_request_without_host() -> None:
    """HTTP/1.0 requests may omit Host."""
    head = request_events(b"GET / HTTP/1.0\r\n\r\n")[0]
    assert head[3] == b"HTTP/1.0"
    assert head[5] is None


def test_connect_then_switch_protocols() -> None:
    """After CONNECT and switch_protocols() the rest of the stream is opaque, held bytes."""
    reader = RequestReader(Limits())
    events = reader.feed(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03"
    )
    assert isinstance(events[0], RequestHead)
    assert events[0].target == b"example.com:443"
    assert events[1:] == [END]
    reader.switch_protocols()
    assert reader.feed(b"\x01\x00 anything\n") == []
    assert reader.take_buffer() == b"\x16\x03\x01\x00 anything\n"
    assert reader.buffered == 0


# -- splits ---------------------------------------------------------------------------------

STREAM = b"\r\n" + POST_CHUNKED + POST_CL + GET + b"GET / HTTP/1.0\r\n\r\n"


def test_bytewise_feeding_equals_one_feed() -> None:
    """Feeding one byte at a time gives the same merged events as one feed."""
    whole = request_events(STREAM)
    assert [e[0] for e in whole].count("end") == 4
    assert request_events(b"", bytewise(STREAM)) == whole


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_split_equals_one_feed(cuts: list[int]) -> None:
    """Any split of a pipelined stream gives the same merged events as one feed."""
    assert request_events(b"", pieces(STREAM, cuts)) == request_events(STREAM)


def test_data_events_are_never_empty_and_stream_as_they_arrive() -> None:
    """Body bytes are passed on as soon as they arrive, one event per feed, never empty."""
    reader = RequestReader(Limits())
    events = drive(reader, bytewise(POST_CL))
    body = [e for e in events if isinstance(e, bytes)]
    assert body == bytewise(b"hello world")


# -- limits ---------------------------------------------------------------------------------


def test_long_target_is_414() -> None:
    """A target over max_target_size is a 414, whole or byte by byte."""
    data = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    assert request_error([data], max_target_size=100)[0] == 414
    assert request_error(bytewise(data), max_target_size=100)[0] == 414
    assert request_events(data, max_target_size=101)[0][2] == b"/" + b"a" * 100


def test_endless_request_line_is_414_before_the_line_ends() -> None:
    """A request line with no end in sight is refused once past the target limit."""
    reader = RequestReader(Limits(max_target_size=100))
    reader.feed(b"GET /" + b"a" * 150)
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"a" * 20)
    assert info.value.status == 414


def test_target_longer_than_the_head_limit_is_414_in_any_split() -> None:
    """A huge target is a 414, not a 431, however the bytes arrive."""
    data = b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    limits = {"max_target_size": 100, "max_header_size": 1000}
    assert request_error([data], **limits)[0] == 414
    assert request_error(pieces(data, [600]), **limits)[0] == 414
    assert request_error(bytewise(data), **limits)[0] == 414


def test_head_too_large_is_431() -> None:
    """A head over max_header_size is a 431, whole or still arriving."""
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 200 + b"\r\n\r\n"
    assert request_error([data], max_header_size=200)[0] == 431
    assert request_error(bytewise(data), max_header_size=200)[0] == 431
    assert request_events(data, max_header_size=len(data))[0][0] == "request"
    assert request_error([data], max_header_size=len(data) - 1)[0] == 431


def test_too_many_headers_is_431() -> None:
    """More fields than max_headers is a 431."""
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(10))
    data = b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n"
    assert request_error([data], max_headers=10)[0] == 431
    assert len(request_events(data, max_headers=11)[0][4]) == 11


def test_content_length_over_max_body_is_413_before_any_body() -> None:
    """A declared length over max_body_size is refused at the head, with no event."""
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"
    status, events = request_error([data], max_body_size=100)
    assert status == 413
    assert events == []
    assert request_events(data + b"x" * 100, max_body_size=101)[1] == ("data", b"x" * 100)


def test_chunked_total_over_max_body_is_413() -> None:
    """Chunks adding up to more than max_body_size are a 413 as soon as the size is read."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + b"40\r\n" + b"a" * 64 + b"\r\n41\r\n"
    status, events = request_error(pieces(data, [len(data) - 4]), max_body_size=128)
    assert status == 413
    assert summarize(events)[1] == ("data", b"a" * 64)
    ok = head + b"40\r\n" + b"a" * 64 + b"\r\n40\r\n" + b"b" * 64 + b"\r\n0\r\n\r\n"
    assert request_events(ok, max_body_size=128)[1:] == [("data", b"a" * 64 + b"b" * 64), ("end",)]


def test_body_limit_is_per_message() -> None:
    """max_body_size counts each pipelined message separately."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    one = head + b"a\r\n0123456789\r\n0\r\n\r\n"
    events = request_events(one * 3, max_body_size=10)
    assert [e for e in events if e[0] == "data"] == [("data", b"0123456789")] * 3


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9", b"HTTP/1.2"])
def test_unsupported_version_is_505(version: bytes) -> None:
    """A well-formed request line with a version we do not speak is a 505."""
    data = b"GET / " + version + b"\r\nHost: h\r\n\r\n"
    status, events = request_error([data])
    assert status == 505
    assert events == []


def test_errors_emit_no_head_and_stick() -> None:
    """A refused head produces no event, and the exception carries the status."""
    reader = RequestReader(Limits())
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert info.value.status == 400
    assert reader.head is None


def test_bare_lf_in_partial_trailer_refused_at_once() -> None:
    """A bare LF in a trailer line is refused as it arrives, not when a CRLF finally follows."""
    reader = RequestReader(Limits())
    reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a")
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"\nGET /smuggled")
    assert info.value.status == 400


@pytest.mark.parametrize(("length", "ok"), [(4096, True), (4097, False)])
def test_chunk_size_line_limit_is_the_same_in_any_split(length: int, ok: bool) -> None:
    """A chunk-size line of 4096 bytes is accepted and one of 4097 refused, whole or bytewise."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"1;" + b"e" * (length - 2)
    data = head + line + b"\r\nx\r\n0\r\n\r\n"
    for chunks in ([data], [head, *bytewise(data[len(head) :])]):
        if ok:
            assert request_events(b"", chunks)[1:] == [("data", b"x"), ("end",)]
        else:
            assert request_error(chunks)[0] == 400


def test_trailers_too_large_is_431() -> None:
    """Trailers count against max_header_size like a head does."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + b"0\r\n" + b"X-T: v\r\n" * 30 + b"\r\n"
    assert request_error([data], max_header_size=200)[0] == 431
    assert request_error([head, *bytewise(data[len(head) :])], max_header_size=200)[0] == 431
    assert request_events(data, max_header_size=300)[-1] == ("end",)


def test_double_fault_status_does_not_depend_on_the_split() -> None:
    """With a bare LF and an oversized head, the fault first in byte order decides the status."""
    early_lf = b"GET / HTTP/1.1\r\nHost: h\nX: " + b"v" * 300 + b"\r\n\r\n"
    late_lf = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 300 + b"\n\r\n\r\n"
    for data, status in ((early_lf, 400), (late_lf, 431)):
        for chunks in ([data], bytewise(data), pieces(data, [len(data) - 10])):
            assert request_error(chunks, max_header_size=100)[0] == status
