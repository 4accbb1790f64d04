"""Tests of proxyhub.policy.htpasswd: every hash format, every refusal, every problem at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxyhub.policy import htpasswd as module
from proxyhub.policy.htpasswd import (
    Htpasswd,
    HtpasswdError,
    load_htpasswd,
    parse_htpasswd,
    verify_password,
)

PASS = "s3cret-pässword"
LONG = "a very much longer text to encrypt.  This one even stretches over morethan one line."
LOW = "the minimum number is still observed"

# (password, stored): `openssl passwd -5/-6/-apr1 -salt ...`, the rounds= vectors from
# Drepper's "Unix crypt using SHA-256 and SHA-512", `$1$` from glibc crypt(3), and bcrypt
# (cost 4) from the bcrypt package; the $2y$ one is a $2b$ hash with its identical prefix.
VECTORS = [
    ("Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
    (
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBF"
        "dcbYEdFCoEOfaS35inz1",
    ),
    (PASS, "$5$Qx7pV2mK$94MWJ.7eGtBtkVQfdpZxnO1hAvQWejsT1guDtpvgwv8"),
    (
        PASS,
        "$6$Zr9wL1nB$ttBoE/B5/YNpCtG8rqlpV8SdFo8Kk7s0nIRxG/./GXnNpSSSBmIY3lPqWutMi4ni37ljdr"
        "sa2qORDwuEYlwJl0",
    ),
    (LONG, "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"),
    (
        LONG,
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmL"
        "s66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (LOW, "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"),
    (
        LOW,
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaT"
        "fF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ),
    ("correct horse", "$apr1$r31.....$WQf9cPy9WjNvz9ZYeT9jk."),
    (PASS, "$apr1$Ab3dEf9h$ho0Gisj2c7ccW7Jbj9w860"),
    ("", "$apr1$a$lsAcX0kKaMIVmrCtUuk5b0"),
    ("hello", "$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/"),
    ("bcrypt-b pass", "$2b$04$5tluCU6tmzlfrNABTT7FeeaNttwbqOl32w8lt41Ghko/NQjbGmXTC"),
    ("bcrypt-y päss", "$2y$04$bXUuq8528sw3eIAT8D0NUeW2yhfb2/hyj2uX/V00jnjFwOic/Vj/K"),
    ("bcrypt-a pass", "$2a$04$z4D.rqHEj57Dsqz38YWV6.Fr4fWmTlkR5YYGSDS8RG0Hl1t9uvWr6"),
]
BCRYPT_72 = "$2b$04$A4WrfRJnf1MVe9xl9XeeXeE3SKtJpZGR9ijvNnqZYOz9fdKnU0j7."  # "L" * 72


@pytest.mark.parametrize(("password", "stored"), VECTORS)
def test_vectors_verify(password: str, stored: str) -> None:
    """Each reference hash accepts its password."""
    assert verify_password(password, stored)


@pytest.mark.parametrize(("password", "stored"), VECTORS)
def test_vectors_reject_wrong_password(password: str, stored: str) -> None:
    """Each reference hash refuses a changed, truncated or empty password."""
    for wrong in (password + "x", password[:-1], "", "x"):
        if wrong != password:
            assert not verify_password(wrong, stored)


def test_bcrypt_counts_72_bytes() -> None:
    """Bcrypt only ever counts 72 bytes, so longer passwords are cut, not refused."""
    assert verify_password("L" * 72, BCRYPT_72)
    assert verify_password("L" * 72 + "ignored", BCRYPT_72)
    assert not verify_password("L" * 71, BCRYPT_72)


@pytest.mark.parametrize(
    "stored",
    [
        "$2y$04$short",
        "$2y$03$bXUuq8528sw3eIAT8D0NUeW2yhfb2/hyj2uX/V00jnjFwOic/Vj/K",
        "$5$saltstring$5B8vYYiY",
        "$5$rounds=999$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
        "$apr1$toolongsalt$WQf9cPy9WjNvz9ZYeT9jk.",
        "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=",
        "rl5OUBmAwXW7c",
        "$y$j9T$salt$hash",
        "Hello world!",
    ],
)
def test_unusable_hashes_never_match(stored: str) -> None:
    """A malformed, unsupported or (by default) plaintext stored value matches nothing."""
    assert not verify_password("Hello world!", stored)
    assert not verify_password("", stored)


def test_plaintext_verify_needs_allow_plaintext() -> None:
    """Plaintext entries compare only when allowed."""
    assert verify_password("plain pass", "plain pass", allow_plaintext=True)
    assert not verify_password("plain pas", "plain pass", allow_plaintext=True)
    assert not verify_password("plain pass", "plain pass")


def test_parse_skips_comments_blank_lines_and_whitespace() -> None:
    """Comments, blank lines, CRLF endings and surrounding whitespace are ignored."""
    text = (
        "# proxy users\r\n\r\n"
        "  alice:$apr1$r31.....$WQf9cPy9WjNvz9ZYeT9jk.  \r\n"
        "   # indented comment\n"
        "bob:$2b$04$5tluCU6tmzlfrNABTT7FeeaNttwbqOl32w8lt41Ghko/NQjbGmXTC\n"
    )
    parsed = parse_htpasswd(text, source="users")
    assert set(parsed.users) == {"alice", "bob"}
    assert parsed.verify("alice", "correct horse")
    assert parsed.verify("bob", "bcrypt-b pass")
    assert not parsed.verify("alice", "bcrypt-b pass")
    assert not parsed.verify("carol", "correct horse")


def test_parse_empty_text_has_no_users() -> None:
    """An empty file parses to no users, and nobody verifies."""
    parsed = parse_htpasswd("\n# nobody\n", source="users")
    assert dict(parsed.users) == {}
    assert not parsed.verify("alice", "")


def test_users_are_read_only() -> None:
    """The users mapping cannot be changed after parsing."""
    parsed = parse_htpasswd("alice:$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/\n", source="users")
    with pytest.raises(TypeError):
        parsed.users["mallory"] = "x"  # type: ignore[index]


def test_plaintext_refused_by_default() -> None:
    """A plaintext entry is an error naming the user and the way out."""
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd("alice:open sesame\n", source="users")
    assert caught.value.problems == (
        "users:1: user 'alice': plaintext passwords are refused (auth_plaintext = no); "
        "rehash it with `htpasswd -B`",
    )


def test_plaintext_allowed_on_request() -> None:
    """With allow_plaintext, a plaintext entry verifies by exact comparison."""
    parsed = parse_htpasswd("alice:open sesame:x\n", source="users", allow_plaintext=True)
    assert parsed.verify("alice", "open sesame:x")
    assert not parsed.verify("alice", "open sesame")


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "{SHA} hashes are unsupported (unsalted SHA-1)"),
        ("rl5OUBmAwXW7c", "DES crypt hashes are unsupported (only 8 password characters count)"),
        ("$y$j9T$salt$hash", "unsupported hash scheme (supported: bcrypt"),
        ("$argon2id$v=19$m=65536$x", "unsupported hash scheme (supported: bcrypt"),
    ],
)
def test_weak_and_unknown_schemes_refused_even_with_plaintext(stored: str, message: str) -> None:
    """{SHA}, DES and unknown $id$ schemes are refused whether or not plaintext is allowed."""
    for allow in (False, True):
        with pytest.raises(HtpasswdError) as caught:
            parse_htpasswd(f"alice:{stored}", source="f", allow_plaintext=allow)
        (problem,) = caught.value.problems
        assert problem.startswith(f"f:1: user 'alice': {message}")


def test_every_problem_reported_at_once() -> None:
    """All bad lines are reported together, in order, with their line numbers."""
    text = "\n".join(
        [
            "# header",
            "alice:$apr1$r31.....$WQf9cPy9WjNvz9ZYeT9jk.",
            "no separator here",
            ":$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/",
            "bob:",
            "carol:$2y$04$tooshort",
            "dave:$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
            "erin:$6$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
            "frank:$apr1$r31.....$short",
            "alice:$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/",
            "",
        ]
    )
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(text, source="etc/users")
    assert caught.value.problems == (
        "etc/users:3: expected user:hash (no ':' on this line)",
        "etc/users:4: empty user name",
        "etc/users:5: user 'bob': empty password hash",
        "etc/users:6: user 'carol': malformed bcrypt hash",
        "etc/users:7: user 'dave': SHA-crypt rounds must be 1000 to 999999999",
        "etc/users:8: user 'erin': malformed SHA-crypt hash",
        "etc/users:9: user 'frank': malformed MD5-crypt hash",
        "etc/users:10: duplicate user 'alice' (first on line 2)",
    )
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert isinstance(caught.value, ValueError)


def test_messages_never_quote_secrets() -> None:
    """No message repeats any part of a hash or a password."""
    secrets = [
        "hunter2hunter2",
        "$2y$04$hunter2",
        "$5$hunter2$hunter2",
        "$apr1$hunter2$x",
        "{SHA}hunter2=",
        "hunter2abcdef",
        "$hunter2$x",
    ]
    lines = [f"u{i}:{secret}" for i, secret in enumerate(secrets)] + ["hunter2 no colon"]
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd("\n".join(lines), source="f")
    assert len(caught.value.problems) == len(lines)
    assert "hunter2" not in str(caught.value)


def test_unknown_user_spends_a_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown user is checked against a real entry, so it costs about as much."""
    calls: list[tuple[str, str]] = []

    def spy(password: str, stored: str, *, allow_plaintext: bool = False) -> bool:
        calls.append((password, stored))
        return True

    monkeypatch.setattr(module, "verify_password", spy)
    parsed = Htpasswd({"alice": "$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/"})
    assert not parsed.verify("mallory", "hello")
    assert calls == [("hello", "$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/")]


def test_load_reads_a_file(tmp_path: Path) -> None:
    """load_htpasswd parses a UTF-8 file, naming it in problems."""
    good = tmp_path / "users"
    good.write_text("jörg:$apr1$Ab3dEf9h$ho0Gisj2c7ccW7Jbj9w860\n", encoding="utf-8")
    assert load_htpasswd(str(good)).verify("jörg", PASS)
    bad = tmp_path / "bad"
    bad.write_text("alice:plain\n", encoding="utf-8")
    with pytest.raises(HtpasswdError, match=rf"^{re.escape(str(bad))}:1: user 'alice': plaintext"):
        load_htpasswd(str(bad))
    assert load_htpasswd(str(bad), allow_plaintext=True).verify("alice", "plain")


def test_load_reports_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    """A missing file and a non-UTF-8 line are HtpasswdErrors naming the path."""
    missing = tmp_path / "missing"
    with pytest.raises(HtpasswdError, match=rf"^{re.escape(str(missing))}: cannot read: "):
        load_htpasswd(str(missing))
    latin = tmp_path / "latin"
    latin.write_bytes(b"# ok\nj\xf6rg:$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/\n")
    with pytest.raises(HtpasswdError) as caught:
        load_htpasswd(str(latin))
    assert caught.value.problems == (
        f"{latin}: cannot read: not UTF-8 text (line 2: invalid start byte)",
    )
