"""HTTP caching (RFC 9111), sans I/O: the rules, a bounded memory store, collapsed forwarding.

:mod:`.rules` decides what may be stored and how a stored response is reused,
:mod:`.store` keys responses (URI, Vary) and keeps them in memory (LRU,
bounded in bytes, streaming writes), and :mod:`.flight` lets concurrent
misses for one key wait for a single origin fetch.  Nothing here does I/O or
reads a clock: time is passed in.
"""

from .flight import Flights
from .rules import (
    CacheControl,
    ResponseMeta,
    Reuse,
    StoreDecision,
    age_header,
    client_not_modified,
    conditional_headers,
    current_age,
    freshen,
    freshness_lifetime,
    headers_to_store,
    is_fresh,
    parse_cache_control,
    reuse,
    served_fields,
    storable,
)
from .store import (
    CacheKey,
    CacheStats,
    Entry,
    MemoryStore,
    Writer,
    invalidated_uris,
    normalize_uri,
    response_meta,
    vary_key,
)

__all__ = [
    "CacheControl",
    "CacheKey",
    "CacheStats",
    "Entry",
    "Flights",
    "MemoryStore",
    "ResponseMeta",
    "Reuse",
    "StoreDecision",
    "Writer",
    "age_header",
    "client_not_modified",
    "conditional_headers",
    "current_age",
    "freshen",
    "freshness_lifetime",
    "headers_to_store",
    "invalidated_uris",
    "is_fresh",
    "normalize_uri",
    "parse_cache_control",
    "response_meta",
    "reuse",
    "served_fields",
    "storable",
    "vary_key",
]
