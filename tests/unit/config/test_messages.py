"""The exact text of representative problems: this wording is what users see, keep it stable."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxyhub.config import Config, ConfigError
from proxyhub.config.schema import SECTIONS

from .conftest import load, make, problems


def test_unknown_key_did_you_mean() -> None:
    """A misspelt key names the key it probably meant."""
    assert problems(make(forward="listen = tcp:3128\nalow_clients = 10.0.0.0/8")) == [
        "t.ini:3: [forward] alow_clients: unknown key; did you mean 'allow_clients'?"
    ]


def test_unknown_key_wrong_case() -> None:
    """Keys are case-sensitive, and the hint shows the right spelling."""
    assert problems(make(proxyhub="Workers = 2")) == [
        "t.ini:2: [proxyhub] Workers: unknown key; did you mean 'workers'?"
    ]


def test_unknown_key_in_wrong_section() -> None:
    """A key of another section says where it belongs."""
    assert problems(make(proxyhub="listen = tcp:3128")) == [
        "t.ini:2: [proxyhub] listen: unknown key; 'listen' belongs in "
        "[forward], [socks] or [reverse]"
    ]


def test_unknown_key_without_hint() -> None:
    """A key like nothing known is just unknown."""
    assert problems(make(forward="listen = tcp:3128\ncolour = blue")) == [
        "t.ini:3: [forward] colour: unknown key"
    ]


def test_bad_duration() -> None:
    """A duration without a unit says which units exist."""
    assert problems(make(proxyhub="connect_timeout = 10")) == [
        "t.ini:2: [proxyhub] connect_timeout: durations need a unit (ms, s, m, h), e.g. 10s"
    ]


def test_bad_cidr() -> None:
    """An impossible network is quoted back."""
    assert problems(make(forward="listen = tcp:3128\ndeny_destinations = 10.0.0.0/40")) == [
        "t.ini:3: [forward] deny_destinations: not an IP address or network: '10.0.0.0/40'"
    ]


def test_bad_endpoint() -> None:
    """An endpoint description Twisted cannot build is quoted back with Twisted's reason."""
    assert problems(make(forward="listen = tpc:3128")) == [
        "t.ini:2: [forward] listen: not a valid endpoint description: 'tpc:3128' "
        "(Unknown endpoint type: 'tpc')"
    ]


def test_unknown_section_did_you_mean() -> None:
    """A misspelt section names the section it probably meant, at the header's line."""
    assert problems("[froward]\nlisten = tcp:3128\n") == [
        "t.ini:1: [froward] unknown section; did you mean 'forward'?",
        "t.ini: nothing to serve: add a [forward], [socks] or [reverse] section with listen = ...",
    ]


def test_unknown_host_section_did_you_mean() -> None:
    """A misspelt virtual host section is matched with its name."""
    assert problems(make() + "[hots:example.com]\n") == [
        "t.ini:3: [hots:example.com] unknown section; did you mean 'host:example.com'?"
    ]


def test_unknown_section_without_hint() -> None:
    """A section like nothing known lists the sections that exist."""
    assert problems(make() + "[extras]\n") == [
        "t.ini:3: [extras] unknown section; expected [proxyhub], [forward], [socks], [reverse], "
        "[cache], [host:NAME]"
    ]


def test_socks_section_problems() -> None:
    """[socks] keys are checked like any other: a bad port names its line and key."""
    assert problems(make() + "[socks]\nlisten = tcp:1080\nports = 0\n") == [
        "t.ini:5: [socks] ports: not a port number (1-65535): '0'",
    ]


def test_auth_realm_must_be_quotable() -> None:
    """A realm with a quote could break the Proxy-Authenticate header, so it is refused."""
    assert problems(make() + 'auth_realm = a"b\n') == [
        "t.ini:3: [forward] auth_realm: expected printable ASCII without quotes or "
        "backslashes, got 'a\"b'",
    ]


def test_syntax_problems() -> None:
    """Syntax problems use the same format; outside any section there is no [section]."""
    text = "workers = 2\n[forward]\nlisten tcp:3128\n[forward\n"
    assert problems(text) == [
        "t.ini:1: 'workers' is outside any section; put it under a [section]",
        "t.ini:3: [forward] expected 'key = value', got 'listen tcp:3128'",
        "t.ini:4: malformed section header '[forward'; expected [name]",
    ]


def test_config_error_str() -> None:
    """str(ConfigError) is the problems joined by newlines."""
    error = ConfigError(["a", "b"])
    assert error.problems == ["a", "b"]
    assert str(error) == "a\nb"


_KEYS = [(section, key.name) for section, keys in SECTIONS.items() for key in keys]


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_KEYS),
            st.text(st.characters(blacklist_characters="\n\r"), max_size=30),
        ),
        max_size=6,
    )
)
def test_any_values_give_config_or_config_error(entries: list[tuple[tuple[str, str], str]]) -> None:
    """Whatever the values, loading returns a Config or raises ConfigError, nothing else."""
    body: dict[str, list[str]] = {"proxyhub": [], "forward": []}
    for (section, key), text in entries:
        if key not in ("auth_file", "certificates"):  # arbitrary paths are not opened
            body.setdefault(section, []).append(f"{key} = {text}")
    text = "".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in body.items())
    try:
        assert isinstance(load(text), Config)
    except ConfigError as exc:
        assert exc.problems
        assert all(problem.startswith("t.ini:") for problem in exc.problems)
