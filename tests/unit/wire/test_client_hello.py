"""The SNI of a TLS ClientHello, read from genuine and crafted first bytes of a tunnel."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.wire.client_hello import (
    MAX_RECORDS,
    NEED_MORE,
    Hello,
    NeedMore,
    NotTLS,
    read_client_hello,
)


def genuine_hello(
    server_hostname: str | None, maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
) -> bytes:
    """The bytes the stdlib's OpenSSL client sends first."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = maximum
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def records(hello: bytes, sizes: list[int], kind: int = 22) -> bytes:
    """Re-frame the handshake bytes of a one-record hello into records of ``sizes`` bytes."""
    message, out = hello[5:], b""
    for size in [*sizes, len(message)]:
        if message:
            fragment, message = message[:size], message[size:]
            out += bytes((kind, 3, 1)) + len(fragment).to_bytes(2, "big") + fragment
    return out


def ext(kind: int, body: bytes) -> bytes:
    return kind.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def sni(*names: bytes, name_type: int = 0) -> bytes:
    entries = b"".join(bytes((name_type,)) + len(n).to_bytes(2, "big") + n for n in names)
    return ext(0, len(entries).to_bytes(2, "big") + entries)


def crafted(
    extensions: bytes | None = b"",
    session_id: bytes = b"",
    suites: bytes = b"\x13\x01",
    compression: bytes = b"\x00",
    tail: bytes = b"",
) -> bytes:
    """A one-record ClientHello built field by field."""
    body = b"\x03\x03" + bytes(32) + bytes((len(session_id),)) + session_id
    body += len(suites).to_bytes(2, "big") + suites + bytes((len(compression),)) + compression
    if extensions is not None:
        body += len(extensions).to_bytes(2, "big") + extensions
    return wrap(body + tail)


def wrap(body: bytes) -> bytes:
    """A one-record handshake message holding ``body`` as a ClientHello."""
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


EXAMPLE = genuine_hello("example.com")
LONG_NAME = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61


@pytest.mark.parametrize(
    ("server_hostname", "expected"),
    [
        ("example.com", "example.com"),
        ("WWW.Example.COM", "www.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("under_score.example", "under_score.example"),
        (LONG_NAME, LONG_NAME),
        (None, None),
        ("192.0.2.1", None),
        ("2001:db8::1", None),
    ],
)
def test_genuine_hellos(server_hostname: str | None, expected: str | None) -> None:
    """OpenSSL's ClientHello gives its SNI lower-cased, and none for no name or an IP literal."""
    assert read_client_hello(genuine_hello(server_hostname)) == Hello(expected)


def test_tls12_only_hello() -> None:
    """A TLS 1.2 ClientHello is read the same way."""
    hello = genuine_hello("example.com", ssl.TLSVersion.TLSv1_2)
    assert read_client_hello(hello) == Hello("example.com")


def test_byte_at_a_time() -> None:
    """Every proper prefix of a hello needs more; the whole gives the name."""
    for cut in range(len(EXAMPLE)):
        assert read_client_hello(EXAMPLE[:cut]) == NEED_MORE
    assert read_client_hello(EXAMPLE) == Hello("example.com")


@pytest.mark.parametrize("sizes", [[1], [3], [4], [5, 1, 1], [100, 100], [1] * 20, [300]])
def test_hello_across_records(sizes: list[int]) -> None:
    """A hello split over several handshake records, fed byte by byte, gives the same name."""
    data = records(EXAMPLE, sizes)
    for cut in range(len(data)):
        assert read_client_hello(data[:cut]) == NEED_MORE
    assert read_client_hello(data) == Hello("example.com")


@settings(max_examples=50)
@given(sizes=st.lists(st.integers(min_value=1, max_value=600), max_size=MAX_RECORDS - 1))
def test_any_record_split(sizes: list[int]) -> None:
    """Any re-framing within the record limit reads the same name."""
    assert read_client_hello(records(EXAMPLE, sizes)) == Hello("example.com")


def test_bytes_after_the_hello_are_ignored() -> None:
    """Whatever follows a complete hello does not change the answer."""
    assert read_client_hello(EXAMPLE + b"\x17\x03\x03garbage") == Hello("example.com")


@pytest.mark.parametrize(
    ("extensions", "expected"),
    [
        (None, None),
        (b"", None),
        (sni(b"Example.com."), "example.com"),
        (ext(10, b"\x00\x02\x00\x1d") + sni(b"a.b"), "a.b"),
        (sni(b"other", name_type=1), None),
        (sni(LONG_NAME.encode()), LONG_NAME),
    ],
)
def test_crafted_hellos(extensions: bytes | None, expected: str | None) -> None:
    """Without extensions there is no name; other name types are skipped; one dot is dropped."""
    assert read_client_hello(crafted(extensions)) == Hello(expected)


NOT_RECORD, TRUNCATED, BAD_SNI = (
    "not a TLS handshake record",
    "truncated ClientHello",
    "bad server_name extension",
)
MALFORMED = (
    [
        (b"G", NOT_RECORD),
        (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", NOT_RECORD),
        (b"SSH-2.0-OpenSSH_9.2\r\n", NOT_RECORD),
        (b"\x80\x2e\x01\x03\x01", NOT_RECORD),  # SSLv2-style hello
        (b"\x15\x03\x03\x00\x02\x02\x28", NOT_RECORD),  # alert record
        (records(EXAMPLE, [100])[:105] + b"\x17", NOT_RECORD),  # application data inside the hello
        (b"\x16\x02", "not a TLS record version"),
        (b"\x16\x03\x01\x00\x00", "bad TLS record length"),
        (b"\x16\x03\x01\x40\x01", "bad TLS record length"),
        (b"\x16\x03\x01\x00\x04\x02", "first handshake message is not a ClientHello"),
        (b"\x16\x03\x01\x00\x04\x01\x00\x40\x01", "ClientHello larger than 16384 bytes"),
        (records(EXAMPLE, [1] * MAX_RECORDS), "ClientHello spread over too many records"),
        (crafted(session_id=bytes(33)), "session id longer than 32 bytes"),
        (crafted(suites=b""), "bad cipher suite list"),
        (crafted(suites=b"\x13\x01\x13"), "bad cipher suite list"),
        (crafted(compression=b""), "empty compression method list"),
        (crafted(tail=b"\x00"), "bytes after the extensions"),
        (wrap(b"\x03\x03" + bytes(20)), TRUNCATED),
        (wrap(b"\x03\x03" + bytes(33) + b"\x00\x50\x13\x01\x01\x00"), TRUNCATED),
        (crafted(b"\x00\x00\x00\x09"), TRUNCATED),
        (crafted(ext(0, b"\x00\x06\x00\x00\x02ab")), TRUNCATED),
        (crafted(ext(0, b"\x00\x00")), BAD_SNI),
        (crafted(ext(0, sni(b"a")[4:] + b"x")), BAD_SNI),
        (crafted(ext(10, b"\x00\x02\x00\x1d") * 2), "duplicate extension 10"),
        (crafted(sni(b"a.example") + sni(b"b.example")), "duplicate extension 0"),
        (crafted(sni(b"a.example", b"b.example")), "more than one host_name"),
    ]
    + [
        (crafted(sni(name)), "invalid host_name")
        for name in [b"", b"a b", b"a\0b", b"\xc3\xa9.fr", b"a..b", b".a", b"a" * 64, b"a:443"]
    ]
)


@pytest.mark.parametrize(("data", "reason"), MALFORMED)
def test_malformed_is_not_tls(data: bytes, reason: str) -> None:
    """Anything but a well-formed hello within bounds is NotTLS, with the reason why."""
    assert read_client_hello(data) == NotTLS(reason)


def test_not_tls_is_decided_on_the_first_byte() -> None:
    """Plain HTTP is recognised at once, and nothing at all needs more."""
    assert read_client_hello(b"") == NEED_MORE
    assert read_client_hello(b"P") == NotTLS("not a TLS handshake record")


def test_max_size_is_a_parameter() -> None:
    """A caller may lower the bound on the hello's size; a hello of exactly it passes."""
    assert read_client_hello(EXAMPLE, max_size=len(EXAMPLE) - 9) == Hello("example.com")
    assert read_client_hello(EXAMPLE, max_size=len(EXAMPLE) - 10) == NotTLS(
        f"ClientHello larger than {len(EXAMPLE) - 10} bytes"
    )


@settings(max_examples=200)
@given(position=st.integers(min_value=0, max_value=len(EXAMPLE) - 1), value=st.integers(0, 255))
def test_corrupted_hellos_never_raise(position: int, value: int) -> None:
    """A hello with any byte changed gives an answer, and every prefix agrees with it."""
    data = EXAMPLE[:position] + bytes((value,)) + EXAMPLE[position + 1 :]
    final = read_client_hello(data)
    assert isinstance(final, NeedMore | NotTLS | Hello)
    for cut in range(0, len(data), 7):
        partial = read_client_hello(data[:cut])
        assert partial in (NEED_MORE, final)


@given(data=st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    """Arbitrary bytes give one of the three answers."""
    assert isinstance(read_client_hello(data), NeedMore | NotTLS | Hello)
