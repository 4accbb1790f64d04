"""Cache keys and the in-memory response store: LRU, bounded in bytes, streaming writes.

Keys: ``CacheKey`` is the primary key (method stored under, normalised
absolute URI); ``ResponseMeta.variant`` (built by ``response_meta``) is the
secondary key from Vary; ``invalidated_uris`` names what an unsafe request's
response makes stale (RFC 9111 §4.4), for ``purge``.

``MemoryStore.begin`` returns a ``Writer`` that collects body chunks while
the response streams to the client; ``commit`` makes the entry visible in
one step, ``abort`` (or going over ``max_object_size``) leaves nothing.
Readers get an immutable ``Entry``: evicting or purging it later never
disturbs a response already being served from it.

A URI keeps up to ``max_variants`` entries, one per Vary-selected request
(``ResponseMeta.variant``); a committed response whose Vary names differ
from the stored ones replaces them all (the origin changed its Vary).
An entry's size is its body, its stored fields and ``ENTRY_OVERHEAD``.

The store counts what it sees (hits, misses, stored, evictions, aborted,
too_large, purged) in ``stats``; ``stats.bytes_served`` is the caller's to
add to, since only it knows how much of an entry went out (HEAD, 304).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

from proxyhub.cache.rules import (
    SAFE_METHODS,
    Headers,
    ResponseMeta,
    VaryKey,
    format_http_date,
    headers_to_store,
)
from proxyhub.http.heads import field_tokens, get_field

ENTRY_OVERHEAD = 256
_DEFAULT_PORTS = {b"http": b":80", b"https": b":443"}


@dataclass(frozen=True, slots=True)
class CacheKey:
    """The primary cache key: the method stored under and the normalised absolute URI."""

    method: bytes
    uri: bytes

    @classmethod
    def for_request(cls, method: bytes, uri: bytes) -> CacheKey:
        """The key of a request; HEAD shares GET's key (it is answered from GET responses)."""
        return cls(b"GET" if method == b"HEAD" else method, normalize_uri(uri))


def response_meta(
    status: int,
    reason: bytes,
    response_headers: Headers,
    request_headers: Headers,
    *,
    request_time: float,
    response_time: float,
) -> ResponseMeta:
    """Record a storable response and the Vary-selected values of the request that got it."""
    fields = headers_to_store(response_headers)
    if get_field(fields, b"date") is None:
        fields.append((b"Date", format_http_date(response_time)))
    variant = vary_key(vary_names(response_headers), request_headers)
    return ResponseMeta(status, reason, tuple(fields), request_time, response_time, variant)


def vary_names(response_headers: Headers) -> tuple[bytes, ...]:
    """The lower-cased, sorted field names a response's Vary lists (``*`` included)."""
    return tuple(sorted(field_tokens(response_headers, b"vary")))


def vary_key(names: Iterable[bytes], request_headers: Headers) -> VaryKey:
    """The request's normalised values of the fields ``names`` (§4.1); None when absent.

    Field lines are combined, each comma-separated member stripped and its
    inner whitespace runs collapsed; values keep their case.
    """
    key: list[tuple[bytes, bytes | None]] = []
    for name in sorted({n.lower() for n in names}):
        values = [v for n, v in request_headers if n.lower() == name]
        if not values:
            key.append((name, None))
            continue
        members = b",".join(values).split(b",")
        key.append((name, b",".join(b" ".join(m.split()) for m in members)))
    return tuple(key)


def normalize_uri(uri: bytes) -> bytes:
    """An absolute URI with scheme and host lower-cased, default port and fragment dropped."""
    scheme, sep, rest = uri.partition(b"://")
    if not sep:
        return uri.partition(b"#")[0]
    scheme = scheme.lower()
    end = min((i for i in (rest.find(c) for c in (b"/", b"?", b"#")) if i >= 0), default=len(rest))
    authority, tail = rest[:end].rpartition(b"@")[2].lower(), rest[end:].partition(b"#")[0]
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is not None and authority.endswith(default_port):
        authority = authority[: -len(default_port)]
    if authority.endswith(b":"):
        authority = authority[:-1]
    return scheme + b"://" + authority + (tail if tail.startswith(b"/") else b"/" + tail)


def invalidated_uris(
    method: bytes, status: int, request_uri: bytes, response_headers: Headers
) -> list[bytes]:
    """The URIs whose stored responses an unsafe request's response invalidates (§4.4).

    Only non-error responses invalidate: the target, plus Location and
    Content-Location when they are on the same origin.  PURGE is not handled
    here: it is the caller's explicit, access-checked ``store.purge``.
    """
    if method in SAFE_METHODS or method == b"PURGE" or not 200 <= status < 400:
        return []
    target = normalize_uri(request_uri)
    uris = [target]
    for name in (b"location", b"content-location"):
        value = get_field(response_headers, name)
        if value is None:
            continue
        try:
            other = normalize_uri(urljoin(target, value.strip()))
        except ValueError:
            continue
        if _origin(other) == _origin(target) and other not in uris:
            uris.append(other)
    return uris


def _origin(uri: bytes) -> bytes:
    """The ``scheme://authority`` part of a normalised absolute URI."""
    scheme, _, rest = uri.partition(b"://")
    return scheme + b"://" + rest.partition(b"/")[0]


_Slot = tuple[CacheKey, VaryKey]


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored response: its key, metadata and body chunks, and the bytes it is counted as."""

    key: CacheKey
    meta: ResponseMeta
    body: tuple[bytes, ...]
    size: int

    @property
    def body_size(self) -> int:
        """The body length, for Content-Length."""
        return sum(len(chunk) for chunk in self.body)


class CacheStats:
    """Counters of the store; ``bytes_served`` is added to by the caller."""

    __slots__ = (
        "aborted",
        "bytes_served",
        "evictions",
        "hits",
        "misses",
        "purged",
        "stored",
        "too_large",
    )

    def __init__(self) -> None:
        self.hits = self.misses = self.stored = self.evictions = 0
        self.aborted = self.too_large = self.purged = self.bytes_served = 0

    def as_dict(self) -> dict[str, int]:
        """Every counter by name, for metrics."""
        return {name: getattr(self, name) for name in self.__slots__}


def meta_size(key: CacheKey, meta: ResponseMeta) -> int:
    """The bytes an entry is counted as before its body: URI, fields and overhead."""
    fields = sum(len(n) + len(v) + 4 for n, v in meta.fields)
    return ENTRY_OVERHEAD + len(key.uri) + len(meta.reason) + fields


class Writer:
    """Collects one response body; nothing is visible in the store until ``commit``."""

    __slots__ = ("_chunks", "_key", "_limit", "_meta", "_size", "_store", "active")

    def __init__(
        self, store: MemoryStore, key: CacheKey, meta: ResponseMeta, size: int, limit: int
    ) -> None:
        self._store = store
        self._key = key
        self._meta = meta
        self._size = size
        self._limit = limit
        self._chunks: list[bytes] = []
        self.active = True

    def write(self, chunk: bytes) -> bool:
        """Add a body chunk; False once the writer is finished or the object grew too large."""
        if not self.active:
            return False
        self._size += len(chunk)
        if self._size > self._limit:
            self._store.stats.too_large += 1
            self._finish()
            return False
        if chunk:
            self._chunks.append(chunk)
        return True

    def commit(self) -> Entry | None:
        """Store the complete response and return it; None when the writer was no longer active."""
        if not self.active:
            return None
        entry = Entry(self._key, self._meta, tuple(self._chunks), self._size)
        self._finish()
        self._store._insert(entry)
        return entry

    def abort(self) -> None:
        """Drop what was written (the client or the origin went away); idempotent."""
        if self.active:
            self._store.stats.aborted += 1
            self._finish()

    def _finish(self) -> None:
        """Stop accepting chunks and forget them."""
        self.active = False
        self._chunks = []
        self._store._writer_done(self)

    @property
    def key(self) -> CacheKey:
        """The key this writer stores under."""
        return self._key


class MemoryStore:
    """Responses by key and variant, least recently used evicted first, bounded in bytes."""

    __slots__ = (
        "_lru",
        "_variants",
        "_writers",
        "bytes_used",
        "max_bytes",
        "max_object_size",
        "max_variants",
        "stats",
    )

    def __init__(self, max_bytes: int, max_object_size: int, *, max_variants: int = 8) -> None:
        self.max_bytes = max_bytes
        self.max_object_size = min(max_object_size, max_bytes)
        self.max_variants = max(1, max_variants)
        self.bytes_used = 0
        self.stats = CacheStats()
        self._lru: OrderedDict[_Slot, Entry] = OrderedDict()
        self._variants: dict[CacheKey, list[VaryKey]] = {}
        self._writers: dict[CacheKey, set[Writer]] = {}

    def __len__(self) -> int:
        return len(self._lru)

    def lookup(self, key: CacheKey, request_headers: Sequence[tuple[bytes, bytes]]) -> Entry | None:
        """The newest stored variant matching the request's Vary-selected fields, or None."""
        for variant in reversed(self._variants.get(key, ())):
            if vary_key((name for name, _ in variant), request_headers) == variant:
                self._lru.move_to_end((key, variant))
                self.stats.hits += 1
                return self._lru[(key, variant)]
        self.stats.misses += 1
        return None

    def begin(
        self, key: CacheKey, meta: ResponseMeta, *, expected_size: int | None = None
    ) -> Writer:
        """Start storing a response; the writer is already inactive if it cannot fit.

        ``expected_size`` (a Content-Length) lets an oversized body be refused at once.
        """
        size = meta_size(key, meta)
        writer = Writer(self, key, meta, size, self.max_object_size)
        self._writers.setdefault(key, set()).add(writer)
        if size + (expected_size or 0) > self.max_object_size:
            self.stats.too_large += 1
            writer._finish()
        return writer

    def refresh(self, entry: Entry, meta: ResponseMeta) -> Entry:
        """Store ``entry``'s body under freshened metadata (after a 304); return the new entry."""
        size = meta_size(entry.key, meta) + entry.body_size
        fresh = Entry(entry.key, meta, entry.body, size)
        if size <= self.max_object_size:
            self._insert(fresh)
        return fresh

    def purge(self, uri: bytes) -> int:
        """Remove every stored variant of ``uri`` and cancel its writes; return how many went."""
        key = CacheKey.for_request(b"GET", uri)
        for writer in list(self._writers.get(key, ())):
            writer._finish()
        removed = 0
        for variant in self._variants.pop(key, []):
            self._drop((key, variant))
            removed += 1
        self.stats.purged += removed
        return removed

    def _insert(self, entry: Entry) -> None:
        """Make a committed entry visible, replacing its variant and evicting as needed."""
        key, variant = entry.key, entry.meta.variant
        variants = self._variants.setdefault(key, [])
        names = tuple(name for name, _ in variant)
        for old in list(variants):
            if old == variant or tuple(name for name, _ in old) != names:
                variants.remove(old)
                self._drop((key, old))
        while len(variants) >= self.max_variants:
            self._drop((key, variants.pop(0)))
            self.stats.evictions += 1
        while self._lru and self.bytes_used + entry.size > self.max_bytes:
            self._evict_oldest()  # may empty and delete this key's variant list
        self._variants.setdefault(key, []).append(variant)
        self._lru[(key, variant)] = entry
        self.bytes_used += entry.size
        self.stats.stored += 1

    def _evict_oldest(self) -> None:
        """Drop the least recently used entry."""
        (key, variant), entry = self._lru.popitem(last=False)
        self.bytes_used -= entry.size
        variants = self._variants.get(key)
        if variants is not None:
            variants.remove(variant)
            if not variants:
                del self._variants[key]
        self.stats.evictions += 1

    def _drop(self, slot: _Slot) -> None:
        """Forget one entry's bytes; the caller fixes the variant list."""
        entry = self._lru.pop(slot, None)
        if entry is not None:
            self.bytes_used -= entry.size

    def _writer_done(self, writer: Writer) -> None:
        """Stop tracking a finished writer."""
        writers = self._writers.get(writer.key)
        if writers is not None:
            writers.discard(writer)
            if not writers:
                del self._writers[writer.key]
