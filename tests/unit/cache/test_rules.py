"""Tests of proxyhub.cache.rules: RFC 9111 storability, freshness, age, reuse and revalidation."""

from __future__ import annotations

import math

import pytest

from proxyhub.cache.rules import (
    CacheControl,
    ResponseMeta,
    Reuse,
    StoreDecision,
    age_header,
    client_not_modified,
    conditional_headers,
    current_age,
    format_http_date,
    freshen,
    freshness_lifetime,
    headers_to_store,
    is_fresh,
    parse_cache_control,
    parse_http_date,
    reuse,
    served_fields,
    storable,
)

T = 1_000_000_000.0  # the response time of every test exchange
DATE = format_http_date(T)
Fields = list[tuple[bytes, bytes]]


def cc(value: str) -> Fields:
    """One Cache-Control field."""
    return [(b"Cache-Control", value.encode())]


def meta(fields: Fields, *, status: int = 200, request_time: float = T) -> ResponseMeta:
    """A stored response received at T with ``fields`` (plus Date unless given)."""
    if not any(n.lower() == b"date" for n, _ in fields):
        fields = [(b"Date", DATE), *fields]
    return ResponseMeta(status, b"OK", tuple(fields), request_time, T)


CACHE_CONTROL = [
    ("max-age=60", CacheControl(max_age=60)),
    ("MAX-AGE = 60 , Public", CacheControl(max_age=60, public=True)),
    ('max-age="60"', CacheControl(max_age=60)),
    ("max-age=60, max-age=10", CacheControl(max_age=10)),
    ("max-age=abc", CacheControl(max_age=0)),
    ("max-age", CacheControl(max_age=0)),
    ("max-age=-5", CacheControl(max_age=0)),
    ("max-age=99999999999", CacheControl(max_age=2**31)),
    ("s-maxage=5,max-age=9", CacheControl(max_age=9, s_maxage=5)),
    ('private="Set-Cookie", no-cache="Foo"', CacheControl(private=True, no_cache=True)),
    ('foo="a, no-store", max-age=3', CacheControl(max_age=3)),
    ("public, private", CacheControl(public=True, private=True)),
    ("no-store,must-understand", CacheControl(no_store=True, must_understand=True)),
    (
        "must-revalidate, proxy-revalidate",
        CacheControl(must_revalidate=True, proxy_revalidate=True),
    ),
    (",, ,", CacheControl()),
]


@pytest.mark.parametrize(("value", "expected"), CACHE_CONTROL)
def test_parse_response_cache_control(value: str, expected: CacheControl) -> None:
    """Directives are case-insensitive, spacing-tolerant, quoted-value aware (§5.2, §4.2.1)."""
    assert parse_cache_control(cc(value)) == expected


REQUEST_CACHE_CONTROL = [
    (cc("max-stale"), CacheControl(max_stale=math.inf)),
    (cc("max-stale=10, max-stale=5"), CacheControl(max_stale=5.0)),
    (cc("min-fresh=5, min-fresh=20"), CacheControl(min_fresh=20)),
    (cc("max-age=bad"), CacheControl()),
    (cc("only-if-cached"), CacheControl(only_if_cached=True)),
    ([(b"Pragma", b"no-cache")], CacheControl(no_cache=True)),
    ([(b"Pragma", b"no-cache"), *cc("max-age=5")], CacheControl(max_age=5)),
    (cc("no-cache") + cc("max-age=0"), CacheControl(no_cache=True, max_age=0)),
]


@pytest.mark.parametrize(("fields", "expected"), REQUEST_CACHE_CONTROL)
def test_parse_request_cache_control(fields: Fields, expected: CacheControl) -> None:
    """Request directives (§5.2.1) combine across field lines; Pragma counts without them (§5.4)."""
    assert parse_cache_control(fields, request=True) == expected


def test_parse_http_date_forms() -> None:
    """All three HTTP-date forms parse to the same instant; "0" and junk are invalid (§5.3)."""
    forms = [b"Sun, 06 Nov 1994 08:49:37 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT"]
    forms.append(b"Sun Nov  6 08:49:37 1994")
    assert {parse_http_date(f) for f in forms} == {784111777.0}
    assert parse_http_date(b"0") is None
    assert parse_http_date(b"Sun, 06 Nov 99999 08:49:37 GMT") is None
    assert parse_http_date(format_http_date(T)) == T


LM = [(b"Last-Modified", format_http_date(T - 1000))]
AUTH = [(b"Authorization", b"Basic eDp5")]

STORABLE = [
    (b"GET", [], 200, cc("max-age=60"), True, StoreDecision(True, "max-age")),
    (b"HEAD", [], 200, cc("max-age=60"), True, StoreDecision(False, "method HEAD")),
    (b"POST", [], 200, cc("max-age=60"), True, StoreDecision(False, "method POST")),
    (b"GET", [], 206, cc("max-age=60"), True, StoreDecision(False, "status 206")),
    (b"GET", [], 500, cc("max-age=60"), True, StoreDecision(False, "status 500")),
    (b"GET", [], 302, cc("max-age=60"), True, StoreDecision(True, "max-age")),
    (b"GET", [], 302, LM, True, StoreDecision(False, "no freshness information")),
    (b"GET", [], 404, LM, True, StoreDecision(True, "heuristic")),
    (b"GET", [], 302, LM + cc("public"), True, StoreDecision(True, "heuristic")),
    (b"GET", [], 200, [], True, StoreDecision(False, "no freshness information")),
    (b"GET", [], 200, [(b"Expires", b"0")], True, StoreDecision(True, "expires")),
    (b"GET", [], 200, cc("s-maxage=9"), True, StoreDecision(True, "s-maxage")),
    (b"GET", [], 200, cc("s-maxage=9"), False, StoreDecision(False, "no freshness information")),
    (b"GET", [], 200, cc("no-store, max-age=60"), True, StoreDecision(False, "no-store")),
    (b"GET", cc("no-store"), 200, cc("max-age=60"), True, StoreDecision(False, "no-store")),
    (
        b"GET",
        [],
        200,
        cc("no-store, must-understand, max-age=5"),
        True,
        StoreDecision(True, "max-age"),
    ),
    (b"GET", [], 200, cc("private, max-age=60"), True, StoreDecision(False, "private")),
    (b"GET", [], 200, cc("private, max-age=60"), False, StoreDecision(True, "max-age")),
    (b"GET", AUTH, 200, cc("max-age=60"), True, StoreDecision(False, "authorization")),
    (b"GET", AUTH, 200, cc("max-age=60"), False, StoreDecision(True, "max-age")),
    (b"GET", AUTH, 200, cc("public, max-age=60"), True, StoreDecision(True, "max-age")),
    (b"GET", AUTH, 200, cc("s-maxage=60"), True, StoreDecision(True, "s-maxage")),
    (b"GET", AUTH, 200, cc("must-revalidate, max-age=9"), True, StoreDecision(True, "max-age")),
    (
        b"GET",
        [],
        200,
        [(b"Vary", b"Accept, *"), *cc("max-age=60")],
        True,
        StoreDecision(False, "vary *"),
    ),
    (
        b"GET",
        [],
        200,
        [(b"Set-Cookie", b"a=b"), *cc("max-age=60")],
        True,
        StoreDecision(True, "max-age"),
    ),
    (
        b"GET",
        [],
        200,
        [(b"ETag", b'"x"'), *cc("no-cache")],
        True,
        StoreDecision(True, "no-cache with validator"),
    ),
    (b"GET", [], 200, cc("no-cache"), True, StoreDecision(False, "no freshness information")),
]


@pytest.mark.parametrize(("method", "req", "status", "res", "shared", "expected"), STORABLE)
def test_storable(
    method: bytes, req: Fields, status: int, res: Fields, shared: bool, expected: StoreDecision
) -> None:
    """RFC 9111 §3 storage rules, with §3.5 (Authorization) and §5.2.2 response directives."""
    assert storable(method, req, status, res, shared=shared) == expected


def test_headers_to_store() -> None:
    """Set-Cookie, hop-by-hop, framing and Connection-named fields are not stored (§3.1)."""
    fields = [
        (b"Content-Type", b"text/plain"),
        (b"Set-Cookie", b"a=b"),
        (b"Connection", b"close, X-Hop"),
        (b"x-hop", b"1"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Content-Length", b"5"),
        (b"ETag", b'"e"'),
    ]
    assert headers_to_store(fields) == [(b"Content-Type", b"text/plain"), (b"ETag", b'"e"')]


def dated(when: float) -> bytes:
    """An HTTP-date ``when``."""
    return format_http_date(when)


LIFETIMES = [
    (cc("max-age=60"), True, 200, 60.0),
    (cc("max-age=60, s-maxage=10"), True, 200, 10.0),
    (cc("max-age=60, s-maxage=10"), False, 200, 60.0),
    ([*cc("max-age=60"), (b"Expires", dated(T + 600))], True, 200, 60.0),
    ([(b"Date", dated(T - 100)), (b"Expires", dated(T + 500))], True, 200, 600.0),
    ([(b"Expires", dated(T + 500))], True, 200, 500.0),
    ([(b"Date", DATE), (b"Expires", dated(T - 5))], True, 200, 0.0),
    ([(b"Date", DATE), (b"Expires", b"0")], True, 200, 0.0),
    ([(b"Date", DATE), (b"Last-Modified", dated(T - 1000))], True, 200, 100.0),
    ([(b"Date", DATE), (b"Last-Modified", dated(T - 10**7))], True, 200, 86400.0),
    ([(b"Date", DATE), (b"Last-Modified", dated(T + 50))], True, 200, 0.0),
    ([(b"Date", DATE), (b"Last-Modified", dated(T - 1000))], True, 302, 0.0),
    ([(b"Date", DATE), (b"Last-Modified", dated(T - 1000)), *cc("public")], True, 302, 100.0),
    ([(b"Date", DATE)], True, 200, 0.0),
]


@pytest.mark.parametrize(("fields", "shared", "status", "expected"), LIFETIMES)
def test_freshness_lifetime(fields: Fields, shared: bool, status: int, expected: float) -> None:
    """§4.2.1 precedence: s-maxage (shared), max-age, Expires - Date, then §4.2.2 heuristics."""
    assert freshness_lifetime(fields, T, shared=shared, status=status) == expected


def test_heuristic_max_is_configurable() -> None:
    """The heuristic lifetime is capped by ``heuristic_max`` (§4.2.2 leaves the bound open)."""
    fields = [(b"Date", DATE), (b"Last-Modified", dated(T - 10**6))]
    assert freshness_lifetime(fields, T, heuristic_max=3600.0) == 3600.0


AGES = [
    ([], T, T, T, 0.0),
    ([], T, T, T + 30, 30.0),
    ([(b"Age", b"100")], T - 2, T, T + 10, 112.0),
    ([(b"Date", dated(T - 50))], T - 1, T, T + 10, 60.0),
    ([(b"Date", dated(T - 50)), (b"Age", b"20")], T - 1, T, T, 50.0),
    ([(b"Date", dated(T + 50))], T, T, T + 5, 5.0),
    ([(b"Age", b"junk")], T, T, T + 1, 1.0),
    ([], T, T, T - 10, 0.0),
]


@pytest.mark.parametrize(("fields", "request_time", "response_time", "now", "expected"), AGES)
def test_current_age(
    fields: Fields, request_time: float, response_time: float, now: float, expected: float
) -> None:
    """§4.2.3: max(apparent age, Age + response delay) plus resident time."""
    stored = ResponseMeta(200, b"OK", tuple(fields), request_time, response_time)
    assert current_age(stored, now) == expected


def test_age_header_and_served_fields() -> None:
    """The served Age is whole seconds (§5.1) and replaces any stored Age field."""
    stored = meta([(b"Age", b"7"), (b"ETag", b'"e"')])
    assert age_header(stored, T + 3.9) == b"10"
    assert served_fields(stored, T + 3.9) == [(b"Date", DATE), (b"ETag", b'"e"'), (b"Age", b"10")]


def test_is_fresh() -> None:
    """A response is fresh while its age is below its freshness lifetime (§4.2)."""
    stored = meta(cc("max-age=60"))
    assert is_fresh(stored, T + 59.9)
    assert not is_fresh(stored, T + 60)


REUSES = [
    (cc("max-age=60"), [], T + 10, Reuse.FRESH),
    (cc("max-age=60"), [], T + 61, Reuse.REVALIDATE),
    (cc("max-age=60"), cc("no-cache"), T + 1, Reuse.REVALIDATE),
    (cc("max-age=60"), [(b"Pragma", b"no-cache")], T + 1, Reuse.REVALIDATE),
    (cc("max-age=60"), cc("max-age=0"), T, Reuse.REVALIDATE),
    (cc("max-age=60"), cc("max-age=5"), T + 10, Reuse.REVALIDATE),
    (cc("max-age=60"), cc("max-age=20"), T + 10, Reuse.FRESH),
    (cc("max-age=60"), cc("min-fresh=30"), T + 40, Reuse.REVALIDATE),
    (cc("max-age=60"), cc("min-fresh=30"), T + 20, Reuse.FRESH),
    (cc("max-age=60"), cc("max-stale"), T + 1000, Reuse.STALE),
    (cc("max-age=60"), cc("max-stale=10"), T + 65, Reuse.STALE),
    (cc("max-age=60"), cc("max-stale=10"), T + 80, Reuse.REVALIDATE),
    (cc("max-age=60, must-revalidate"), cc("max-stale"), T + 80, Reuse.REVALIDATE),
    (cc("max-age=60, proxy-revalidate"), cc("max-stale"), T + 80, Reuse.REVALIDATE),
    (cc("s-maxage=60"), cc("max-stale"), T + 80, Reuse.REVALIDATE),
    (cc("no-cache, max-age=60"), [], T + 1, Reuse.REVALIDATE),
    (cc("max-age=60"), cc("only-if-cached"), T + 1, Reuse.FRESH),
    (cc("max-age=60"), cc("only-if-cached"), T + 61, Reuse.UNAVAILABLE),
    (cc("max-age=60"), cc("only-if-cached, max-stale"), T + 61, Reuse.STALE),
]


@pytest.mark.parametrize(("res", "req", "now", "expected"), REUSES)
def test_reuse(res: Fields, req: Fields, now: float, expected: Reuse) -> None:
    """§4.2 freshness with §5.2.1 request and §5.2.2.2/§5.2.2.8/§5.2.2.10 response directives."""
    stored = meta(res)
    assert reuse(stored, parse_cache_control(req, request=True), now) is expected


def test_proxy_revalidate_binds_only_shared_caches() -> None:
    """proxy-revalidate does not stop a private cache serving stale on max-stale (§5.2.2.8)."""
    stored = meta(cc("max-age=60, proxy-revalidate"))
    request = parse_cache_control(cc("max-stale"), request=True)
    assert reuse(stored, request, T + 80, shared=False) is Reuse.STALE


CONDITIONALS = [
    ([(b"ETag", b'"v1"')], [(b"If-None-Match", b'"v1"')]),
    ([(b"Last-Modified", DATE)], [(b"If-Modified-Since", DATE)]),
    (
        [(b"ETag", b'W/"v1"'), (b"Last-Modified", DATE)],
        [(b"If-None-Match", b'W/"v1"'), (b"If-Modified-Since", DATE)],
    ),
    ([], []),
]


@pytest.mark.parametrize(("fields", "expected"), CONDITIONALS)
def test_conditional_headers(fields: Fields, expected: Fields) -> None:
    """Revalidation sends the stored ETag and Last-Modified as validators (§4.3.1)."""
    assert conditional_headers(meta(fields)) == expected


def test_freshen_updates_fields_and_times() -> None:
    """A 304 replaces stored fields of the same name but not framing ones (§4.3.4, §3.2)."""
    stored = meta(
        [
            (b"Cache-Control", b"max-age=10"),
            (b"ETag", b'"v1"'),
            (b"Content-Type", b"text/plain"),
            (b"Content-Encoding", b"gzip"),
            (b"Age", b"40"),
            (b"X-Old", b"kept"),
        ]
    )
    later = T + 100
    fresh = freshen(
        stored,
        [
            (b"Date", dated(later)),
            (b"Cache-Control", b"max-age=60"),
            (b"Content-Encoding", b"br"),
            (b"Content-Length", b"0"),
            (b"Set-Cookie", b"s=1"),
            (b"X-New", b"1"),
        ],
        later,
        request_time=later - 1,
    )
    assert fresh.fields == (
        (b"ETag", b'"v1"'),
        (b"Content-Type", b"text/plain"),
        (b"Content-Encoding", b"gzip"),
        (b"X-Old", b"kept"),
        (b"Cache-Control", b"max-age=60"),
        (b"X-New", b"1"),
        (b"Date", dated(later)),
    )
    assert (fresh.request_time, fresh.response_time) == (later - 1, later)
    assert current_age(fresh, later) == 1.0
    assert is_fresh(fresh, later + 50)


def test_freshen_without_date_makes_one() -> None:
    """A 304 without Date gets one at its receipt time (RFC 9110 §6.6.1), restarting the age."""
    stored = meta([(b"Date", dated(T - 500)), (b"Cache-Control", b"max-age=10")])
    fresh = freshen(stored, [], T + 100)
    assert (b"Date", dated(T + 100)) in fresh.fields
    assert current_age(fresh, T + 100) == 0.0


NOT_MODIFIED = [
    ([(b"If-None-Match", b'"a", "v1"')], 200, True),
    ([(b"If-None-Match", b'W/"v1"')], 200, True),
    ([(b"If-None-Match", b"*")], 200, True),
    ([(b"If-None-Match", b'"other"'), (b"If-Modified-Since", DATE)], 200, False),
    ([(b"If-Modified-Since", DATE)], 200, True),
    ([(b"If-Modified-Since", dated(T - 2000))], 200, False),
    ([(b"If-Modified-Since", b"junk")], 200, False),
    ([(b"If-None-Match", b'"v1"')], 404, False),
    ([], 200, False),
]


@pytest.mark.parametrize(("req", "status", "expected"), NOT_MODIFIED)
def test_client_not_modified(req: Fields, status: int, expected: bool) -> None:
    """A cache answers a client's matching conditional with 304 (§4.3.2, RFC 9110 §13.1)."""
    stored = meta([(b"ETag", b'"v1"'), (b"Last-Modified", dated(T - 1000))], status=status)
    assert client_not_modified(stored, req) is expected
