"""Which error a malformed head or trailer section is answered with.

A head can break several rules at once: a bare CR or LF, a request line
past its limit, a head past ``max_header_size``.  The answer is the fault
that feeding the bytes one at a time would meet first, so the status does
not depend on how the peer's bytes happened to be split into reads.
"""

from __future__ import annotations

import re

from .errors import RemoteProtocolError

BARE_LF = re.compile(rb"(?<!\r)\n|\r(?!\n)")
"""A line feed without its carriage return, or a carriage return alone."""


def first_fault(
    probe: bytes, where: str, limits: list[tuple[int, RemoteProtocolError]], status: int
) -> RemoteProtocolError:
    """The error that byte-at-a-time feeding meets first in ``probe``.

    ``limits`` holds (byte count that exceeds a limit, its error) in priority
    order; a bare CR or LF (answered with ``status``) wins a tie.
    """
    found = BARE_LF.search(probe)
    at = 0
    fault = None
    if found is not None:
        at = found.start() + (1 if probe[found.start()] == 0x0A else 2)
        fault = RemoteProtocolError(f"bare CR or LF in {where}", status)
    for limit_at, error in limits:
        if fault is None or limit_at < at:
            at, fault = limit_at, error
    assert fault is not None
    return fault
