"""Shared helpers for the wire-layer tests: drivers, event summaries, reference parsers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import h11
import httptools

from proxyhub.http import (
    END,
    Event,
    Limits,
    RemoteProtocolError,
    RequestHead,
    RequestReader,
    ResponseHead,
    ResponseReader,
)

Summary = tuple[Any, ...]


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, duplicates and out-of-range clamped)."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


def bytewise(data: bytes) -> list[bytes]:
    """``data`` one byte per piece."""
    return [data[i : i + 1] for i in range(len(data))]


def drive(
    reader: RequestReader | ResponseReader, chunks: Iterable[bytes], *, eof: bool = False
) -> list[Event]:
    """Feed ``chunks`` in order, calling next_message() after every END, like a server loop."""
    events: list[Event] = []

    def take(new: list[Event]) -> None:
        while new:
            events.extend(new)
            new = reader.next_message() if new[-1] is END else []

    for chunk in chunks:
        take(reader.feed(chunk))
    if eof:
        take(reader.feed_eof())
    return events


def summarize(events: Sequence[Event]) -> list[Summary]:
    """Events as comparable tuples, with adjacent body pieces merged into one."""
    out: list[Summary] = []
    for e in events:
        if isinstance(e, bytes):
            assert e, "a reader emitted an empty data event"
            if out and out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + e)
            else:
                out.append(("data", e))
        elif e is END:
            out.append(("end",))
        elif isinstance(e, RequestHead):
            out.append(
                (
                    "request",
                    e.method,
                    e.target,
                    e.version,
                    tuple(e.fields),
                    e.host,
                    e.content_length,
                    e.chunked,
                    e.connection,
                    e.keep_alive,
                )
            )
        elif isinstance(e, ResponseHead):
            out.append(
                (
                    "response",
                    e.status,
                    e.reason,
                    e.version,
                    tuple(e.fields),
                    e.content_length,
                    e.chunked,
                    e.connection,
                    e.keep_alive,
                )
            )
        else:  # pragma: no cover - the event model has nothing else
            raise AssertionError(f"unexpected event {e!r}")
    return out


def request_events(
    data: bytes, chunks: Iterable[bytes] | None = None, **limits: int
) -> list[Summary]:
    """Summarized events of a fresh RequestReader driven over ``data`` (or ``chunks``)."""
    reader = RequestReader(Limits(**limits))
    return summarize(drive(reader, [data] if chunks is None else chunks))


def request_error(chunks: Iterable[bytes], **limits: int) -> tuple[int, list[Event]]:
    """Drive a RequestReader until it raises; return the status and the events seen before."""
    reader = RequestReader(Limits(**limits))
    events: list[Event] = []
    try:
        for chunk in chunks:
            new = reader.feed(chunk)
            events.extend(new)
            while new and new[-1] is END:
                new = reader.next_message()
                events.extend(new)
        events.extend(reader.feed_eof())
    except RemoteProtocolError as e:
        return e.status, events
    raise AssertionError(f"accepted, events {summarize(events)!r}")


def response_error(
    chunks: Iterable[bytes], method: bytes = b"GET", **limits: int
) -> tuple[int, list[Event]]:
    """Drive a ResponseReader (answering ``method``) until it raises; return status and events."""
    reader = ResponseReader(Limits(**limits))
    reader.expect(method)
    events: list[Event] = []
    try:
        for chunk in chunks:
            events.extend(reader.feed(chunk))
        events.extend(reader.feed_eof())
    except RemoteProtocolError as e:
        return e.status, events
    raise AssertionError(f"accepted, events {summarize(events)!r}")


# -- reference parsers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """The first message of a byte string as a reference parser saw it."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    rest: bytes  # bytes after the first message


class Rejected(Exception):
    """A reference parser refused the input."""


class Inconclusive(Exception):
    """A reference parser neither accepted nor refused (needs more data, upgrade)."""


class _LlhttpCallbacks:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.complete = False
        self.head_complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_complete:  # llhttp reports trailers here too; they are not fields
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_complete = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def llhttp_request(data: bytes) -> Parsed:
    """Parse the first request of ``data`` with llhttp (byte by byte, to find where it ends)."""
    cb = _LlhttpCallbacks()
    parser = httptools.HttpRequestParser(cb)
    used = 0
    try:
        while used < len(data) and not cb.complete:
            parser.feed_data(data[used : used + 1])
            used += 1
    except httptools.HttpParserUpgrade:
        raise Inconclusive("upgrade") from None
    except httptools.HttpParserError as e:
        raise Rejected(str(e)) from None
    if not cb.complete:
        raise Inconclusive("incomplete")
    headers = tuple((n, v.rstrip(b" \t")) for n, v in cb.headers)
    return Parsed(parser.get_method(), cb.url, headers, cb.body, data[used:])


def llhttp_response(data: bytes) -> tuple[int, tuple[tuple[bytes, bytes], ...], bytes, bytes]:
    """Parse the first final response to a GET with llhttp: status, headers, body, rest."""
    used = 0
    while True:
        cb = _LlhttpCallbacks()
        parser = httptools.HttpResponseParser(cb)
        try:
            while used < len(data) and not cb.complete:
                parser.feed_data(data[used : used + 1])
                used += 1
        except httptools.HttpParserUpgrade:
            raise Inconclusive("upgrade") from None
        except httptools.HttpParserError as e:
            raise Rejected(str(e)) from None
        if not cb.complete:
            raise Inconclusive("incomplete")
        status = parser.get_status_code()
        if status >= 200:
            headers = tuple((n, v.rstrip(b" \t")) for n, v in cb.headers)
            return status, headers, cb.body, data[used:]


def h11_request(data: bytes) -> Parsed:
    """Parse the first request of ``data`` with h11."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    head: h11.Request | None = None
    body = b""
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                raise Inconclusive("incomplete")
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # pragma: no cover
                raise Inconclusive(repr(event))
    except h11.RemoteProtocolError as e:
        raise Rejected(str(e)) from None
    assert head is not None
    headers = tuple((bytes(n), bytes(v)) for n, v in head.headers.raw_items())
    return Parsed(bytes(head.method), bytes(head.target), headers, body, conn.trailing_data[0])


def h11_response(
    data: bytes, method: bytes = b"GET", *, eof: bool = False
) -> tuple[int, tuple[tuple[bytes, bytes], ...], bytes, bytes]:
    """Parse the first final response to ``method`` with h11: status, headers, body, rest."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "a")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    head: h11.Response | None = None
    body = b""
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                raise Inconclusive("incomplete")
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.InformationalResponse):
                continue
            else:  # pragma: no cover
                raise Inconclusive(repr(event))
    except h11.RemoteProtocolError as e:
        raise Rejected(str(e)) from None
    assert head is not None
    headers = tuple((bytes(n), bytes(v)) for n, v in head.headers.raw_items())
    return head.status_code, headers, body, conn.trailing_data[0]


@dataclass(frozen=True)
class Ours:
    """Our reader's view of the first request of a byte string."""

    head: RequestHead
    body: bytes
    rest: bytes


def ours_request(data: bytes, limits: Limits | None = None) -> Ours:
    """Parse the first request of ``data`` with RequestReader; raises RemoteProtocolError."""
    reader = RequestReader(limits or Limits())
    events = reader.feed(data)
    if not events or events[-1] is not END:
        raise Inconclusive("incomplete")
    head = events[0]
    assert isinstance(head, RequestHead)
    body = b"".join(e for e in events if isinstance(e, bytes))
    return Ours(head, body, reader.take_buffer())
