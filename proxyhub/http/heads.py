"""Parsed message heads: small slotted records shared by both directions.

Header fields keep the peer's spelling (so re-serialized messages look like
the original) in ``fields`` as ``(name, value)`` byte pairs; framing facts the
parser had to work out anyway are kept as attributes so nobody re-derives them.
"""

from __future__ import annotations

from collections.abc import Iterable

Fields = list[tuple[bytes, bytes]]


def get_field(fields: Iterable[tuple[bytes, bytes]], lname: bytes) -> bytes | None:
    """Return the first value of the field named ``lname`` (lower-case), or None."""
    for name, value in fields:
        if name.lower() == lname:
            return value
    return None


def field_tokens(fields: Iterable[tuple[bytes, bytes]], lname: bytes) -> set[bytes]:
    """Return the lower-cased comma-separated tokens of every ``lname`` field."""
    tokens: set[bytes] = set()
    for name, value in fields:
        if name.lower() == lname:
            for token in value.split(b","):
                token = token.strip(b" \t").lower()
                if token:
                    tokens.add(token)
    return tokens


class RequestHead:
    """A request line and its header fields."""

    __slots__ = (
        "chunked",
        "connection",
        "content_length",
        "fields",
        "host",
        "keep_alive",
        "method",
        "target",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        fields: Fields,
        *,
        host: bytes | None = None,
        content_length: int | None = None,
        chunked: bool = False,
        connection: frozenset[bytes] = frozenset(),
        keep_alive: bool = True,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.fields = fields
        self.host = host
        self.content_length = content_length
        self.chunked = chunked
        self.connection = connection
        self.keep_alive = keep_alive

    @property
    def has_body(self) -> bool:
        """True when body bytes follow the head."""
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"RequestHead({self.method!r}, {self.target!r}, {self.version!r})"


class ResponseHead:
    """A status line and its header fields."""

    __slots__ = (
        "chunked",
        "connection",
        "content_length",
        "fields",
        "keep_alive",
        "reason",
        "status",
        "version",
    )

    def __init__(
        self,
        status: int,
        reason: bytes,
        version: bytes,
        fields: Fields,
        *,
        content_length: int | None = None,
        chunked: bool = False,
        connection: frozenset[bytes] = frozenset(),
        keep_alive: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.fields = fields
        self.content_length = content_length
        self.chunked = chunked
        self.connection = connection
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"ResponseHead({self.status}, {self.reason!r}, {self.version!r})"
