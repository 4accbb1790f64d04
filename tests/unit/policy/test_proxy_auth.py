"""Tests of proxyhub.policy.proxy_auth: header parsing, challenges, and the cached decisions."""

from __future__ import annotations

import base64

import pytest

from proxyhub.policy import htpasswd as htpasswd_module
from proxyhub.policy.htpasswd import Htpasswd
from proxyhub.policy.proxy_auth import (
    MALFORMED,
    MISSING,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    Authenticator,
    AuthResult,
    Credentials,
    challenge,
    parse_basic,
)

# $1$ (MD5-crypt) keeps these tests fast; the formats are tested in test_htpasswd.
USERS = Htpasswd(
    {
        "alice": "$apr1$r31.....$WQf9cPy9WjNvz9ZYeT9jk.",  # correct horse
        "bob": "$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/",  # hello
    }
)


def basic(raw: bytes, scheme: bytes = b"Basic") -> bytes:
    """A header value carrying ``raw`` as base64."""
    return scheme + b" " + base64.b64encode(raw)


ALICE = basic(b"alice:correct horse")
ALICE_WRONG = basic(b"alice:wrong horse")
BOB = basic(b"bob:hello")


class FakeClock:
    """A clock that only moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the stored hash of every password verification."""
    seen: list[str] = []
    real = htpasswd_module.verify_password

    def counting(password: str, stored: str, *, allow_plaintext: bool = False) -> bool:
        seen.append(stored)
        return real(password, stored, allow_plaintext=allow_plaintext)

    monkeypatch.setattr(htpasswd_module, "verify_password", counting)
    return seen


def decide(auth: Authenticator, value: bytes) -> AuthResult:
    """The caller's flow, in one thread: cached answer, else verify and remember."""
    result = auth.cached(value)
    if result is None:
        result = auth.verify(value)
        auth.remember(value, result)
    return result


PARSED = [
    (ALICE, Credentials("alice", "correct horse")),
    (basic(b"alice:correct horse", b"basic"), Credentials("alice", "correct horse")),
    (basic(b"alice:x", b"BASIC"), Credentials("alice", "x")),
    (b"  Basic \t  " + base64.b64encode(b"alice:x") + b" \t", Credentials("alice", "x")),
    (basic(b"alice:"), Credentials("alice", "")),
    (basic(b"alice:p:w:"), Credentials("alice", "p:w:")),
    (basic(b":pw"), Credentials("", "pw")),
    (basic("jörg:pässwörd".encode()), Credentials("jörg", "pässwörd")),
    (basic(b"j\xf6rg:p\xe4ss"), Credentials("jörg", "päss")),
    (b"", None),
    (b"Basic", None),
    (b"Basic    ", None),
    (b"Bearer " + base64.b64encode(b"alice:x"), None),
    (b"Basicx " + base64.b64encode(b"alice:x"), None),
    (basic(b"alice"), None),
    (b"Basic !!!!", None),
    (b"Basic YWxpY2U6eA", None),  # padding missing
    (b"Basic YWxpY2U6eA===", None),  # padding extra
    (b"Basic YTp=", None),  # non-canonical trailing bits
    (b"Basic YTpi YTpi", None),
    (b"Basic YTpi\r\nX: y", None),
    (b"Basic YTpi,", None),
]


@pytest.mark.parametrize(("value", "expected"), PARSED)
def test_parse_basic(value: bytes, expected: Credentials | None) -> None:
    """Basic values parse strictly: any scheme case, canonical base64, a colon required."""
    assert parse_basic(value) == expected


def test_parse_basic_bounds_length() -> None:
    """Values up to 4 KiB parse; longer ones are refused without decoding."""
    token = base64.b64encode(b"u:" + b"x" * 3064)
    fits = b"Basic   " + token
    assert len(fits) == 4096
    assert parse_basic(fits) == Credentials("u", "x" * 3064)
    assert parse_basic(b" " + fits) is None


def test_credentials_repr_hides_password() -> None:
    """Credentials can be logged without the password."""
    assert "hunter2" not in repr(Credentials("alice", "hunter2"))
    assert "alice" in repr(Credentials("alice", "hunter2"))


@pytest.mark.parametrize(
    ("realm", "expected"),
    [
        ("proxyhub", b'Basic realm="proxyhub", charset="UTF-8"'),
        ('say "hi" \\o/', b'Basic realm="say \\"hi\\" \\\\o/", charset="UTF-8"'),
        ("a\r\nSet-Cookie: x\x00\x7f", b'Basic realm="a  Set-Cookie: x  ", charset="UTF-8"'),
        ("Zürich", b'Basic realm="Z\xc3\xbcrich", charset="UTF-8"'),
    ],
)
def test_challenge(realm: str, expected: bytes) -> None:
    """Realms are quoted with escapes, and control characters cannot break the header."""
    assert challenge(realm) == expected


def test_verify_reasons(clock: FakeClock) -> None:
    """verify answers each case with its fixed reason and the user only on success."""
    auth = Authenticator(USERS, clock=clock)
    assert auth.verify(ALICE) == AuthResult(True, "alice", "ok")
    assert auth.verify(BOB) == AuthResult(True, "bob", "ok")
    assert auth.verify(ALICE_WRONG) == AuthResult(False, None, WRONG_PASSWORD)
    assert auth.verify(basic(b"carol:hello")) == AuthResult(False, None, UNKNOWN_USER)
    assert auth.verify(b"Basic !!") == AuthResult(False, None, MALFORMED)
    assert auth.verify(b"") == AuthResult(False, None, MISSING)
    assert auth.verify(b"  ") == AuthResult(False, None, MISSING)


def test_verify_is_pure(clock: FakeClock) -> None:
    """verify never touches the cache; only remember does."""
    auth = Authenticator(USERS, clock=clock)
    auth.verify(ALICE)
    auth.verify(ALICE_WRONG)
    assert auth.cache_size() == 0
    assert auth.cached(ALICE) is None


def test_cached_refuses_missing_and_malformed_without_hashing(
    clock: FakeClock, hashes: list[str]
) -> None:
    """Missing and malformed values are answered at once, without hashing or caching."""
    auth = Authenticator(USERS, clock=clock)
    assert auth.cached(b"") == AuthResult(False, None, MISSING)
    assert auth.cached(b"Basic YWxpY2U") == AuthResult(False, None, MALFORMED)
    auth.remember(b"Basic YWxpY2U", AuthResult(False, None, MALFORMED))
    assert auth.cache_size() == 0
    assert hashes == []


def test_success_cached_until_ttl(clock: FakeClock, hashes: list[str]) -> None:
    """A success is served from the cache for cache_ttl, then verified again."""
    auth = Authenticator(USERS, clock=clock, cache_ttl=60)
    assert auth.cached(ALICE) is None
    assert decide(auth, ALICE).ok
    clock.now += 59.9
    assert auth.cached(ALICE) == AuthResult(True, "alice", "ok")
    assert len(hashes) == 1
    clock.now += 0.1
    assert auth.cached(ALICE) is None
    assert auth.cache_size() == 0


def test_failures_cached_briefly(clock: FakeClock, hashes: list[str]) -> None:
    """A hammered wrong password costs one hash per negative TTL (min(cache_ttl, 5s))."""
    auth = Authenticator(USERS, clock=clock, cache_ttl=60)
    for _ in range(10):
        assert decide(auth, ALICE_WRONG).reason == WRONG_PASSWORD
    assert len(hashes) == 1
    clock.now += 5
    assert auth.cached(ALICE_WRONG) is None
    short = Authenticator(USERS, clock=clock, cache_ttl=2)
    short.remember(ALICE_WRONG, short.verify(ALICE_WRONG))
    clock.now += 2
    assert short.cached(ALICE_WRONG) is None


def test_unknown_users_cached_and_still_hashed(clock: FakeClock, hashes: list[str]) -> None:
    """An unknown user costs a decoy hash once, then is answered from the cache."""
    auth = Authenticator(USERS, clock=clock)
    carol = basic(b"carol:hello")
    assert decide(auth, carol).reason == UNKNOWN_USER
    assert decide(auth, carol).reason == UNKNOWN_USER
    assert len(hashes) == 1


def test_failure_never_served_for_another_value(clock: FakeClock) -> None:
    """A remembered failure answers only its exact header value."""
    auth = Authenticator(USERS, clock=clock)
    auth.remember(ALICE_WRONG, auth.verify(ALICE_WRONG))
    assert auth.cached(ALICE) is None
    assert auth.cached(basic(b"alice:wrong horse", b"basic")) is None
    assert decide(auth, ALICE).ok


def test_success_replaces_failure_for_same_value(clock: FakeClock) -> None:
    """Remembering a value again keeps only the newest result."""
    auth = Authenticator(USERS, clock=clock)
    auth.remember(ALICE, AuthResult(False, None, WRONG_PASSWORD))
    auth.remember(ALICE, AuthResult(True, "alice", "ok"))
    assert auth.cached(ALICE) == AuthResult(True, "alice", "ok")
    assert auth.cache_size() == 1


def test_eviction_bound(clock: FakeClock) -> None:
    """Each store keeps max_entries, dropping the oldest; failures never evict successes."""
    auth = Authenticator(USERS, clock=clock, max_entries=2)
    values = [basic(b"alice:correct horse", s) for s in (b"Basic", b"basic", b"BASIC")]
    for value in values:
        auth.remember(value, AuthResult(True, "alice", "ok"))
    assert [auth.cached(v) is not None for v in values] == [False, True, True]
    for i in range(5):
        wrong = basic(b"alice:wrong %d" % i)
        auth.remember(wrong, auth.verify(wrong))
    assert auth.cache_size() == 4
    assert all(auth.cached(v) is not None for v in values[1:])


def test_zero_ttl_caches_nothing(clock: FakeClock) -> None:
    """cache_ttl 0 turns the cache off for successes and failures."""
    auth = Authenticator(USERS, clock=clock, cache_ttl=0)
    auth.remember(ALICE, auth.verify(ALICE))
    auth.remember(ALICE_WRONG, auth.verify(ALICE_WRONG))
    assert auth.cache_size() == 0


def test_cache_key_is_salted_digest(clock: FakeClock) -> None:
    """The cache key is a salted 32-byte digest, holding neither the value nor the password."""
    auth = Authenticator(USERS, clock=clock)
    key = auth.cache_key(ALICE)
    assert len(key) == 32
    for secret in (ALICE, ALICE.split()[1], b"correct horse", b"alice"):
        assert secret not in key
    assert key == auth.cache_key(ALICE)
    assert key != auth.cache_key(ALICE_WRONG)
    assert key != Authenticator(USERS, clock=clock).cache_key(ALICE)


def test_replace_drops_cache_and_keeps_settings(clock: FakeClock) -> None:
    """A reload answers from the new file only, with the same TTLs and bound."""
    auth = Authenticator(USERS, clock=clock, cache_ttl=60, max_entries=7)
    auth.remember(ALICE, auth.verify(ALICE))
    reloaded = auth.replace(Htpasswd({"bob": USERS.users["bob"]}))
    assert reloaded.cache_size() == 0
    assert reloaded.htpasswd.users.keys() == {"bob"}
    assert reloaded.cached(ALICE) is None
    assert decide(reloaded, ALICE).reason == UNKNOWN_USER
    assert decide(reloaded, BOB).ok
    clock.now += 59
    assert reloaded.cached(BOB) is not None
    assert auth.cached(ALICE) is not None
