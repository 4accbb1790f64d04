"""The HTTP cache on the Twisted side: which requests it answers, fetches, collapses, purges.

One :class:`HttpCache` per config (rebuilt on reload) over one
:class:`CacheCore` per process (the store, the fetches in flight; kept across
reloads while the store's sizes stay the same).  The listeners call
:meth:`HttpCache.handle` for each request they would forward (the forward
proxy always when ``[cache] enabled``, the reverse proxy for routes with
``cache = yes``); with the cache off, ``ctx.cache`` is None and nothing here
runs.

Per request (:meth:`HttpCache.handle`; :class:`~.cache_request.CacheRequest`
takes over whatever is not a plain fresh hit):

- ``PURGE``: from ``purge_from`` addresses, drop every stored variant of the
  URI and answer 200 with the count; 403 otherwise.
- Unsafe methods go to the origin; a non-error answer invalidates the URI
  (and same-origin Location / Content-Location).
- GET and HEAD: a fresh entry is answered from memory (:mod:`.cache_serve`),
  the client's own If-None-Match / If-Modified-Since honoured with 304;
  If-Match and If-Unmodified-Since go to the origin.  A stale entry with
  validators is revalidated with a conditional request (unless the client
  sent conditionals of its own); a 304 refreshes it.  Otherwise the request
  goes to the origin and the response is stored while it streams
  (:mod:`.cache_fill`).
- Concurrent misses for one key: the first GET leads, later ones wait (at
  most ``collapse_timeout``) and look again once the leader is done; if
  nothing was stored they go to the origin themselves, uncollapsed.  A key
  whose response was not storable is not collapsed for ``PASS_TTL`` seconds
  (so uncacheable URIs are never serialised behind one another).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from ipaddress import IPv6Address, ip_address
from typing import Any, overload

from twisted.logger import Logger

from ..cache import (
    CacheControl,
    CacheKey,
    Entry,
    Flights,
    MemoryStore,
    Reuse,
    Writer,
    freshen,
    invalidated_uris,
    response_meta,
    reuse,
    storable,
)
from ..cache.rules import SAFE_METHODS, ResponseMeta
from ..config.model import CacheSettings
from ..http import RequestHead, ResponseHead, response_head_bytes
from .cache_fill import CachingExchange
from .cache_request import CacheRequest
from .cache_serve import HIT_MARKS, CachedResponse, Prepared, answer
from .exchange import Exchange
from .replies import Refusal

log = Logger()
Build = Callable[[type[Exchange]], Exchange]
PASS_TTL = 60.0  # seconds a key found uncacheable is not collapsed
MAX_PASSES = 10000
MAX_REMEMBERED = 4096  # URI keys and prepared heads kept (then forgotten all at once)
_NAMES = re.compile(
    rb"\r\n(cache-control|pragma|if-none-match|if-modified-since|if-match"
    rb"|if-unmodified-since|range):",
    re.IGNORECASE,
)
# Cheap rejections before the full RFC 9111 check (declining to store is always allowed):
# nothing to compute freshness from, or no-store / private in a Cache-Control line.
_FRESHNESS = re.compile(rb"\r\n(?:cache-control|expires|last-modified):", re.IGNORECASE)
_UNSTORABLE = re.compile(rb"\r\ncache-control:[^\r]*\b(?:no-store|private)\b", re.IGNORECASE)
_NONE: frozenset[bytes] = frozenset()
_NOT_SERVED = frozenset({b"if-match", b"if-unmodified-since"})
_LOOKUP_METHODS = frozenset({b"GET", b"HEAD"})


class CacheCore:
    """What outlives a reload: the store, the fetches in flight, the uncacheable keys."""

    def __init__(self, settings: CacheSettings) -> None:
        self.store = MemoryStore(
            settings.memory_size, settings.max_object_size, max_variants=settings.max_variants
        )
        self.sizes = (settings.memory_size, settings.max_object_size, settings.max_variants)
        self.flights = Flights()
        self.passes: dict[CacheKey, float] = {}


def make_cache(
    settings: CacheSettings | None, reactor: Any, metrics: Any, previous: HttpCache | None
) -> HttpCache | None:
    """The cache a config asks for (None when it has no ``[cache] enabled = yes``).

    The previous cache's store is kept when its sizes are unchanged; otherwise
    a new, empty store starts (its counters carried on).
    """
    if settings is None or not settings.enabled:
        if previous is not None and metrics is not None:  # turned off: it holds nothing now
            metrics.set("proxyhub_cache_objects", (), 0)
            metrics.set("proxyhub_cache_bytes", (), 0)
        return None
    core = previous.core if previous is not None else None
    sizes = (settings.memory_size, settings.max_object_size, settings.max_variants)
    if core is None or core.sizes != sizes:
        old, core = core, CacheCore(settings)
        if old is not None:
            core.store.stats = old.store.stats
            core.flights = old.flights
    return HttpCache(settings, core, reactor, metrics)


class HttpCache:
    """The cache as one config sees it: its settings over the process's :class:`CacheCore`."""

    def __init__(
        self, settings: CacheSettings, core: CacheCore, reactor: Any, metrics: Any
    ) -> None:
        self.settings = settings
        self.core = core
        self.store = core.store
        self.flights = core.flights
        self.reactor = reactor
        self.clock: Callable[[], float] = reactor.seconds
        self.metrics = metrics
        self.heuristic_max = settings.heuristic_max
        self._prepared: dict[int, Prepared] = {}
        self._keys: dict[bytes, CacheKey] = {}
        self.purged: Callable[[bytes], None] | None = None  # told of each PURGE, invalidation
        self._gauges()

    # -- the entry point ------------------------------------------------------
    def handle(
        self, down: Any, head: RequestHead, uri: bytes, route: Any, build: Build, extra: bytes
    ) -> None:
        """Answer, fetch or refuse one request for ``uri``; ``build`` makes its exchange.

        ``route`` labels the request in the metrics and log when no exchange
        is made; ``extra`` is a field block added to answers from the cache
        (our Via, a Strict-Transport-Security line).
        """
        method = head.method
        if method == b"PURGE":
            self.purge_request(down, head, uri)
            return
        if method not in _LOOKUP_METHODS or head.has_body:
            exchange = build(Exchange if method in SAFE_METHODS else CachingExchange)
            if isinstance(exchange, CachingExchange):
                exchange.setup_invalidation(self, uri)
            down.start_exchange(exchange)
            return
        found = _NAMES.findall(head.raw)
        names: frozenset[bytes] = frozenset(name.lower() for name in found) if found else _NONE
        if names & _NOT_SERVED:  # preconditions we leave to the origin
            down.start_exchange(build(Exchange))
            return
        key = self.key_of(uri)
        entry = self.lookup(key, head)
        if not found and entry is not None and self.prepared(entry.meta).fresh(self.clock()):
            answer(self, down, head, entry, "HIT", extra + HIT_MARKS, route)  # the common case
            return
        request = CacheRequest(self, down, head, uri, key, route, build, extra, names)
        request.decide(entry, collapse=True)

    # -- used by requests and exchanges -------------------------------------
    def key_of(self, uri: bytes) -> CacheKey:
        """The primary key of ``uri`` (normalised once, then remembered)."""
        key = self._keys.get(uri)
        if key is None:
            if len(self._keys) >= MAX_REMEMBERED:
                self._keys.clear()
            key = self._keys[uri] = CacheKey.for_request(b"GET", uri)
        return key

    def lookup(self, key: CacheKey, head: RequestHead) -> Entry | None:
        """The stored variant for a request (its fields are only split when Vary asks)."""
        return self.store.lookup(key, _Fields(head))

    def prepared(self, meta: ResponseMeta) -> Prepared:
        """The head and freshness facts of a stored response, computed once."""
        prep = self._prepared.get(id(meta))
        if prep is None or prep.meta is not meta:
            if len(self._prepared) >= MAX_REMEMBERED:
                self._prepared.clear()
            prep = self._prepared[id(meta)] = Prepared(meta, self.heuristic_max)
        return prep

    def verdict(self, entry: Entry, directives: CacheControl | None, now: float) -> Reuse:
        """How a stored entry may answer a request (``None``: it has no directives)."""
        if directives is None:
            return Reuse.FRESH if self.prepared(entry.meta).fresh(now) else Reuse.REVALIDATE
        return reuse(entry.meta, directives, now, heuristic_max=self.heuristic_max)

    def begin(
        self, key: CacheKey, req: RequestHead, resp: ResponseHead, started: float
    ) -> Writer | None:
        """A writer for a response that may be stored (and fits), else None."""
        if req.method != b"GET":
            return None
        raw = resp.raw
        if (
            not _FRESHNESS.search(raw)
            or _UNSTORABLE.search(raw)
            or not storable(b"GET", req.fields, resp.status, resp.fields).ok
        ):
            return None
        meta = response_meta(
            resp.status,
            resp.reason,
            resp.fields,
            req.fields,
            request_time=started,
            response_time=self.clock(),
        )
        writer = self.store.begin(key, meta, expected_size=resp.content_length)
        if not writer.active:  # larger than max_object_size
            return None
        return writer

    def commit(self, writer: Writer) -> bool:
        """Store a complete response; False when it was dropped meanwhile (purged, too big)."""
        evicted = self.store.stats.evictions
        entry = writer.commit()
        self._evicted(evicted)
        if entry is None:
            return False
        self.core.passes.pop(entry.key, None)
        return True

    def refresh(self, entry: Entry, resp: ResponseHead, started: float) -> Entry:
        """A stale entry freshened by a 304 (stored again, when it fits)."""
        meta = freshen(entry.meta, resp.fields, self.clock(), request_time=started)
        evicted = self.store.stats.evictions
        fresh = self.store.refresh(entry, meta)
        self._evicted(evicted)
        return fresh

    def invalidate(self, method: bytes, status: int, uri: bytes, fields: Any) -> None:
        """An unsafe request's answer makes what is stored for its URIs stale: drop it."""
        uris = invalidated_uris(method, status, uri, fields)
        if uris:
            for each in uris:
                self.store.purge(each)
                if self.purged is not None:  # the other workers' copies are stale too
                    self.purged(each)
            self._gauges()

    def land(self, key: CacheKey, stored: bool) -> None:
        """The leader of ``key``'s fetch is done: its followers look again, or fetch."""
        try:
            self.flights.land(key, stored)
        except Exception:
            log.failure("cache: a collapsed request failed after its leader's fetch")

    def served(self, answer: CachedResponse, body_bytes: int) -> None:
        """Count an answer from the cache (at its end, with the body bytes that went out)."""
        self.store.stats.bytes_served += body_bytes
        metrics = self.metrics
        if metrics is not None:
            listener = (answer.down.ctx.listener,)
            if answer.cache_status == "REVALIDATED":
                metrics.inc("proxyhub_cache_revalidated_total", listener)
            else:
                metrics.inc("proxyhub_cache_hits_total", listener)
            metrics.inc("proxyhub_cache_served_bytes_total", listener, body_bytes)

    def missed(self, listener: str) -> None:
        """Count a cacheable request sent to the origin."""
        if self.metrics is not None:
            self.metrics.inc("proxyhub_cache_misses_total", (listener,))

    # -- PURGE ------------------------------------------------------------------
    def may_purge(self, client_ip: str) -> bool:
        """Whether ``client_ip`` is in ``purge_from`` (IPv4-mapped IPv6 counts as IPv4)."""
        try:
            address = ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.settings.purge_from)

    def purge(self, uri: bytes) -> int:
        """Drop every stored variant of ``uri``; return how many there were."""
        removed = self.store.purge(uri)
        self.core.passes.pop(CacheKey.for_request(b"GET", uri), None)
        self._gauges()
        return removed

    def purge_request(self, down: Any, head: RequestHead, uri: bytes) -> None:
        """``PURGE uri``: 200 with the count of entries dropped, or 403."""
        if not self.may_purge(down.client_ip):
            down.refuse_request(head, Refusal(403, "PURGE is not allowed from this address."))
            return
        body = b'{"purged": %d}\n' % self.purge(uri)
        if self.purged is not None:  # other worker processes have caches of their own
            self.purged(uri)
        fields = [
            (b"Content-Type", b"application/json"),
            (b"Content-Length", b"%d" % len(body)),
            (b"Cache-Control", b"no-store"),
        ]
        if head.has_body or not head.keep_alive:
            fields.append((b"Connection", b"close"))
        down.answer_locally(head, 200, response_head_bytes(200, b"OK", fields) + body)

    # -- bookkeeping --------------------------------------------------------------
    def note_pass(self, key: CacheKey) -> None:
        """``key`` answered uncacheably: do not collapse its misses for ``PASS_TTL``."""
        passes = self.core.passes
        if len(passes) >= MAX_PASSES:
            passes.clear()
        passes[key] = self.clock() + PASS_TTL

    def is_pass(self, key: CacheKey) -> bool:
        """Whether ``key`` answered uncacheably of late (then misses are not collapsed)."""
        until = self.core.passes.get(key)
        if until is None:
            return False
        if until > self.clock():
            return True
        del self.core.passes[key]
        return False

    def _evicted(self, before: int) -> None:
        if self.metrics is not None and self.store.stats.evictions > before:
            self.metrics.inc(
                "proxyhub_cache_evictions_total", (), self.store.stats.evictions - before
            )
        self._gauges()

    def _gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.set("proxyhub_cache_objects", (), len(self.store))
            self.metrics.set("proxyhub_cache_bytes", (), self.store.bytes_used)


class _Fields(Sequence[tuple[bytes, bytes]]):
    """A request's fields for ``MemoryStore.lookup``, split only if a Vary needs them."""

    __slots__ = ("head",)

    def __init__(self, head: RequestHead) -> None:
        self.head = head

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.head.fields)

    def __len__(self) -> int:
        return len(self.head.fields)

    @overload
    def __getitem__(self, index: int) -> tuple[bytes, bytes]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[bytes, bytes]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.head.fields[index]
