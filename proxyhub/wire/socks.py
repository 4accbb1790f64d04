"""Server side of a SOCKS handshake (SOCKS5 with RFC 1929 passwords, SOCKS4, SOCKS4a), sans-I/O.

:class:`SocksServer` takes the bytes a client sends and returns events: :class:`Send`
(write these bytes), :class:`NeedAuth` (check the credentials, then call
:meth:`SocksServer.auth_result`), :class:`ConnectRequest` (open the tunnel, then call
:meth:`SocksServer.reply_success` or :meth:`SocksServer.reply_failure`) and
:class:`Reject` (write its reply, which may be empty, and close).  Only CONNECT is served;
BIND and UDP ASSOCIATE get "command not supported".  Bytes arriving after the request are
held untouched for :meth:`SocksServer.take_buffer`.  Any split of the input gives the same
events, and no input makes :meth:`SocksServer.feed` raise.

Decisions: without ``require_auth`` the client must offer method 0x00 (no authentication);
with it, method 0x02 (username/password), and SOCKS4/4a is refused since it carries no
password.  Domain names (SOCKS5 type 0x03, SOCKS4a) are dot-separated labels of 1-63 ASCII
letters, digits, ``-`` or ``_`` with an optional trailing dot (IDNA names arrive as
punycode), returned lower-cased; anything else, port 0, a non-zero reserved byte and
over-long SOCKS4 strings get "general failure" (0x01, or 0x5B for SOCKS4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address


class ReplyCode(IntEnum):
    """SOCKS5 reply codes (RFC 1928 section 6); SOCKS4 maps all but SUCCEEDED to 0x5B."""

    SUCCEEDED = 0x00
    GENERAL_FAILURE = 0x01
    NOT_ALLOWED = 0x02
    NETWORK_UNREACHABLE = 0x03
    HOST_UNREACHABLE = 0x04
    CONNECTION_REFUSED = 0x05
    TTL_EXPIRED = 0x06  # also the answer to a connect timeout
    COMMAND_NOT_SUPPORTED = 0x07
    ADDRESS_TYPE_NOT_SUPPORTED = 0x08


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes to write to the client; the handshake goes on."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NeedAuth:
    """RFC 1929 credentials to verify before calling ``auth_result``."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """The client asks for a tunnel to ``host`` (an IP literal or a domain name) and ``port``.

    ``user`` is the verified RFC 1929 user for SOCKS5, None without authentication; for
    SOCKS4 it is the user-id the client claims (never verified), None when empty.
    """

    version: int
    host: str
    port: int
    user: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    """The handshake failed: write ``reply`` (possibly empty), then close."""

    reply: bytes
    reason: str


Event = Send | NeedAuth | ConnectRequest | Reject


class SocksUsageError(RuntimeError):
    """proxyhub called the negotiator out of turn (a bug on our side, not the client's)."""


MAX_SOCKS4_STRING = 255
NO_ACCEPTABLE_METHODS = b"\x05\xff"
AUTH_OK = b"\x01\x00"
AUTH_FAILED = b"\x01\x01"
_V4_GRANTED, _V4_REJECTED = 0x5A, 0x5B
_DOMAIN = re.compile(rb"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")
_GREETING, _AUTH, _AUTH_WAIT, _REQUEST, _WAIT_REPLY, _DONE, _CLOSED = range(7)
_PARSING = (_GREETING, _AUTH, _REQUEST)


class _Refused(Exception):
    def __init__(self, reply: bytes, reason: str) -> None:
        super().__init__(reason)
        self.reply = reply
        self.reason = reason


def _v5_reply(code: ReplyCode, bound: tuple[str, int] | None = None) -> bytes:
    if bound is None:
        return bytes((5, code, 0, 1)) + bytes(6)
    ip = ip_address(bound[0])
    return bytes((5, code, 0, 1 if ip.version == 4 else 4)) + ip.packed + _port(bound[1])


def _v4_reply(code: ReplyCode, bound: tuple[str, int] | None = None) -> bytes:
    status = _V4_GRANTED if code is ReplyCode.SUCCEEDED else _V4_REJECTED
    if bound is None or ip_address(bound[0]).version != 4:
        return bytes((0, status)) + bytes(6)
    return bytes((0, status)) + _port(bound[1]) + IPv4Address(bound[0]).packed


def _port(port: int) -> bytes:
    return port.to_bytes(2, "big")


def _domain(raw: bytes, reply: bytes) -> str:
    if _DOMAIN.fullmatch(raw) is None:
        raise _Refused(reply, "invalid domain name")
    return raw.decode("ascii").lower()


def _cstring(buf: bytes, start: int) -> int | None:
    """The index of the NUL ending the string at ``start``, None if it has not arrived."""
    end = buf.find(b"\0", start, start + MAX_SOCKS4_STRING + 1)
    if end < 0 and len(buf) > start + MAX_SOCKS4_STRING:
        raise _Refused(_v4_reply(ReplyCode.GENERAL_FAILURE), "SOCKS4 string too long")
    return None if end < 0 else end


class SocksServer:
    """One client's SOCKS handshake, from the first byte to the reply to its CONNECT."""

    def __init__(self, *, require_auth: bool, max_early_data: int = 65536) -> None:
        self.require_auth = require_auth
        self.max_early_data = max_early_data
        self.version: int | None = None
        self._state = _GREETING
        self._buf = b""
        self._user: str | None = None

    def feed(self, data: bytes) -> list[Event]:
        """Take bytes from the client; return what to do next."""
        if self._state == _CLOSED:
            return []
        self._buf += data
        return self._run()

    def auth_result(self, ok: bool) -> list[Event]:
        """After :class:`NeedAuth`: the verdict's reply, then events of bytes already held."""
        if self._state == _CLOSED:
            return []
        self._expect(_AUTH_WAIT)
        if not ok:
            self._close()
            self._user = None
            return [Reject(AUTH_FAILED, "authentication failed")]
        self._state = _REQUEST
        return [Send(AUTH_OK), *self._run()]

    def reply_success(self, bound: tuple[str, int] | None = None) -> bytes:
        """The reply granting the :class:`ConnectRequest`; ``bound``: our side's (IP, port)."""
        self._expect(_WAIT_REPLY)
        self._state = _DONE
        reply = _v5_reply if self.version == 5 else _v4_reply
        return reply(ReplyCode.SUCCEEDED, bound)

    def reply_failure(self, code: ReplyCode) -> bytes:
        """The reply refusing the :class:`ConnectRequest`, in the client's SOCKS version."""
        if code is ReplyCode.SUCCEEDED:
            raise SocksUsageError("reply_failure needs a failure code")
        self._expect(_WAIT_REPLY)
        self._close()
        return _v5_reply(code) if self.version == 5 else _v4_reply(code)

    def take_buffer(self) -> bytes:
        """Bytes the client sent after its request (early tunnel data), handed over once."""
        if self._state not in (_WAIT_REPLY, _DONE, _CLOSED):
            raise SocksUsageError("no CONNECT request yet")
        data, self._buf = self._buf, b""
        return data

    # -- internals -------------------------------------------------------------
    def _expect(self, state: int) -> None:
        if self._state != state:
            raise SocksUsageError(f"SOCKS negotiator called out of turn (state {self._state})")

    def _close(self) -> None:
        self._state = _CLOSED
        self._buf = b""

    def _run(self) -> list[Event]:
        events: list[Event] = []
        try:
            while self._state in _PARSING:
                before = self._state
                event = self._step()
                if event is not None:
                    events.append(event)
                if self._state == before:
                    break
            if len(self._buf) > self.max_early_data:
                raise _Refused(b"", "too many bytes before the tunnel opened")
        except _Refused as refused:
            self._close()
            events.append(Reject(refused.reply, refused.reason))
        return events

    def _step(self) -> Event | None:
        if self._state == _AUTH:
            return self._auth()
        if self._state == _REQUEST:
            return self._v5_request()
        if not self._buf:
            return None
        if self._buf[0] == 5:
            self.version = 5
            return self._v5_greeting()
        if self._buf[0] == 4:
            self.version = 4
            return self._v4_request()
        raise _Refused(b"", "not a SOCKS4 or SOCKS5 handshake")

    def _v5_greeting(self) -> Event | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        if buf[1] == 0:
            raise _Refused(NO_ACCEPTABLE_METHODS, "no authentication method offered")
        if len(buf) < 2 + buf[1]:
            return None
        methods, self._buf = buf[2 : 2 + buf[1]], buf[2 + buf[1] :]
        wanted = 2 if self.require_auth else 0
        if wanted not in methods:
            raise _Refused(NO_ACCEPTABLE_METHODS, f"client does not offer method {wanted}")
        self._state = _AUTH if self.require_auth else _REQUEST
        return Send(bytes((5, wanted)))

    def _auth(self) -> Event | None:
        buf = self._buf
        if not buf:
            return None
        if buf[0] != 1:
            raise _Refused(AUTH_FAILED, "unsupported username/password version")
        if len(buf) < 2:
            return None
        if buf[1] == 0:
            raise _Refused(AUTH_FAILED, "empty user name")
        pass_at = 3 + buf[1]
        if len(buf) < pass_at or len(buf) < pass_at + buf[pass_at - 1]:
            return None
        end = pass_at + buf[pass_at - 1]
        try:
            user, password = buf[2 : pass_at - 1].decode(), buf[pass_at:end].decode()
        except UnicodeDecodeError:
            raise _Refused(AUTH_FAILED, "credentials are not UTF-8") from None
        self._buf, self._user, self._state = buf[end:], user, _AUTH_WAIT
        return NeedAuth(user, password)

    def _v5_request(self) -> Event | None:
        buf = self._buf
        checks = (
            (5, ReplyCode.GENERAL_FAILURE, "bad version in SOCKS5 request"),
            (1, ReplyCode.COMMAND_NOT_SUPPORTED, "only CONNECT is supported"),
            (0, ReplyCode.GENERAL_FAILURE, "reserved byte is not zero"),
        )
        for i, (value, code, reason) in enumerate(checks):
            if len(buf) <= i:
                return None
            if buf[i] != value:
                raise _Refused(_v5_reply(code), reason)
        if len(buf) < 4:
            return None
        if buf[3] not in (1, 3, 4):
            raise _Refused(_v5_reply(ReplyCode.ADDRESS_TYPE_NOT_SUPPORTED), "bad address type")
        start, size = (4, 4) if buf[3] == 1 else (4, 16)
        if buf[3] == 3:
            if len(buf) < 5:
                return None
            if buf[4] == 0:
                raise _Refused(_v5_reply(ReplyCode.GENERAL_FAILURE), "empty domain name")
            start, size = 5, buf[4]
        end = start + size + 2
        if len(buf) < end:
            return None
        raw, port = buf[start : end - 2], int.from_bytes(buf[end - 2 : end], "big")
        if buf[3] == 3:
            host = _domain(raw, _v5_reply(ReplyCode.GENERAL_FAILURE))
        else:
            host = str(IPv4Address(raw) if buf[3] == 1 else IPv6Address(raw))
        if port == 0:
            raise _Refused(_v5_reply(ReplyCode.GENERAL_FAILURE), "port 0")
        self._buf, self._state = buf[end:], _WAIT_REPLY
        return ConnectRequest(5, host, port, self._user)

    def _v4_request(self) -> Event | None:
        buf = self._buf
        failure = _v4_reply(ReplyCode.GENERAL_FAILURE)
        if self.require_auth:
            raise _Refused(failure, "SOCKS4 carries no password and authentication is required")
        if len(buf) < 2:
            return None
        if buf[1] != 1:
            raise _Refused(failure, "only CONNECT is supported")
        if len(buf) < 4:
            return None
        port = int.from_bytes(buf[2:4], "big")
        if port == 0:
            raise _Refused(failure, "port 0")
        user_end = _cstring(buf, 8)
        if user_end is None:
            return None
        end, host = user_end + 1, str(IPv4Address(buf[4:8]))
        if buf[4:7] == b"\0\0\0" and buf[7] != 0:  # SOCKS4a: a domain name follows
            name_end = _cstring(buf, end)
            if name_end is None:
                return None
            end, host = name_end + 1, _domain(buf[user_end + 1 : name_end], failure)
        user = buf[8:user_end].decode("utf-8", "replace") or None
        self._buf, self._state = buf[end:], _WAIT_REPLY
        return ConnectRequest(4, host, port, user)
