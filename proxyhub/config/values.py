"""Parsers for single configuration values: text in, typed value out, ``ValueError`` if bad.

Each parser takes the value text exactly as read (inline comments removed) and either
returns the typed value or raises ``ValueError`` with a short human message. Parsers of
lists raise :class:`BadItems` (a ``ValueError``) so that every bad item is reported.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from twisted.internet.endpoints import serverFromString

from proxyhub.config.model import DEFAULT_PORTS, Backend, Network, ParentProxy
from proxyhub.config.units import parse_duration, parse_size

T = TypeVar("T")

_SEPARATORS = re.compile(r"[\s,]+")
_INTEGER = re.compile(r"[0-9]+")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}
_PORT_ENDPOINTS = {"tcp", "tcp6", "ssl"}
_VISIBLE_ASCII = re.compile(r"[!-~]+")


class BadItems(ValueError):
    """Several items of one list value are bad; ``messages`` has one entry per item."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def split_list(text: str) -> list[str]:
    """Split a whitespace- or comma-separated list; empty text is an empty list."""
    return [item for item in _SEPARATORS.split(text.strip()) if item]


def list_of(parse: Callable[[str], T]) -> Callable[[str], tuple[T, ...]]:
    """Make a parser of a list whose items are parsed by ``parse``, reporting every bad one."""

    def parse_list(text: str) -> tuple[T, ...]:
        items: list[T] = []
        errors: list[str] = []
        for word in split_list(text):
            try:
                items.append(parse(word))
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise BadItems(errors)
        return tuple(items)

    return parse_list


def non_empty(parse: Callable[[str], tuple[T, ...]]) -> Callable[[str], tuple[T, ...]]:
    """Wrap a list parser so that an empty list is an error."""

    def parse_non_empty(text: str) -> tuple[T, ...]:
        items = parse(text)
        if not items:
            raise ValueError("must not be empty")
        return items

    return parse_non_empty


def duration(text: str) -> float:
    """A duration of zero or more, in seconds."""
    return parse_duration(text)


def positive_duration(text: str) -> float:
    """A duration greater than zero, in seconds."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be greater than 0")
    return seconds


def positive_size(text: str) -> int:
    """A size greater than zero, in bytes."""
    size = parse_size(text)
    if size <= 0:
        raise ValueError("must be greater than 0")
    return size


def positive_int(text: str) -> int:
    """A whole number greater than zero."""
    if not _INTEGER.fullmatch(text) or int(text) <= 0:
        raise ValueError(f"expected a whole number greater than 0, got {text!r}")
    return int(text)


def workers(text: str) -> int:
    """A positive number of processes, or ``auto`` for one per CPU."""
    if text.lower() == "auto":
        return os.cpu_count() or 1
    if not _INTEGER.fullmatch(text) or int(text) <= 0:
        raise ValueError(f"expected a whole number greater than 0 or 'auto', got {text!r}")
    return int(text)


def one_of(*choices: str) -> Callable[[str], str]:
    """Make a parser accepting exactly one of ``choices`` (case-insensitive)."""
    expected = ", ".join(choices[:-1]) + " or " + choices[-1]

    def parse_choice(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"expected {expected}, got {text!r}")
        return text.lower()

    return parse_choice


def boolean(text: str) -> bool:
    """``yes``/``no``, ``true``/``false``, ``on``/``off``, ``1``/``0``."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"expected yes or no, got {text!r}")


def access_log(text: str) -> str:
    """``-`` (stdout), ``off``, or a file path (kept as written)."""
    if not text:
        raise ValueError("must not be empty; use - for stdout, off, or a file path")
    return "off" if text.lower() == "off" else text


def server_name(text: str) -> str:
    """Our name in ``Via`` and error pages: one token, no spaces or commas."""
    if not text:
        raise ValueError("must not be empty")
    if any(c.isspace() or c == "," or not c.isprintable() for c in text) or not text.isascii():
        raise ValueError(f"must be one word of printable ASCII without commas, got {text!r}")
    return text


def network(text: str) -> Network:
    """A CIDR (``10.0.0.0/8``) or single address; host bits are cleared."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or network: {text!r}") from None


def port_or_any(text: str) -> frozenset[int] | None:
    """Ports 1-65535 separated by spaces or commas, or ``*`` for any port."""
    words = split_list(text)
    if "*" in words:
        if len(words) > 1:
            raise ValueError("'*' (any port) cannot be combined with port numbers")
        return None
    return frozenset(list_of(_port)(text))


def _port(text: str) -> int:
    """One TCP port number, 1-65535."""
    if not _INTEGER.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"not a port number (1-65535): {text!r}")
    return int(text)


def domain_pattern(text: str) -> str:
    """``*``, ``example.com`` or ``*.example.com``; lower-cased, a trailing dot dropped."""
    pattern = text.lower()
    pattern = pattern.removesuffix(".") if pattern != "*." else pattern
    if pattern == "*":
        return pattern
    name = pattern.removeprefix("*.")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"not a domain pattern (use example.com or *.example.com): {text!r}")
    return pattern


def existing_file(text: str) -> str | None:
    """Empty means None; otherwise a file that exists and can be read."""
    if not text:
        return None
    if os.path.exists(text) and not os.path.isfile(text):
        raise ValueError(f"not a regular file: {text!r}")
    try:
        with open(text, "rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot read {text!r}: {exc.strerror or exc}") from None
    return text


def realm(text: str) -> str:
    """A realm for Proxy-Authenticate: printable ASCII without quotes or backslashes."""
    if not text or not all(32 <= ord(c) < 127 and c not in '"\\' for c in text):
        raise ValueError(f"expected printable ASCII without quotes or backslashes, got {text!r}")
    return text


def parent_proxy(text: str) -> ParentProxy:
    """``http://[user:pass@]host:port``; user and password are percent-decoded."""
    hint = "expected http://[user:pass@]host:port"
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        raise ValueError(f"not a parent proxy URL ({hint}): {text!r}") from None
    if url.scheme.lower() != "http":
        raise ValueError(f"parent proxies are reached over http://, got {text!r}")
    if not url.hostname or port is None or port == 0:
        raise ValueError(f"parent proxy needs a host and a port ({hint}): {text!r}")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise ValueError(f"parent proxy URL must not have a path or query ({hint}): {text!r}")
    if url.username is not None and not url.username:
        raise ValueError(f"parent proxy URL has an empty user name: {text!r}")
    username = unquote(url.username) if url.username is not None else None
    password = unquote(url.password) if url.password is not None else None
    return ParentProxy(url.hostname, port, username, password)


def host_alias(text: str) -> str:
    """Another name of a virtual host: ``www.example.com`` or ``*.example.com``, never ``*``."""
    pattern = domain_pattern(text)
    if pattern == "*":
        raise ValueError("'*' cannot be an alias; [host:*] is the default host")
    return pattern


def backend(text: str) -> Backend:
    """``http://host[:port]`` or ``https://host[:port]``; the port defaults to 80 or 443."""
    hint = "expected http://host[:port] or https://host[:port]"
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        raise ValueError(f"not a backend URL ({hint}): {text!r}") from None
    scheme = url.scheme.lower()
    if scheme not in DEFAULT_PORTS or not text[len(scheme) :].startswith("://"):
        raise ValueError(f"backends are http:// or https:// URLs, got {text!r}")
    if url.path not in ("", "/") or "?" in text or "#" in text or "@" in url.netloc:
        raise ValueError(f"backend URL must not have a user, path or query ({hint}): {text!r}")
    host = url.hostname or ""
    if not _is_host(host) or port == 0:
        raise ValueError(f"backend needs a host and a valid port ({hint}): {text!r}")
    return Backend(scheme, host, port or DEFAULT_PORTS[scheme])


def _is_host(host: str) -> bool:
    """Whether ``host`` (lower-case, no brackets) is an IP address or a DNS name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return 0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    return True


def health_path(text: str) -> str | None:
    """Empty means None (no active checks); otherwise a request path starting with ``/``."""
    if not text:
        return None
    if not text.startswith("/") or not _VISIBLE_ASCII.fullmatch(text) or "#" in text:
        raise ValueError(f"expected a path starting with '/', e.g. /healthz, got {text!r}")
    return text


def certificate_pattern(text: str) -> str:
    """A glob pattern (relative to the working directory) matching at least one regular file."""
    if not matching_files(text):
        where = "" if os.path.isabs(text) else f" (looked in {os.getcwd()})"
        raise ValueError(f"no file matches {text!r}{where}")
    return text


def matching_files(pattern: str) -> list[str]:
    """The regular files matching the glob ``pattern``, sorted."""
    return sorted(path for path in glob.glob(pattern) if os.path.isfile(path))


# serverFromString is untyped in Twisted; this is the part of its signature we rely on.
_server_from_string: Callable[[object, str], object] = serverFromString


class _NoReactor:
    """Stands in for a reactor: building an endpoint from its description never touches it."""


def endpoint(text: str) -> str:
    """A Twisted server endpoint description, e.g. ``tcp:3128:interface=127.0.0.1``."""
    try:
        _server_from_string(_NoReactor(), text)
        port = endpoint_port(text)
    except Exception as exc:  # Twisted raises whatever its parsers raise
        reason = re.sub(r"^_?\w+\(\) ", "", str(exc)) or type(exc).__name__
        raise ValueError(f"not a valid endpoint description: {text!r} ({reason})") from None
    if port is not None and not 0 <= port <= 65535:
        raise ValueError(f"not a valid endpoint description: {text!r} (port out of range)")
    return text


def endpoint_port(text: str) -> int | None:
    """The port a ``tcp:``/``tcp6:``/``ssl:`` (or bare ``PORT``) description listens on."""
    words = split_description(text)
    if len(words) == 1 and _INTEGER.fullmatch(words[0]):
        return int(words[0])
    if not words or words[0] not in _PORT_ENDPOINTS:
        return None
    positional = [word for word in words[1:] if "=" not in word]
    named = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    port = positional[0] if positional else named.get("port")
    return int(port) if port is not None else None


def split_description(text: str) -> list[str]:
    """Split an endpoint description at unescaped colons, removing the backslash escapes."""
    words: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            words.append("".join(current))
            current = []
        else:
            current.append(char)
    words.append("".join(current))
    return words
