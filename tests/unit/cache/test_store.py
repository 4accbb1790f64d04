"""Tests of proxyhub.cache.store: keys, Vary variants, invalidation and the bounded LRU store."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.cache.rules import ResponseMeta, format_http_date
from proxyhub.cache.store import (
    ENTRY_OVERHEAD,
    CacheKey,
    MemoryStore,
    invalidated_uris,
    meta_size,
    normalize_uri,
    response_meta,
    vary_key,
)

T = 1_000_000_000.0
Fields = list[tuple[bytes, bytes]]
KEY = CacheKey.for_request(b"GET", b"http://example.com/a")


def meta(variant: tuple[tuple[bytes, bytes | None], ...] = ()) -> ResponseMeta:
    """A small stored response with the secondary key ``variant``."""
    return ResponseMeta(200, b"OK", ((b"Date", format_http_date(T)),), T, T, variant)


def fill(store: MemoryStore, key: CacheKey, body: bytes, stored: ResponseMeta | None = None) -> int:
    """Store ``body`` under ``key`` in one write; return the entry's size."""
    writer = store.begin(key, stored or meta())
    writer.write(body)
    entry = writer.commit()
    assert entry is not None
    return entry.size


URIS = [
    (b"HTTP://Example.COM:80/a?b#frag", b"http://example.com/a?b"),
    (b"https://example.com:443", b"https://example.com/"),
    (b"https://example.com:8443/x", b"https://example.com:8443/x"),
    (b"http://example.com:8080?q", b"http://example.com:8080/?q"),
    (b"http://user:pw@Example.com/", b"http://example.com/"),
    (b"http://[::1]:80/", b"http://[::1]/"),
    (b"http://example.com:/p", b"http://example.com/p"),
    (b"/origin-form", b"/origin-form"),
]


@pytest.mark.parametrize(("uri", "expected"), URIS)
def test_normalize_uri(uri: bytes, expected: bytes) -> None:
    """Scheme and host ignore case and default ports are implied (RFC 9110 §4.2.3)."""
    assert normalize_uri(uri) == expected


def test_cache_key_head_shares_get() -> None:
    """HEAD is answered from the stored GET response, so it uses GET's key (RFC 9110 §9.3.2)."""
    assert CacheKey.for_request(b"HEAD", b"http://EXAMPLE.com/a") == KEY


VARY_KEYS = [
    (
        [b"Accept-Encoding"],
        [(b"accept-encoding", b"gzip,  br")],
        ((b"accept-encoding", b"gzip,br"),),
    ),
    (
        [b"accept-encoding"],
        [(b"Accept-Encoding", b"gzip"), (b"Accept-Encoding", b" br ")],
        ((b"accept-encoding", b"gzip,br"),),
    ),
    ([b"Accept"], [], ((b"accept", None),)),
    ([b"Accept"], [(b"Accept", b"")], ((b"accept", b""),)),
    ([b"b", b"A"], [(b"a", b"x  y")], ((b"a", b"x y"), (b"b", None))),
    ([], [(b"a", b"1")], ()),
]


@pytest.mark.parametrize(("names", "request_fields", "expected"), VARY_KEYS)
def test_vary_key(names: list[bytes], request_fields: Fields, expected: object) -> None:
    """Selecting fields combine and normalise whitespace; absent differs from empty (§4.1)."""
    assert vary_key(names, request_fields) == expected


def test_response_meta_records_variant_and_date() -> None:
    """The stored record keeps the Vary-selected request values and gains a Date (§4.1)."""
    recorded = response_meta(
        200,
        b"OK",
        [(b"Vary", b"Accept-Encoding"), (b"Set-Cookie", b"a=b")],
        [(b"Accept-Encoding", b"gzip")],
        request_time=T - 1,
        response_time=T,
    )
    assert recorded.variant == ((b"accept-encoding", b"gzip"),)
    assert recorded.fields == ((b"Vary", b"Accept-Encoding"), (b"Date", format_http_date(T)))


A = b"http://example.com/a"
INVALIDATIONS = [
    (b"POST", 200, [], [A]),
    (b"PUT", 201, [(b"Location", b"/b")], [A, b"http://example.com/b"]),
    (
        b"DELETE",
        204,
        [(b"Content-Location", b"http://EXAMPLE.com:80/c")],
        [A, b"http://example.com/c"],
    ),
    (b"PATCH", 302, [(b"Location", b"http://other.example/")], [A]),
    (b"POST", 200, [(b"Location", b"https://example.com/a")], [A]),
    (b"FOO", 200, [], [A]),
    (b"POST", 404, [], []),
    (b"POST", 500, [], []),
    (b"GET", 200, [], []),
    (b"HEAD", 200, [], []),
    (b"PURGE", 200, [], []),
]


@pytest.mark.parametrize(("method", "status", "fields", "expected"), INVALIDATIONS)
def test_invalidated_uris(
    method: bytes, status: int, fields: Fields, expected: list[bytes]
) -> None:
    """Unsafe or unknown methods with non-error responses invalidate same-origin URIs (§4.4)."""
    assert invalidated_uris(method, status, b"HTTP://example.com:80/a", fields) == expected


def test_commit_makes_entry_visible_atomically() -> None:
    """Nothing is visible while a body streams in; commit publishes the whole entry at once."""
    store = MemoryStore(10_000, 5_000)
    writer = store.begin(KEY, meta())
    assert writer.write(b"hello ")
    assert store.lookup(KEY, []) is None
    assert writer.write(b"world")
    entry = writer.commit()
    assert entry is not None and store.lookup(KEY, []) is entry
    assert entry.body == (b"hello ", b"world") and entry.body_size == 11
    assert entry.size == meta_size(KEY, meta()) + 11 == store.bytes_used
    assert (store.stats.hits, store.stats.misses, store.stats.stored) == (1, 1, 1)


def test_abort_leaves_nothing() -> None:
    """An aborted write stores nothing and later calls are harmless."""
    store = MemoryStore(10_000, 5_000)
    writer = store.begin(KEY, meta())
    writer.write(b"partial")
    writer.abort()
    writer.abort()
    assert not writer.write(b"more")
    assert writer.commit() is None
    assert store.lookup(KEY, []) is None and store.bytes_used == 0 and len(store) == 0
    assert store.stats.aborted == 1


def test_per_object_limit_aborts_write() -> None:
    """A body outgrowing max_object_size is dropped; writes then just return False."""
    store = MemoryStore(10_000, meta_size(KEY, meta()) + 10)
    writer = store.begin(KEY, meta())
    assert writer.write(b"0123456789")
    assert not writer.write(b"x")
    assert not writer.active and writer.commit() is None
    assert store.lookup(KEY, []) is None and store.stats.too_large == 1


def test_expected_size_refuses_at_begin() -> None:
    """A Content-Length already over the limit gives an inactive writer."""
    store = MemoryStore(10_000, 1_000)
    writer = store.begin(KEY, meta(), expected_size=1_000)
    assert not writer.active and not writer.write(b"x") and store.stats.too_large == 1


def test_lru_eviction_by_bytes() -> None:
    """The least recently used entries go first when a commit needs room."""
    size = meta_size(KEY, meta()) + 100
    store = MemoryStore(size * 3, size)
    keys = [CacheKey.for_request(b"GET", b"http://example.com/%d" % i) for i in range(4)]
    size = meta_size(keys[0], meta()) + 100
    for key in keys[:3]:
        fill(store, key, b"x" * 100)
    assert store.lookup(keys[0], []) is not None
    fill(store, keys[3], b"x" * 100)
    assert store.lookup(keys[1], []) is None
    assert all(store.lookup(k, []) is not None for k in (keys[0], keys[2], keys[3]))
    assert store.bytes_used == 3 * size and store.stats.evictions == 1


def test_entry_survives_eviction() -> None:
    """A reader's entry keeps its body after the store evicts it."""
    store = MemoryStore(ENTRY_OVERHEAD + 200, ENTRY_OVERHEAD + 200)
    fill(store, KEY, b"first")
    entry = store.lookup(KEY, [])
    other = CacheKey.for_request(b"GET", b"http://example.com/b")
    fill(store, other, b"second")
    assert store.lookup(KEY, []) is None
    assert entry is not None and entry.body == (b"first",)


def test_vary_variants() -> None:
    """Each Vary-selected request gets its own variant of one URI (§4.1)."""
    store = MemoryStore(100_000, 10_000)
    gzip = ((b"accept-encoding", b"gzip"),)
    plain = ((b"accept-encoding", None),)
    fill(store, KEY, b"zipped", meta(gzip))
    fill(store, KEY, b"plain", meta(plain))
    hit = store.lookup(KEY, [(b"Accept-Encoding", b"gzip")])
    assert hit is not None and hit.body == (b"zipped",)
    hit = store.lookup(KEY, [])
    assert hit is not None and hit.body == (b"plain",)
    assert store.lookup(KEY, [(b"Accept-Encoding", b"br")]) is None
    fill(store, KEY, b"zipped2", meta(gzip))
    hit = store.lookup(KEY, [(b"accept-encoding", b"gzip")])
    assert hit is not None and hit.body == (b"zipped2",) and len(store) == 2


def test_variants_are_bounded() -> None:
    """A URI keeps at most max_variants variants, the oldest stored going first."""
    store = MemoryStore(100_000, 10_000, max_variants=2)
    for lang in (b"en", b"fr", b"de"):
        fill(store, KEY, lang, meta(((b"accept-language", lang),)))
    assert store.lookup(KEY, [(b"Accept-Language", b"en")]) is None
    assert store.lookup(KEY, [(b"Accept-Language", b"de")]) is not None
    assert len(store) == 2 and store.stats.evictions == 1


def test_changed_vary_replaces_variants() -> None:
    """A response whose Vary names differ replaces the URI's stored variants (§4.1)."""
    store = MemoryStore(100_000, 10_000)
    fill(store, KEY, b"v1", meta(((b"accept", b"a"),)))
    fill(store, KEY, b"v2", meta(((b"accept-language", b"en"),)))
    assert len(store) == 1 and store.lookup(KEY, [(b"Accept", b"a")]) is None


def test_purge_removes_all_variants_and_cancels_writes() -> None:
    """purge drops every variant of a URI and any write in progress for it."""
    store = MemoryStore(100_000, 10_000)
    fill(store, KEY, b"a", meta(((b"accept", b"a"),)))
    fill(store, KEY, b"b", meta(((b"accept", b"b"),)))
    writer = store.begin(KEY, meta(((b"accept", b"c"),)))
    assert store.purge(b"HTTP://example.com:80/a#x") == 2
    assert not writer.active and writer.commit() is None
    assert len(store) == 0 and store.bytes_used == 0 and store.stats.purged == 2
    assert store.purge(A) == 0


def test_refresh_swaps_metadata_keeping_body() -> None:
    """After a 304 the freshened metadata is stored with the same body."""
    store = MemoryStore(100_000, 10_000)
    fill(store, KEY, b"body")
    entry = store.lookup(KEY, [])
    assert entry is not None
    newer = ResponseMeta(200, b"OK", ((b"Date", format_http_date(T + 9)),), T + 9, T + 9)
    fresh = store.refresh(entry, newer)
    assert store.lookup(KEY, []) is fresh and fresh.body is entry.body and len(store) == 1
    assert store.bytes_used == fresh.size


def test_stats_as_dict() -> None:
    """Counters are exported by name; bytes_served is the caller's to add."""
    store = MemoryStore(100_000, 10_000)
    store.stats.bytes_served += 42
    assert store.stats.as_dict() == {
        "aborted": 0,
        "bytes_served": 42,
        "evictions": 0,
        "hits": 0,
        "misses": 0,
        "purged": 0,
        "stored": 0,
        "too_large": 0,
    }


OPS = st.lists(
    st.tuples(
        st.sampled_from(["fill", "abort", "purge", "lookup"]),
        st.integers(0, 5),
        st.sampled_from([None, b"en", b"fr"]),
        st.integers(0, 1100),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_store_accounting_holds_under_any_sequence(
    ops: list[tuple[str, int, bytes | None, int]],
) -> None:
    """Whatever happens, bytes_used is the sum of entry sizes and stays within max_bytes."""
    store = MemoryStore(3_000, 1_200, max_variants=2)
    for op, n, lang, length in ops:
        key = CacheKey.for_request(b"GET", b"http://example.com/%d" % n)
        request = [] if lang is None else [(b"Accept-Language", lang)]
        stored = meta(vary_key([b"accept-language"], request))
        if op == "fill":
            writer = store.begin(key, stored)
            writer.write(b"x" * length)
            writer.commit()
        elif op == "abort":
            store.begin(key, stored).abort()
        elif op == "purge":
            store.purge(key.uri)
        else:
            store.lookup(key, request)
        entries = list(store._lru.values())
        assert store.bytes_used == sum(e.size for e in entries) <= store.max_bytes
        assert sum(len(v) for v in store._variants.values()) == len(entries)
        assert all(v for v in store._variants.values()) and not store._writers
