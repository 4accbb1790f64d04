"""Sans-I/O message readers: bytes in, events out.

``feed(data)`` returns a list of events: a head (:class:`RequestHead` or
:class:`ResponseHead`), ``bytes`` of body, :data:`END` when a message is
complete.  Chunked bodies arrive de-chunked, trailers are validated and
dropped.  After :data:`END` a reader holds further bytes until
``next_message()``, so pipelined requests are answered strictly in order and
the caller decides when to look at the next one.

State transitions (one table, one place):

=============  ==========================================  ==============
state          leaves on                                   to
=============  ==========================================  ==============
HEAD           complete head, no body                      DONE (+END)
HEAD           Content-Length / chunked / until-close      LENGTH / CHUNK_SIZE / UNTIL_CLOSE
LENGTH         remaining reaches 0                         DONE (+END)
CHUNK_SIZE     size line ``0``                             TRAILERS
CHUNK_SIZE     size line n > 0                             CHUNK_DATA
CHUNK_DATA     n bytes read                                CHUNK_CRLF
CHUNK_CRLF     ``\\r\\n``                                  CHUNK_SIZE
TRAILERS       empty line                                  DONE (+END)
UNTIL_CLOSE    ``feed_eof()``                              DONE (+END)
DONE           ``next_message()``                          HEAD
any            a 101 response or a tunnel                  SWITCHED
=============  ==========================================  ==============
"""

from __future__ import annotations

import re
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError
from .faults import BARE_LF, first_fault
from .heads import RequestHead, ResponseHead
from .parse import Limits, parse_fields, parse_request_head, parse_response_head


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = _End()
"""The event that closes a message."""

Event = RequestHead | ResponseHead | bytes | _End

HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS, UNTIL_CLOSE, DONE, SWITCHED = range(9)

_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})"
    rb"((?:;[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    rb"(?:=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|\"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*\"))?)*)"
)
_FRAMING_FIELDS = (b"content-length", b"transfer-encoding")
_MAX_CHUNK_LINE = 4096
_MAX_LEADING_CRLF = 8
_CR_LF = (0x0D, 0x0A)


class _Reader:
    """The framing machinery common to requests and responses."""

    def __init__(self, limits: Limits, error_status: int) -> None:
        self.limits = limits
        self._error_status = error_status
        self._buf = b""
        self.state = HEAD
        self._remaining = 0
        self._body_seen = 0
        self._trailer_bytes = 0
        self._scanned = 0
        self._leading = 0
        self._line_limit = limits.max_target_size + 64

    # -- public -------------------------------------------------------------
    def feed(self, data: bytes) -> list[Event]:
        """Take bytes from the peer and return the events they complete."""
        if self._buf:
            data = self._buf + data
        self._buf = b""
        events: list[Event] = []
        while data and self.state not in (DONE, SWITCHED):
            data = self._STEPS[self.state](self, data, events)
        if data:  # held after END or a switch; a step that needs more bytes kept its own
            self._buf = data
        return events

    def feed_eof(self) -> list[Event]:
        """The peer closed its side; return END for a close-delimited body."""
        if self.state == UNTIL_CLOSE:
            self.state = DONE
            return [END]
        if self.state == HEAD and not self._buf.strip(b"\r\n"):
            return []
        if self.state in (DONE, SWITCHED):
            return []
        raise RemoteProtocolError(
            "connection closed in the middle of a message", self._error_status
        )

    def next_message(self) -> list[Event]:
        """Start on the next message and return events from bytes already held."""
        if self.state != DONE:
            raise LocalProtocolError("next_message() before the current one ended")
        self.state = HEAD
        self._leading = 0
        data, self._buf = self._buf, b""
        return self.feed(data) if data else []

    def take_buffer(self) -> bytes:
        """Hand over bytes held after a switch of protocols (101 or tunnel)."""
        data, self._buf = self._buf, b""
        return data

    @property
    def buffered(self) -> int:
        """How many unparsed bytes are held."""
        return len(self._buf)

    # -- heads --------------------------------------------------------------
    def _step_head(self, data: bytes, events: list[Event]) -> bytes:
        if data[0] in _CR_LF:  # feed() passes no empty data
            data = self._strip_leading_crlf(data)
            if not data:
                return b""
        scanned = self._scanned  # bytes already searched without finding the end
        end = data.find(b"\r\n\r\n", scanned - 3 if scanned > 3 else 0)
        if end < 0:
            self._check_partial_head(data)
            self._buf = data
            return b""
        self._scanned = 0
        head = data[:end]
        if end + 4 > self.limits.max_header_size or (
            len(data) > self._line_limit and self._request_line_too_long(data)
        ):
            raise self._head_fault(data[: end + 4], data[: end + 4])
        try:
            self._on_head(head, events)
        except RemoteProtocolError:
            # Only a head that failed can hold a bare CR or LF (the fast regex admits
            # none); report it as a byte-at-a-time feed would have met it.
            crlf = head.count(b"\r\n")
            if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
                raise self._head_fault(data[: end + 4], data[: end + 4]) from None
            raise
        return data[end + 4 :]

    def _strip_leading_crlf(self, data: bytes) -> bytes:
        """Ignore empty lines before a head (RFC 9112 section 2.2), a few at most."""
        stripped = data.lstrip(b"\r\n")
        prefix = data[: len(data) - len(stripped)]
        pending_cr = prefix.endswith(b"\r")
        if pending_cr:
            prefix = prefix[:-1]
        self._leading += len(prefix)
        if prefix != b"\r\n" * (len(prefix) // 2) or self._leading > 2 * _MAX_LEADING_CRLF:
            raise RemoteProtocolError("stray line breaks before a message", self._error_status)
        return b"\r" + stripped if pending_cr else stripped

    def _check_partial_head(self, data: bytes) -> None:
        probe = data[:-1] if data.endswith(b"\r") else data
        if (
            BARE_LF.search(probe, max(0, self._scanned - 1))
            or len(data) > self.limits.max_header_size
            or self._request_line_too_long(data)
        ):
            raise self._head_fault(data, probe)
        self._scanned = len(data)

    def _request_line_too_long(self, data: bytes) -> bool:
        """A request line with no end in sight (414 whether or not the head is complete)."""
        line_limit = self.limits.max_target_size + 64
        return (
            self._error_status == 400
            and len(data) > line_limit
            and data.find(b"\r\n", 0, line_limit) < 0
        )

    def _head_fault(self, data: bytes, probe: bytes) -> RemoteProtocolError:
        limits: list[tuple[int, RemoteProtocolError]] = []
        if self._request_line_too_long(data):
            line_limit = self.limits.max_target_size + 64
            limits.append((line_limit + 1, RemoteProtocolError("request target too long", 414)))
        if len(data) > self.limits.max_header_size:
            error = RemoteProtocolError("message head too large", self._head_too_large_status)
            limits.append((self.limits.max_header_size + 1, error))
        return first_fault(probe, "the head", limits, self._error_status)

    @property
    def _head_too_large_status(self) -> int:
        return 431 if self._error_status == 400 else self._error_status

    def _on_head(self, head: bytes, events: list[Event]) -> None:
        raise NotImplementedError

    def _start_body(self, content_length: int | None, chunked: bool, events: list[Event]) -> None:
        self._body_seen = 0
        if chunked:
            self.state = CHUNK_SIZE
        elif content_length:
            self.state = LENGTH
            self._remaining = content_length
        else:
            self.state = DONE
            events.append(END)

    # -- bodies -------------------------------------------------------------
    def _count_body(self, n: int) -> None:
        self._body_seen += n
        limit = self.limits.max_body_size
        if limit and self._body_seen > limit:
            raise RemoteProtocolError("body larger than max_body_size", self._body_too_large_status)

    @property
    def _body_too_large_status(self) -> int:
        return 413 if self._error_status == 400 else self._error_status

    def _step_length(self, data: bytes, events: list[Event]) -> bytes:
        n = self._remaining
        if len(data) <= n:
            self._remaining = n - len(data)
            events.append(data)
            if not self._remaining:
                self.state = DONE
                events.append(END)
            return b""
        events.append(data[:n])
        events.append(END)
        self._remaining = 0
        self.state = DONE
        return data[n:]

    def _step_chunk_size(self, data: bytes, events: list[Event]) -> bytes:
        end = data.find(b"\r\n", 0, _MAX_CHUNK_LINE + 2)
        if end < 0:
            probe = data[:-1] if data.endswith(b"\r") else data
            if len(probe) > _MAX_CHUNK_LINE or BARE_LF.search(probe):
                raise RemoteProtocolError("malformed chunk size line", self._error_status)
            self._buf = data
            return b""
        m = _CHUNK_LINE.fullmatch(data, 0, end)
        if m is None:
            raise RemoteProtocolError("malformed chunk size line", self._error_status)
        size = int(m[1], 16)
        if size:
            self._count_body(size)
            self._remaining = size
            self.state = CHUNK_DATA
        else:
            self._trailer_bytes = 0
            self.state = TRAILERS
        return data[end + 2 :]

    def _step_chunk_data(self, data: bytes, events: list[Event]) -> bytes:
        n = self._remaining
        if len(data) < n:
            self._remaining = n - len(data)
            events.append(data)
            return b""
        events.append(data[:n])
        self.state = CHUNK_CRLF
        return data[n:]

    def _step_chunk_crlf(self, data: bytes, events: list[Event]) -> bytes:
        if len(data) < 2:
            if data != b"\r":
                raise RemoteProtocolError("chunk data not followed by CRLF", self._error_status)
            self._buf = data
            return b""
        if data[:2] != b"\r\n":
            raise RemoteProtocolError("chunk data not followed by CRLF", self._error_status)
        self.state = CHUNK_SIZE
        return data[2:]

    def _step_trailers(self, data: bytes, events: list[Event]) -> bytes:
        end = data.find(b"\r\n")
        budget = self.limits.max_header_size - self._trailer_bytes
        if end < 0:
            probe = data[:-1] if data.endswith(b"\r") else data  # no CRLF: any CR or LF is bare
            if len(data) > budget or b"\r" in probe or b"\n" in probe:
                raise self._trailer_fault(data, probe, budget)
            self._buf = data
            return b""
        if end == 0:
            self.state = DONE
            events.append(END)
            return data[2:]
        line = data[:end]  # up to the first CRLF: any CR or LF in it is bare
        if end + 2 > budget or b"\r" in line or b"\n" in line:
            raise self._trailer_fault(data[: end + 2], line, budget)
        self._trailer_bytes += end + 2
        try:
            name = parse_fields([line], 1)[0][0].lower()
        except RemoteProtocolError as e:
            raise RemoteProtocolError(f"bad trailer: {e}", self._error_status) from None
        if name in _FRAMING_FIELDS:
            raise RemoteProtocolError("framing field in trailers", self._error_status)
        return data[end + 2 :]

    def _trailer_fault(self, data: bytes, probe: bytes, budget: int) -> RemoteProtocolError:
        limits = []
        if len(data) > budget:
            error = RemoteProtocolError("trailers too large", self._head_too_large_status)
            limits.append((budget + 1, error))
        return first_fault(probe, "trailers", limits, self._error_status)

    def _step_until_close(self, data: bytes, events: list[Event]) -> bytes:
        self._count_body(len(data))
        events.append(data)
        return b""

    _STEPS = {
        HEAD: _step_head,
        LENGTH: _step_length,
        CHUNK_SIZE: _step_chunk_size,
        CHUNK_DATA: _step_chunk_data,
        CHUNK_CRLF: _step_chunk_crlf,
        TRAILERS: _step_trailers,
        UNTIL_CLOSE: _step_until_close,
    }


class RequestReader(_Reader):
    """Reads requests from a client; errors carry the status to answer."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits, 400)
        self.head: RequestHead | None = None

    def _on_head(self, head: bytes, events: list[Event]) -> None:
        req = parse_request_head(head, self.limits)
        self.head = req
        events.append(req)
        self._start_body(req.content_length, req.chunked, events)

    def switch_protocols(self) -> None:
        """After CONNECT or an upgrade: the rest of the stream is opaque bytes."""
        self.state = SWITCHED


class ResponseReader(_Reader):
    """Reads responses from an origin; every error maps to 502."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits, 502)
        self.request_method = b"GET"
        self.head: ResponseHead | None = None

    def expect(self, method: bytes) -> None:
        """Say which request the next response answers (HEAD has no body)."""
        self.request_method = method

    def _on_head(self, head: bytes, events: list[Event]) -> None:
        resp = parse_response_head(head, self.limits)
        status = resp.status
        method = self.request_method
        limit = self.limits.max_body_size
        if limit and (resp.content_length or 0) > limit and self._has_body(status):
            raise RemoteProtocolError("response body larger than max_body_size", 502)
        self.head = resp
        events.append(resp)
        if status < 200:
            if status == 101:
                self.state = SWITCHED
            return  # interim response: the real one follows in HEAD state
        if method == b"CONNECT" and status < 300:
            self.state = SWITCHED
            return
        if method == b"HEAD" or status in (204, 304):
            self.state = DONE
            events.append(END)
            return
        if not resp.chunked and resp.content_length is None:
            resp.keep_alive = False
            self._body_seen = 0
            self.state = UNTIL_CLOSE
            return
        self._start_body(resp.content_length, resp.chunked, events)

    def _has_body(self, status: int) -> bool:
        """Whether a final response with ``status`` to the expected request carries a body."""
        method = self.request_method
        return not (
            status < 200
            or status in (204, 304)
            or method == b"HEAD"
            or (method == b"CONNECT" and status < 300)
        )
