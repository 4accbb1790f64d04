"""HTTP caching rules (RFC 9111), sans I/O: what to store, how long it stays fresh, how to reuse it.

Plain functions over header fields (``(name, value)`` bytes pairs, as in
:mod:`proxyhub.http.heads`); the caller passes every time as a ``float``.
The flow the wiring follows: ``storable`` on a response (then
:func:`proxyhub.cache.store.response_meta` records it), ``reuse`` on a later
request, ``conditional_headers`` and ``freshen`` to revalidate,
``served_fields`` to answer.  Keys, Vary and invalidation live in
:mod:`proxyhub.cache.store`.

Choices where RFC 9111 leaves room:

- Repeated Cache-Control directives (in one field line or several) take the
  most restrictive value: flags are ORed, ``max-age``/``s-maxage``/``max-stale``
  the smallest, ``min-fresh`` the largest.  An invalid ``max-age`` or
  ``s-maxage`` value means stale (§4.2.1); invalid request values are ignored.
  Quoted values are accepted (§5.2).  The qualified forms ``private="f"`` and
  ``no-cache="f"`` act as the unqualified ones (§5.2.2.4, §5.2.2.7 allow it).
  A request ``Pragma: no-cache`` counts when it has no Cache-Control (§5.4).
- Only GET responses are stored; HEAD is answered from the stored GET
  response (same ``CacheKey``) and never stored itself; a HEAD response is
  not used to freshen either.
- Heuristic freshness (§4.2.2) needs Last-Modified: 10% of Date minus
  Last-Modified, at most ``heuristic_max`` (24 h by default).
- Stored fields lose Set-Cookie, hop-by-hop, Connection-named and framing
  fields (the server re-frames from the body); a Date is added when the
  origin sent none (RFC 9110 §6.6.1).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from email.utils import formatdate, mktime_tz, parsedate_tz

from proxyhub.http.heads import Fields, field_tokens, get_field
from proxyhub.http.hop import HOP_BY_HOP

Headers = Sequence[tuple[bytes, bytes]]
VaryKey = tuple[tuple[bytes, bytes | None], ...]

DELTA_MAX = 2**31  # §1.2.2: larger delta-seconds values are taken as this
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86400.0
HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
STORABLE_STATUSES = HEURISTIC_STATUSES | {302, 303, 307}  # these need explicit freshness
SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE"})

_NOT_STORED = HOP_BY_HOP | {b"set-cookie", b"set-cookie2"}
_NOT_UPDATED = frozenset({b"content-encoding", b"content-range", b"date"})
_DIRECTIVE = re.compile(
    rb"""([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*(?:=[ \t]*("(?:[^"\\]|\\.)*"|[^,\s]*))?"""
)
_DELTA = re.compile(rb"[0-9]+")


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The Cache-Control directives of one message; absent ones are None or False."""

    max_age: int | None = None
    s_maxage: int | None = None
    max_stale: float | None = None  # math.inf when given without a value
    min_fresh: int | None = None
    no_cache: bool = False
    no_store: bool = False
    private: bool = False
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    only_if_cached: bool = False


@dataclass(frozen=True, slots=True)
class StoreDecision:
    """Whether a response may be stored, and the rule that decided."""

    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """A stored response minus its body: status, stored fields, the times of its exchange.

    ``variant`` is the secondary key: the request's values of the fields its Vary names.
    """

    status: int
    reason: bytes
    fields: tuple[tuple[bytes, bytes], ...]
    request_time: float
    response_time: float
    variant: VaryKey = ()


class Reuse(enum.Enum):
    """What to do with a stored response for a request (RFC 9111 §4)."""

    FRESH = "fresh"  # serve it
    STALE = "stale"  # serve it although stale: the request's max-stale allows it
    REVALIDATE = "revalidate"  # ask the origin with conditional_headers()
    UNAVAILABLE = "unavailable"  # only-if-cached and unusable: answer 504


_EMPTY = CacheControl()


def parse_cache_control(fields: Headers, *, request: bool = False) -> CacheControl:
    """Parse every Cache-Control field of a message, most restrictive value winning."""
    values = [v for n, v in fields if n.lower() == b"cache-control"]
    if not values:
        if request and b"no-cache" in field_tokens(fields, b"pragma"):
            return CacheControl(no_cache=True)
        return _EMPTY
    flags: set[bytes] = set()
    deltas: dict[bytes, list[int | None]] = {}
    for match in _DIRECTIVE.finditer(b",".join(values)):
        name, value = match.group(1).lower(), match.group(2)
        flags.add(name)
        deltas.setdefault(name, []).append(_delta(value))
    return CacheControl(
        max_age=_smallest(deltas.get(b"max-age"), invalid=None if request else 0),
        s_maxage=_smallest(deltas.get(b"s-maxage"), invalid=0),
        max_stale=_max_stale(deltas.get(b"max-stale")),
        min_fresh=max((d for d in deltas.get(b"min-fresh", ()) if d is not None), default=None),
        no_cache=b"no-cache" in flags,
        no_store=b"no-store" in flags,
        private=b"private" in flags,
        public=b"public" in flags,
        must_revalidate=b"must-revalidate" in flags,
        proxy_revalidate=b"proxy-revalidate" in flags,
        must_understand=b"must-understand" in flags,
        only_if_cached=b"only-if-cached" in flags,
    )


def _delta(value: bytes | None) -> int | None:
    """A delta-seconds value (quoted or not), capped at 2**31; None when absent or invalid."""
    if value is None:
        return None
    value = value.strip(b'"')
    return min(int(value), DELTA_MAX) if _DELTA.fullmatch(value) else None


def _smallest(values: list[int | None] | None, *, invalid: int | None) -> int | None:
    """The smallest of repeated delta-seconds values; ``invalid`` stands for a bad one."""
    if values is None:
        return None
    good = [invalid if v is None else v for v in values]
    return min((v for v in good if v is not None), default=None)


def _max_stale(values: list[int | None] | None) -> float | None:
    """The request's max-stale: infinite without a value, the smallest when repeated."""
    if values is None:
        return None
    return float(min(float("inf") if v is None else v for v in values))


def parse_http_date(value: bytes | None) -> float | None:
    """Seconds since the epoch of an HTTP-date (any of the three forms), or None if invalid."""
    if value is None:
        return None
    parsed = parsedate_tz(value.decode("latin-1"))
    if parsed is None:
        return None
    try:
        return float(mktime_tz(parsed))
    except (ValueError, OverflowError):
        return None


def format_http_date(when: float) -> bytes:
    """The IMF-fixdate of ``when``."""
    return formatdate(when, usegmt=True).encode("ascii")


def storable(
    method: bytes,
    request_headers: Headers,
    status: int,
    response_headers: Headers,
    *,
    shared: bool = True,
) -> StoreDecision:
    """Decide whether a response may be stored (RFC 9111 §3), naming the deciding rule."""
    if method != b"GET":
        return StoreDecision(False, f"method {method.decode('latin-1')}")
    if status not in STORABLE_STATUSES:
        return StoreDecision(False, f"status {status}")
    req = parse_cache_control(request_headers, request=True)
    res = parse_cache_control(response_headers)
    if req.no_store or (res.no_store and not res.must_understand):
        return StoreDecision(False, "no-store")
    if shared and res.private:
        return StoreDecision(False, "private")
    if b"*" in field_tokens(response_headers, b"vary"):
        return StoreDecision(False, "vary *")
    authorized = get_field(request_headers, b"authorization") is not None
    if (
        shared
        and authorized
        and not (res.public or res.s_maxage is not None or res.must_revalidate)
    ):
        return StoreDecision(False, "authorization")
    return _freshness_source(status, res, response_headers, shared)


def _freshness_source(
    status: int, res: CacheControl, fields: Headers, shared: bool
) -> StoreDecision:
    """Accept a response that says how long it stays fresh, or that can be revalidated."""
    if shared and res.s_maxage is not None:
        return StoreDecision(True, "s-maxage")
    if res.max_age is not None:
        return StoreDecision(True, "max-age")
    if get_field(fields, b"expires") is not None:
        return StoreDecision(True, "expires")
    last_modified = parse_http_date(get_field(fields, b"last-modified"))
    if last_modified is not None and (status in HEURISTIC_STATUSES or res.public):
        return StoreDecision(True, "heuristic")
    if res.no_cache and (last_modified is not None or get_field(fields, b"etag") is not None):
        return StoreDecision(True, "no-cache with validator")
    return StoreDecision(False, "no freshness information")


def headers_to_store(fields: Iterable[tuple[bytes, bytes]]) -> Fields:
    """The fields worth storing: no Set-Cookie, hop-by-hop, Connection-named or framing field."""
    fields = list(fields)
    drop = _NOT_STORED | field_tokens(fields, b"connection")
    return [(n, v) for n, v in fields if n.lower() not in drop]


def freshness_lifetime(
    response_headers: Headers,
    response_time: float,
    *,
    shared: bool = True,
    status: int = 200,
    heuristic_max: float = HEURISTIC_MAX,
) -> float:
    """Seconds a response stays fresh (§4.2.1): s-maxage, max-age, Expires - Date, heuristic."""
    cc = parse_cache_control(response_headers)
    if shared and cc.s_maxage is not None:
        return float(cc.s_maxage)
    if cc.max_age is not None:
        return float(cc.max_age)
    date = parse_http_date(get_field(response_headers, b"date"))
    date = response_time if date is None else date
    expires = get_field(response_headers, b"expires")
    if expires is not None:
        expiry = parse_http_date(expires)
        return 0.0 if expiry is None else max(0.0, expiry - date)
    last_modified = parse_http_date(get_field(response_headers, b"last-modified"))
    if last_modified is None or not (status in HEURISTIC_STATUSES or cc.public):
        return 0.0
    return min(max(0.0, (date - last_modified) * HEURISTIC_FRACTION), heuristic_max)


def _lifetime(meta: ResponseMeta, shared: bool, heuristic_max: float) -> float:
    """The freshness lifetime of a stored response."""
    return freshness_lifetime(
        meta.fields,
        meta.response_time,
        shared=shared,
        status=meta.status,
        heuristic_max=heuristic_max,
    )


def current_age(meta: ResponseMeta, now: float) -> float:
    """The stored response's age at ``now`` (RFC 9111 §4.2.3)."""
    date = parse_http_date(get_field(meta.fields, b"date"))
    apparent_age = 0.0 if date is None else max(0.0, meta.response_time - date)
    age_value = _delta(get_field(meta.fields, b"age")) or 0
    corrected_age = age_value + max(0.0, meta.response_time - meta.request_time)
    return max(apparent_age, corrected_age) + max(0.0, now - meta.response_time)


def age_header(meta: ResponseMeta, now: float) -> bytes:
    """The Age field value to send with the stored response at ``now`` (§5.1)."""
    return str(min(int(current_age(meta, now)), DELTA_MAX)).encode("ascii")


def served_fields(meta: ResponseMeta, now: float) -> Fields:
    """The stored fields with Age set for ``now``; the caller adds the framing."""
    fields = [(n, v) for n, v in meta.fields if n.lower() != b"age"]
    fields.append((b"Age", age_header(meta, now)))
    return fields


def is_fresh(
    meta: ResponseMeta, now: float, *, shared: bool = True, heuristic_max: float = HEURISTIC_MAX
) -> bool:
    """True while the stored response's age is below its freshness lifetime (§4.2)."""
    return _lifetime(meta, shared, heuristic_max) > current_age(meta, now)


def reuse(
    meta: ResponseMeta,
    request: CacheControl,
    now: float,
    *,
    shared: bool = True,
    heuristic_max: float = HEURISTIC_MAX,
) -> Reuse:
    """Decide how a stored response may answer a request whose directives are ``request`` (§4)."""
    res = parse_cache_control(meta.fields)
    age = current_age(meta, now)
    verdict = _reuse(res, request, _lifetime(meta, shared, heuristic_max) - age, age, shared)
    if verdict is Reuse.REVALIDATE and request.only_if_cached:
        return Reuse.UNAVAILABLE
    return verdict


def _reuse(res: CacheControl, req: CacheControl, left: float, age: float, shared: bool) -> Reuse:
    """The reuse verdict from both messages' directives, seconds of freshness left and age."""
    if res.no_cache or req.no_cache or req.max_age == 0:
        return Reuse.REVALIDATE
    if req.max_age is not None and age > req.max_age:
        return Reuse.REVALIDATE
    if req.min_fresh is not None and left < req.min_fresh:
        return Reuse.REVALIDATE
    if left > 0:
        return Reuse.FRESH
    strict = res.must_revalidate or (shared and (res.proxy_revalidate or res.s_maxage is not None))
    if req.max_stale is not None and not strict and -left <= req.max_stale:
        return Reuse.STALE
    return Reuse.REVALIDATE


def conditional_headers(meta: ResponseMeta) -> Fields:
    """The validators to send when revalidating the stored response (§4.3.1)."""
    out: Fields = []
    etag = get_field(meta.fields, b"etag")
    if etag is not None:
        out.append((b"If-None-Match", etag))
    last_modified = get_field(meta.fields, b"last-modified")
    if last_modified is not None:
        out.append((b"If-Modified-Since", last_modified))
    return out


def freshen(
    meta: ResponseMeta,
    response_headers: Headers,
    now: float,
    *,
    request_time: float | None = None,
) -> ResponseMeta:
    """The stored response updated by a 304 received at ``now`` (§4.3.4, §3.2).

    The 304's fields replace stored ones of the same name, except framing and
    content-coding fields; Date and Age come from the 304 alone (a Date is made
    when it has none), so the age restarts from this exchange.
    """
    update = [
        (n, v) for n, v in headers_to_store(response_headers) if n.lower() not in _NOT_UPDATED
    ]
    date = get_field(response_headers, b"date")
    update.append((b"Date", format_http_date(now) if date is None else date))
    names = {n.lower() for n, _ in update} | {b"age"}
    kept = [(n, v) for n, v in meta.fields if n.lower() not in names]
    started = now if request_time is None else request_time
    return replace(meta, fields=tuple(kept + update), request_time=started, response_time=now)


def client_not_modified(meta: ResponseMeta, request_headers: Headers) -> bool:
    """True when the client's own validators match: answer it 304 from the cache (§4.3.2)."""
    if meta.status != 200:
        return False
    tags = [
        t.strip(b" \t")
        for n, v in request_headers
        if n.lower() == b"if-none-match"
        for t in v.split(b",")
    ]
    if tags:
        etag = get_field(meta.fields, b"etag")
        return b"*" in tags or (etag is not None and _weak(etag) in {_weak(t) for t in tags})
    since = parse_http_date(get_field(request_headers, b"if-modified-since"))
    modified = parse_http_date(get_field(meta.fields, b"last-modified"))
    return since is not None and modified is not None and modified <= since


def _weak(tag: bytes) -> bytes:
    """An entity tag without its weakness prefix (weak comparison, RFC 9110 §8.8.3.2)."""
    return tag[2:] if tag.startswith(b"W/") else tag
