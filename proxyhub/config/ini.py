"""A small, strict INI reader that remembers where every section and value came from.

The syntax is deliberately plain:

- ``[name]`` starts a section; ``key = value`` sets a key (split at the first ``=``);
- lines whose first non-blank character is ``;`` or ``#`` are comments;
- ``;`` or ``#`` preceded by whitespace starts an inline comment;
- an indented line continues the value above it (joined with one space); comment lines
  may sit between continuation lines, a blank line ends the value;
- a second section of the same name, or a second key of the same name in one section,
  is an error (the first one is kept).

:func:`parse_ini` never raises on bad input: it returns what it could read plus the list of
problems, so the caller can report every problem of the file at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

_INLINE_COMMENT = re.compile(r"\s[;#]")
_HEADER = re.compile(r"\[(?P<name>[^\[\]]*)\]")


class Value(NamedTuple):
    """One ``key = value`` setting: the text after ``=`` and the line number of the key."""

    text: str
    line: int


@dataclass
class Section:
    """One ``[name]`` section: its header line and its keys, in file order."""

    name: str
    line: int
    values: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class IniProblem:
    """A syntax problem at ``line``, inside ``section`` (None before the first header)."""

    line: int
    message: str
    section: str | None = None
    key: str | None = None


@dataclass
class IniFile:
    """What :func:`parse_ini` read: the sections in file order and the problems found."""

    sections: dict[str, Section] = field(default_factory=dict)
    problems: list[IniProblem] = field(default_factory=list)


def _strip_comment(text: str) -> str:
    """Drop an inline comment (whitespace then ``;`` or ``#``) and surrounding blanks."""
    match = _INLINE_COMMENT.search(text)
    if match is not None:
        text = text[: match.start()]
    return text.strip()


class _Reader:
    """The line-by-line state machine behind :func:`parse_ini`."""

    def __init__(self) -> None:
        self.result = IniFile()
        self.section: Section | None = None
        self.key: str | None = None  # the key an indented line would continue

    def problem(self, line: int, message: str, key: str | None = None) -> None:
        """Record a problem in the current section."""
        name = self.section.name if self.section is not None else None
        self.result.problems.append(IniProblem(line, message, name, key))

    def feed(self, number: int, raw: str) -> None:
        """Consume one physical line."""
        stripped = raw.strip()
        if not stripped:
            self.key = None
        elif stripped[0] in ";#":
            pass
        elif raw[0] in " \t":
            self.continuation(number, stripped)
        elif stripped.startswith("["):
            self.key = None
            self.header(number, stripped)
        else:
            self.setting(number, stripped)

    def continuation(self, number: int, stripped: str) -> None:
        """An indented line: append it to the value being read."""
        if self.section is None or self.key is None:
            self.key = None
            self.problem(number, "indented line does not continue a value; remove the indentation")
            return
        extra = _strip_comment(stripped)
        if extra:
            old = self.section.values[self.key]
            joined = f"{old.text} {extra}" if old.text else extra
            self.section.values[self.key] = Value(joined, old.line)

    def header(self, number: int, stripped: str) -> None:
        """A ``[name]`` line: open a new section."""
        match = _HEADER.fullmatch(_strip_comment(stripped))
        name = match["name"].strip() if match is not None else ""
        if match is None or not name:
            # Keys below a broken header are read (for syntax) but belong to no section.
            self.section = Section(stripped, number)
            message = f"malformed section header {stripped!r}; expected [name]"
            self.result.problems.append(IniProblem(number, message))
            return
        first = self.result.sections.get(name)
        self.section = Section(name, number)
        if first is None:
            self.result.sections[name] = self.section
        else:
            self.problem(number, f"duplicate section (first at line {first.line})")

    def setting(self, number: int, stripped: str) -> None:
        """A ``key = value`` line."""
        self.key = None
        key, equals, rest = stripped.partition("=")
        key = key.strip()
        if not equals or not key or any(c.isspace() for c in key):
            self.problem(number, f"expected 'key = value', got {stripped!r}")
            return
        if self.section is None:
            self.problem(number, f"{key!r} is outside any section; put it under a [section]")
            return
        first = self.section.values.get(key)
        if first is not None:
            self.problem(number, f"duplicate key (first at line {first.line})", key)
            return
        self.section.values[key] = Value(_strip_comment(rest), number)
        self.key = key


def parse_ini(text: str) -> IniFile:
    """Read INI ``text``; line numbers start at 1. Never raises on malformed input."""
    reader = _Reader()
    text = text.removeprefix("\ufeff")
    for number, raw in enumerate(text.split("\n"), start=1):
        reader.feed(number, raw.rstrip("\r"))
    return reader.result
