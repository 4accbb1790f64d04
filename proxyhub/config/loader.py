"""Read the INI file into frozen :mod:`proxyhub.config.model` records, or fail with every problem.

Nothing half-valid comes out: :func:`parse_config_text` either returns a complete
:class:`~proxyhub.config.model.Config` or raises :class:`ConfigError` listing every problem
of the file, one per line, as ``{path}:{line}: [{section}] {key}: {message}``
(``{key}: `` is left out for problems of a whole section, ``[{section}] `` too for problems
of a line outside any section, and ``:{line}`` for problems of the whole file).

The reverse proxy's sections (``[reverse]``, ``[host:...]``) are checked as a whole in
:mod:`proxyhub.config.reverse`.
"""

from __future__ import annotations

import difflib
import os
import socket
from typing import Any

from proxyhub.config.ini import Section, parse_ini
from proxyhub.config.model import (
    CacheSettings,
    Config,
    ForwardSettings,
    ProxyhubSettings,
    ReverseSettings,
    SocksSettings,
)
from proxyhub.config.report import Report
from proxyhub.config.reverse import (
    HostSection,
    build_reverse,
    build_routes,
    check_hosts,
    check_reverse,
)
from proxyhub.config.schema import (
    HOST_KEYS,
    HOST_PREFIX,
    HOST_SECTION,
    PLANNED_SECTIONS,
    SECTIONS,
    Key,
    sections_of,
)
from proxyhub.config.values import BadItems, endpoint_port
from proxyhub.policy.htpasswd import HtpasswdError, load_htpasswd
from proxyhub.textfile import TextFileError, read_utf8

LISTENER_SECTIONS = ("forward", "socks", "reverse")


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` holds one human-readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the configuration file at ``path``; raise :class:`ConfigError`."""
    try:
        text = read_utf8(path)
    except TextFileError as e:
        raise ConfigError([str(e)]) from None
    return parse_config_text(text, os.fspath(path))


def parse_config_text(text: str, path: str = "<string>") -> Config:
    """Validate configuration ``text``; ``path`` is only used in messages and ``Config.path``."""
    report = Report(path)
    ini = parse_ini(text)
    for problem in ini.problems:
        report.add(problem.message, problem.line, problem.section, problem.key)
    read: dict[str, dict[str, Any]] = {}
    hosts: list[HostSection] = []
    for section in ini.sections.values():
        keys = SECTIONS.get(section.name)
        if keys is not None:
            read[section.name] = _read_section(report, section, keys)
        elif section.name.startswith(HOST_PREFIX):
            hosts.append(HostSection(section, _read_section(report, section, HOST_KEYS)))
        else:
            _check_other_section(report, section)
    check_hosts(report, hosts, "reverse" in read)
    if "reverse" in read:
        check_reverse(report, ini.sections["reverse"], read["reverse"], bool(hosts))
    if "cache" in read:
        _check_cache(report, ini.sections["cache"], read["cache"])
    if read.get("forward", {}).get("auth_file"):
        _check_auth_file(report, ini.sections["forward"], read["forward"])
    if not any(name in ini.sections for name in LISTENER_SECTIONS):
        report.add(
            "nothing to serve: add a [forward], [socks] or [reverse] section with listen = ..."
        )
    problems = report.problems()
    if problems:
        raise ConfigError(problems)
    return _build(path, read, hosts)


def _build(path: str, read: dict[str, dict[str, Any]], hosts: list[HostSection]) -> Config:
    """Make the records from fully validated values."""
    forward = ForwardSettings(**read["forward"]) if "forward" in read else None
    reverse = build_reverse(read["reverse"]) if "reverse" in read else None
    socks = SocksSettings(**read["socks"]) if "socks" in read else None
    proxyhub = read.get("proxyhub") or _read_defaults(SECTIONS["proxyhub"])
    if proxyhub["name"] is None:
        proxyhub["name"] = _default_name(forward, reverse, socks)
    settings = ProxyhubSettings(**proxyhub)
    cache = CacheSettings(**read["cache"]) if "cache" in read else None
    return Config(path, settings, forward, reverse, build_routes(hosts), socks, cache)


def forward_rules(config: Config) -> ForwardSettings:
    """The [forward] settings whose access rules also govern [socks]: defaults when absent."""
    if config.forward is not None:
        return config.forward
    return ForwardSettings(**_read_defaults(SECTIONS["forward"]))


def _default_name(
    forward: ForwardSettings | None,
    reverse: ReverseSettings | None,
    socks: SocksSettings | None = None,
) -> str:
    """``{hostname}:{port}`` of the first listener, or the bare hostname when it has no port.

    The first listener is the first of [forward] ``listen``, else of [reverse] ``listen``,
    else of [reverse] ``tls_listen``.
    """
    host = socket.gethostname()
    listeners: tuple[str, ...] = ()
    if forward is not None:
        listeners = forward.listen
    elif reverse is not None:
        listeners = reverse.listen + reverse.tls_listen
    elif socks is not None:
        listeners = socks.listen
    port = endpoint_port(listeners[0]) if listeners else None
    return host if port is None else f"{host}:{port}"


def _check_auth_file(report: Report, section: Section, values: dict[str, Any]) -> None:
    """Report every problem of the htpasswd file (never its hashes) at the auth_file line."""
    try:
        load_htpasswd(values["auth_file"], allow_plaintext=values["auth_plaintext"])
    except HtpasswdError as e:
        line = section.values["auth_file"].line
        for problem in e.problems:
            report.add(problem, line, "forward", "auth_file")


def _check_cache(report: Report, section: Section, values: dict[str, Any]) -> None:
    """An object larger than the whole store could never be stored."""
    memory, largest = values.get("memory_size"), values.get("max_object_size")
    if memory is not None and largest is not None and largest > memory:
        setting = section.values.get("max_object_size") or section.values.get("memory_size")
        line = setting.line if setting is not None else section.line
        key = "max_object_size" if "max_object_size" in section.values else "memory_size"
        report.add("max_object_size must not be larger than memory_size", line, "cache", key)


def _read_defaults(keys: tuple[Key, ...]) -> dict[str, Any]:
    """A section that is absent: every key at its default."""
    return {key.name: key.parse(key.default) if key.default is not None else None for key in keys}


def _read_section(report: Report, section: Section, keys: tuple[Key, ...]) -> dict[str, Any]:
    """Parse every key of ``section`` (defaults for those left out), reporting bad ones."""
    known = {key.name: key for key in keys}
    for name, setting in section.values.items():
        if name not in known:
            report.add(_unknown_key(name, keys), setting.line, section.name, name)
    result: dict[str, Any] = {}
    for key in keys:
        value = section.values.get(key.name)
        if value is None:
            result[key.name] = key.parse(key.default) if key.default is not None else None
            continue
        try:
            result[key.name] = key.parse(value.text)
        except BadItems as exc:
            for message in exc.messages:
                report.add(message, value.line, section.name, key.name)
        except ValueError as exc:
            report.add(str(exc), value.line, section.name, key.name)
    return result


def _unknown_key(name: str, keys: tuple[Key, ...]) -> str:
    """The message for an unknown key, with a hint where one helps."""
    homes = sections_of(name)
    if homes:
        named = [f"[{home}]" for home in homes]
        places = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]
        return f"unknown key; {name!r} belongs in {places}"
    return "unknown key" + _did_you_mean(name, [key.name for key in keys])


def _check_other_section(report: Report, section: Section) -> None:
    """Report a section that is planned but not supported yet, or unknown."""
    name = section.name
    if name in PLANNED_SECTIONS:
        report.add("this section is not supported yet", section.line, name)
        return
    candidates = [*SECTIONS, *PLANNED_SECTIONS]
    if ":" in name:
        candidates.append(HOST_PREFIX + name.partition(":")[2])
    hint = _did_you_mean(name, candidates)
    if not hint:
        hint = "; expected " + ", ".join(f"[{known}]" for known in [*SECTIONS, HOST_SECTION])
    report.add("unknown section" + hint, section.line, name)


def _did_you_mean(name: str, candidates: list[str]) -> str:
    """``"; did you mean 'X'?"`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, candidates, n=1)
    if not close:
        close = difflib.get_close_matches(name.lower(), candidates, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
