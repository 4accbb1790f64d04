"""Errors of the HTTP wire layer, named for whose fault they are (after h11).

A :class:`RemoteProtocolError` means the peer sent bytes we refuse; it carries
the status a server should answer with (400, 413, 414, 431, 505).  A
:class:`LocalProtocolError` means proxyhub itself misused the layer.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A message could not be parsed or produced."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer sent something malformed, ambiguous or over a limit."""


class LocalProtocolError(ProtocolError):
    """proxyhub asked the wire layer for something impossible."""
