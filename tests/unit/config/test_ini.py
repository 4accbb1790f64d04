"""Tests of proxyhub.config.ini: the line-numbered INI reader."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxyhub.config.ini import IniProblem, Value, parse_ini


def values(text: str) -> dict[str, dict[str, Value]]:
    """Parse ``text`` and return section -> key -> Value, asserting there were no problems."""
    result = parse_ini(text)
    assert result.problems == []
    return {name: section.values for name, section in result.sections.items()}


def test_sections_keys_and_lines() -> None:
    """Sections and keys come back in file order with the line of each key."""
    text = "[a]\nx = 1\n\n[b]\ny=2\nz = three words\n"
    result = parse_ini(text)
    assert list(result.sections) == ["a", "b"]
    assert result.sections["b"].line == 4
    assert values(text) == {
        "a": {"x": Value("1", 2)},
        "b": {"y": Value("2", 5), "z": Value("three words", 6)},
    }


def test_value_split_at_first_equals() -> None:
    """Only the first '=' separates key and value, so endpoint descriptions survive."""
    assert values("[f]\nlisten = tcp:3128:interface=127.0.0.1\n")["f"]["listen"] == Value(
        "tcp:3128:interface=127.0.0.1", 2
    )


def test_full_line_comments() -> None:
    """Lines starting with ';' or '#', indented or not, are ignored."""
    text = "; top\n# top\n[a]\n  ; indented comment\nx = 1\n# end\n"
    assert values(text) == {"a": {"x": Value("1", 5)}}


def test_inline_comments() -> None:
    """Whitespace then ';' or '#' starts a comment; without whitespace it is part of the value."""
    text = "[a]  ; header comment\nx = 1 ; one\ny = 2\t# two\nz = a;b#c\nw = ; only a comment\n"
    assert values(text) == {
        "a": {
            "x": Value("1", 2),
            "y": Value("2", 3),
            "z": Value("a;b#c", 4),
            "w": Value("", 5),
        }
    }


def test_empty_value() -> None:
    """A key with nothing after '=' has the empty string as its value."""
    assert values("[a]\nx =\n")["a"]["x"] == Value("", 2)


def test_continuation_lines() -> None:
    """Indented lines continue the value above, joined with a space; comments may sit between."""
    text = "[a]\nx = one\n    two ; 2\n  ; a comment\n\tthree\ny = 1\n"
    assert values(text)["a"] == {"x": Value("one two three", 2), "y": Value("1", 6)}


def test_continuation_of_empty_value() -> None:
    """A value may start on the continuation line."""
    assert values("[a]\nx =\n  10.0.0.0/8\n")["a"]["x"] == Value("10.0.0.0/8", 2)


def test_blank_line_ends_value() -> None:
    """After a blank line an indented line continues nothing and is reported."""
    result = parse_ini("[a]\nx = 1\n\n  2\n")
    assert result.sections["a"].values["x"] == Value("1", 2)
    assert result.problems == [
        IniProblem(4, "indented line does not continue a value; remove the indentation", "a")
    ]


def test_indented_line_after_header() -> None:
    """An indented key right after a header is reported, not silently accepted."""
    result = parse_ini("[a]\n  x = 1\n")
    assert result.problems == [
        IniProblem(2, "indented line does not continue a value; remove the indentation", "a")
    ]


def test_duplicate_section() -> None:
    """A second section of the same name is reported and the first one kept."""
    result = parse_ini("[a]\nx = 1\n[b]\n[a]\nx = 2\ny = 3\n")
    assert result.problems == [IniProblem(4, "duplicate section (first at line 1)", "a")]
    assert result.sections["a"].values == {"x": Value("1", 2)}


def test_duplicate_key() -> None:
    """A second key of the same name in one section is reported and the first one kept."""
    result = parse_ini("[a]\nx = 1\nx = 2\n")
    assert result.problems == [IniProblem(3, "duplicate key (first at line 2)", "a", "x")]
    assert result.sections["a"].values == {"x": Value("1", 2)}


def test_key_outside_section() -> None:
    """A key before the first header is reported."""
    result = parse_ini("x = 1\n[a]\n")
    assert result.problems == [
        IniProblem(1, "'x' is outside any section; put it under a [section]")
    ]


def test_line_without_equals() -> None:
    """A line that is neither header, comment nor 'key = value' is reported."""
    result = parse_ini("[a]\nlisten tcp:3128\n= 1\n")
    assert result.problems == [
        IniProblem(2, "expected 'key = value', got 'listen tcp:3128'", "a"),
        IniProblem(3, "expected 'key = value', got '= 1'", "a"),
    ]


def test_malformed_headers() -> None:
    """Unclosed and empty headers are reported; keys under them belong to no section."""
    result = parse_ini("[a\nx = 1\n[]\n[b] c\n")
    assert [p.line for p in result.problems] == [1, 3, 4]
    assert result.problems[0] == IniProblem(1, "malformed section header '[a'; expected [name]")
    assert result.sections == {}


def test_header_name_is_stripped() -> None:
    """Blanks inside the brackets are not part of the section name."""
    assert list(parse_ini("[ host:example.com ]\n").sections) == ["host:example.com"]


def test_crlf_and_bom() -> None:
    """Windows line ends and a UTF-8 byte order mark are accepted."""
    assert values("\ufeff[a]\r\nx = 1\r\n") == {"a": {"x": Value("1", 2)}}


@given(st.text())
def test_never_raises(text: str) -> None:
    """Any text parses to sections and problems without raising."""
    result = parse_ini(text)
    for problem in result.problems:
        assert problem.line >= 1
