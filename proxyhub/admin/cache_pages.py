"""The admin site's cache pages: ``GET /cache`` (what the store holds), ``POST /cache/purge``.

``POST /cache/purge?uri=URI`` (percent-encoded, or the same ``uri`` as a
form field) drops every stored variant of that URI and answers
``{"purged": N}``; reverse-proxy entries are named ``scheme://host/path``.
With the cache off both pages answer 404 with ``{"error": ...}``.  The pages
ask ``current()`` for the running cache on every request, so they follow
reloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

JSON = b"application/json"
CacheGetter = Callable[[], Any]  # the running HttpCache, or None when the cache is off


def _answer(request: Request, code: int, data: Any, allow: bytes | None = None) -> bytes:
    body = json.dumps(data, separators=(",", ":")).encode() + b"\n"
    request.setResponseCode(code)
    request.responseHeaders.setRawHeaders(b"Content-Type", [JSON])
    request.responseHeaders.setRawHeaders(b"Content-Length", [b"%d" % len(body)])
    if allow is not None:
        request.responseHeaders.setRawHeaders(b"Allow", [allow])
    return b"" if request.method == b"HEAD" else body


_OFF = {"error": "the cache is off ([cache] enabled = no)"}


class CachePurge(Resource):
    """``POST /cache/purge?uri=...``: drop a URI from the cache."""

    isLeaf = True
    allowed_methods = (b"POST",)

    def __init__(self, current: CacheGetter) -> None:
        Resource.__init__(self)  # type: ignore[no-untyped-call]
        self._current = current

    def render(self, request: Request) -> bytes:
        if request.method != b"POST":
            return _answer(request, 405, {"error": "use POST"}, allow=b"POST")
        cache = self._current()
        if cache is None:
            return _answer(request, 404, _OFF)
        uris = (request.args or {}).get(b"uri") or []
        if len(uris) != 1 or b"://" not in uris[0]:
            return _answer(request, 400, {"error": "give one absolute uri=http://host/path"})
        return _answer(request, 200, {"purged": cache.purge(uris[0])})


class CacheStatus(Resource):
    """``GET /cache``: entries, bytes and the store's counters."""

    def __init__(self, current: CacheGetter) -> None:
        Resource.__init__(self)  # type: ignore[no-untyped-call]
        self._current = current
        self._purge = CachePurge(current)
        self._missing = _NotFound()

    def getChild(self, path: bytes, request: Request) -> Resource:
        """Only ``purge`` lives below: anything else is 404."""
        return self._purge if path == b"purge" else self._missing

    def render(self, request: Request) -> bytes:
        cache = self._current()
        if cache is None:
            return _answer(request, 404, _OFF)
        store = cache.store
        data = {
            "entries": len(store),
            "bytes": store.bytes_used,
            "max_bytes": store.max_bytes,
            "max_object_size": store.max_object_size,
            "in_flight": len(cache.flights),
            "counters": store.stats.as_dict(),
        }
        return _answer(request, 200, data)


class _NotFound(Resource):
    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)  # type: ignore[no-untyped-call]

    def render(self, request: Request) -> bytes:
        return _answer(request, 404, {"error": "not found"})


def cache_pages(current: CacheGetter) -> dict[bytes, Resource]:
    """The ``extra`` children for :func:`~proxyhub.admin.site.make_admin_site`."""
    return {b"cache": CacheStatus(current)}
