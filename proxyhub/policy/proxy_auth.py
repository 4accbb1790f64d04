"""Proxy authentication decisions for ``Proxy-Authorization: Basic``.

``parse_basic`` reads a header value into ``Credentials``; ``challenge``
builds the ``Proxy-Authenticate`` value for a 407.  ``Authenticator`` decides,
split so that password hashing can run off the reactor thread::

    result = auth.cached(value)               # reactor thread, cheap
    if result is None:
        d = deferToThread(auth.verify, value)  # any thread: pure, CPU-bound
        d.addCallback(keep)                    # reactor: auth.remember(value, r); use r

Results are remembered under a salted digest of the raw header value, never
the value itself: successes for ``cache_ttl``, failures for a shorter
``negative_ttl``, each kind in its own bounded store so that a flood of bad
passwords cannot evict logged-in users.  A reload builds a new
``Authenticator`` (``replace``), so no cached answer outlives its file;
callbacks should hold the instance they called ``verify`` on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from proxyhub.policy.htpasswd import Htpasswd

MAX_VALUE_SIZE = 4096

OK = "ok"
MISSING = "missing credentials"
MALFORMED = "malformed credentials"
UNKNOWN_USER = "unknown user"
WRONG_PASSWORD = "wrong password"

_OWS = b" \t"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password from one header; the password never appears in ``repr``."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One decision: whether it passed, the authenticated user, and a fixed reason for the log."""

    ok: bool
    user: str | None
    reason: str


_MISSING = AuthResult(False, None, MISSING)
_MALFORMED = AuthResult(False, None, MALFORMED)
_UNKNOWN = AuthResult(False, None, UNKNOWN_USER)
_WRONG = AuthResult(False, None, WRONG_PASSWORD)


def parse_basic(value: bytes) -> Credentials | None:
    """Return the credentials of a ``Basic`` header value, or None if it is not a valid one.

    The scheme is case-insensitive; the token must be canonical, padded base64
    holding ``user:password`` (the password may be empty or hold colons),
    decoded as UTF-8, else latin-1.  Values over 4 KiB are refused.
    """
    if len(value) > MAX_VALUE_SIZE:
        return None
    scheme, token = _split_scheme(value.strip(_OWS))
    if scheme.lower() != b"basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(decoded) != token:
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return Credentials(_text(user), _text(password))


def _split_scheme(value: bytes) -> tuple[bytes, bytes]:
    """Split ``scheme  token`` at the first run of spaces or tabs."""
    for i, byte in enumerate(value):
        if byte in _OWS:
            return value[:i], value[i:].lstrip(_OWS)
    return value, b""


def _text(raw: bytes) -> str:
    """Decode UTF-8, falling back to latin-1 for older clients."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def challenge(realm: str) -> bytes:
    """Return the ``Proxy-Authenticate`` value asking for Basic credentials in ``realm``.

    Quotes and backslashes are escaped; control characters become spaces, so
    no realm can break the header.
    """
    quoted = _CONTROL.sub(" ", realm).replace("\\", "\\\\").replace('"', '\\"')
    return f'Basic realm="{quoted}", charset="UTF-8"'.encode()


class Authenticator:
    """Decides ``Proxy-Authorization`` values against one htpasswd file, with a bounded cache."""

    __slots__ = (
        "_bad",
        "_clock",
        "_good",
        "_htpasswd",
        "_max_entries",
        "_negative_ttl",
        "_salt",
        "_ttl",
    )

    def __init__(
        self,
        htpasswd: Htpasswd,
        *,
        clock: Callable[[], float],
        cache_ttl: float = 300.0,
        max_entries: int = 1024,
        negative_ttl: float | None = None,
    ) -> None:
        self._htpasswd = htpasswd
        self._clock = clock
        self._ttl = cache_ttl
        self._negative_ttl = min(cache_ttl, 5.0) if negative_ttl is None else negative_ttl
        self._max_entries = max_entries
        self._salt = os.urandom(32)
        self._good: OrderedDict[bytes, tuple[float, AuthResult]] = OrderedDict()
        self._bad: OrderedDict[bytes, tuple[float, AuthResult]] = OrderedDict()

    @property
    def htpasswd(self) -> Htpasswd:
        """The password file this authenticator checks against."""
        return self._htpasswd

    def replace(self, htpasswd: Htpasswd) -> Authenticator:
        """Return an authenticator for a reloaded file: same settings, empty cache."""
        return Authenticator(
            htpasswd,
            clock=self._clock,
            cache_ttl=self._ttl,
            max_entries=self._max_entries,
            negative_ttl=self._negative_ttl,
        )

    def cached(self, value: bytes) -> AuthResult | None:
        """Return the answer if it needs no hashing, else None (then call ``verify``).

        Answers without hashing: a remembered, unexpired result for this exact
        value, or a refusal of missing or malformed credentials.  Call it on
        the reactor thread: it drops expired entries.
        """
        key = self.cache_key(value)
        now = self._clock()
        good = self._good.get(key)
        if good is not None and now < good[0]:
            return good[1]  # the common case: a user already verified, no parsing at all
        parsed = _parse(value)
        if isinstance(parsed, AuthResult):
            return parsed
        for store in (self._good, self._bad):
            entry = store.get(key)
            if entry is not None:
                if now < entry[0]:
                    return entry[1]
                del store[key]
        return None

    def verify(self, value: bytes) -> AuthResult:
        """Decide ``value`` by hashing; pure and thread-safe, meant for ``deferToThread``."""
        parsed = _parse(value)
        if isinstance(parsed, AuthResult):
            return parsed
        htpasswd = self._htpasswd
        if htpasswd.verify(parsed.user, parsed.password):
            return AuthResult(True, parsed.user, OK)
        return _WRONG if parsed.user in htpasswd.users else _UNKNOWN

    def remember(self, value: bytes, result: AuthResult) -> None:
        """Keep ``verify``'s ``result`` for ``value``; call it on the reactor thread."""
        if result.reason in (MISSING, MALFORMED):
            return
        store, ttl = (self._good, self._ttl) if result.ok else (self._bad, self._negative_ttl)
        if ttl <= 0 or self._max_entries <= 0:
            return
        key = self.cache_key(value)
        self._good.pop(key, None)
        self._bad.pop(key, None)
        store[key] = (self._clock() + ttl, result)
        while len(store) > self._max_entries:
            store.popitem(last=False)

    def cache_key(self, value: bytes) -> bytes:
        """Return the digest ``value`` is cached under: keyed BLAKE2b, a per-instance key.

        Keyed BLAKE2 is a MAC by design and a third of HMAC-SHA256's cost here;
        it runs on every authenticated request.
        """
        return hashlib.blake2b(value, key=self._salt, digest_size=32).digest()

    def cache_size(self) -> int:
        """Return how many results are remembered, expired or not."""
        return len(self._good) + len(self._bad)


def _parse(value: bytes) -> Credentials | AuthResult:
    """Return the credentials in ``value``, or the refusal of a missing or malformed one."""
    if not value.strip(_OWS):
        return _MISSING
    credentials = parse_basic(value)
    return _MALFORMED if credentials is None else credentials
