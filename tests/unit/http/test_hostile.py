"""Request smuggling and hostile input: every case is refused (400 or 502), never half-parsed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.http import END, RequestHead, ResponseHead

from .support import bytewise, pieces, request_error, response_error, summarize

# Faults in the header section, shared by requests (-> 400) and responses (-> 502).  Each is
# the bytes after the start line; a valid request line or status line is put in front.
FIELD_FAULTS = {
    "cl-and-te": b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "te-and-cl": b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "two-cl-different": b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "cl-list-equal": b"Content-Length: 1,1\r\n\r\na",
    "cl-list-spaced": b"Content-Length: 1, 1\r\n\r\na",
    "cl-plus": b"Content-Length: +1\r\n\r\na",
    "cl-minus": b"Content-Length: -1\r\n\r\na",
    "cl-hex": b"Content-Length: 0x1\r\n\r\na",
    "cl-hex-digits": b"Content-Length: 1a\r\n\r\na",
    "cl-inner-space": b"Content-Length: 1 1\r\n\r\na",
    "cl-decimal-point": b"Content-Length: 1.0\r\n\r\na",
    "cl-empty": b"Content-Length:\r\n\r\n",
    "cl-19-digits": b"Content-Length: 1000000000000000000\r\n\r\n",
    "cl-arabic-digit": b"Content-Length: \xd9\xa1\r\n\r\na",
    "te-gzip": b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
    "te-identity": b"Transfer-Encoding: identity\r\n\r\n",
    "te-chunked-gzip": b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te-gzip-chunked": b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te-xchunked": b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te-chunkedx": b"Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n",
    "te-chunk": b"Transfer-Encoding: chunk\r\n\r\n0\r\n\r\n",
    "te-chunked-comma": b"Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n",
    "te-comma-chunked": b"Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n",
    "te-chunked-semicolon": b"Transfer-Encoding: chunked;\r\n\r\n0\r\n\r\n",
    "te-chunked-word": b"Transfer-Encoding: chunked x\r\n\r\n0\r\n\r\n",
    "te-quoted": b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n',
    "te-chunked-vtab": b"Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n",
    "te-chunked-nul": b"Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n",
    "te-chunked-nbsp": b"Transfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n",
    "te-empty": b"Transfer-Encoding:\r\n\r\n",
    "te-twice": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-twice-gzip": b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs-fold-space": b"X: a\r\n b\r\n\r\n",
    "obs-fold-tab": b"X: a\r\n\tb\r\n\r\n",
    "obs-fold-first-line": b" X: a\r\n\r\n",
    "obs-fold-te": b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "bare-lf-between-fields": b"X: a\nY: b\r\n\r\n",
    "bare-lf-ending-head": b"X: a\r\n\n",
    "bare-lf-only": b"X: a\n\n",
    "bare-cr-in-value": b"X: a\rb\r\n\r\n",
    "bare-cr-before-crlf": b"X: a\r\r\n\r\n",
    "bare-cr-ending-head": b"X: a\r\n\r\r\n",
    "nul-in-value": b"X: a\x00b\r\n\r\n",
    "nul-in-name": b"X\x00Y: a\r\n\r\n",
    "soh-in-value": b"X: a\x01b\r\n\r\n",
    "del-in-value": b"X: a\x7fb\r\n\r\n",
    "del-in-name": b"X\x7f: a\r\n\r\n",
    "ff-in-value": b"X: a\x0cb\r\n\r\n",
    "esc-in-value": b"X: \x1b[31m\r\n\r\n",
    "space-before-colon": b"X : a\r\n\r\n",
    "tab-before-colon": b"X\t: a\r\n\r\n",
    "space-before-colon-cl": b"Content-Length : 3\r\n\r\nabc",
    "space-in-name": b"X Y: a\r\n\r\n",
    "tab-in-name": b"X\tY: a\r\n\r\n",
    "empty-name": b": a\r\n\r\n",
    "no-colon": b"X a\r\n\r\n",
    "separator-in-name": b"X(y): a\r\n\r\n",
    "at-in-name": b"X@Y: a\r\n\r\n",
    "non-ascii-name": b"\xc3\xa9: a\r\n\r\n",
    "slash-in-name": b"X/Y: a\r\n\r\n",
}

# Faults that only a request can have.
REQUEST_FIELD_FAULTS = {
    "two-cl-equal": b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "no-host": b"X: a\r\n\r\n",
    "two-hosts": b"Host: h\r\nHost: h\r\n\r\n",
    "two-hosts-different": b"Host: a\r\nhost: b\r\n\r\n",
    "host-with-space": b"Host: a b\r\n\r\n",
    "host-with-userinfo": b"Host: user@h\r\n\r\n",
    "host-with-slash": b"Host: h/x\r\n\r\n",
    "host-with-obs-text": b"Host: h\xff\r\n\r\n",
}

# Faults inside a chunked body (the head is fine and has been passed on).
CHUNK_FAULTS = {
    "size-0x": b"0x5\r\nabcde\r\n0\r\n\r\n",
    "size-negative": b"-1\r\na\r\n0\r\n\r\n",
    "size-plus": b"+5\r\nabcde\r\n0\r\n\r\n",
    "size-space-before-semicolon": b"5 ;a=b\r\nabcde\r\n0\r\n\r\n",
    "size-trailing-space": b"5 \r\nabcde\r\n0\r\n\r\n",
    "size-leading-space": b" 5\r\nabcde\r\n0\r\n\r\n",
    "size-tab": b"5\t\r\nabcde\r\n0\r\n\r\n",
    "size-17-digits": b"00000000000000005\r\nabcde\r\n0\r\n\r\n",
    "size-overflow": b"10000000000000000\r\n",
    "size-non-hex": b"g\r\nabcde\r\n0\r\n\r\n",
    "size-hex-then-junk": b"5z\r\nabcde\r\n0\r\n\r\n",
    "size-empty": b"\r\nabcde\r\n0\r\n\r\n",
    "size-bare-lf": b"5\nabcde\r\n0\r\n\r\n",
    "size-bare-cr": b"5\rabcde\r\n0\r\n\r\n",
    "size-unicode-digit": b"\xd9\xa5\r\nabcde\r\n0\r\n\r\n",
    "data-no-crlf": b"5\r\nabcdeX0\r\n\r\n",
    "data-too-long": b"5\r\nabcdef\r\n0\r\n\r\n",
    "data-bare-lf": b"5\r\nabcde\n0\r\n\r\n",
    "data-bare-cr": b"5\r\nabcde\r0\r\n\r\n",
    "ext-empty": b"5;\r\nabcde\r\n0\r\n\r\n",
    "ext-no-name": b"5;=a\r\nabcde\r\n0\r\n\r\n",
    "ext-empty-value": b"5;a=\r\nabcde\r\n0\r\n\r\n",
    "ext-space-around-equals": b"5;a = b\r\nabcde\r\n0\r\n\r\n",
    "ext-space-in-value": b"5;a=b c\r\nabcde\r\n0\r\n\r\n",
    "ext-unclosed-quote": b'5;a="b\r\nabcde\r\n0\r\n\r\n',
    "ext-nul": b"5;a\x00\r\nabcde\r\n0\r\n\r\n",
    "ext-nul-quoted": b'5;a="\x00"\r\nabcde\r\n0\r\n\r\n',
    "ext-lf-quoted": b'5;a="\n"\r\nabcde\r\n0\r\n\r\n',
    "ext-4k": b"5;" + b"a" * 5000 + b"\r\nabcde\r\n0\r\n\r\n",
    "last-chunk-no-final-crlf": b"0\r\n\n",
    "trailer-obs-fold": b"0\r\nX: a\r\n b\r\n\r\n",
    "trailer-space-before-colon": b"0\r\nX : a\r\n\r\n",
    "trailer-no-colon": b"0\r\nX\r\n\r\n",
    "trailer-bare-lf": b"0\r\nX: a\nY: b\r\n\r\n",
    "trailer-nul": b"0\r\nX: \x00\r\n\r\n",
    "trailer-content-length": b"0\r\nContent-Length: 5\r\n\r\n",
    "trailer-transfer-encoding": b"0\r\ntransfer-encoding: chunked\r\n\r\n",
}

REQUEST_LINE_FAULTS = {
    "two-spaces-after-method": b"GET  / HTTP/1.1",
    "two-spaces-after-target": b"GET /  HTTP/1.1",
    "leading-space": b" GET / HTTP/1.1",
    "trailing-space": b"GET / HTTP/1.1 ",
    "tab-after-method": b"GET\t/ HTTP/1.1",
    "tab-after-target": b"GET /\tHTTP/1.1",
    "missing-version": b"GET /",
    "missing-version-space": b"GET / ",
    "method-only": b"GET",
    "lowercase-version": b"GET / http/1.1",
    "version-junk": b"GET / HTTP/1.1x",
    "version-no-dot": b"GET / HTTP/11",
    "version-one-digit": b"GET / HTTP/1",
    "version-two-digit-minor": b"GET / HTTP/1.10",
    "version-spaces": b"GET / HTTP/ 1.1",
    "nul-in-method": b"G\x00T / HTTP/1.1",
    "separator-in-method": b"(GET) / HTTP/1.1",
    "nul-in-target": b"GET /a\x00b HTTP/1.1",
    "del-in-target": b"GET /a\x7f HTTP/1.1",
    "soh-in-target": b"GET /\x01 HTTP/1.1",
    "obs-text-in-target": b"GET /\xff HTTP/1.1",
    "space-in-target": b"GET /a b HTTP/1.1",
    "empty-method": b" / HTTP/1.1",
    "empty-target": b"GET  HTTP/1.1",
    "bare-cr-in-line": b"GET /\r HTTP/1.1",
    "bare-lf-in-line": b"GET /\n HTTP/1.1",
}

STATUS_LINE_FAULTS = {
    "two-digit-status": b"HTTP/1.1 20 OK",
    "four-digit-status": b"HTTP/1.1 2000 OK",
    "alpha-status": b"HTTP/1.1 2x0 OK",
    "negative-status": b"HTTP/1.1 -20 OK",
    "status-below-100": b"HTTP/1.1 099 Low",
    "two-spaces": b"HTTP/1.1  200 OK",
    "lowercase-version": b"http/1.1 200 OK",
    "http2": b"HTTP/2 200 OK",
    "http20": b"HTTP/2.0 200 OK",
    "icy": b"ICY 200 OK",
    "tab-after-status": b"HTTP/1.1 200\tOK",
    "nul-in-reason": b"HTTP/1.1 200 O\x00K",
    "del-in-reason": b"HTTP/1.1 200 O\x7fK",
    "no-status": b"HTTP/1.1",
    "leading-space": b" HTTP/1.1 200 OK",
    "unicode-digit-status": b"HTTP/1.1 2\xd9\xa10 OK",
}

REQUEST_LINE = b"POST / HTTP/1.1\r\n"
STATUS_LINE = b"HTTP/1.1 200 OK\r\n"


def _assert_refused_before_head(status: int, events: list[object], expected: int) -> None:
    assert status == expected
    assert events == []


def _assert_refused_after_head(events: list[object], head_type: type) -> None:
    assert isinstance(events[0], head_type)
    assert END not in events
    assert all(isinstance(e, bytes) for e in events[1:])


@pytest.mark.parametrize(
    "fault",
    list(FIELD_FAULTS.values()) + list(REQUEST_FIELD_FAULTS.values()),
    ids=list(FIELD_FAULTS) + list(REQUEST_FIELD_FAULTS),
)
def test_request_field_fault_is_400_without_head(fault: bytes) -> None:
    """A request with a hostile header section is a 400 with no event, whole or byte by byte."""
    host = b"" if fault in REQUEST_FIELD_FAULTS.values() else b"Host: h\r\n"
    data = REQUEST_LINE + host + fault
    _assert_refused_before_head(*request_error([data]), 400)
    _assert_refused_before_head(*request_error(bytewise(data)), 400)


@pytest.mark.parametrize("fault", list(FIELD_FAULTS.values()), ids=list(FIELD_FAULTS))
def test_response_field_fault_is_502_without_head(fault: bytes) -> None:
    """A response with a hostile header section is a 502 with no event, whole or byte by byte."""
    data = STATUS_LINE + fault
    _assert_refused_before_head(*response_error([data]), 502)
    _assert_refused_before_head(*response_error(bytewise(data)), 502)


@pytest.mark.parametrize("fault", list(CHUNK_FAULTS.values()), ids=list(CHUNK_FAULTS))
def test_request_chunk_fault_is_400(fault: bytes) -> None:
    """A request with a malformed chunked body is a 400 and never completes."""
    head = REQUEST_LINE + b"Host: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert request_error([head + fault])[0] == 400
    for chunks in ([head, fault], [head, *bytewise(fault)]):
        status, events = request_error(chunks)
        assert status == 400
        _assert_refused_after_head(events, RequestHead)


@pytest.mark.parametrize("fault", list(CHUNK_FAULTS.values()), ids=list(CHUNK_FAULTS))
def test_response_chunk_fault_is_502(fault: bytes) -> None:
    """A response with a malformed chunked body is a 502 and never completes."""
    head = STATUS_LINE + b"Transfer-Encoding: chunked\r\n\r\n"
    assert response_error([head + fault])[0] == 502
    for chunks in ([head, fault], [head, *bytewise(fault)]):
        status, events = response_error(chunks)
        assert status == 502
        _assert_refused_after_head(events, ResponseHead)


@pytest.mark.parametrize("line", list(REQUEST_LINE_FAULTS.values()), ids=list(REQUEST_LINE_FAULTS))
def test_request_line_fault_is_400_without_head(line: bytes) -> None:
    """A malformed request line is a 400 with no event, whole or byte by byte."""
    data = line + b"\r\nHost: h\r\n\r\n"
    _assert_refused_before_head(*request_error([data]), 400)
    _assert_refused_before_head(*request_error(bytewise(data)), 400)


@pytest.mark.parametrize("line", list(STATUS_LINE_FAULTS.values()), ids=list(STATUS_LINE_FAULTS))
def test_status_line_fault_is_502_without_head(line: bytes) -> None:
    """A malformed status line is a 502 with no event, whole or byte by byte."""
    data = line + b"\r\nContent-Length: 0\r\n\r\n"
    _assert_refused_before_head(*response_error([data]), 502)
    _assert_refused_before_head(*response_error(bytewise(data)), 502)


def test_te_in_http10_request_is_400() -> None:
    """Transfer-Encoding in an HTTP/1.0 request is refused (RFC 9112 section 6.1)."""
    data = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    _assert_refused_before_head(*request_error([data]), 400)


def test_smuggled_request_after_cl_te_never_surfaces() -> None:
    """The classic CL.TE smuggle yields no request at all, not even the first one."""
    smuggled = b"GET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n" + smuggled
    )
    status, events = request_error([data])
    assert status == 400
    assert events == []


def test_pipelined_fault_after_good_request_keeps_the_good_one() -> None:
    """A hostile second request fails only when the caller moves on to it."""
    good = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
    status, events = request_error([good + b"GET /2 HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n"])
    assert status == 400
    assert [e[0] for e in summarize(events)] == ["request", "end"]


def test_response_two_cl_equal_is_accepted_but_different_is_not() -> None:
    """Responses may repeat one Content-Length value; requests may not repeat it at all."""
    data = STATUS_LINE + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
    _assert_refused_before_head(*request_error([REQUEST_LINE + b"Host: h\r\n" + data[17:]]), 400)
    status, _ = response_error([STATUS_LINE + FIELD_FAULTS["two-cl-different"]])
    assert status == 502


ALL_REQUEST_FAULTS = (
    [REQUEST_LINE + b"Host: h\r\n" + f for f in FIELD_FAULTS.values()]
    + [REQUEST_LINE + f for f in REQUEST_FIELD_FAULTS.values()]
    + [
        REQUEST_LINE + b"Host: h\r\nTransfer-Encoding: chunked\r\n\r\n" + f
        for f in CHUNK_FAULTS.values()
    ]
    + [line + b"\r\nHost: h\r\n\r\n" for line in REQUEST_LINE_FAULTS.values()]
)
SMALL_LIMITS = [{}, {"max_header_size": 40, "max_target_size": 4, "max_headers": 1}]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ALL_REQUEST_FAULTS),
    st.sampled_from(SMALL_LIMITS),
    st.lists(st.integers(0, 200), max_size=6),
)
def test_request_fault_status_is_split_independent(
    data: bytes, limits: dict[str, int], cuts: list[int]
) -> None:
    """However a hostile request is split, it is refused with the same status."""
    assert request_error(pieces(data, cuts), **limits)[0] == request_error([data], **limits)[0]
