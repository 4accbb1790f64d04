"""Answering a request from a stored response: the head we write and a backpressured body.

:class:`CachedResponse` stands in for an exchange on the client connection
while a stored entry is written out: small entries go out in one write,
larger ones chunk by chunk as an ``IPushProducer`` registered with the
client transport, so a multi-megabyte entry never sits whole in the
transport's buffer (the entry's chunks are shared, never copied).  It then
finishes like any exchange: access log line (with ``cache``), keep-alive.

:class:`Prepared` holds what a stored response's head needs, worked out once
per stored response instead of on every hit: its field block, its age at
storage time, its freshness lifetime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from ..cache import Entry
from ..cache.ranges import ByteRange, NotSatisfiable, Ranged, body_slice
from ..cache.rules import (
    DELTA_MAX,
    ResponseMeta,
    current_age,
    freshness_lifetime,
    parse_cache_control,
)
from ..http import RequestHead
from .flow import producer_of

if TYPE_CHECKING:
    from .caching import HttpCache

INLINE_BODY = 65536  # bodies up to this size go out with the head in one write
WRITE_SLICE = 131072  # larger stored chunks are written in slices of this size
CACHE_NAME = b"proxyhub"  # our name in Cache-Status (RFC 9211)
_NOT_MODIFIED_FIELDS = frozenset(
    {b"cache-control", b"content-location", b"date", b"etag", b"expires", b"last-modified", b"vary"}
)
_BODILESS = frozenset({204, 304})


class Prepared:
    """A stored response's head, age and lifetime, computed once (per heuristic_max)."""

    __slots__ = ("age0", "block", "lifetime", "meta", "no_cache", "not_modified_block")

    def __init__(self, meta: ResponseMeta, heuristic_max: float) -> None:
        self.meta = meta
        self.age0 = current_age(meta, meta.response_time)
        self.lifetime = freshness_lifetime(
            meta.fields,
            meta.response_time,
            status=meta.status,
            heuristic_max=heuristic_max,
        )
        self.no_cache = parse_cache_control(meta.fields).no_cache
        kept = [(n, v) for n, v in meta.fields if n.lower() != b"age"]
        self.block = b"".join([b"\r\n" + n + b": " + v for n, v in kept])
        self.not_modified_block = b"".join(
            [b"\r\n" + n + b": " + v for n, v in kept if n.lower() in _NOT_MODIFIED_FIELDS]
        )

    def age(self, now: float) -> float:
        """The stored response's current age (RFC 9111 §4.2.3) at ``now``."""
        return self.age0 + max(0.0, now - self.meta.response_time)

    def fresh(self, now: float) -> bool:
        """Fresh for a request without directives of its own."""
        return not self.no_cache and self.lifetime > self.age(now)


def served_head(
    prep: Prepared,
    now: float,
    req: RequestHead,
    body_size: int,
    marks: bytes,
    *,
    not_modified: bool,
    byte_range: Ranged = None,
) -> bytes:
    """The response head for ``req`` from a stored response: its fields, Age, framing."""
    meta = prep.meta
    age = b"\r\nAge: %d" % min(int(prep.age(now)), DELTA_MAX)
    if not_modified:
        line, block, framing = b"HTTP/1.1 304 Not Modified", prep.not_modified_block, b""
    elif isinstance(byte_range, ByteRange):
        line, block = b"HTTP/1.1 206 Partial Content", prep.block
        framing = b"\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d" % (
            byte_range.first,
            byte_range.last,
            byte_range.size,
            byte_range.length,
        )
    elif isinstance(byte_range, NotSatisfiable):
        line, block = b"HTTP/1.1 416 Range Not Satisfiable", b""  # nothing to store it by
        framing = b"\r\nContent-Range: bytes */%d\r\nContent-Length: 0" % byte_range.size
    else:
        line, block = b"HTTP/1.1 %d %s" % (meta.status, meta.reason), prep.block
        framing = b"" if meta.status in _BODILESS else b"\r\nContent-Length: %d" % body_size
    if not req.keep_alive:
        framing += b"\r\nConnection: close"
    elif req.version == b"HTTP/1.0":
        framing += b"\r\nConnection: keep-alive"
    return line + block + age + marks + framing + b"\r\n\r\n"


def marks_for(label: str, detail: bytes) -> bytes:
    """The X-Cache and Cache-Status fields of an answer (``detail``: Cache-Status params)."""
    return b"\r\nX-Cache: %s\r\nCache-Status: %s; %s" % (label.encode(), CACHE_NAME, detail)


HIT_MARKS = marks_for("HIT", b"hit")
COLLAPSED_MARKS = marks_for("HIT", b"fwd=uri-miss; collapsed")
REVALIDATED_MARKS = marks_for("REVALIDATED", b"fwd=stale; fwd-status=304")


def answer(
    cache: HttpCache,
    down: Any,
    req: RequestHead,
    entry: Entry,
    label: str,
    marks: bytes,
    route: Any,
    *,
    not_modified: bool = False,
    byte_range: Ranged = None,
    request_done: bool = False,
    upstream_addr: str | None = None,
    close_after: bool = False,
) -> CachedResponse:
    """Answer ``req`` on ``down`` from ``entry``; ``marks``: fields added to its head.

    ``byte_range``: the part of a GET's answer its Range asks for (206, or 416).
    ``request_done`` and ``close_after`` carry over what the connection already
    told the object answering before (a follower, an exchange)."""
    prep = cache.prepared(entry.meta)
    now = cache.clock()
    head = served_head(
        prep, now, req, entry.body_size, marks, not_modified=not_modified, byte_range=byte_range
    )
    body: tuple[bytes, ...] = entry.body
    status = entry.meta.status
    if not_modified or req.method == b"HEAD":
        body, status = (), 304 if not_modified else status
    elif isinstance(byte_range, ByteRange):
        body, status = body_slice(body, byte_range), 206
    elif isinstance(byte_range, NotSatisfiable):
        body, status = (), 416
    response = CachedResponse(cache, down, req, status, head, body, label, route, upstream_addr)
    response.request_done = request_done
    response.close_after = response.close_after or close_after
    down.exchange = response
    response.start()
    return response


@implementer(IPushProducer)
class CachedResponse:
    """Writes one stored response to the client; the connection's exchange meanwhile."""

    def __init__(
        self,
        cache: HttpCache,
        down: Any,
        req: RequestHead,
        status: int,
        head: bytes,
        body: tuple[bytes, ...],
        label: str,
        route: Any,
        upstream_addr: str | None = None,
    ) -> None:
        self.cache = cache
        self.down = down
        self.req = req
        self.status = status
        self.cache_status = label
        self.route = route
        self.upstream_addr = upstream_addr
        self.close_after = not req.keep_alive
        self.bytes_out = 0
        self.request_done = False
        self.finished = False
        self._head = head
        self._body = body
        self._next = 0
        self._offset = 0
        self._paused = False
        self._written = False

    def start(self) -> None:
        """Write the head and as much of the body as the client takes."""
        transport = self.down.transport
        body = self._body
        size = sum(map(len, body))
        if size <= INLINE_BODY or producer_of(transport) is not None:
            transport.writeSequence([self._head, *body])
            self.bytes_out = size
            self._written = True
        else:
            transport.write(self._head)
            transport.registerProducer(self, True)
            self._pump()
        if self._written and self.request_done:
            self._finish()

    def _pump(self) -> None:
        body, transport = self._body, self.down.transport
        while not self._paused and self._next < len(body):
            chunk = body[self._next]
            if len(chunk) > WRITE_SLICE:  # an origin chunk larger than one socket read
                start = self._offset
                piece = chunk[start : start + WRITE_SLICE]
                self._offset = start + len(piece)
                if self._offset >= len(chunk):
                    self._next, self._offset = self._next + 1, 0
            else:
                piece = chunk
                self._next += 1
            self.bytes_out += len(piece)
            transport.write(piece)  # may pause us before it returns
        if self._next >= len(body) and not self._written and not self.finished:
            self._written = True
            if producer_of(transport) is self:
                transport.unregisterProducer()
            if self.request_done:
                self._finish()

    # IPushProducer, for the client transport
    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        if self._paused and not self.finished:
            self._paused = False
            self._pump()

    def stopProducing(self) -> None:
        self._paused = True  # the connection is going; client_lost follows

    # the exchange interface the client connection drives
    def request_body(self, data: bytes) -> None:
        """Requests answered from the cache have no body."""

    def request_end(self) -> None:
        """The request is complete: finish once the body is written."""
        self.request_done = True
        if self._written and not self.finished:
            self._finish()

    def client_lost(self) -> None:
        """The client went away mid-answer."""
        if self.finished:
            return
        self.finished = True
        transport = self.down.transport
        if producer_of(transport) is self:
            transport.unregisterProducer()
        self.cache.served(self, self.bytes_out)
        self.down.exchange_finished(self, self.status, abort=True)

    def _finish(self) -> None:
        self.finished = True
        self.cache.served(self, self.bytes_out)
        self.down.exchange_finished(self, self.status)
