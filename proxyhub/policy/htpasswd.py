"""Proxy-auth password files: parse htpasswd text and verify passwords against it.

``parse_htpasswd`` turns ``user:hash`` lines into an immutable ``Htpasswd``,
checking every entry up front and reporting every problem at once as
``path:line: message`` in one ``HtpasswdError``.  Messages name users, never
hashes or passwords.  ``load_htpasswd`` is the only function here doing I/O.

Supported hashes: bcrypt (``$2y$``, ``$2b$``, ``$2a$``, via the ``bcrypt``
package; passwords count to 72 bytes, as in every bcrypt), SHA-crypt
(``$5$``, ``$6$``, optional ``rounds=N$``, per Drepper's "Unix crypt using
SHA-256 and SHA-512") and MD5-crypt (Apache ``$apr1$``, and ``$1$``, the same
algorithm), the latter two in pure Python since the ``crypt`` module is gone.

Refused, always: ``{SHA}`` (unsalted SHA-1), DES crypt (any 13-character
crypt-alphabet value; only 8 password characters count) and other ``$id$``
schemes.  Anything else is a plaintext password, refused unless
``allow_plaintext``; a plaintext password that looks like one of the refused
forms is refused too.  Leading and trailing whitespace of a line is ignored.

Verification is CPU-bound (milliseconds to tens of milliseconds): run it off
the reactor thread.  Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import bcrypt

from proxyhub.textfile import TextFileError, read_utf8

_CRYPT64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_REHASH = "rehash it with `htpasswd -B`"
_SUPPORTED = "bcrypt $2y$/$2b$/$2a$, SHA-crypt $5$/$6$, MD5-crypt $apr1$/$1$"

_BCRYPT = re.compile(r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}", re.ASCII)
_SHA_CRYPT = re.compile(
    r"\$([56])\$(?:rounds=([0-9]{1,10})\$)?([./0-9A-Za-z]{0,16})\$([./0-9A-Za-z]+)", re.ASCII
)
_MD5_CRYPT = re.compile(r"\$(apr1|1)\$([./0-9A-Za-z]{0,8})\$([./0-9A-Za-z]{22})", re.ASCII)
_DES = re.compile(r"[./0-9A-Za-z]{13}", re.ASCII)
_OTHER_SCHEME = re.compile(r"\$[^$]*\$")

MIN_ROUNDS = 1000
MAX_ROUNDS = 999_999_999
DEFAULT_ROUNDS = 5000
_SHA_LENGTHS = {"5": 43, "6": 86}

# A verifier takes the UTF-8 password and the stored hash.
Verifier = Callable[[bytes, str], bool]


class HtpasswdError(ValueError):
    """Every problem found in one htpasswd file, each as ``path:line: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Htpasswd:
    """The users of one htpasswd file and their stored hashes, read-only."""

    users: Mapping[str, str] = field(default_factory=dict)
    allow_plaintext: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", MappingProxyType(dict(self.users)))

    def verify(self, user: str, password: str) -> bool:
        """Return whether ``password`` is ``user``'s; an unknown user costs a verification too."""
        stored = self.users.get(user)
        if stored is None:
            decoy = next(iter(self.users.values()), None)
            if decoy is not None:
                verify_password(password, decoy, allow_plaintext=self.allow_plaintext)
            return False
        return verify_password(password, stored, allow_plaintext=self.allow_plaintext)


def parse_htpasswd(text: str, *, source: str, allow_plaintext: bool = False) -> Htpasswd:
    """Parse htpasswd ``text`` read from ``source``; raise ``HtpasswdError`` listing problems."""
    users: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        user, stored = user.rstrip(), stored.lstrip()
        problem = _entry_problem(user, sep, stored, allow_plaintext)
        if problem is None and user in first_seen:
            problem = f"duplicate user {user!r} (first on line {first_seen[user]})"
        if problem is not None:
            problems.append(f"{source}:{number}: {problem}")
            continue
        users[user] = stored
        first_seen[user] = number
    if problems:
        raise HtpasswdError(problems)
    return Htpasswd(users, allow_plaintext)


def load_htpasswd(path: str, *, allow_plaintext: bool = False) -> Htpasswd:
    """Read and parse the htpasswd file at ``path``; any failure is an ``HtpasswdError``."""
    try:
        text = read_utf8(path)
    except TextFileError as e:
        raise HtpasswdError([str(e)]) from None
    return parse_htpasswd(text, source=path, allow_plaintext=allow_plaintext)


def verify_password(password: str, stored: str, *, allow_plaintext: bool = False) -> bool:
    """Return whether ``password`` matches ``stored``; unusable hashes never match."""
    verifier = _classify(stored, allow_plaintext)
    if isinstance(verifier, str):
        return False
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return verifier(secret, stored)


def _entry_problem(user: str, sep: str, stored: str, allow_plaintext: bool) -> str | None:
    """Return what is wrong with one entry, or None; never quotes the hash."""
    if not sep:
        return "expected user:hash (no ':' on this line)"
    if not user:
        return "empty user name"
    if not stored:
        return f"user {user!r}: empty password hash"
    verifier = _classify(stored, allow_plaintext)
    return f"user {user!r}: {verifier}" if isinstance(verifier, str) else None


def _classify(stored: str, allow_plaintext: bool) -> Verifier | str:
    """Return the verifier for ``stored``, or why it cannot be used."""
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return _check_bcrypt if _BCRYPT.fullmatch(stored) else "malformed bcrypt hash"
    if stored.startswith(("$5$", "$6$")):
        return _sha_crypt_problem(stored) or _check_sha_crypt
    if stored.startswith(("$apr1$", "$1$")):
        return _check_md5_crypt if _MD5_CRYPT.fullmatch(stored) else "malformed MD5-crypt hash"
    if stored.startswith("{SHA}"):
        return f"{{SHA}} hashes are unsupported (unsalted SHA-1); {_REHASH}"
    if _OTHER_SCHEME.match(stored):
        return f"unsupported hash scheme (supported: {_SUPPORTED}); {_REHASH}"
    if _DES.fullmatch(stored):
        return f"DES crypt hashes are unsupported (only 8 password characters count); {_REHASH}"
    if not allow_plaintext:
        return f"plaintext passwords are refused (auth_plaintext = no); {_REHASH}"
    return _check_plaintext


def _sha_crypt_problem(stored: str) -> str | None:
    """Return what is wrong with a ``$5$``/``$6$`` hash, or None."""
    match = _SHA_CRYPT.fullmatch(stored)
    if match is None or len(match[4]) != _SHA_LENGTHS[match[1]]:
        return "malformed SHA-crypt hash"
    if match[2] is not None and not MIN_ROUNDS <= int(match[2]) <= MAX_ROUNDS:
        return f"SHA-crypt rounds must be {MIN_ROUNDS} to {MAX_ROUNDS}"
    return None


def _check_bcrypt(secret: bytes, stored: str) -> bool:
    """Verify with bcrypt, which only ever counts the first 72 bytes."""
    try:
        return bcrypt.checkpw(secret[:72], stored.encode("ascii"))
    except ValueError:
        return False


def _check_sha_crypt(secret: bytes, stored: str) -> bool:
    """Verify a ``$5$`` or ``$6$`` hash."""
    match = _SHA_CRYPT.fullmatch(stored)
    assert match is not None
    rounds = DEFAULT_ROUNDS if match[2] is None else int(match[2])
    digest = sha_crypt(secret, match[3].encode("ascii"), rounds, sha512=match[1] == "6")
    return hmac.compare_digest(digest, match[4].encode("ascii"))


def _check_md5_crypt(secret: bytes, stored: str) -> bool:
    """Verify an ``$apr1$`` or ``$1$`` hash."""
    match = _MD5_CRYPT.fullmatch(stored)
    assert match is not None
    magic = f"${match[1]}$".encode("ascii")
    digest = md5_crypt(secret, match[2].encode("ascii"), magic)
    return hmac.compare_digest(digest, match[3].encode("ascii"))


def _check_plaintext(secret: bytes, stored: str) -> bool:
    """Compare against a plaintext password."""
    return hmac.compare_digest(secret, stored.encode("utf-8"))


def sha_crypt(secret: bytes, salt: bytes, rounds: int, *, sha512: bool) -> bytes:
    """Return the encoded SHA-crypt digest (the part after the salt), per Drepper's steps."""
    new = hashlib.sha512 if sha512 else hashlib.sha256
    salt = salt[:16]
    length = len(secret)
    b = new(secret + salt + secret).digest()
    a = new(secret + salt + _repeat(b, length))
    bits = length
    while bits:
        a.update(b if bits & 1 else secret)
        bits >>= 1
    c = a.digest()
    dp = new()
    for _ in range(length):
        dp.update(secret)
    p = _repeat(dp.digest(), length)
    s = _repeat(new(salt * (16 + c[0])).digest(), len(salt))
    for i in range(rounds):
        h = new(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()
    return _crypt64(_sha_order(c, 21 if sha512 else 10, sha512))


def md5_crypt(secret: bytes, salt: bytes, magic: bytes = b"$apr1$") -> bytes:
    """Return the encoded MD5-crypt digest (after the salt); ``magic`` picks the flavour."""
    salt = salt[:8]
    alt = hashlib.md5(secret + salt + secret).digest()
    ctx = hashlib.md5(secret + magic + salt + _repeat(alt, len(secret)))
    bits = len(secret)
    while bits:
        ctx.update(b"\0" if bits & 1 else secret[:1])
        bits >>= 1
    final = ctx.digest()
    for i in range(1000):
        h = hashlib.md5(secret if i & 1 else final)
        if i % 3:
            h.update(salt)
        if i % 7:
            h.update(secret)
        h.update(final if i & 1 else secret)
        final = h.digest()
    order = (0, 6, 12, 1, 7, 13, 2, 8, 14, 3, 9, 15, 4, 10, 5, 11)
    return _crypt64(bytes(final[i] for i in order))


def _repeat(block: bytes, length: int) -> bytes:
    """Return ``block`` repeated and cut to ``length`` bytes."""
    return (block * (length // len(block) + 1))[:length]


def _sha_order(digest: bytes, groups: int, sha512: bool) -> bytes:
    """Permute a SHA-crypt digest into the byte order its encoding uses (Drepper step 22)."""
    out = bytearray()
    for k in range(groups):
        trio = (digest[k], digest[k + groups], digest[k + 2 * groups])
        out += bytes(trio[(j + k) % 3] if sha512 else trio[(j - k) % 3] for j in range(3))
    out += digest[3 * groups :][::-1]
    return bytes(out)


def _crypt64(data: bytes) -> bytes:
    """Encode big-endian triples as crypt's base-64, least significant six bits first."""
    out = bytearray()
    for start in range(0, len(data), 3):
        chunk = data[start : start + 3]
        value = int.from_bytes(chunk, "big")
        for _ in range(len(chunk) + 1):
            out.append(_CRYPT64[value & 63])
            value >>= 6
    return bytes(out)
