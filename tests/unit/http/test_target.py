"""Tables for parse_absolute_target and parse_authority (request-target forms a proxy sees)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyhub.http import RemoteProtocolError
from proxyhub.http import target as target_module
from proxyhub.http.target import Authority, parse_absolute_target, parse_authority

ABSOLUTE = [
    (b"http://example.com/a?b=c", "http", "example.com", 80, b"/a?b=c"),
    (b"http://example.com", "http", "example.com", 80, b"/"),
    (b"http://example.com?q", "http", "example.com", 80, b"/?q"),
    (b"http://example.com/a#frag", "http", "example.com", 80, b"/a"),
    (b"http://example.com#frag", "http", "example.com", 80, b"/"),
    (b"http://example.com/a?b#c?d", "http", "example.com", 80, b"/a?b"),
    (b"HTTP://EXAMPLE.Com:8080/P", "http", "example.com", 8080, b"/P"),
    (b"https://example.com/", "https", "example.com", 443, b"/"),
    (b"ws://example.com/s", "ws", "example.com", 80, b"/s"),
    (b"wss://example.com/s", "wss", "example.com", 443, b"/s"),
    (b"http://user:pass@example.com/x", "http", "example.com", 80, b"/x"),
    (b"http://u%40x:p@example.com:81/", "http", "example.com", 81, b"/"),
    (b"http://example.com/p@q", "http", "example.com", 80, b"/p@q"),
    (b"http://[::1]/", "http", "::1", 80, b"/"),
    (b"http://[2001:DB8::1]:8443/x", "http", "2001:db8::1", 8443, b"/x"),
    (b"http://[::ffff:192.0.2.1]:80/", "http", "::ffff:192.0.2.1", 80, b"/"),
    (b"http://192.0.2.1:65535/", "http", "192.0.2.1", 65535, b"/"),
    (b"http://example.com.:80/", "http", "example.com", 80, b"/"),
    (b"http://example.com:/", "http", "example.com", 80, b"/"),
    (b"http://xn--bcher-kva.example/", "http", "xn--bcher-kva.example", 80, b"/"),
]


@pytest.mark.parametrize(("target", "scheme", "host", "port", "origin"), ABSOLUTE)
def test_parse_absolute_target(
    target: bytes, scheme: str, host: str, port: int, origin: bytes
) -> None:
    """Absolute-form targets split into scheme, authority and an origin-form path."""
    parsed = parse_absolute_target(target)
    assert parsed is not None
    assert parsed.scheme == scheme
    assert parsed.authority == Authority(host, port)
    assert parsed.origin_form == origin


@pytest.mark.parametrize(
    "target",
    [
        b"/",
        b"/a?b",
        b"*",
        b"example.com:443",
        b"//example.com/",
        b"1http://x/",
        b"://x/",
        b"ht-tp://x/",
        b"http:/x",
        b"http:example.com",
    ],
)
def test_not_absolute_form(target: bytes) -> None:
    """Origin-form, asterisk-form, authority-form and scheme-less targets are not absolute-form."""
    assert parse_absolute_target(target) is None


@pytest.mark.parametrize(
    "target",
    [
        b"http:///x",
        b"http://",
        b"http://user@/x",
        b"http://example.com:0/",
        b"http://example.com:65536/",
        b"http://example.com:99999/",
        b"http://example.com:123456/",
        b"http://example.com:8o/",
        b"http://example.com:-1/",
        b"http://example.com:80:80/",
        b"http://exa mple.com/",
        b"http://exa\xe9mple.com/",
        b"http://[::1/",
        b"http://[::1]x/",
        b"http://[::1]:abc/",
        b"http://[]/",
        b"http://[:]/",
        b"http://[::1::2]/",
        b"http://[192.0.2.1]/",
        b"http://[fe80::1%25eth0]/",
        b"http://[v1.x]/",
        b"http://exa<mple.com/",
        b"http://example.com\\@evil/",
        b"http://a@b@example.com/",
        b"http://us er@example.com/",
        b"http://u[x]@example.com/",
    ],
)
def test_bad_absolute_target(target: bytes) -> None:
    """Malformed authorities in an absolute-form target are a 400."""
    with pytest.raises(RemoteProtocolError) as info:
        parse_absolute_target(target)
    assert info.value.status == 400


AUTHORITY = [
    (b"example.com:443", None, "example.com", 443),
    (b"EXAMPLE.com:8443", None, "example.com", 8443),
    (b"[::1]:443", None, "::1", 443),
    (b"[2001:db8::1]:22", None, "2001:db8::1", 22),
    (b"192.0.2.1:1", None, "192.0.2.1", 1),
    (b"example.com", 80, "example.com", 80),
    (b"example.com:", 80, "example.com", 80),
    (b"[::1]", 443, "::1", 443),
    (b"example.com:00080", None, "example.com", 80),
    (b"example.com.:443", None, "example.com", 443),
]


@pytest.mark.parametrize(("text", "default", "host", "port"), AUTHORITY)
def test_parse_authority(text: bytes, default: int | None, host: str, port: int) -> None:
    """host[:port] parses to a lower-cased host (IPv6 without brackets) and an integer port."""
    assert parse_authority(text, default) == Authority(host, port)


@pytest.mark.parametrize(
    "text",
    [
        b"example.com",
        b"example.com:",
        b"[::1]",
        b":443",
        b"example.com:0",
        b"example.com:65536",
        b"example.com:+443",
        b"example.com: 443",
        b"example.com:443 ",
        b"user@example.com:443",
        b"[::1]443",
        b"[::1",
        b"::1:443",
        b"",
        b"\xff:443",
        b"example.com:4 43",
        b"example.com/x:443",
    ],
)
def test_bad_connect_authority(text: bytes) -> None:
    """CONNECT authorities need a host and a port in 1-65535, nothing else."""
    with pytest.raises(RemoteProtocolError) as info:
        parse_authority(text, None)
    assert info.value.status == 400


def test_authority_netloc_and_host_header() -> None:
    """netloc always has the port; host_header omits the default one; IPv6 gets brackets."""
    v6 = Authority("::1", 8080)
    assert v6.netloc == "[::1]:8080"
    assert v6.host_header(80) == "[::1]:8080"
    assert Authority("::1", 80).host_header(80) == "[::1]"
    assert Authority("example.com", 443).host_header(443) == "example.com"
    assert Authority("example.com", 443).netloc == "example.com:443"


def _outcome(target: bytes) -> object:
    """What parsing ``target`` gives: the parsed target, None, or the error's status."""
    try:
        return parse_absolute_target(target)
    except RemoteProtocolError as e:
        return e.status


_AUTHORITY_BYTES = st.lists(st.sampled_from(list(b"hH[]@#?.%-_~a9:0 ")), max_size=16)
_PATH_BYTES = st.lists(st.sampled_from(list(b'/[]@#?.%-_~a9: "')), max_size=16)


@given(authority=_AUTHORITY_BYTES, rest=_PATH_BYTES)
def test_a_remembered_authority_parses_as_a_fresh_one(
    authority: list[int], rest: list[int]
) -> None:
    """Whatever the simple path remembered, a later target parses as it would afresh."""
    target = b"http://" + bytes(authority) + b"/" + bytes(rest)
    target_module._KNOWN_AUTHORITIES.clear()
    fresh = _outcome(target)
    _outcome(b"http://" + bytes(authority) + b"/")  # remembers the authority if simple
    _outcome(target)
    assert _outcome(target) == fresh


def test_remembered_authorities_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table of known authorities forgets the oldest once full."""
    monkeypatch.setattr(target_module, "_MAX_KNOWN_AUTHORITIES", 3)
    target_module._KNOWN_AUTHORITIES.clear()
    for n in range(5):
        assert _outcome(b"http://h%d.example/x" % n) == (
            target_module.AbsoluteTarget("http", Authority(f"h{n}.example", 80), b"/x")
        )
    assert list(target_module._KNOWN_AUTHORITIES) == [b"h2.example", b"h3.example", b"h4.example"]
