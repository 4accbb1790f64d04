"""Sans-I/O HTTP/1.1 wire layer: strict parsing and re-serialization, no Twisted.

Used on both sides of the proxy: :class:`RequestReader` towards clients,
:class:`ResponseReader` towards origins, the ``*_head_bytes`` functions and
:func:`chunk_header` for writing.
"""

from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .heads import Fields, RequestHead, ResponseHead, field_tokens, get_field
from .parse import Limits
from .reader import END, Event, RequestReader, ResponseReader
from .serialize import (
    LAST_CHUNK,
    chunk_header,
    reason_phrase,
    request_head_bytes,
    response_head_bytes,
)

__all__ = [
    "END",
    "LAST_CHUNK",
    "Event",
    "Fields",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestHead",
    "RequestReader",
    "ResponseHead",
    "ResponseReader",
    "chunk_header",
    "field_tokens",
    "get_field",
    "reason_phrase",
    "request_head_bytes",
    "response_head_bytes",
]
