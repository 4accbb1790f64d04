"""An exchange that feeds the cache: stores the response as it streams, refreshes, invalidates.

:class:`CachingExchange` is an :class:`~.exchange.Exchange` made by the cache
(:mod:`.caching`) instead of the plain one, so the plain relay pays nothing
for caching.  What it adds:

- a storable response is written to a store ``Writer`` chunk by chunk while
  it goes to the client (nothing is buffered whole): committed on a clean end,
  aborted on any failure, client loss or once over ``max_object_size``;
- when revalidating a stale entry it sends the entry's validators upstream; a
  304 refreshes the entry, which then answers the client (``REVALIDATED``);
- an unsafe request's answer invalidates what is stored for its URI;
- ``X-Cache: MISS`` and ``Cache-Status`` on the relayed response;
- the fetch it leads lands (``Flights``) once it is known whether it stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cache import CacheKey, Entry, Writer, conditional_headers
from ..http import ResponseHead
from .cache_serve import REVALIDATED_MARKS, answer, marks_for
from .exchange import UPSTREAM_WAIT, Exchange

if TYPE_CHECKING:
    from .caching import HttpCache

_SAYS_NOTHING = frozenset({206, 304})  # answers to a Range or a client's own conditionals


class CachingExchange(Exchange):
    """Relays one request like :class:`Exchange`, and keeps the cache in step."""

    cache_status: str | None = "MISS"
    cache: HttpCache | None = None
    key: CacheKey | None = None
    uri = b""
    revalidating: Entry | None = None
    fwd = b"uri-miss"  # Cache-Status fwd= reason
    leads = False  # this fetch leads a flight others wait on
    invalidates = False
    writer: Writer | None = None
    started = 0.0
    extra = b""
    _refreshed: Entry | None = None
    _clean = False

    def setup(
        self,
        cache: HttpCache,
        key: CacheKey,
        uri: bytes,
        revalidate: Entry | None,
        fwd: bytes,
        leads: bool,
        started: float,
        extra: bytes,
    ) -> None:
        """A cacheable GET or HEAD: what to store under, what to revalidate."""
        self.cache, self.key, self.uri = cache, key, uri
        self.revalidating, self.fwd, self.leads = revalidate, fwd, leads
        self.started, self.extra = started, extra

    def setup_invalidation(self, cache: HttpCache, uri: bytes) -> None:
        """An unsafe request: its answer invalidates ``uri``."""
        self.cache, self.uri, self.invalidates, self.cache_status = cache, uri, True, None

    def start(self) -> None:
        entry = self.revalidating
        if entry is not None:
            fields = b"".join([n + b": " + v + b"\r\n" for n, v in conditional_headers(entry.meta)])
            if fields:
                self.upstream_head = self.upstream_head[:-2] + fields + b"\r\n"
                head_for = self.head_for
                if head_for is not None:
                    self.head_for = lambda choice: head_for(choice)[:-2] + fields + b"\r\n"
            else:
                self.revalidating = None
        super().start()

    # -- the response -------------------------------------------------------------
    def _response_head(self, resp: ResponseHead, out: list[bytes]) -> None:
        cache = self.cache
        if resp.status < 200 or cache is None:
            super()._response_head(resp, out)
            return
        if self.invalidates:
            cache.invalidate(self.req.method, resp.status, self.uri, resp.fields)
            super()._response_head(resp, out)
            return
        entry = self.revalidating
        if entry is not None and resp.status == 304:
            self.response = resp  # not relayed: the refreshed entry answers at the end
            self._refreshed = cache.refresh(entry, resp, self.started)
            self._land(True)
            return
        assert self.key is not None
        self.writer = cache.begin(self.key, self.req, resp, self.started)
        if self.writer is None:
            if self.leads and resp.status not in _SAYS_NOTHING:
                cache.note_pass(self.key)  # later misses of this URI need not wait
            self._land(False)
        super()._response_head(resp, out)
        stored = b"; stored" if self.writer is not None else b""
        detail = b"fwd=%s; fwd-status=%d%s" % (self.fwd, resp.status, stored)
        out[-1] = out[-1][:-4] + marks_for("MISS", detail) + b"\r\n\r\n"

    def _relay_body(self, data: bytes, out: list[bytes]) -> None:
        writer = self.writer
        if writer is not None and not writer.write(data):
            self.writer = None  # over max_object_size (or purged): pass the rest through
            if self.leads and self.cache is not None and self.key is not None:
                self.cache.note_pass(self.key)
            self._land(False)
        super()._relay_body(data, out)

    def _response_end(self, out: list[bytes]) -> None:
        self._clean = True
        writer, self.writer = self.writer, None
        if writer is not None and self.cache is not None:
            self._land(self.cache.commit(writer))
        super()._response_end(out)

    def _done(self, status: int, abort: bool = False) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.abort()  # never a partial entry
        self._land(False)
        refreshed = self._refreshed
        if refreshed is not None and self._clean and not abort and not self.finished:
            self.finished = True
            if self.down.gate.reasons:
                self.down.gate.resume(UPSTREAM_WAIT)
            self._answer_refreshed(refreshed)
            return
        super()._done(status, abort)

    def _answer_refreshed(self, entry: Entry) -> None:
        """Answer the client from the entry a 304 refreshed."""
        assert self.cache is not None
        answer(
            self.cache,
            self.down,
            self.req,
            entry,
            "REVALIDATED",
            self.extra + REVALIDATED_MARKS,
            self.route,
            request_done=self.request_done,
            upstream_addr=self.upstream_addr,
            close_after=self.close_after,
        )

    def _land(self, stored: bool) -> None:
        """Tell the requests waiting on this fetch (once)."""
        if self.leads:
            self.leads = False
            assert self.cache is not None and self.key is not None
            self.cache.land(self.key, stored)
