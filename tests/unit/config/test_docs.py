"""The operator docs must match the configuration schema, so that they cannot drift apart.

``docs/configuration.md`` is parsed, not grepped: a ``## `` heading naming ``[section]`` (or
``[host:NAME]`` for the virtual host family) opens a section, and each key is a
``### `key` `` heading under it followed by a ``- Default: ...`` line, where the default is
the schema's text in backticks, ``(empty)`` for an empty default, and ``(computed)`` or
``(required)`` when the schema has none. Fenced code blocks are skipped.

Also checked here: that ``etc/proxy.ini`` mentions the keys of the sections its own tests
(test_example.py, test_example_reverse.py) do not cover, and that ``etc/proxyhub.service``
is a usable systemd unit.
"""

from __future__ import annotations

import configparser
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from proxyhub.config.schema import HOST_KEYS, HOST_PREFIX, HOST_SECTION, SECTIONS, Key
from proxyhub.config.units import parse_duration

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "etc" / "proxy.ini"
UNIT = ROOT / "etc" / "proxyhub.service"
DOC_NAME = "docs/configuration.md"
EXAMPLE_NAME = "etc/proxy.ini"

# Every section of the schema, the [host:...] family under one name.
SCHEMA: dict[str, tuple[Key, ...]] = {**SECTIONS, HOST_SECTION: HOST_KEYS}

# Sections whose keys test_example.py / test_example_reverse.py already match against
# etc/proxy.ini exactly; the check here covers every other (e.g. newly added) section.
EXAMPLE_COVERED = frozenset({"proxyhub", "forward", "reverse", HOST_SECTION})

HOW_TO = (
    "(each key is a '### `key`' heading under its '## [section]' heading, followed by a "
    "'- Default: `TEXT`' line; (empty) for an empty default, (computed) or (required) for none)"
)

_FENCE = re.compile(r"^\s*(```|~~~)")
_SECTION_HEADING = re.compile(r"^##\s+(?P<title>.*?)\s*$")
_KEY_HEADING = re.compile(r"^###\s+`(?P<key>[^`]+)`\s*$")
_OTHER_HEADING = re.compile(r"^#{1,6}\s")
_BRACKETED = re.compile(r"\[(?P<name>[a-z][\w.:/*-]*)\](?!\()")
_FIELD = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?(?P<field>Default|Values):(?:\*\*)?\s*(?P<rest>.*)$")
_SHOWN = re.compile(r"`(?P<code>[^`]*)`|\((?P<word>[a-z]+)\)")


@dataclass
class KeyEntry:
    """One documented key: where its heading is, and its Default and Values lines."""

    line: int
    defaults: list[str] = field(default_factory=list)  # as shown: "`10s`", "(empty)", "?..."
    has_values: bool = False


@dataclass
class Reference:
    """What the reference documents: section headings, keys per section, layout problems."""

    headings: dict[str, int] = field(default_factory=dict)
    keys: dict[str, dict[str, KeyEntry]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # sections or keys the schema lacks
    problems: list[str] = field(default_factory=list)  # layout: duplicates, missing lines


def _label(section: str) -> str:
    """``[forward]``; the host family is shown as ``[host:NAME]``."""
    return f"[{section}]"


def _section_of(name: str) -> str | None:
    """The schema section a bracketed heading name stands for, or None if it has none."""
    if name in SECTIONS:
        return name
    if name.startswith(HOST_PREFIX):
        return HOST_SECTION
    return None


def _shown_default(rest: str) -> str:
    """The default as written after ``Default:``: ```text``` or ``(word)``, else ``?rest``."""
    match = _SHOWN.match(rest)
    if match is None:
        return "?" + rest
    if match["word"] is not None:
        return f"({match['word']})"
    return f"`{match['code']}`"


def expected_defaults(key: Key) -> tuple[str, ...]:
    """How the reference may show ``key``'s default."""
    if key.default is None:
        return ("(computed)", "(required)")
    if key.default == "":
        return ("(empty)",)
    return (f"`{key.default}`",)


def parse_reference(text: str) -> Reference:
    """Read the sections, keys and defaults that ``text`` documents."""
    ref = Reference()
    section: str | None = None
    entry: KeyEntry | None = None
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{DOC_NAME}:{number}"
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _SECTION_HEADING.match(line)
        if heading is not None:
            section, entry = _open_section(ref, heading["title"], where, number)
            continue
        key = _KEY_HEADING.match(line)
        if key is not None:
            entry = _open_key(ref, section, key["key"], where, number)
            continue
        if _OTHER_HEADING.match(line):
            entry = None
            continue
        found = _FIELD.match(line)
        if found is not None and entry is not None:
            if found["field"] == "Default":
                entry.defaults.append(_shown_default(found["rest"]))
            else:
                entry.has_values = True
    return ref


def _open_section(
    ref: Reference, title: str, where: str, number: int
) -> tuple[str | None, KeyEntry | None]:
    """A ``## `` heading: the section it documents (None for prose headings)."""
    names = [match["name"] for match in _BRACKETED.finditer(title)]
    sections = {_section_of(name) for name in names}
    if None in sections:
        stale = [name for name in names if _section_of(name) is None]
        ref.unknown.append(
            f"{where}: heading '## {title}' documents {', '.join(f'[{n}]' for n in stale)}, "
            "which the schema does not have (renamed or removed?)"
        )
        return None, None
    if len(sections) > 1:
        ref.problems.append(f"{where}: heading '## {title}' names several sections; split it")
        return None, None
    if not sections:
        return None, None
    (section,) = sections
    assert section is not None
    first = ref.headings.setdefault(section, number)
    if first != number:
        ref.problems.append(f"{where}: {_label(section)} has a second heading (first at {first})")
    ref.keys.setdefault(section, {})
    return section, None


def _open_key(
    ref: Reference, section: str | None, name: str, where: str, number: int
) -> KeyEntry | None:
    """A ``### `key` `` heading: a key of the current section."""
    if section is None:
        ref.problems.append(f"{where}: key heading `{name}` is not under a '## [section]' heading")
        return None
    keys = ref.keys[section]
    if name in keys:
        first = keys[name].line
        ref.problems.append(
            f"{where}: {_label(section)} {name} is documented twice (first at line {first})"
        )
        return None
    if name not in {key.name for key in SCHEMA[section]}:
        ref.unknown.append(
            f"{where}: {_label(section)} {name} is documented but is not a key of "
            f"{_label(section)} in the schema (renamed or removed?); update or remove it"
        )
    keys[name] = KeyEntry(number)
    return keys[name]


@pytest.fixture(scope="module")
def reference() -> Reference:
    """docs/configuration.md, parsed."""
    assert DOC.is_file(), f"{DOC_NAME} is missing"
    return parse_reference(DOC.read_text(encoding="utf-8"))


def _report(problems: list[str]) -> str:
    """An assertion message: one problem per line."""
    return "\n" + "\n".join(problems)


@pytest.mark.parametrize("section", list(SCHEMA))
def test_section_has_heading(reference: Reference, section: str) -> None:
    """Every section of the schema, and the [host:...] family, has a '## [section]' heading."""
    label = "[host:NAME] and [host:NAME/prefix/]" if section == HOST_SECTION else _label(section)
    assert section in reference.headings, (
        f"{DOC_NAME}: section {_label(section)} has no heading; add '## {label}' "
        f"with its keys {HOW_TO}"
    )


@pytest.mark.parametrize("section", list(SCHEMA))
def test_keys_documented_with_defaults(reference: Reference, section: str) -> None:
    """Every key of the section is documented under it with the schema's default text."""
    documented = reference.keys.get(section, {})
    problems = []
    for key in SCHEMA[section]:
        shown = expected_defaults(key)
        hint = " or ".join(shown)
        entry = documented.get(key.name)
        if entry is None:
            problems.append(
                f"{DOC_NAME}: {_label(section)} {key.name} is not documented; "
                f"add it with default {hint}"
            )
        elif not entry.defaults:
            problems.append(
                f"{DOC_NAME}:{entry.line}: {_label(section)} {key.name} has no "
                f"'- Default:' line; add '- Default: {shown[0]}'"
            )
        elif len(entry.defaults) > 1:
            problems.append(
                f"{DOC_NAME}:{entry.line}: {_label(section)} {key.name} has "
                f"{len(entry.defaults)} 'Default:' lines; keep one"
            )
        elif entry.defaults[0].startswith("?"):
            problems.append(
                f"{DOC_NAME}:{entry.line}: {_label(section)} {key.name}: cannot read the "
                f"default {entry.defaults[0][1:]!r}; write '- Default: {shown[0]}'"
            )
        elif entry.defaults[0] not in shown:
            problems.append(
                f"{DOC_NAME}:{entry.line}: {_label(section)} {key.name}: the documented "
                f"default is {entry.defaults[0]} but the schema's is {hint}"
            )
    assert not problems, _report(problems) + "\n" + HOW_TO


def test_no_unknown_sections_or_keys(reference: Reference) -> None:
    """The reference documents no section or key that the schema does not have."""
    assert not reference.unknown, _report(reference.unknown)


def test_reference_layout(reference: Reference) -> None:
    """Each key is documented once, under a section, with a 'Values:' line."""
    problems = list(reference.problems)
    for section, keys in reference.keys.items():
        for name, entry in keys.items():
            if not entry.has_values:
                problems.append(
                    f"{DOC_NAME}:{entry.line}: {_label(section)} {name} has no '- Values:' "
                    "line saying what it accepts"
                )
    assert not problems, _report(problems)


def test_parser_reads_the_layout() -> None:
    """The reference parser finds sections, keys and defaults, and skips code blocks."""
    text = "\n".join(
        [
            "# Title",
            "## The file",
            "### `stray` is prose here",
            "## [forward]",
            "```ini",
            "## [nonsense]",
            "```",
            "### `via`",
            "- Default: `yes`",
            "- Values: a boolean.",
            "### `parent`",
            "- **Default:** (empty): connect directly.",
            "## [host:NAME] and [host:NAME/prefix/]",
            "### `backends`",
            "Default: (required)",
            "## [cachex]",
            "### `size`",
        ]
    )
    ref = parse_reference(text)
    assert ref.headings == {"forward": 4, HOST_SECTION: 13}
    assert {s: {k: e.defaults for k, e in keys.items()} for s, keys in ref.keys.items()} == {
        "forward": {"via": ["`yes`"], "parent": ["(empty)"]},
        HOST_SECTION: {"backends": ["(required)"]},
    }
    assert ref.keys["forward"]["via"].has_values
    assert len(ref.unknown) == 1 and "[cachex]" in ref.unknown[0]
    assert len(ref.problems) == 1 and "`size`" in ref.problems[0]


# -- etc/proxy.ini ----------------------------------------------------------------------------

_INI_HEADER = re.compile(r"^[;#]?\s*\[(?P<name>[^\[\]\s]+)\]")
_INI_KEY = re.compile(r"^[;#]?\s*(?P<key>[a-z_]+)\s*=")


def example_keys() -> dict[str, set[str]]:
    """The keys etc/proxy.ini mentions (commented out or not) under each section header."""
    found: dict[str, set[str]] = {}
    section: str | None = None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header = _INI_HEADER.match(line)
        if header is not None:
            section = _section_of(header["name"]) or header["name"]
            found.setdefault(section, set())
            continue
        key = _INI_KEY.match(line)
        if key is not None and section is not None:
            found[section].add(key["key"])
    return found


@pytest.mark.parametrize("section", [s for s in SCHEMA if s not in EXAMPLE_COVERED])
def test_example_mentions_every_key(section: str) -> None:
    """Every key of a section not covered by test_example*.py appears in etc/proxy.ini."""
    found = example_keys()
    assert section in found, (
        f"{EXAMPLE_NAME}: no {_label(section)} section, not even commented out; "
        f"add '; [{section}]' with its keys"
    )
    problems = [
        f"{EXAMPLE_NAME}: [{section}] {key.name} is not mentioned; add it under "
        f"[{section}] (commented out is fine: ';{key.name} = {key.default or ''}')"
        for key in SCHEMA[section]
        if key.name not in found[section]
    ]
    assert not problems, _report(problems)


# -- etc/proxyhub.service -----------------------------------------------------------------------


def read_unit() -> configparser.ConfigParser:
    """etc/proxyhub.service read as INI (systemd allows repeated keys, so not strict)."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(UNIT.read_text(encoding="utf-8"), source=str(UNIT))
    return unit


def test_unit_runs_proxyhub() -> None:
    """The systemd unit parses as INI and its ExecStart runs `proxyhub --config FILE`."""
    unit = read_unit()
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0].endswith("twistd"), argv
    at = argv.index("proxyhub")
    assert argv[at + 1] == "--config" and argv[at + 2].endswith(".ini"), argv


def test_unit_outwaits_drain() -> None:
    """The unit's TimeoutStopSec is longer than the default drain_timeout."""
    stop = read_unit()["Service"]["TimeoutStopSec"]
    seconds = int(stop) if stop.isdigit() else parse_duration(stop)
    (drain,) = (key for key in SECTIONS["proxyhub"] if key.name == "drain_timeout")
    assert drain.default is not None
    assert seconds > parse_duration(drain.default), (stop, drain.default)
