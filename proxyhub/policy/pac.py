"""The proxy auto-config (PAC) file served as ``/proxy.pac`` and ``/wpad.dat``.

Generated from ``[forward]``: hosts matching ``parent_bypass`` or
``pac_direct`` go ``DIRECT`` (the same pattern language as the domain rules:
``example.com`` exactly, ``*.example.com`` for its subdomains, ``*`` for
everything), every other host goes through ``PROXY host:port``, the address
the client used to fetch the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

PAC_MIME_TYPE = b"application/x-ns-proxy-autoconfig"
PAC_PATHS = frozenset({b"/proxy.pac", b"/wpad.dat"})


def pac_file(proxy: str, direct: Iterable[str]) -> bytes:
    """The PAC script: DIRECT for the ``direct`` patterns, else ``PROXY proxy``."""
    lines = [
        "function FindProxyForURL(url, host) {",
        "  host = host.toLowerCase();",
    ]
    lines += [f'  if ({_condition(pattern)}) return "DIRECT";' for pattern in _unique(direct)]
    lines += [f"  return {json.dumps('PROXY ' + proxy)};", "}", ""]
    return "\n".join(lines).encode("ascii")


def _condition(pattern: str) -> str:
    """The JavaScript test for one host pattern (patterns are validated config values)."""
    if pattern == "*":
        return "true"
    if pattern.startswith("*."):
        return f"dnsDomainIs(host, {json.dumps(pattern[1:])})"
    return f"host == {json.dumps(pattern)}"


def _unique(patterns: Iterable[str]) -> list[str]:
    """The patterns in their first order, each once."""
    return list(dict.fromkeys(patterns))
