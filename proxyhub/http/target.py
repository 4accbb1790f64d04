"""Request-target forms a proxy sees (RFC 9112 section 3.2): absolute and authority.

Pure parsing; no name resolution.  Hosts come back lower-cased, IPv6 literals
without brackets, and ports as integers.
"""

from __future__ import annotations

import re
from ipaddress import IPv6Address
from typing import NamedTuple

from .errors import RemoteProtocolError

_REG_NAME = re.compile(r"[a-z0-9._~!$&'()*+,;=%-]+")
_IPV6 = re.compile(r"[0-9a-f:.]+")
_PORT = re.compile(r"[0-9]{1,5}")
_USERINFO = re.compile(rb"[A-Za-z0-9._~!$&'()*+,;=:%-]*")  # RFC 3986 section 3.2.1


class Authority(NamedTuple):
    """A host and port, as named by a client."""

    host: str
    port: int

    @property
    def netloc(self) -> str:
        """``host:port`` with brackets around an IPv6 literal."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def host_header(self, default_port: int) -> str:
        """The Host header value for this authority (port omitted when default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default_port else f"{host}:{self.port}"


class AbsoluteTarget(NamedTuple):
    """``scheme://authority/path?query`` split into what a forward proxy needs."""

    scheme: str
    authority: Authority
    origin_form: bytes  # "/path?query", never empty


def parse_authority(text: bytes, default_port: int | None) -> Authority:
    """Parse ``host[:port]``; ``default_port`` None means the port is required."""
    try:
        s = text.decode("ascii").lower()
    except UnicodeDecodeError:
        raise RemoteProtocolError("non-ASCII authority") from None
    if s.startswith("["):
        close = s.find("]")
        host, rest = s[1:close], s[close + 1 :]
        if close < 0 or not _IPV6.fullmatch(host) or not _is_ipv6(host):
            raise RemoteProtocolError("malformed IPv6 literal in authority")
    else:
        host, colon, port_text = s.partition(":")
        rest = colon + port_text
        if not _REG_NAME.fullmatch(host):
            raise RemoteProtocolError("malformed host in authority")
    return Authority(host.rstrip(".") or host, _parse_port(rest, default_port))


def _is_ipv6(text: str) -> bool:
    try:
        IPv6Address(text)
    except ValueError:
        return False
    return True


def _parse_port(rest: str, default_port: int | None) -> int:
    if not rest or rest == ":":
        if default_port is None:
            raise RemoteProtocolError("authority needs a port")
        return default_port
    if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]):
        raise RemoteProtocolError("malformed port in authority")
    port = int(rest[1:])
    if not 0 < port < 65536:
        raise RemoteProtocolError("port out of range")
    return port


_DEFAULT_PORTS = {b"http": 80, b"https": 443, b"ws": 80, b"wss": 443}


def parse_absolute_target(target: bytes) -> AbsoluteTarget | None:
    """Split an absolute-form target; None when it is not absolute-form at all.

    The everyday ``http://name[:port]/path`` is matched by one regex, and its
    authority remembered, so that the next request to the same origin only
    checks its path; anything else (userinfo, IPv6 literals, fragments, other
    schemes) takes the careful path.
    """
    if target.startswith(b"http://"):
        slash = target.find(b"/", 7)
        if slash > 7:
            known = _KNOWN_AUTHORITIES.get(target[7:slash])
            if known is not None and _SIMPLE_PATH.fullmatch(target, slash):
                return AbsoluteTarget("http", known, target[slash:])
    m = _SIMPLE_HTTP.fullmatch(target)
    if m is not None:
        host = m[1].decode("ascii").lower()
        port = int(m[2]) if m[2] else 80
        if 0 < port < 65536 and not host.endswith("."):
            authority = Authority(host, port)
            if m[3] and target.startswith(b"http://"):
                _remember(target[7 : m.start(3)], authority)
            return AbsoluteTarget("http", authority, m[3] or b"/")
    return _parse_absolute_target(target)


_SIMPLE_PATH_CHARS = rb"/[!$&'()*+,;=%/:@A-Za-z0-9._~?-]*"
_SIMPLE_HTTP = re.compile(
    rb"[hH][tT][tT][pP]://([A-Za-z0-9._~!$&'()*+,;=%-]+)(?::([0-9]{1,5}))?"
    rb"(" + _SIMPLE_PATH_CHARS + rb")?"
)
_SIMPLE_PATH = re.compile(_SIMPLE_PATH_CHARS)
_KNOWN_AUTHORITIES: dict[bytes, Authority] = {}  # "name:port" as sent -> its Authority
_MAX_KNOWN_AUTHORITIES = 1024


def _remember(raw: bytes, authority: Authority) -> None:
    """Keep what ``raw`` (an authority the simple regex accepted) parses to; bounded."""
    if len(_KNOWN_AUTHORITIES) >= _MAX_KNOWN_AUTHORITIES:
        del _KNOWN_AUTHORITIES[next(iter(_KNOWN_AUTHORITIES))]
    _KNOWN_AUTHORITIES[raw] = authority


def _parse_absolute_target(target: bytes) -> AbsoluteTarget | None:
    scheme, sep, rest = target.partition(b"://")
    if not sep or not scheme.isalpha():
        return None
    scheme = scheme.lower()
    end = len(rest)
    for delim in (b"/", b"?", b"#"):
        i = rest.find(delim)
        if 0 <= i < end:
            end = i
    authority, path = rest[:end], rest[end:]
    if b"@" in authority:
        userinfo, _, authority = authority.rpartition(b"@")  # userinfo is never forwarded
        if not _USERINFO.fullmatch(userinfo):
            # "http://a.example\@b.example/" or "http://a@b@c/": other URL parsers
            # would see another host than the one we connect to.
            raise RemoteProtocolError("malformed userinfo in absolute URI")
    path = path.partition(b"#")[0]
    if not path.startswith(b"/"):
        path = b"/" + path
    if not authority:
        raise RemoteProtocolError("absolute URI without a host")
    parsed = parse_authority(authority, _DEFAULT_PORTS.get(scheme, 80))
    return AbsoluteTarget(scheme.decode("ascii"), parsed, path)
