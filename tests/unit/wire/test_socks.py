"""The SOCKS4/4a/5 server handshake, driven with bytes only."""

from __future__ import annotations

import itertools
from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.wire.socks import (
    ConnectRequest,
    Event,
    NeedAuth,
    Reject,
    ReplyCode,
    Send,
    SocksServer,
    SocksUsageError,
)

NO_AUTH = b"\x05\x01\x00"
USER_PASS = b"\x05\x01\x02"
BOTH = b"\x05\x02\x00\x02"
V4_FAIL = b"\x00\x5b" + bytes(6)
AUTH_FAIL = b"\x01\x01"


def auth(user: bytes, password: bytes, version: int = 1) -> bytes:
    return bytes((version, len(user))) + user + bytes((len(password),)) + password


def req5(atyp: int, addr: bytes, port: int = 443, cmd: int = 1, rsv: int = 0) -> bytes:
    if atyp == 3:
        addr = bytes((len(addr),)) + addr
    return bytes((5, cmd, rsv, atyp)) + addr + port.to_bytes(2, "big")


def req4(ip: bytes, port: int = 80, user: bytes = b"", domain: bytes | None = None) -> bytes:
    tail = b"" if domain is None else domain + b"\0"
    return b"\x04\x01" + port.to_bytes(2, "big") + ip + user + b"\0" + tail


def fail5(code: int) -> bytes:
    return bytes((5, code, 0, 1)) + bytes(6)


def rej(reply: bytes) -> Reject:
    """A Reject to compare by reply only (see ``shape``)."""
    return Reject(reply, "")


def shape(events: list[Event]) -> list[Event]:
    return [rej(e.reply) if isinstance(e, Reject) else e for e in events]


def run(
    chunks: list[bytes], require_auth: bool = False, auth_ok: bool = True
) -> tuple[list[Event], SocksServer]:
    """Feed ``chunks`` in order, answering every NeedAuth with ``auth_ok``."""
    server = SocksServer(require_auth=require_auth)
    events: list[Event] = []
    for chunk in chunks:
        pending = server.feed(chunk)
        while pending:
            event = pending.pop(0)
            events.append(event)
            if isinstance(event, NeedAuth):
                pending.extend(server.auth_result(auth_ok))
    return events, server


def held(server: SocksServer) -> bytes:
    try:
        return server.take_buffer()
    except SocksUsageError:
        return b"<none>"


IP4 = b"\x01\x02\x03\x04"
IP6 = IPv6Address("2001:db8::1").packed
EARLY = b"\x16\x03\x01\x00\x05hello"
OK5 = Send(b"\x05\x00")


def connect(version: int, host: str, port: int = 443, user: str | None = None) -> ConnectRequest:
    return ConnectRequest(version, host, port, user)


# (id, require_auth, auth_ok, bytes, expected events, expected take_buffer())
VECTORS: list[tuple[str, bool, bool, bytes, list[Event], bytes]] = [
    ("v5-ipv4", False, True, NO_AUTH + req5(1, IP4), [OK5, connect(5, "1.2.3.4")], b""),
    (
        "v5-domain",
        False,
        True,
        NO_AUTH + req5(3, b"WWW.Example.COM", 8080),
        [OK5, connect(5, "www.example.com", 8080)],
        b"",
    ),
    (
        "v5-domain-trailing-dot",
        False,
        True,
        NO_AUTH + req5(3, b"xn--bcher-kva.example."),
        [OK5, connect(5, "xn--bcher-kva.example.")],
        b"",
    ),
    ("v5-ipv6", False, True, NO_AUTH + req5(4, IP6), [OK5, connect(5, "2001:db8::1")], b""),
    ("v5-early", False, True, NO_AUTH + req5(1, IP4) + EARLY, [OK5, connect(5, "1.2.3.4")], EARLY),
    ("v5-both-no-auth", False, True, BOTH + req5(1, IP4), [OK5, connect(5, "1.2.3.4")], b""),
    (
        "v5-auth-ok",
        True,
        True,
        BOTH + auth(b"alice", b"s3cret") + req5(1, IP4) + EARLY,
        [
            Send(b"\x05\x02"),
            NeedAuth("alice", "s3cret"),
            Send(b"\x01\x00"),
            connect(5, "1.2.3.4", user="alice"),
        ],
        EARLY,
    ),
    (
        "v5-auth-utf8-empty-password",
        True,
        True,
        USER_PASS + auth("jörg".encode(), b"") + req5(1, IP4),
        [
            Send(b"\x05\x02"),
            NeedAuth("jörg", ""),
            Send(b"\x01\x00"),
            connect(5, "1.2.3.4", user="jörg"),
        ],
        b"",
    ),
    (
        "v5-auth-refused",
        True,
        False,
        USER_PASS + auth(b"alice", b"wrong") + req5(1, IP4),
        [Send(b"\x05\x02"), NeedAuth("alice", "wrong"), rej(AUTH_FAIL)],
        b"",
    ),
    ("v4", False, True, req4(IP4, user=b"bob"), [connect(4, "1.2.3.4", 80, "bob")], b""),
    ("v4-no-user", False, True, req4(IP4) + EARLY, [connect(4, "1.2.3.4", 80)], EARLY),
    (
        "v4-user-255",
        False,
        True,
        req4(IP4, user=b"u" * 255),
        [connect(4, "1.2.3.4", 80, "u" * 255)],
        b"",
    ),
    (
        "v4a",
        False,
        True,
        req4(b"\0\0\0\x07", 443, b"bob", b"Example.ORG") + EARLY,
        [connect(4, "example.org", 443, "bob")],
        EARLY,
    ),
    ("v4-0.0.0.0", False, True, req4(bytes(4)), [connect(4, "0.0.0.0", 80)], b""),
    # refusals
    ("bad-version", False, True, b"\x06\x01\x00", [rej(b"")], b""),
    ("http", False, True, b"GET / HTTP/1.1\r\n\r\n", [rej(b"")], b""),
    ("v5-no-methods", False, True, b"\x05\x00", [rej(b"\x05\xff")], b""),
    ("v5-no-auth-not-offered", False, True, USER_PASS, [rej(b"\x05\xff")], b""),
    ("v5-auth-not-offered", True, True, NO_AUTH, [rej(b"\x05\xff")], b""),
    (
        "auth-bad-version",
        True,
        True,
        USER_PASS + auth(b"a", b"b", 5),
        [Send(b"\x05\x02"), rej(AUTH_FAIL)],
        b"",
    ),
    (
        "auth-empty-user",
        True,
        True,
        USER_PASS + auth(b"", b"b"),
        [Send(b"\x05\x02"), rej(AUTH_FAIL)],
        b"",
    ),
    (
        "auth-not-utf8",
        True,
        True,
        USER_PASS + auth(b"\xff", b"b"),
        [Send(b"\x05\x02"), rej(AUTH_FAIL)],
        b"",
    ),
    ("v5-request-version", False, True, NO_AUTH + b"\x04\x01\x00\x01", [OK5, rej(fail5(1))], b""),
    ("v5-bind", False, True, NO_AUTH + req5(1, IP4, cmd=2), [OK5, rej(fail5(7))], b""),
    ("v5-udp", False, True, NO_AUTH + req5(1, IP4, cmd=3), [OK5, rej(fail5(7))], b""),
    ("v5-cmd-9", False, True, NO_AUTH + req5(1, IP4, cmd=9), [OK5, rej(fail5(7))], b""),
    ("v5-reserved", False, True, NO_AUTH + req5(1, IP4, rsv=1), [OK5, rej(fail5(1))], b""),
    ("v5-atyp-2", False, True, NO_AUTH + req5(2, IP4), [OK5, rej(fail5(8))], b""),
    ("v5-empty-domain", False, True, NO_AUTH + req5(3, b""), [OK5, rej(fail5(1))], b""),
    ("v5-port-0", False, True, NO_AUTH + req5(1, IP4, port=0), [OK5, rej(fail5(1))], b""),
    ("v4-with-auth", True, True, req4(IP4), [rej(V4_FAIL)], b""),
    ("v4-bind", False, True, b"\x04\x02" + req4(IP4)[2:], [rej(V4_FAIL)], b""),
    ("v4-port-0", False, True, req4(IP4, port=0), [rej(V4_FAIL)], b""),
    ("v4-user-256", False, True, req4(IP4, user=b"u" * 256), [rej(V4_FAIL)], b""),
    ("v4a-domain-256", False, True, req4(b"\0\0\0\1", domain=b"a" * 256), [rej(V4_FAIL)], b""),
    ("v4a-empty-domain", False, True, req4(b"\0\0\0\1", domain=b""), [rej(V4_FAIL)], b""),
    ("v4a-bad-domain", False, True, req4(b"\0\0\0\1", domain=b"a b"), [rej(V4_FAIL)], b""),
]
VECTORS += [
    (f"v5-domain-{name!r}", False, True, NO_AUTH + req5(3, name), [OK5, rej(fail5(1))], b"")
    for name in [b"a\0b", b"a b", b"a:b", b"[::1]", b"\xc3\xa9.fr", b"a..b", b".a", b"a" * 64, b"."]
]
IDS = [v[0] for v in VECTORS]


@pytest.mark.parametrize(
    ("name", "require_auth", "auth_ok", "data", "expected", "rest"), VECTORS, ids=IDS
)
def test_vectors(
    name: str,
    require_auth: bool,
    auth_ok: bool,
    data: bytes,
    expected: list[Event],
    rest: bytes,
) -> None:
    """Each handshake gives exactly the expected events, replies and held bytes."""
    events, server = run([data], require_auth, auth_ok)
    assert shape(events) == expected
    if isinstance(events[-1], ConnectRequest):
        assert server.take_buffer() == rest


@pytest.mark.parametrize(
    ("name", "require_auth", "auth_ok", "data", "expected", "rest"), VECTORS, ids=IDS
)
def test_byte_at_a_time(
    name: str,
    require_auth: bool,
    auth_ok: bool,
    data: bytes,
    expected: list[Event],
    rest: bytes,
) -> None:
    """Feeding one byte at a time gives the same events and held bytes as one feed."""
    whole_events, whole = run([data], require_auth, auth_ok)
    events, server = run([data[i : i + 1] for i in range(len(data))], require_auth, auth_ok)
    assert events == whole_events
    assert held(server) == held(whole)


@pytest.mark.parametrize(
    ("name", "require_auth", "auth_ok", "data", "expected", "rest"), VECTORS, ids=IDS
)
@settings(max_examples=40)
@given(cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12))
def test_arbitrary_splits(
    name: str,
    require_auth: bool,
    auth_ok: bool,
    data: bytes,
    expected: list[Event],
    rest: bytes,
    cuts: list[int],
) -> None:
    """Any split of the input gives the same events and held bytes as one feed."""
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    whole_events, whole = run([data], require_auth, auth_ok)
    events, server = run(chunks, require_auth, auth_ok)
    assert events == whole_events
    assert held(server) == held(whole)


@given(data=st.binary(max_size=600), require_auth=st.booleans(), auth_ok=st.booleans())
def test_garbage_ends_in_reject_or_request(data: bytes, require_auth: bool, auth_ok: bool) -> None:
    """Arbitrary bytes never raise; once enough arrive, the handshake ends in one verdict."""
    events, _ = run([data, bytes(1100)], require_auth, auth_ok)
    assert isinstance(events[-1], Reject | ConnectRequest)
    assert sum(isinstance(e, Reject | ConnectRequest) for e in events) == 1
    if data[:1] not in (b"\x04", b"\x05"):
        assert events == [Reject(b"", "not a SOCKS4 or SOCKS5 handshake")]


@pytest.mark.parametrize(
    ("bound", "reply"),
    [
        (None, b"\x05\x00\x00\x01" + bytes(6)),
        (("10.0.0.1", 40000), b"\x05\x00\x00\x01\x0a\x00\x00\x01\x9c\x40"),
        (("2001:db8::1", 443), b"\x05\x00\x00\x04" + IP6 + b"\x01\xbb"),
    ],
)
def test_v5_success_reply(bound: tuple[str, int] | None, reply: bytes) -> None:
    """The SOCKS5 success reply carries the bound address in its own address type."""
    _, server = run([NO_AUTH + req5(1, IP4)])
    assert server.reply_success(bound) == reply


@pytest.mark.parametrize(
    ("bound", "reply"),
    [
        (None, b"\x00\x5a" + bytes(6)),
        (("10.0.0.1", 40000), b"\x00\x5a\x9c\x40\x0a\x00\x00\x01"),
        (("2001:db8::1", 443), b"\x00\x5a" + bytes(6)),
    ],
)
def test_v4_success_reply(bound: tuple[str, int] | None, reply: bytes) -> None:
    """The SOCKS4 success reply is 0x5A with an IPv4 bound address, zeros otherwise."""
    _, server = run([req4(IP4)])
    assert server.reply_success(bound) == reply


@pytest.mark.parametrize("code", [c for c in ReplyCode if c is not ReplyCode.SUCCEEDED])
def test_failure_replies(code: ReplyCode) -> None:
    """Every failure code is sent as-is to SOCKS5 clients and as 0x5B to SOCKS4 ones."""
    _, v5 = run([NO_AUTH + req5(3, b"example.com")])
    _, v4 = run([req4(b"\0\0\0\1", domain=b"example.com")])
    assert v5.reply_failure(code) == fail5(code)
    assert v4.reply_failure(code) == V4_FAIL
    assert v5.feed(b"more") == []
    assert v5.take_buffer() == b""


def test_reply_codes_match_rfc_1928() -> None:
    """The enum values are the RFC 1928 reply codes."""
    assert [int(c) for c in ReplyCode] == list(range(9))


def test_bytes_after_success_are_held_for_the_tunnel() -> None:
    """Bytes arriving while the tunnel opens are held, never interpreted."""
    _, server = run([NO_AUTH + req5(1, IP4) + b"\x05\x01"])
    assert server.feed(b"\x00GET") == []
    server.reply_success()
    assert server.feed(b" /") == []
    assert server.take_buffer() == b"\x05\x01\x00GET /"
    assert server.take_buffer() == b""


def test_too_much_early_data_is_refused() -> None:
    """More held bytes than max_early_data ends the handshake."""
    server = SocksServer(require_auth=False, max_early_data=8)
    assert server.feed(NO_AUTH + req5(1, IP4) + b"12345678")[-1] == connect(5, "1.2.3.4")
    assert server.feed(b"9") == [Reject(b"", "too many bytes before the tunnel opened")]
    assert server.feed(b"x") == []


def test_nothing_after_a_reject() -> None:
    """Once rejected, further bytes are dropped without events."""
    events, server = run([b"\x05\x00"])
    assert isinstance(events[-1], Reject)
    assert server.feed(NO_AUTH + req5(1, IP4)) == []


def test_password_is_never_shown() -> None:
    """NeedAuth's repr and a refusal's reason do not contain the password."""
    events, _ = run([USER_PASS + auth(b"alice", b"hunter2")], require_auth=True, auth_ok=False)
    assert "hunter2" not in repr(events) and "hunter2" not in str(events)
    assert repr(events[1]) == "NeedAuth(user='alice')"


def test_calls_out_of_turn_raise() -> None:
    """Replying, answering auth or taking the buffer at the wrong time is our bug."""
    server = SocksServer(require_auth=True)
    with pytest.raises(SocksUsageError):
        server.reply_success()
    with pytest.raises(SocksUsageError):
        server.auth_result(True)
    with pytest.raises(SocksUsageError):
        server.take_buffer()
    _, server = run([NO_AUTH + req5(1, IP4)])
    with pytest.raises(SocksUsageError):
        server.reply_failure(ReplyCode.SUCCEEDED)
    server.reply_success()
    with pytest.raises(SocksUsageError):
        server.reply_failure(ReplyCode.GENERAL_FAILURE)


def test_late_auth_result_after_reject_is_ignored() -> None:
    """A verdict arriving after the connection was refused yields nothing."""
    server = SocksServer(require_auth=True, max_early_data=4)
    events = server.feed(USER_PASS + auth(b"a", b"b") + b"12345")
    assert isinstance(events[-1], Reject)
    assert server.auth_result(True) == []


def test_version_is_known_after_first_byte() -> None:
    """The negotiated version is exposed for logging."""
    server = SocksServer(require_auth=False)
    assert server.version is None
    server.feed(b"\x04")
    assert server.version == 4
