"""The admin site: /healthz, /metrics, a live /status dashboard and its JSON, on twisted.web.

``make_admin_site`` builds a ``twisted.web.server.Site`` over an ``AdminSource``,
which supplies the numbers; the site itself holds no state but a ``LoopingCall``
that asks the source to ``sample`` once a second while the site is listening
(``startFactory`` .. ``stopFactory``), feeding the dashboard's time series.

Every answer carries ``Cache-Control: no-store``, a strict
``Content-Security-Policy`` (the page's script and style are static files from
the package, no inline code, no CDN) and ``X-Content-Type-Options: nosniff``.
Only GET and HEAD are allowed (405 with ``Allow`` otherwise, for every path but
those whose resource lists more in ``allowed_methods``, like ``POST /cache/purge``);
unknown paths get 404; ``/`` redirects to ``/status``.  Requests are not logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

JSON = b"application/json"
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    b"Cache-Control": b"no-store",
    b"Content-Security-Policy": CSP,
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
}
STATIC_TYPES = {
    "html": b"text/html; charset=utf-8",
    "js": b"text/javascript; charset=utf-8",
    "css": b"text/css; charset=utf-8",
    "svg": b"image/svg+xml",
    "png": b"image/png",
    "ico": b"image/x-icon",
}
SAMPLE_INTERVAL = 1.0

_log = Logger(namespace="proxyhub.admin")


class AdminSource(Protocol):
    """What the admin site shows; every method is called on the reactor thread."""

    def metrics_text(self) -> str:
        """Return the merged metrics in Prometheus text format 0.0.4."""

    def health(self) -> Mapping[str, Any]:
        """Return ``{"status", "uptime_s", "workers", "listeners", "backends"}`` (JSON data)."""

    def series(self) -> Mapping[str, Any]:
        """Return the dashboard's recent points, column by column (JSON data)."""

    def sample(self) -> None:
        """Record one point of the time series; called every ``SAMPLE_INTERVAL`` seconds."""


class Fixed(Resource):
    """A leaf answering GET and HEAD with a status, headers and a body made per request."""

    def __init__(
        self,
        content_type: bytes,
        body: Callable[[], bytes],
        code: int = 200,
        headers: Mapping[bytes, bytes] | None = None,
    ) -> None:
        Resource.__init__(self)  # type: ignore[no-untyped-call]
        self._content_type = content_type
        self._body = body
        self._code = code
        self._headers = headers or {}

    def getChild(self, path: bytes, request: Request) -> Resource:
        """Nothing lives below a page: 404."""
        return NOT_FOUND

    def render(self, request: Request) -> bytes:
        """Write the status and headers; return the body (nothing for HEAD)."""
        body = self._body()
        request.setResponseCode(self._code)
        headers = request.responseHeaders
        headers.setRawHeaders(b"Content-Type", [self._content_type])
        for name, value in self._headers.items():
            headers.setRawHeaders(name, [value])
        headers.setRawHeaders(b"Content-Length", [b"%d" % len(body)])
        return b"" if request.method == b"HEAD" else body


def _text(code: int, text: str, headers: Mapping[bytes, bytes] | None = None) -> Fixed:
    """Return a plain-text answer with a fixed body."""
    body = (text + "\n").encode()
    return Fixed(b"text/plain; charset=utf-8", lambda: body, code, headers)


NOT_FOUND = _text(404, "Not Found")
NOT_ALLOWED = _text(405, "Method Not Allowed", {b"Allow": b"GET, HEAD"})


class Directory(Resource):
    """Named children only: no listing, unknown names get 404."""

    def __init__(self, children: Mapping[bytes, Resource]) -> None:
        Resource.__init__(self)  # type: ignore[no-untyped-call]
        self._named = dict(children)

    def getChild(self, path: bytes, request: Request) -> Resource:
        """Return the child called ``path``, or 404."""
        return self._named.get(path, NOT_FOUND)

    def render(self, request: Request) -> bytes:
        """The directory itself has no page: 404."""
        return bytes(NOT_FOUND.render(request))


def _dumps(data: Any) -> bytes:
    """Return compact JSON bytes (NaN and infinities are not JSON: refused)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def static_files() -> dict[str, bytes]:
    """Return the files shipped in ``proxyhub/admin/static/`` by name."""
    folder = resources.files("proxyhub.admin") / "static"
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


def _static_resource(name: str, data: bytes) -> Fixed:
    """Return a resource serving one static file with the type its suffix names."""
    content_type = STATIC_TYPES.get(name.rpartition(".")[2], b"application/octet-stream")
    return Fixed(content_type, lambda: data)


class AdminSite(Site):
    """A Site adding security headers, refusing methods but GET/HEAD, sampling the source."""

    displayTracebacks = False

    def __init__(
        self, root: Resource, source: AdminSource, clock: IReactorTime | None = None
    ) -> None:
        Site.__init__(self, root, reactor=clock)  # type: ignore[no-untyped-call]
        self.source = source
        self._loop = LoopingCall(self._sample)
        self._loop.clock = self.reactor

    def _sample(self) -> None:
        """Ask the source for one point; a failure is logged and sampling goes on."""
        try:
            self.source.sample()
        except Exception:
            _log.failure("admin: sampling metrics failed")

    def startFactory(self) -> None:
        """Start sampling once a second (the first sample now)."""
        super().startFactory()
        if not self._loop.running:
            self._loop.start(SAMPLE_INTERVAL, now=True)

    def stopFactory(self) -> None:
        """Stop sampling."""
        if self._loop.running:
            self._loop.stop()
        super().stopFactory()

    def log(self, request: http.Request) -> None:
        """Admin requests are not logged (the dashboard polls every second)."""

    def getResourceFor(self, request: Request) -> Resource:
        """Add the security headers, then route GET and HEAD; 405 for anything else."""
        for name, value in SECURITY_HEADERS.items():
            request.responseHeaders.setRawHeaders(name, [value])
        resource: Resource = Site.getResourceFor(self, request)  # type: ignore[no-untyped-call]
        if request.method not in (b"GET", b"HEAD") and request.method not in getattr(
            resource, "allowed_methods", ()
        ):
            return NOT_ALLOWED
        return resource


def admin_children(source: AdminSource) -> dict[bytes, Resource]:
    """Return the built-in top-level resources, by path segment."""
    files = static_files()

    def status_json() -> bytes:
        return _dumps({"health": source.health(), "series": source.series()})

    return {
        b"": _text(302, "See /status", {b"Location": b"/status"}),
        b"healthz": Fixed(JSON, lambda: _dumps(source.health())),
        b"metrics": Fixed(METRICS_TYPE, lambda: source.metrics_text().encode()),
        b"status": _static_resource("status.html", files.pop("status.html")),
        b"status.json": Fixed(JSON, status_json),
        b"static": Directory(
            {name.encode(): _static_resource(name, data) for name, data in files.items()}
        ),
    }


def make_admin_site(
    source: AdminSource,
    extra: Mapping[bytes, Resource] | None = None,
    clock: IReactorTime | None = None,
) -> AdminSite:
    """Return the admin Site over ``source``; ``extra`` adds top-level children.

    ``extra`` maps a path segment (``b"proxy.pac"``) to a resource; a name the
    site already serves is a ValueError.  ``clock`` drives the sampling loop
    (default: the global reactor).
    """
    children = admin_children(source)
    clash = sorted(set(children) & set(extra or {}))
    if clash:
        raise ValueError(f"admin paths already served: {clash}")
    return AdminSite(Directory({**children, **(extra or {})}), source, clock)
