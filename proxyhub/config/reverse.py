"""The reverse proxy's sections: ``[reverse]`` and the virtual hosts ``[host:...]``.

A host section is ``[host:NAME]`` (the whole host) or ``[host:NAME/prefix/]`` (a path route
under it). NAME is ``example.com``, ``*.example.com`` or ``*`` (the default host), matched
case-insensitively. Rules checked here, beyond the values of single keys:

- every route has its own ``backends`` (a path route inherits nothing but the host's aliases,
  and its host section need not exist);
- a prefix starts and ends with ``/``, is not ``/`` itself, and has no empty, ``.`` or ``..``
  segment; ``aliases`` are only set on ``[host:NAME]``; ``strip_prefix`` only on path routes;
- a name or alias belongs to one host only, a route is declared once, and a path route is
  written under the host's name, not under one of its aliases;
- host sections need ``[reverse]``, and ``[reverse]`` needs host sections, a listener, and
  certificates for ``tls_listen`` (and ``tls_listen`` for certificates and redirects).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from proxyhub.config.ini import Section
from proxyhub.config.model import Backend, HostRoute, ReverseSettings
from proxyhub.config.report import Report
from proxyhub.config.schema import HOST_PREFIX
from proxyhub.config.values import domain_pattern, matching_files

_SEGMENT = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+"
_PREFIX = re.compile(rf"(?:/{_SEGMENT})+/")


@dataclass(eq=False)
class HostSection:
    """One host section as read: the INI section, its parsed values, its name and prefix.

    ``name`` is None when the section header itself is bad (already reported).
    """

    section: Section
    values: dict[str, Any]
    name: str | None = None
    prefix: str = "/"

    def line_of(self, key: str) -> int:
        """The line of ``key``, or of the section header when the key is left out."""
        value = self.section.values.get(key)
        return value.line if value is not None else self.section.line


def parse_host_header(section_name: str) -> tuple[str, str]:
    """Split ``host:NAME[/prefix/]`` into a normalized name and a prefix; ``ValueError``."""
    name, slash, tail = section_name.removeprefix(HOST_PREFIX).partition("/")
    if not name:
        raise ValueError("missing host name; expected [host:NAME] or [host:NAME/prefix/]")
    try:
        pattern = domain_pattern(name)
    except ValueError:
        hint = "use example.com, *.example.com or *"
        raise ValueError(f"not a host name ({hint}): {name!r}") from None
    if not slash:
        return pattern, "/"
    prefix = slash + tail
    if prefix == "/":
        raise ValueError(f"the path prefix '/' is the host itself; write [host:{name}]")
    if not prefix.endswith("/"):
        raise ValueError(f"path prefix must end with '/': {prefix!r}; write [host:{name}{prefix}/]")
    if not _PREFIX.fullmatch(prefix) or {".", ".."} & set(prefix.split("/")):
        raise ValueError(
            f"not a path prefix: {prefix!r} (expected /segment/.../ without spaces, "
            "?, #, empty or dot segments)"
        )
    return pattern, prefix


def check_hosts(report: Report, hosts: list[HostSection], has_reverse: bool) -> None:
    """Parse the headers of ``hosts`` (filling in name and prefix) and report every problem."""
    for host in hosts:
        try:
            host.name, host.prefix = parse_host_header(host.section.name)
        except ValueError as exc:
            report.add(str(exc), host.section.line, host.section.name)
        _check_keys(report, host)
    _check_names(report, [host for host in hosts if host.name is not None])
    if hosts and not has_reverse:
        first = hosts[0].section
        hint = "add a [reverse] section with listen = ..."
        report.add(f"host sections need a [reverse] listener: {hint}", first.line, first.name)


def _check_keys(report: Report, host: HostSection) -> None:
    """Problems of one section's keys taken together."""
    name = host.section.name
    if "backends" not in host.section.values:
        report.add("no backends: add backends = http://HOST:PORT", host.section.line, name)
    _check_duplicate_backends(report, host)
    if host.name is None:
        return
    if host.prefix != "/" and "aliases" in host.section.values:
        message = f"aliases belong in [host:{host.name}] (path routes share its names)"
        report.add(message, host.line_of("aliases"), name, "aliases")
    if host.prefix == "/" and host.values.get("strip_prefix") is True:
        message = "only path routes ([host:NAME/prefix/]) strip a prefix"
        report.add(message, host.line_of("strip_prefix"), name, "strip_prefix")


def _check_duplicate_backends(report: Report, host: HostSection) -> None:
    """A backend listed twice (``http://a`` and ``http://a:80`` are the same) is a problem."""
    seen: set[Backend] = set()
    for backend in host.values.get("backends") or ():
        if backend in seen:
            message = f"{backend.url!r} is listed twice"
            report.add(message, host.line_of("backends"), host.section.name, "backends")
        seen.add(backend)


def _check_names(report: Report, hosts: list[HostSection]) -> None:
    """Names and aliases have one owner; routes are unique; path routes use the host's name."""
    owners: dict[str, tuple[HostSection, int]] = {}
    for host in hosts:
        if host.prefix == "/":
            assert host.name is not None
            _claim(report, owners, host.name, host, None)
            for alias in host.values.get("aliases") or ():
                _claim(report, owners, alias, host, "aliases")
    routes: dict[tuple[str, str], HostSection] = {}
    for host in hosts:
        if host.prefix == "/":
            continue
        assert host.name is not None
        where = host.section.line, host.section.name
        owner = owners.get(host.name)
        if owner is not None and owner[0].name != host.name:
            hint = f"write [host:{owner[0].name}{host.prefix}]"
            first_at = f"[{owner[0].section.name}] (line {owner[1]})"
            report.add(f"{host.name!r} is an alias of {first_at}; {hint}", *where)
        first = routes.setdefault((host.name, host.prefix), host)
        if first is not host:
            report.add(f"same route as [{first.section.name}] (line {first.section.line})", *where)


def _claim(
    report: Report,
    owners: dict[str, tuple[HostSection, int]],
    name: str,
    host: HostSection,
    key: str | None,
) -> None:
    """Make ``host`` the owner of ``name``, or report the earlier owner."""
    line = host.line_of(key) if key is not None else host.section.line
    first = owners.get(name)
    if first is None:
        owners[name] = (host, line)
        return
    where = f"[{first[0].section.name}] (line {first[1]})"
    report.add(f"{name!r} is already a name of {where}", line, host.section.name, key)


def check_reverse(
    report: Report, section: Section, values: dict[str, Any], has_hosts: bool
) -> None:
    """Problems of ``[reverse]`` taken as a whole (single values are checked already)."""

    def add(message: str, key: str | None = None) -> None:
        value = section.values.get(key) if key is not None else None
        report.add(message, value.line if value is not None else section.line, section.name, key)

    tls = values.get("tls_listen")
    certificates = values.get("certificates")
    if values.get("listen") == () and tls == ():
        add("must not be empty unless tls_listen is set", "listen")
    if tls and certificates == ():
        add("needs certificates (PEM files holding key, leaf and chain); "
            "add certificates = PATTERN", "tls_listen")  # fmt: skip
    if certificates and tls == ():
        add("not used without tls_listen; add tls_listen = ... or remove this key", "certificates")
    if values.get("redirect_to_https") and tls == ():
        add("needs tls_listen to redirect to", "redirect_to_https")
    if values.get("hsts_max_age") and tls == ():
        add("needs tls_listen: the header is only sent over HTTPS", "hsts_max_age")
    if not has_hosts:
        add("no virtual hosts: add a [host:NAME] or [host:*] section with backends = ...")


def build_reverse(values: dict[str, Any]) -> ReverseSettings:
    """The ``[reverse]`` record from valid values; the certificate patterns are expanded."""
    files = {path for pattern in values["certificates"] for path in matching_files(pattern)}
    return ReverseSettings(**values, certificate_files=tuple(sorted(files)))


def build_routes(hosts: list[HostSection]) -> tuple[HostRoute, ...]:
    """The routes, in file order, from valid host sections; path routes get the host's aliases."""
    aliases = {host.name: host.values["aliases"] for host in hosts if host.prefix == "/"}
    routes = []
    for host in hosts:
        assert host.name is not None
        values = {**host.values, "aliases": aliases.get(host.name, ())}
        routes.append(HostRoute(name=host.name, prefix=host.prefix, **values))
    return tuple(routes)
