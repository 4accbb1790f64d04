"""Header rewriting for the forward proxy: Host, Via, X-Forwarded-For, hop-by-hop.

Pure code over parsed heads; the Twisted layer adds framing headers.  Each
direction is one pass over the fields, since this runs for every request.
"""

from __future__ import annotations

from ..http import Fields, RequestHead, ResponseHead
from ..http.hop import HOP_BY_HOP
from ..http.target import Authority


def via_names(fields: Fields) -> list[str]:
    """The received-by names of every Via entry (``1.1 proxy-a, 1.0 b (c)``)."""
    names: list[str] = []
    for name, value in fields:
        if name.lower() == b"via":
            names.extend(_via_entry_names(value))
    return names


def _via_entry_names(value: bytes) -> list[str]:
    names = []
    for entry in value.decode("latin-1").split(","):
        parts = entry.split()
        if len(parts) >= 2:
            names.append(parts[1].lower())
    return names


class ForwardRewriter:
    """Rewrites heads crossing the forward proxy, per the ``[forward]`` settings."""

    def __init__(self, our_name: str, *, via: bool, forwarded_for: str) -> None:
        self.our_name = our_name.lower()
        self.via_entry = b"1.1 " + our_name.encode("ascii", "replace") if via else b""
        self.forwarded_for = forwarded_for

    def request_fields(
        self, head: RequestHead, authority: Authority, client_ip: str
    ) -> Fields | None:
        """Fields to send upstream, or None when our own Via shows a loop."""
        drop = HOP_BY_HOP | head.connection if head.connection else HOP_BY_HOP
        rewrite_xff = self.forwarded_for != "keep"
        host = authority.host_header(80).encode("ascii")
        fields: Fields = [] if head.host is not None else [(b"Host", host)]
        prior_xff: list[bytes] = []
        via_at = -1
        for name, value in head.fields:
            lname = name.lower()
            if lname in drop:
                continue
            if lname == b"host":
                value = host
            elif lname == b"x-forwarded-for" and rewrite_xff:
                prior_xff.append(value)
                continue
            elif lname == b"via":
                if self.our_name in _via_entry_names(value):
                    return None
                via_at = len(fields)
            fields.append((name, value))
        if self.forwarded_for == "add":
            prior_xff.append(client_ip.encode("ascii"))
            fields.append((b"X-Forwarded-For", b", ".join(prior_xff)))
        self._add_via(fields, via_at)
        return fields

    def response_fields(self, resp: ResponseHead) -> Fields:
        """Fields to send back to the client (framing headers not included)."""
        drop = HOP_BY_HOP | resp.connection if resp.connection else HOP_BY_HOP
        fields: Fields = []
        via_at = -1
        for name, value in resp.fields:
            lname = name.lower()
            if lname in drop:
                continue
            if lname == b"via":
                via_at = len(fields)
            fields.append((name, value))
        self._add_via(fields, via_at)
        return fields

    def _add_via(self, fields: Fields, via_at: int) -> None:
        if not self.via_entry:
            return
        if via_at < 0:
            fields.append((b"Via", self.via_entry))
        else:
            name, value = fields[via_at]
            fields[via_at] = (name, value + b", " + self.via_entry)
