"""Tests of the virtual host sections: names, prefixes, inheritance and conflicts between them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.config import Backend, Config, ConfigError
from proxyhub.config.reverse import parse_host_header
from proxyhub.config.schema import HOST_KEYS

from .conftest import load, make, problems
from .test_reverse import HOST, REVERSE, host, only_route


@pytest.mark.parametrize(
    ("section", "name", "prefix"),
    [
        ("host:example.com", "example.com", "/"),
        ("host:Example.COM.", "example.com", "/"),
        ("host:*.example.com", "*.example.com", "/"),
        ("host:*", "*", "/"),
        ("host:localhost", "localhost", "/"),
        ("host:10.0.0.1", "10.0.0.1", "/"),
        ("host:example.com/api/", "example.com", "/api/"),
        ("host:*/static/", "*", "/static/"),
        ("host:example.com/api/v1/", "example.com", "/api/v1/"),
        ("host:example.com/~me/a%20b/", "example.com", "/~me/a%20b/"),
        ("host:example.com/a.b/@x:y/", "example.com", "/a.b/@x:y/"),
    ],
)
def test_host_header_accepted(section: str, name: str, prefix: str) -> None:
    """Host section names give a lower-case host pattern and a path prefix ('/' for a host)."""
    assert parse_host_header(section) == (name, prefix)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("host:", "missing host name; expected [host:NAME] or [host:NAME/prefix/]"),
        ("host:/api/", "missing host name; expected [host:NAME] or [host:NAME/prefix/]"),
        ("host:bad name", "not a host name (use example.com, *.example.com or *): 'bad name'"),
        ("host:example.com:8080", "not a host name (use example.com, *.example.com or *): "
         "'example.com:8080'"),
        ("host:a.*.com", "not a host name (use example.com, *.example.com or *): 'a.*.com'"),
        ("host:example.com/", "the path prefix '/' is the host itself; write [host:example.com]"),
        ("host:example.com/api", "path prefix must end with '/': '/api'; "
         "write [host:example.com/api/]"),
        ("host:x/a b/", "not a path prefix: '/a b/' (expected /segment/.../ without spaces, "
         "?, #, empty or dot segments)"),
        ("host:x/a//", "not a path prefix: '/a//' (expected /segment/.../ without spaces, "
         "?, #, empty or dot segments)"),
        ("host:x/a/../", "not a path prefix: '/a/../' (expected /segment/.../ without spaces, "
         "?, #, empty or dot segments)"),
        ("host:x/./", "not a path prefix: '/./' (expected /segment/.../ without spaces, "
         "?, #, empty or dot segments)"),
        ("host:x/a?b/", "not a path prefix: '/a?b/' (expected /segment/.../ without spaces, "
         "?, #, empty or dot segments)"),
        ("host:x/%zz/", "not a path prefix: '/%zz/' (expected /segment/.../ without spaces, "
         "?, #, empty or dot segments)"),
    ],
)  # fmt: skip
def test_host_header_refused(section: str, message: str) -> None:
    """A bad host section name is reported at its header line, and its keys still read."""
    text = f"{REVERSE}[{section}]\nbackends = http://b\n"
    assert problems(text) == [f"t.ini:3: [{section}] {message}"]


def test_path_routes_inherit_aliases_in_file_order() -> None:
    """Routes keep file order; a path route takes its host's aliases and its own settings."""
    text = (
        REVERSE
        + "[host:example.com/api/]\nbackends = http://api\nstrip_prefix = yes\n"
        + "[host:example.com]\naliases = www.example.com\nbackends = http://web\n"
        + "[host:other.example/static/]\nbackends = http://static\n"
    )
    api, web, static = load(text).routes
    assert (api.name, api.prefix, api.aliases) == ("example.com", "/api/", ("www.example.com",))
    assert (api.backends, api.strip_prefix) == ((Backend("http", "api", 80),), True)
    assert (web.prefix, web.aliases, web.strip_prefix) == ("/", ("www.example.com",), False)
    assert (static.section, static.aliases) == ("host:other.example/static/", ())


def test_route_needs_backends() -> None:
    """A host or path route without backends is refused at its header."""
    text = REVERSE + "[host:example.com]\nbalance = random\n[host:example.com/api/]\n"
    assert problems(text) == [
        "t.ini:3: [host:example.com] no backends: add backends = http://HOST:PORT",
        "t.ini:5: [host:example.com/api/] no backends: add backends = http://HOST:PORT",
    ]


def test_aliases_only_on_host_section() -> None:
    """A path route cannot have aliases of its own."""
    text = REVERSE + "[host:example.com/api/]\nbackends = http://b\naliases = api.example.com\n"
    assert problems(text) == [
        "t.ini:5: [host:example.com/api/] aliases: aliases belong in [host:example.com] "
        "(path routes share its names)"
    ]


def test_strip_prefix_only_on_path_routes() -> None:
    """strip_prefix = yes on a whole host is refused; = no is harmless."""
    assert problems(host("backends = http://b\nstrip_prefix = yes")) == [
        "t.ini:5: [host:example.com] strip_prefix: only path routes ([host:NAME/prefix/]) "
        "strip a prefix"
    ]
    assert only_route(host("backends = http://b\nstrip_prefix = no")).strip_prefix is False


def test_duplicate_names_report_both_lines() -> None:
    """A name or alias used by two hosts is reported where it is repeated, citing the first."""
    text = (
        REVERSE
        + "[host:a.example]\nbackends = http://a\naliases = b.example *.example.org\n"  # 3-5
        + "[host:B.example]\nbackends = http://b\n"  # 6-7
        + "[host:c.example]\nbackends = http://c\naliases = *.EXAMPLE.org c.example\n"  # 8-10
        + "[host:a.example.]\nbackends = http://a2\n"  # 11-12
    )
    assert problems(text) == [
        "t.ini:6: [host:B.example] 'b.example' is already a name of [host:a.example] (line 5)",
        "t.ini:10: [host:c.example] aliases: '*.example.org' is already a name of "
        "[host:a.example] (line 5)",
        "t.ini:10: [host:c.example] aliases: 'c.example' is already a name of "
        "[host:c.example] (line 8)",
        "t.ini:11: [host:a.example.] 'a.example' is already a name of [host:a.example] (line 3)",
    ]


def test_duplicate_default_host() -> None:
    """[host:*] twice is a duplicate section, reported by the INI reader with the first line."""
    text = REVERSE + "[host:*]\nbackends = http://a\n[host:*]\nbackends = http://b\n"
    assert problems(text) == ["t.ini:5: [host:*] duplicate section (first at line 3)"]


def test_duplicate_path_route() -> None:
    """The same host and prefix twice, spelt differently, is reported with the first line."""
    text = REVERSE + "[host:a.example/api/]\nbackends = http://a\n"
    text += "[host:A.Example/api/]\nbackends = http://b\n"
    assert problems(text) == [
        "t.ini:5: [host:A.Example/api/] same route as [host:a.example/api/] (line 3)"
    ]


def test_path_route_under_an_alias() -> None:
    """A path route must be written under the host's name, not under one of its aliases."""
    text = REVERSE + "[host:www.example.com/api/]\nbackends = http://a\n"
    text += "[host:example.com]\nbackends = http://b\naliases = www.example.com\n"
    assert problems(text) == [
        "t.ini:3: [host:www.example.com/api/] 'www.example.com' is an alias of "
        "[host:example.com] (line 7); write [host:example.com/api/]"
    ]


def test_host_sections_need_reverse() -> None:
    """Host sections without [reverse] are refused once, at the first host section."""
    text = make() + "[host:a.example]\nbackends = http://a\n[host:*]\nbackends = http://b\n"
    assert problems(text) == [
        "t.ini:3: [host:a.example] host sections need a [reverse] listener: "
        "add a [reverse] section with listen = ..."
    ]


def test_host_sections_alone() -> None:
    """Only host sections: no [reverse], so also nothing to serve."""
    assert problems(HOST) == [
        "t.ini:1: [host:example.com] host sections need a [reverse] listener: "
        "add a [reverse] section with listen = ...",
        "t.ini: nothing to serve: add a [forward], [socks] or [reverse] section with listen = ...",
    ]


_HOST_KEYS = [key.name for key in HOST_KEYS if key.name != "ca_file"]  # no arbitrary paths


@settings(max_examples=300)
@given(
    st.sampled_from(["example.com", "*.example.com", "*", "x/api/", "Bad Name", "a/b"]),
    st.lists(
        st.tuples(
            st.sampled_from(_HOST_KEYS),
            st.text(st.characters(blacklist_characters="\n\r"), max_size=30),
        ),
        max_size=6,
        unique_by=lambda entry: entry[0],
    ),
)
def test_any_host_values_give_config_or_config_error(
    name: str, entries: list[tuple[str, str]]
) -> None:
    """Whatever a host section holds, loading returns a Config or raises ConfigError."""
    body = "\n".join(f"{key} = {text}" for key, text in entries)
    try:
        assert isinstance(load(host(body, name)), Config)
    except ConfigError as exc:
        assert exc.problems
        assert all(problem.startswith("t.ini:") for problem in exc.problems)
