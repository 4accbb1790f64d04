"""Header rewriting for the forward proxy: Host, Via, X-Forwarded-For, hop-by-hop.

Pure functions over parsed heads; the Twisted layer adds framing headers.
"""

from __future__ import annotations

from ..http import Fields, RequestHead, ResponseHead, strip_hop_by_hop
from ..http.target import Authority


def via_names(fields: Fields) -> list[str]:
    """The received-by names of every Via entry (``1.1 proxy-a, 1.0 b (c)``)."""
    names: list[str] = []
    for name, value in fields:
        if name.lower() != b"via":
            continue
        for entry in value.decode("latin-1").split(","):
            parts = entry.split()
            if len(parts) >= 2:
                names.append(parts[1].lower())
    return names


def carries_our_via(fields: Fields, our_name: str) -> bool:
    """True when a Via entry names this proxy: the request has looped back."""
    return our_name.lower() in via_names(fields)


def _append_via(fields: Fields, our_name: str) -> None:
    entry = b"1.1 " + our_name.encode("ascii", "replace")
    for i, (name, value) in enumerate(fields):
        if name.lower() == b"via":
            fields[i] = (name, value + b", " + entry)
            return
    fields.append((b"Via", entry))


def _rewrite_xff(fields: Fields, client_ip: str, mode: str) -> Fields:
    if mode == "keep":
        return fields
    kept = [(n, v) for n, v in fields if n.lower() != b"x-forwarded-for"]
    if mode == "add":
        prior = [v for n, v in fields if n.lower() == b"x-forwarded-for"]
        value = b", ".join([*prior, client_ip.encode("ascii")])
        kept.append((b"X-Forwarded-For", value))
    return kept


def upstream_request_fields(
    head: RequestHead,
    authority: Authority,
    client_ip: str,
    *,
    our_name: str,
    via: bool,
    forwarded_for: str,
) -> Fields:
    """The header fields to send upstream (framing headers not included)."""
    fields = strip_hop_by_hop(head.fields, head.connection)
    host = authority.host_header(80).encode("ascii")
    fields = [(n, host) if n.lower() == b"host" else (n, v) for n, v in fields]
    if head.host is None:
        fields.insert(0, (b"Host", host))
    fields = _rewrite_xff(fields, client_ip, forwarded_for)
    if via:
        _append_via(fields, our_name)
    return fields


def downstream_response_fields(resp: ResponseHead, *, our_name: str, via: bool) -> Fields:
    """The header fields to send back to the client (framing headers not included)."""
    fields = strip_hop_by_hop(resp.fields, resp.connection)
    if via:
        _append_via(fields, our_name)
    return fields
