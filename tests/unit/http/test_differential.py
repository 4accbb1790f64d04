"""Differential tests against llhttp (httptools) and h11, with generated and mutated messages.

The references are more lenient than proxyhub in places, which is fine; the property is the
other way round: whenever proxyhub accepts a message, the references accept it too and agree on
its framing (body bytes and where the next message starts).  The few places where a reference
refuses something proxyhub accepts are recognised by ``_h11_known_stricter``,
``_llhttp_known_stricter`` and ``_response_known_stricter``, each with a test of its own:

- h11 refuses empty lines before a request or status line (RFC 9112 section 2.2 allows them);
- llhttp checks the request-target's form (the proxy layer does that, per mode);
- llhttp refuses a response repeating one Content-Length value (RFC 9110 section 8.6 allows it).

``MORE_LENIENT_REFERENCES`` lists the other direction: inputs we refuse on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxyhub.http import END, Limits, RemoteProtocolError, ResponseHead, ResponseReader

from .support import (
    Inconclusive,
    Ours,
    Parsed,
    Rejected,
    h11_request,
    h11_response,
    llhttp_request,
    llhttp_response,
    ours_request,
    pieces,
    request_events,
)

CORPUS = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /a/b?c=d&e=%20f HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t/1.0\r\n\r\n",
    b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nAccept: text/html, */*\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"HEAD /x HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    b"PUT /f HTTP/1.1\r\nHost: h\r\ncontent-length: 0003\r\n\r\nabc",
    b"POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
    b'a;name=value;q="quoted \\" str"\r\n0123456789\r\n0;last\r\n\r\n',
    b"POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1\r\n\x00\r\n0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n",
    b"PATCH /f HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Spaces:   a  b   \r\nX-Tab:\tv\t\r\n"
    b"X-Obs: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\n\r\n",
    b"DELETE /r HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /~user/!$&'()*+,;=:@-._ HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
    b"PROPFIND /dav HTTP/1.1\r\nHost: h\r\nDepth: 1\r\nContent-Length: 4\r\n\r\n<a/>",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
]


def _comparable(fields: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Fields with Transfer-Encoding values lower-cased, as h11 reports them."""
    return [(n, v.lower() if n.lower() == b"transfer-encoding" else v) for n, v in fields]


def _same_message(ours_parsed: Ours, ref: Parsed) -> None:
    """Assert a reference's view of the first request equals ours."""
    head = ours_parsed.head
    assert ref.method == head.method
    assert ref.target == head.target
    assert _comparable(ref.headers) == _comparable(head.fields)
    assert ref.body == ours_parsed.body
    assert ref.rest == ours_parsed.rest


@pytest.mark.parametrize("data", CORPUS)
def test_corpus_agrees_with_llhttp_and_h11(data: bytes) -> None:
    """For each valid request, llhttp, h11 and proxyhub see the same fields, body and rest."""
    ours = ours_request(data)
    _same_message(ours, llhttp_request(data))
    _same_message(ours, h11_request(data))


RESPONSE_CORPUS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nokHTTP/1.0",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 599 \r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\n"
    b"Content-Length: 0\r\n\r\n",
]


def _our_response(data: bytes, method: bytes = b"GET", *, eof: bool = False) -> tuple[object, ...]:
    reader = ResponseReader(Limits())
    reader.expect(method)
    events = reader.feed(data)
    if eof:
        events += reader.feed_eof()
    assert events[-1] is END
    final = [e for e in events if isinstance(e, ResponseHead)][-1]
    body = b"".join(e for e in events if isinstance(e, bytes))
    return final.status, tuple(final.fields), body, reader.take_buffer()


@pytest.mark.parametrize("data", RESPONSE_CORPUS)
def test_response_corpus_agrees_with_llhttp_and_h11(data: bytes) -> None:
    """For each valid response to a GET, llhttp, h11 and proxyhub agree on status, fields, body."""
    ours = _our_response(data)
    assert llhttp_response(data) == ours
    assert h11_response(data) == ours


def test_close_delimited_response_agrees_with_h11() -> None:
    """A body delimited by EOF is the same for h11 and proxyhub."""
    data = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this\r\n\r\nis body"
    assert h11_response(data, eof=True) == _our_response(data, eof=True)


def test_head_response_agrees_with_h11() -> None:
    """A response to HEAD has no body for h11 or proxyhub, and the next bytes are left over."""
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200"
    assert h11_response(data, b"HEAD") == _our_response(data, b"HEAD")


# -- generated valid requests -----------------------------------------------------------------

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
LLHTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "PURGE", "LOCK"]
RESERVED_NAMES = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "expect",
    "te",
    "trailer",
    "keep-alive",
}


def _table(alphabet: bytes) -> bytes:
    """A bytes.translate table mapping every byte onto ``alphabet``."""
    return bytes(alphabet[i % len(alphabet)] for i in range(256))


_TCHAR_TABLE = _table(TCHAR.encode())
_VCHAR_TABLE = _table(bytes(range(0x21, 0x7F)))
_VALUE_TABLE = _table(bytes([*range(0x21, 0x7F), 0x80, 0xA0, 0xC3, 0xE9, 0xFF, 0x20, 0x20, 0x09]))

# Whole byte strings mapped onto the allowed alphabet: one draw each, which keeps generation fast.
tokens = st.binary(min_size=1, max_size=12).map(lambda b: b.translate(_TCHAR_TABLE).decode())
methods = st.one_of(st.sampled_from(LLHTTP_METHODS), tokens).filter(
    lambda m: m not in ("CONNECT", "PRI")
)
field_names = tokens.filter(lambda n: n.lower() not in RESERVED_NAMES)
field_values = st.binary(max_size=24).map(lambda b: b.translate(_VALUE_TABLE).strip(b" \t"))
targets = st.binary(max_size=30).map(lambda b: b"/" + b.translate(_VCHAR_TABLE))
bodies = st.binary(max_size=300)


@st.composite
def requests(draw: st.DrawFn, *, known_method: bool = False) -> tuple[bytes, dict[str, object]]:
    """A valid request: its bytes and what a parser should find in them."""
    method = draw(st.sampled_from(LLHTTP_METHODS) if known_method else methods).encode()
    target = draw(targets)
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    fields = [
        (n.encode(), v) for n, v in draw(st.lists(st.tuples(field_names, field_values), max_size=8))
    ]
    if version == b"HTTP/1.1":
        fields.insert(draw(st.integers(0, len(fields))), (b"Host", b"example.com"))
    body = draw(bodies)
    framing = draw(
        st.sampled_from(
            ["none", "length", "chunked"] if version == b"HTTP/1.1" else ["none", "length"]
        )
    )
    if framing == "none":
        body = b""
    encoded = body
    if framing == "length":
        fields.append(
            (draw(st.sampled_from([b"Content-Length", b"content-length"])), b"%d" % len(body))
        )
    elif framing == "chunked":
        fields.append((b"Transfer-Encoding", draw(st.sampled_from([b"chunked", b"Chunked"]))))
        cuts = draw(st.lists(st.integers(0, len(body)), max_size=5))
        chunks = [c for c in pieces(body, cuts) if c]
        ext = draw(st.sampled_from([b"", b";a", b";a=b", b';a="x y"']))
        encoded = b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks)
        trailers = draw(st.lists(st.tuples(field_names, field_values), max_size=2))
        encoded += (
            b"0\r\n" + b"".join(n.encode() + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"
        )
    head = method + b" " + target + b" " + version + b"\r\n"
    head += b"".join(
        n + b":" + draw(st.sampled_from([b"", b" ", b"\t "])) + v + b"\r\n" for n, v in fields
    )
    data = head + b"\r\n" + encoded
    return data, {
        "method": method,
        "target": target,
        "version": version,
        "fields": fields,
        "body": body,
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.lists(st.integers(0, 2000), max_size=8))
def test_generated_requests_parse_exactly_in_any_split(
    message: tuple[bytes, dict[str, object]], cuts: list[int]
) -> None:
    """A generated valid request gives back its method, target, fields and body, in any split."""
    data, expect = message
    whole = request_events(data)
    assert request_events(b"", pieces(data, cuts)) == whole
    head = whole[0]
    assert head[1:4] == (expect["method"], expect["target"], expect["version"])
    assert list(head[4]) == expect["fields"]
    body = b"".join(e[1] for e in whole if e[0] == "data")
    assert body == expect["body"]
    assert whole[-1] == ("end",)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_generated_requests_agree_with_references(message: tuple[bytes, dict[str, object]]) -> None:
    """h11 (and llhttp, for methods it knows) parse a generated request exactly as we do."""
    data, expect = message
    data += b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    ours = ours_request(data)
    _same_message(ours, h11_request(data))
    if expect["method"].decode() in LLHTTP_METHODS:  # type: ignore[union-attr]
        _same_message(ours, llhttp_request(data))


# -- mutated, hostile requests ------------------------------------------------------------------

INTERESTING = [
    b"\r",
    b"\n",
    b"\r\n",
    b" ",
    b"\t",
    b"\x00",
    b"\x0b",
    b"\x0c",
    b"\x7f",
    b"\xff",
    b"\x80",
    b":",
    b",",
    b";",
    b"=",
    b'"',
    b"\\",
    b"0",
    b"1",
    b"9",
    b"a",
    b"f",
    b"x",
    b"-",
    b"+",
    b"/",
    b"Content-Length: 3\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Host: h\r\n",
    b"0\r\n\r\n",
    b"\r\n\r\n",
    b"chunked",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"Content-Length",
    b"Transfer-Encoding",
    b" chunked",
]

mutation = st.tuples(
    st.sampled_from(["insert", "replace", "delete", "duplicate-line"]),
    st.integers(0, 10_000),
    st.sampled_from(INTERESTING),
)


def mutate(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    """Apply byte-level mutations, positions taken modulo the current length."""
    for op, pos, blob in ops:
        i = pos % (len(data) + 1)
        if op == "insert":
            data = data[:i] + blob + data[i:]
        elif op == "replace":
            data = data[:i] + blob + data[i + len(blob) :]
        elif op == "delete":
            data = data[:i] + data[i + 1 + pos % 3 :]
        else:
            start = data.rfind(b"\r\n", 0, i) + 2 if data.rfind(b"\r\n", 0, i) >= 0 else 0
            end = data.find(b"\r\n", i)
            if end >= 0:
                data = data[:start] + data[start : end + 2] * 2 + data[end + 2 :]
    return data


def _llhttp_known_stricter(data: bytes, error: str, ours: Ours) -> bool:
    """llhttp checks the request-target's form; the proxy layer does that for us, per mode."""
    return "url" in error and not ours.head.target.startswith(b"/")


def _h11_known_stricter(data: bytes, error: str, ours: Ours) -> bool:
    """h11 refuses empty lines before a request line; RFC 9112 section 2.2 lets us skip them."""
    return data.startswith(b"\r\n") and "no request line" in error


KNOWN_STRICTER_REFERENCE: list[
    tuple[str, Callable[[bytes], Parsed], Callable[[bytes, str, Ours], bool]]
] = [
    ("h11", h11_request, _h11_known_stricter),
    ("llhttp", llhttp_request, _llhttp_known_stricter),
]


def check_never_more_lenient(data: bytes) -> bool:
    """If proxyhub accepts ``data``, every reference accepts it with the same framing.

    Returns whether proxyhub accepted, for hypothesis' statistics.
    """
    try:
        ours = ours_request(data)
    except (RemoteProtocolError, Inconclusive):
        return False
    method_known = ours.head.method.decode() in LLHTTP_METHODS
    for name, parse, known in KNOWN_STRICTER_REFERENCE:
        if name == "llhttp" and not method_known:
            continue  # llhttp only knows a fixed list of methods
        try:
            ref = parse(data)
        except Rejected as e:
            assert known(data, str(e), ours), f"{name} refused what we accepted: {e} in {data!r}"
            continue
        except Inconclusive as e:
            raise AssertionError(f"{name} wants more of what we accepted ({e}): {data!r}") from None
        assert ref.body == ours.body, (name, data)
        assert ref.rest == ours.rest, (name, data)
        assert ref.method == ours.head.method, (name, data)
        assert ref.target == ours.head.target, (name, data)
    return True


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(known_method=True), st.lists(mutation, min_size=1, max_size=3))
def test_mutated_requests_never_more_lenient_than_references(
    message: tuple[bytes, dict[str, object]], ops: list[tuple[str, int, bytes]]
) -> None:
    """Whatever we accept among mutated requests, h11 and llhttp accept with the same framing."""
    data = mutate(message[0] + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n", ops)
    check_never_more_lenient(data)


def test_known_deviation_llhttp_checks_target_form() -> None:
    """llhttp refuses a target of no known form; the wire layer leaves forms to the proxy layer."""
    data = b"GET :/ HTTP/1.1\r\nHost: h\r\n\r\n"
    with pytest.raises(Rejected, match="url"):
        llhttp_request(data)
    assert h11_request(data).target == b":/"
    assert ours_request(data).head.target == b":/"
    assert check_never_more_lenient(data)


def test_known_deviation_h11_refuses_leading_crlf() -> None:
    """h11 refuses an empty line before the request line; llhttp and proxyhub skip it."""
    data = b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
    with pytest.raises(Rejected):
        h11_request(data)
    assert llhttp_request(data).target == b"/"
    assert ours_request(data).head.target == b"/"
    assert check_never_more_lenient(data)


POST_H = b"POST / HTTP/1.1\r\nHost: h\r\n"
CHUNKED_H = POST_H + b"Transfer-Encoding: chunked\r\n\r\n"

# Inputs proxyhub refuses on purpose although a reference accepts them: (name, bytes, the
# references that accept).  If a reference changes its mind the test says so.
MORE_LENIENT_REFERENCES = [
    ("cl-list", POST_H + b"Content-Length: 1,1\r\n\r\na", {"h11"}),
    ("two-cl-equal", POST_H + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\na", {"h11"}),
    (
        "cl-and-te",
        POST_H + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        {"h11"},
    ),
    (
        "te-http10",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        {"h11", "llhttp"},
    ),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", {"h11"}),
    ("bare-lf", b"GET / HTTP/1.1\nHost: h\n\n", {"h11"}),
    ("del-in-value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", {"h11"}),
    ("missing-host", b"GET / HTTP/1.1\r\n\r\n", {"llhttp"}),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", {"llhttp"}),
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", {"h11", "llhttp"}),
    ("two-spaces", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", {"llhttp"}),
    ("te-gzip-chunked", POST_H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", {"llhttp"}),
    ("chunk-size-17-digits", CHUNKED_H + b"00000000000000001\r\na\r\n0\r\n\r\n", {"h11", "llhttp"}),
    ("chunk-ext-spaces", CHUNKED_H + b"1;a = b\r\na\r\n0\r\n\r\n", {"h11"}),
    ("http-1.2", b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", {"h11"}),
    ("leading-bare-lf", b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", {"llhttp"}),
    ("trailer-content-length", CHUNKED_H + b"0\r\nContent-Length: 5\r\n\r\n", {"h11"}),
    ("trailer-control", CHUNKED_H + b"0\r\nX: \x01\r\n\r\n", {"h11"}),
]


@pytest.mark.parametrize(
    ("data", "accepted_by"),
    [case[1:] for case in MORE_LENIENT_REFERENCES],
    ids=[case[0] for case in MORE_LENIENT_REFERENCES],
)
def test_where_a_reference_is_more_lenient_we_refuse(data: bytes, accepted_by: set[str]) -> None:
    """Inputs some reference accepts but proxyhub refuses on purpose (documented strictness)."""
    accepting = set()
    for ref_name, parse in (("h11", h11_request), ("llhttp", llhttp_request)):
        try:
            parse(data)
        except (Rejected, Inconclusive):
            continue
        accepting.add(ref_name)
    assert accepting == accepted_by
    with pytest.raises(RemoteProtocolError) as info:
        ours_request(data)
    assert info.value.status in (400, 505)


# -- generated responses ------------------------------------------------------------------------


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, int, bytes]:
    """A valid response to GET with Content-Length or chunked framing: bytes, status, body."""
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.sampled_from([b"", b"OK", b"Some Reason", b"caf\xc3\xa9"]))
    fields = [
        (n.encode(), v) for n, v in draw(st.lists(st.tuples(field_names, field_values), max_size=6))
    ]
    body = draw(bodies)
    if draw(st.booleans()):
        fields.append((b"Content-Length", b"%d" % len(body)))
        encoded = body
    else:
        fields.append((b"Transfer-Encoding", b"chunked"))
        chunks = [
            c for c in pieces(body, draw(st.lists(st.integers(0, len(body)), max_size=4))) if c
        ]
        encoded = b"".join(b"%X\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason) + b"".join(
        n + b": " + v + b"\r\n" for n, v in fields
    )
    return head + b"\r\n" + encoded, status, body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.lists(st.integers(0, 2000), max_size=6))
def test_generated_responses_agree_with_references(
    message: tuple[bytes, int, bytes], cuts: list[int]
) -> None:
    """Generated responses parse the same for proxyhub (in any split), h11 and llhttp."""
    data, status, body = message
    data += b"HTTP/1.1 200 OK\r\n"
    ours = _our_response(data)
    assert ours[0] == status
    assert ours[2] == body
    assert h11_response(data) == ours
    assert llhttp_response(data) == ours
    reader = ResponseReader(Limits())
    events = []
    for piece in pieces(data, cuts):
        events += reader.feed(piece)
    assert b"".join(e for e in events if isinstance(e, bytes)) == body
    assert events[-1] is END


def _try_our_response(data: bytes) -> tuple[object, ...] | None:
    """Our view of the first final response to a GET, or None when refused or incomplete."""
    reader = ResponseReader(Limits())
    reader.expect(b"GET")
    try:
        events = reader.feed(data)
    except RemoteProtocolError:
        return None
    if not events or events[-1] is not END:
        return None
    final = [e for e in events if isinstance(e, ResponseHead)][-1]
    body = b"".join(e for e in events if isinstance(e, bytes))
    return final.status, tuple(final.fields), body, reader.take_buffer()


def _response_known_stricter(name: str, data: bytes, error: str) -> bool:
    """Known refusals: llhttp of a repeated identical Content-Length, h11 of a leading CRLF."""
    if name == "llhttp":
        return "Duplicate Content-Length" in error
    return data.startswith(b"\r\n") and "no response line" in error


def check_response_never_more_lenient(data: bytes) -> bool:
    """If proxyhub accepts a response to GET, h11 and llhttp accept it with the same framing."""
    ours = _try_our_response(data)
    if ours is None:
        return False
    for name, parse in (("h11", h11_response), ("llhttp", llhttp_response)):
        try:
            ref = parse(data)
        except Rejected as e:
            assert _response_known_stricter(name, data, str(e)), (name, str(e), data)
            continue
        except Inconclusive as e:
            raise AssertionError(f"{name} wants more of what we accepted ({e}): {data!r}") from None
        assert ref[0] == ours[0], (name, data)
        assert ref[2:] == ours[2:], (name, data)
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.lists(mutation, min_size=1, max_size=3))
def test_mutated_responses_never_more_lenient_than_references(
    message: tuple[bytes, int, bytes], ops: list[tuple[str, int, bytes]]
) -> None:
    """Whatever response we accept after mutation, h11 and llhttp frame the same way."""
    data = mutate(message[0] + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ops)
    check_response_never_more_lenient(data)


def test_known_deviation_llhttp_refuses_repeated_identical_content_length() -> None:
    """A repeated identical Content-Length from an origin: llhttp refuses, h11 and we accept."""
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    with pytest.raises(Rejected, match="Duplicate Content-Length"):
        llhttp_response(data)
    assert h11_response(data)[2] == b"ok"
    assert check_response_never_more_lenient(data)


def test_known_deviation_h11_refuses_crlf_before_status_line() -> None:
    """An empty line before a status line is refused by h11, skipped by llhttp and us."""
    data = b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with pytest.raises(Rejected):
        h11_response(data)
    assert llhttp_response(data)[2] == b"ok"
    assert check_response_never_more_lenient(data)
