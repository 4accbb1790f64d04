"""Why a forward or SOCKS request would be allowed or denied: ``proxyhub explain``.

:func:`explain` walks one request through the ``[forward]`` rules in the order the
listeners apply them and stops at the first denial, as they do:

- HTTP (``GET http://host/path``, any method): ``client`` (``allow_clients``), the PAC file
  (``GET /proxy.pac`` is served before auth), ``auth`` (when ``auth_file`` is set),
  ``method`` (TRACE: 405), ``target`` (absolute form, else 400), ``scheme`` (``http`` only,
  else 501), ``domain`` (``deny_domains`` wins over ``allow_domains``; an IP literal is also
  matched against ``deny_destinations``), then ``destination`` on every resolved address
  and ``route``;
- ``CONNECT host:port``: ``client``, ``auth``, ``target``, ``connect_port``, ``domain``,
  ``destination``, ``route``;
- ``SOCKS host:port``: the same with ``[socks] ports`` as the ``connect_port`` rule.

Through a parent proxy the proxy neither resolves the host nor applies
``deny_destinations`` to it (the parent does), so neither does the explanation.
Nothing here opens a socket except the default resolver (``getaddrinfo``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from proxyhub.config import Config
from proxyhub.config.loader import forward_rules
from proxyhub.config.values import endpoint_port
from proxyhub.http import RemoteProtocolError
from proxyhub.http.target import Authority, parse_absolute_target, parse_authority
from proxyhub.policy.access import AccessPolicy, Decision
from proxyhub.policy.addresses import parse_ip_literal
from proxyhub.policy.domains import HostPatterns, normalize_host
from proxyhub.policy.htpasswd import load_htpasswd
from proxyhub.policy.pac import PAC_PATHS
from proxyhub.policy.parents import ParentSelector, parent_label

ALLOWED = "allowed"
DENIED = "denied"
SKIPPED = "skipped"

Resolve = Callable[[str], list[str]]

_RULE_KEY = re.compile(r"^([a-z_]+): ")
_UNESCAPED_COLON = re.compile(r"(?<!\\):")


@dataclass(frozen=True)
class Step:
    """One check: its name, ``outcome`` (allowed, denied, skipped, direct, parent, local),
    the rule that decided, and the status the proxy answers when the step denies."""

    check: str
    outcome: str
    rule: str
    status: int = 200

    def line(self) -> str:
        """The step as one aligned output line."""
        return f"  {self.check:<12} {self.outcome:<9} {self.rule}".rstrip()


@dataclass(frozen=True)
class Explanation:
    """The decision on ``request`` from ``client``: every step taken, and the route if allowed."""

    request: str
    client: str
    allowed: bool
    status: int
    steps: tuple[Step, ...]
    route: str | None = None

    def render(self) -> str:
        """The stable, greppable text ``proxyhub explain`` prints."""
        verdict = "ALLOWED" if self.allowed else "DENIED"
        lines = [f"{self.request} from {self.client}: {verdict} {self.status}"]
        lines += [step.line() for step in self.steps]
        if self.route is not None:
            lines.append(f"route: {self.route}")
        return "\n".join(lines)


class _Stop(Exception):
    """A step denied the request: the walk ends here."""


def system_resolve(host: str) -> list[str]:
    """Every IPv4 and IPv6 address ``getaddrinfo`` gives ``host``, without duplicates."""
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def explain(
    config: Config,
    client: str,
    request: str,
    *,
    user: str | None = None,
    password: str | None = None,
    resolve: Resolve | None = None,
    no_resolve: bool = False,
) -> Explanation:
    """Decide ``request`` (``"CONNECT host:port"``, ``"GET http://..."``, ``"SOCKS host:port"``).

    ``user`` without ``password`` only checks that the user exists; with ``password`` it is
    verified.  ``resolve`` defaults to :func:`system_resolve`; ``no_resolve`` skips resolving
    names (IP literals are still checked).  Raises ``ValueError`` for a request that is not
    ``METHOD TARGET`` and :class:`~proxyhub.policy.htpasswd.HtpasswdError` for a bad auth_file.
    """
    method, _, target = request.strip().partition(" ")
    target = target.strip()
    if not method or not target or " " in target:
        raise ValueError(
            f"expected 'METHOD TARGET' (e.g. 'CONNECT example.com:443'), got {request!r}"
        )
    walk = _Walk(config, user, password, resolve or system_resolve, no_resolve)
    try:
        walk.run(client, method, target)
    except _Stop:
        last = walk.steps[-1]
        return Explanation(f"{method} {target}", client, False, last.status, tuple(walk.steps))
    return Explanation(f"{method} {target}", client, True, 200, tuple(walk.steps), walk.route)


class _Walk:
    """The steps of one explanation, in the order the listeners take them."""

    def __init__(
        self,
        config: Config,
        user: str | None,
        password: str | None,
        resolve: Resolve,
        no_resolve: bool,
    ) -> None:
        self.config = config
        self.fwd = forward_rules(config)
        self.policy = AccessPolicy.from_settings(self.fwd, own_addresses=_own_addresses(config))
        self.user = user
        self.password = password
        self.resolve = resolve
        self.no_resolve = no_resolve
        self.steps: list[Step] = []
        self.route: str | None = None

    def ok(self, check: str, rule: str, outcome: str = ALLOWED) -> None:
        self.steps.append(Step(check, outcome, rule))

    def deny(self, check: str, rule: str, status: int) -> NoReturn:
        self.steps.append(Step(check, DENIED, rule, status))
        raise _Stop

    def decide(self, check: str, decision: Decision) -> None:
        rule = _RULE_KEY.sub(r"\1 ", decision.rule)
        if decision.allowed:
            self.ok(check, rule)
        else:
            self.deny(check, rule, decision.status)

    def run(self, client: str, method: str, target: str) -> None:
        self.decide("client", self.policy.check_client(client))
        if method == "SOCKS":
            self.socks(target)
            return
        if method in ("GET", "HEAD") and target.encode() in PAC_PATHS:
            self.ok("target", f"{target}: the PAC file, served by this proxy", "local")
            self.route = "local (PAC file)"
            return
        self.auth()
        if method == "CONNECT":
            authority = self.authority(target, "CONNECT")
            self.decide("connect_port", self.policy.check_connect_port(authority.port))
        else:
            authority = self.absolute(method, target)
        self.host(authority.host)
        self.reach(authority)

    def socks(self, target: str) -> None:
        self.auth()
        authority = self.authority(target, "SOCKS")
        if self.config.socks is None:
            self.ok("connect_port", "ports * (no [socks] section: no SOCKS listener)")
        elif self.config.socks.ports is None:
            self.ok("connect_port", "ports *")
        elif authority.port in self.config.socks.ports:
            self.ok("connect_port", f"ports {authority.port}")
        else:
            self.deny("connect_port", f"ports {authority.port} not listed ([socks])", 403)
        self.host(authority.host)
        self.reach(authority)

    def auth(self) -> None:
        path = self.fwd.auth_file
        if path is None:
            return
        if self.user is None:
            self.deny("auth", f"credentials required (auth_file {path})", 407)
        users = load_htpasswd(path, allow_plaintext=self.fwd.auth_plaintext)
        user = self.user
        if self.password is None:
            if user in users.users:
                self.ok("auth", f"auth_file {path}: user {user!r} exists (password not checked)")
            else:
                self.deny("auth", f"auth_file {path}: unknown user {user!r}", 407)
        elif users.verify(user, self.password):
            self.ok("auth", f"auth_file {path}: user {user!r}, password verified")
        elif user in users.users:
            self.deny("auth", f"auth_file {path}: wrong password for {user!r}", 407)
        else:
            self.deny("auth", f"auth_file {path}: unknown user {user!r}", 407)

    def authority(self, target: str, method: str) -> Authority:
        try:
            authority = parse_authority(target.encode(), None)
        except (RemoteProtocolError, UnicodeEncodeError) as e:
            self.deny("target", f"malformed {method} target: {e}", 400)
        form = "authority-form" if method == "CONNECT" else "SOCKS"
        self.ok("target", f"{form} {authority.netloc}")
        return authority

    def absolute(self, method: str, target: str) -> Authority:
        if method == "TRACE":
            self.deny("method", "TRACE is not allowed through this proxy", 405)
        try:
            parsed = parse_absolute_target(target.encode())
        except (RemoteProtocolError, UnicodeEncodeError) as e:
            self.deny("target", f"malformed request target: {e}", 400)
        if parsed is None:
            self.deny("target", f"{target}: not absolute-form (http://host/path)", 400)
        self.ok("target", f"absolute-form {parsed.authority.netloc}")
        if parsed.scheme != "http":
            self.deny("scheme", f"{parsed.scheme}:// is not supported; use CONNECT for https", 501)
        self.ok("scheme", "http")
        return parsed.authority

    def host(self, host: str) -> None:
        decision = self.policy.check_host(host)
        literal_rule = decision.rule.startswith("deny_destinations")
        self.decide("destination" if literal_rule else "domain", decision)

    def reach(self, authority: Authority) -> None:
        """Parents or direct; direct connections check every resolved address."""
        host = authority.host
        parents = ParentSelector(self.fwd.parent, self.fwd.parent_bypass, lambda: 0.0)
        if parents and not parents.goes_direct(host):
            first = parent_label(parents.candidates()[0])
            count = len(self.fwd.parent)
            self.ok("destination", f"not checked: parent {first} resolves and connects", SKIPPED)
            self.ok("route", f"parent {first} (first of {count})", "parent")
            self.route = f"parent {first}"
            return
        self.destinations(authority)
        bypass = HostPatterns(self.fwd.parent_bypass).match(normalize_host(host))
        if parents and bypass is not None:
            self.ok("route", f"parent_bypass {bypass}", "direct")
            self.route = f"direct (parent_bypass {bypass})"
        else:
            self.ok("route", "no parent configured", "direct")
            self.route = "direct"

    def destinations(self, authority: Authority) -> None:
        host, port = authority.host, authority.port
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        elif self.no_resolve:
            self.ok("destination", f"{host} not resolved (--no-resolve)", SKIPPED)
            return
        else:
            try:
                addresses = self.resolve(host)
            except (OSError, UnicodeError, ValueError) as e:
                self.deny("destination", f"{host} does not resolve ({e})", 502)
            if not addresses:
                self.deny("destination", f"{host} does not resolve (no addresses)", 502)
        for address in addresses:
            self.decide("destination", self.policy.check_destination(address, port))


def _own_addresses(config: Config) -> frozenset[tuple[str, int]]:
    """``(interface, port)`` of each ``[forward] listen``: requests to them are loops (508)."""
    own: set[tuple[str, int]] = set()
    for description in config.forward.listen if config.forward is not None else ():
        port = endpoint_port(description)
        if not port:
            continue
        words = [w.replace("\\", "") for w in _UNESCAPED_COLON.split(description)]
        named = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        own.add((named.get("interface", ""), port))
    return frozenset(own)
