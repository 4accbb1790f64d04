"""One GET or HEAD the cache could not answer at once: revalidate, wait for a fetch, or fetch.

:meth:`CacheRequest.decide` takes the stored entry (or None) for the
request and picks: answer (a stale entry the request's ``max-stale``
accepts), 504 (``only-if-cached``), follow a fetch already in flight for the
same key, or fetch (leading a flight others may follow), conditionally when a
stale entry has validators.  While following, the request is the
connection's exchange (``request_end``, ``client_lost``); when its leader
lands it looks again, and goes to the origin itself (uncollapsed) if nothing
usable was stored or ``collapse_timeout`` passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cache import CacheControl, CacheKey, Entry, Reuse, client_not_modified, parse_cache_control
from ..cache.ranges import Ranged, range_for
from ..http import RequestHead
from .cache_fill import CachingExchange
from .cache_serve import COLLAPSED_MARKS, HIT_MARKS, answer
from .replies import Refusal

if TYPE_CHECKING:
    from .caching import Build, HttpCache

DIRECTIVES = frozenset({b"cache-control", b"pragma"})
OWN_CONDITIONALS = frozenset({b"if-none-match", b"if-modified-since"})


class CacheRequest:
    """One GET or HEAD through the cache; the connection's exchange while it waits."""

    cache_status: str | None = None
    upstream_addr: str | None = None
    bytes_out = 0

    def __init__(
        self,
        cache: HttpCache,
        down: Any,
        head: RequestHead,
        uri: bytes,
        key: CacheKey,
        route: Any,
        build: Build,
        extra: bytes,
        names: frozenset[bytes],
    ) -> None:
        self.cache = cache
        self.down = down
        self.req = head
        self.uri = uri
        self.key = key
        self.route = route
        self.build = build
        self.extra = extra
        self.names = names
        self.directives: CacheControl | None = None
        if names & DIRECTIVES:
            self.directives = parse_cache_control(head.fields, request=True)
        self.arrived = cache.clock()
        self.close_after = not head.keep_alive
        self.request_done = False
        self.finished = False
        self.timer: Any = None  # the collapse_timeout call, while following

    def decide(self, entry: Entry | None, collapse: bool, since: float | None = None) -> None:
        """Answer from ``entry``, revalidate it, wait for a fetch in flight, or fetch.

        ``since``: a follower whose leader stored a response takes an entry
        stored after the follower arrived as fresh, its own directives aside.
        """
        cache, key, directives = self.cache, self.key, self.directives
        revalidate: Entry | None = None
        if entry is not None:
            if since is not None and entry.meta.response_time >= since:
                self.serve(entry, COLLAPSED_MARKS)
                return
            verdict = cache.verdict(entry, directives, cache.clock())
            if verdict is Reuse.FRESH or verdict is Reuse.STALE:
                self.serve(entry, HIT_MARKS)
                return
            if verdict is Reuse.UNAVAILABLE:
                self.unavailable()
                return
            if self.req.method == b"GET" and not self.names & OWN_CONDITIONALS:
                revalidate = entry
            fwd = b"request" if directives is not None and _forced(directives) else b"stale"
        elif directives is not None and directives.only_if_cached:
            self.unavailable()
            return
        else:
            fwd = b"uri-miss"
        leads = False
        if collapse and cache.settings.collapse_timeout > 0 and b"range" not in self.names:
            if key in cache.flights:
                self.follow()
                return
            if self.req.method == b"GET" and not cache.is_pass(key):
                leads = cache.flights.join(key, self.landed)
        self.fetch(revalidate, fwd, leads)

    def serve(self, entry: Entry, marks: bytes) -> None:
        """Answer from ``entry``: 304 to matching client validators, 206 to a Range,
        HEAD without body."""
        not_modified = bool(self.names & OWN_CONDITIONALS) and client_not_modified(
            entry.meta, self.req.fields
        )
        byte_range = None if not_modified else self._range_of(entry)
        answer(
            self.cache,
            self.down,
            self.req,
            entry,
            "HIT",
            self.extra + marks,
            self.route,
            not_modified=not_modified,
            byte_range=byte_range,
            request_done=self.request_done,
            close_after=self.close_after,
        )

    def _range_of(self, entry: Entry) -> Ranged:
        """The part of ``entry`` a GET's Range asks for; None: all of it."""
        if b"range" not in self.names or self.req.method != b"GET" or entry.meta.status != 200:
            return None
        return range_for(self.req.fields, entry.meta.fields, entry.body_size)

    def fetch(self, revalidate: Entry | None, fwd: bytes, leads: bool) -> None:
        """Send the request to the origin, storing (or refreshing with) what comes back."""
        cache = self.cache
        exchange = self.build(CachingExchange)
        assert isinstance(exchange, CachingExchange)
        exchange.setup(cache, self.key, self.uri, revalidate, fwd, leads, self.arrived, self.extra)
        exchange.request_done = self.request_done
        exchange.close_after = exchange.close_after or self.close_after
        cache.missed(self.down.ctx.listener)
        self.down.start_exchange(exchange)

    def unavailable(self) -> None:
        """only-if-cached and nothing usable is stored: 504 (RFC 9111 §5.2.1.7)."""
        refusal = Refusal(504, "The response is not in the cache (only-if-cached).")
        self.down.refuse_request(self.req, refusal)

    # -- collapsed forwarding -----------------------------------------------------
    def follow(self) -> None:
        """Wait for the fetch in flight for our key (at most ``collapse_timeout``)."""
        cache = self.cache
        cache.flights.join(self.key, self.landed)
        self.down.exchange = self
        self.timer = cache.reactor.callLater(cache.settings.collapse_timeout, self.timed_out)

    def landed(self, stored: bool) -> None:
        """The leader is done: look again (it stored something) or fetch ourselves."""
        self._stop_timer()
        if not self.finished:
            entry = self.cache.lookup(self.key, self.req)
            self.decide(entry, collapse=False, since=self.arrived if stored else None)

    def timed_out(self) -> None:
        """Waited ``collapse_timeout``: fetch ourselves."""
        self.timer = None
        if not self.finished and self.cache.flights.leave(self.key, self.landed):
            self.decide(self.cache.lookup(self.key, self.req), collapse=False)

    def _stop_timer(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None and timer.active():
            timer.cancel()

    # the exchange interface, while waiting
    def request_body(self, data: bytes) -> None:
        """GET and HEAD through the cache have no body."""

    def request_end(self) -> None:
        """The request is complete; whatever answers it later is told so."""
        self.request_done = True

    def client_lost(self) -> None:
        """The client gave up waiting."""
        if self.finished:
            return
        self.finished = True
        self._stop_timer()
        self.cache.flights.leave(self.key, self.landed)
        self.down.exchange_finished(self, 499, abort=True)


def _forced(directives: CacheControl) -> bool:
    """The client asked for validation: no-cache or max-age=0."""
    return directives.no_cache or directives.max_age == 0
