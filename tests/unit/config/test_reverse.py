"""Tests of the reverse proxy's configuration: [reverse] and the keys of [host:...] sections."""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path

import pytest

from proxyhub.config import Backend, HostRoute

from .conftest import load, make, problems

REVERSE = "[reverse]\nlisten = tcp:8080\n"  # lines 1-2
HOST = "[host:example.com]\nbackends = http://10.0.0.1:8080\n"


def host(body: str, name: str = "example.com", reverse: str = REVERSE) -> str:
    """[reverse] on lines 1-2, then [host:NAME] on line 3 with ``body`` from line 4."""
    return f"{reverse}[host:{name}]\n{body}\n"


def only_route(text: str) -> HostRoute:
    """The single route of ``text``."""
    (route,) = load(text).routes
    return route


def test_reverse_defaults() -> None:
    """An empty [reverse] listens on tcp:8080 without TLS, redirects or trusted proxies."""
    config = load("[reverse]\n" + HOST)
    assert config.forward is None
    reverse = config.reverse
    assert reverse is not None
    assert reverse.listen == ("tcp:8080",)
    assert (reverse.tls_listen, reverse.certificates, reverse.certificate_files) == ((), (), ())
    assert reverse.redirect_to_https is False
    assert reverse.trusted_proxies == ()


def test_host_defaults() -> None:
    """A host section with only backends takes every documented default."""
    route = only_route(REVERSE + HOST)
    assert route == HostRoute(
        name="example.com",
        prefix="/",
        aliases=(),
        backends=(Backend("http", "10.0.0.1", 8080),),
        balance="round_robin",
        health_check=None,
        health_interval=10.0,
        health_timeout=2.0,
        health_rise=2,
        health_fall=3,
        ca_file=None,
        tls_verify=True,
        strip_prefix=False,
        preserve_host=True,
    )
    assert route.section == "host:example.com"


def test_forward_only_config_has_no_routes() -> None:
    """A forward-only file keeps reverse None and routes empty."""
    config = load(make())
    assert (config.reverse, config.routes) == (None, ())


def test_forward_and_reverse_together() -> None:
    """Both modes load from one file; the default name uses the [forward] port."""
    config = load(make() + REVERSE + HOST)
    assert config.forward is not None
    assert config.reverse is not None
    assert config.proxyhub.name == "testhost:3128"


@pytest.mark.parametrize(
    ("reverse", "name"),
    [
        ("listen = tcp:8080", "testhost:8080"),
        ("listen = tcp:port=81:interface=127.0.0.1 tcp:82", "testhost:81"),
        ("listen = unix:/run/ph.sock", "testhost"),
    ],
)
def test_default_name_from_reverse(reverse: str, name: str) -> None:
    """Without [forward] the default name takes the first [reverse] listen port."""
    assert load(f"[reverse]\n{reverse}\n" + HOST).proxyhub.name == name


def test_default_name_from_tls_listen(tmp_path: Path) -> None:
    """With no plain listener, the default name takes the first tls_listen port."""
    (tmp_path / "site.pem").write_text("x")
    text = f"[reverse]\nlisten =\ntls_listen = tcp:8443\ncertificates = {tmp_path}/*.pem\n"
    assert load(text + HOST).proxyhub.name == "testhost:8443"


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("listen", "tcp:80 tcp6:80:interface=\\:\\:", ("tcp:80", "tcp6:80:interface=\\:\\:")),
        ("redirect_to_https", "no", False),
        ("trusted_proxies", "10.0.0.0/8, ::1", (ip_network("10.0.0.0/8"), ip_network("::1"))),
    ],
)
def test_reverse_key_accepted(key: str, text: str, expected: object) -> None:
    """Each [reverse] key accepts its documented forms."""
    assert getattr(load(f"[reverse]\n{key} = {text}\n" + HOST).reverse, key) == expected


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("listen", "tpc:80", "not a valid endpoint description: 'tpc:80' "
         "(Unknown endpoint type: 'tpc')"),
        ("tls_listen", "tcp:x", "not a valid endpoint description: 'tcp:x' "
         "(invalid literal for int() with base 10: 'x')"),
        ("redirect_to_https", "always", "expected yes or no, got 'always'"),
        ("trusted_proxies", "proxy.example.net", "not an IP address or network: "
         "'proxy.example.net'"),
        ("certificates", "/nonexistent/*.pem", "no file matches '/nonexistent/*.pem'"),
    ],
)  # fmt: skip
def test_reverse_key_refused(key: str, text: str, message: str) -> None:
    """Each [reverse] key refuses bad values with file, line, section and key."""
    assert problems(f"[reverse]\n{key} = {text}\n" + HOST) == [
        f"t.ini:2: [reverse] {key}: {message}"
    ]


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("aliases", "WWW.Example.com. *.example.org", ("www.example.com", "*.example.org")),
        ("aliases", "", ()),
        ("backends", "http://a.example:81, https://B.example",
         (Backend("http", "a.example", 81), Backend("https", "b.example", 443))),
        ("backends", "HTTP://10.0.0.1/ http://[2001:DB8::1]:8080",
         (Backend("http", "10.0.0.1", 80), Backend("http", "2001:db8::1", 8080))),
        ("backends", "http://backend:", (Backend("http", "backend", 80),)),
        ("balance", "least_conn", "least_conn"),
        ("balance", "Random", "random"),
        ("balance", "ip_hash", "ip_hash"),
        ("health_check", "/healthz", "/healthz"),
        ("health_check", "/status?full=1", "/status?full=1"),
        ("health_check", "", None),
        ("health_interval", "500ms", 0.5),
        ("health_timeout", "1s", 1.0),
        ("health_rise", "1", 1),
        ("health_fall", "5", 5),
        ("ca_file", "", None),
        ("tls_verify", "no", False),
        ("preserve_host", "no", False),
    ],
)  # fmt: skip
def test_host_key_accepted(key: str, text: str, expected: object) -> None:
    """Each [host:...] key accepts its documented forms."""
    body = f"{key} = {text}" if key == "backends" else f"backends = http://b\n{key} = {text}"
    assert getattr(only_route(host(body)), key) == expected


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("aliases", "*", "'*' cannot be an alias; [host:*] is the default host"),
        ("aliases", "a b..c", "not a domain pattern (use example.com or *.example.com): 'b..c'"),
        ("balance", "fastest", "expected round_robin, least_conn, random or ip_hash, "
         "got 'fastest'"),
        ("health_check", "healthz", "expected a path starting with '/', e.g. /healthz, "
         "got 'healthz'"),
        ("health_check", "/a#b", "expected a path starting with '/', e.g. /healthz, got '/a#b'"),
        ("health_interval", "10", "durations need a unit (ms, s, m, h), e.g. 10s"),
        ("health_timeout", "0s", "must be greater than 0"),
        ("health_rise", "0", "expected a whole number greater than 0, got '0'"),
        ("health_fall", "two", "expected a whole number greater than 0, got 'two'"),
        ("ca_file", "/nonexistent/ca.pem",
         "cannot read '/nonexistent/ca.pem': No such file or directory"),
        ("tls_verify", "maybe", "expected yes or no, got 'maybe'"),
        ("preserve_host", "client", "expected yes or no, got 'client'"),
    ],
)  # fmt: skip
def test_host_key_refused(key: str, text: str, message: str) -> None:
    """Each [host:...] key refuses bad values with file, line, section and key."""
    text = host(f"backends = http://b\n{key} = {text}")
    assert problems(text) == [f"t.ini:5: [host:example.com] {key}: {message}"]


BACKEND_HINT = "(expected http://host[:port] or https://host[:port])"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("10.0.0.1:8080", "backends are http:// or https:// URLs, got '10.0.0.1:8080'"),
        ("ftp://files", "backends are http:// or https:// URLs, got 'ftp://files'"),
        ("http:/files", "backends are http:// or https:// URLs, got 'http:/files'"),
        ("http://b:x", f"not a backend URL {BACKEND_HINT}: 'http://b:x'"),
        ("http://b:70000", f"not a backend URL {BACKEND_HINT}: 'http://b:70000'"),
        ("http://[zz]:80", f"not a backend URL {BACKEND_HINT}: 'http://[zz]:80'"),
        ("http://:80", f"backend needs a host and a valid port {BACKEND_HINT}: 'http://:80'"),
        ("http://b:0", f"backend needs a host and a valid port {BACKEND_HINT}: 'http://b:0'"),
        ("http://a_b!:80", f"backend needs a host and a valid port {BACKEND_HINT}: "
         "'http://a_b!:80'"),
        ("http://b/app", f"backend URL must not have a user, path or query {BACKEND_HINT}: "
         "'http://b/app'"),
        ("http://b/?x", f"backend URL must not have a user, path or query {BACKEND_HINT}: "
         "'http://b/?x'"),
        ("http://u:p@b", f"backend URL must not have a user, path or query {BACKEND_HINT}: "
         "'http://u:p@b'"),
    ],
)  # fmt: skip
def test_backend_refused(text: str, message: str) -> None:
    """A backend that is not http[s]://host[:port] is quoted back with the expected form."""
    assert problems(host(f"backends = {text}")) == [
        f"t.ini:4: [host:example.com] backends: {message}"
    ]


def test_every_bad_backend_reported() -> None:
    """Each bad backend of the list is its own problem."""
    assert problems(host("backends = http://ok ftp://x gopher://y")) == [
        "t.ini:4: [host:example.com] backends: backends are http:// or https:// URLs, "
        "got 'ftp://x'",
        "t.ini:4: [host:example.com] backends: backends are http:// or https:// URLs, "
        "got 'gopher://y'",
    ]


def test_backend_listed_twice() -> None:
    """The same backend twice (default port spelt out or not) is refused."""
    assert problems(host("backends = http://b http://B:80 https://b")) == [
        "t.ini:4: [host:example.com] backends: 'http://b:80' is listed twice"
    ]


def test_backend_url() -> None:
    """Backend.url is canonical (IPv6 in brackets, port always given) and is its str()."""
    assert Backend("https", "2001:db8::1", 443).url == "https://[2001:db8::1]:443"
    assert str(Backend("http", "b", 80)) == "http://b:80"
    assert Backend("https", "b", 443).tls and not Backend("http", "b", 80).tls


def test_reverse_needs_hosts() -> None:
    """[reverse] without any host section has nothing to route to."""
    assert problems(REVERSE) == [
        "t.ini:1: [reverse] no virtual hosts: add a [host:NAME] or [host:*] section "
        "with backends = ..."
    ]


def test_reverse_needs_a_listener() -> None:
    """An empty listen without tls_listen leaves [reverse] deaf."""
    assert problems("[reverse]\nlisten =\n" + HOST) == [
        "t.ini:2: [reverse] listen: must not be empty unless tls_listen is set"
    ]


def test_tls_listen_needs_certificates() -> None:
    """tls_listen without certificates is refused at tls_listen."""
    assert problems("[reverse]\ntls_listen = tcp:8443\n" + HOST) == [
        "t.ini:2: [reverse] tls_listen: needs certificates (PEM files holding key, leaf and "
        "chain); add certificates = PATTERN"
    ]


def test_certificates_need_tls_listen(tmp_path: Path) -> None:
    """Certificates without tls_listen would be silently unused: refused."""
    (tmp_path / "a.pem").write_text("x")
    assert problems(f"[reverse]\ncertificates = {tmp_path}/*.pem\n" + HOST) == [
        "t.ini:2: [reverse] certificates: not used without tls_listen; "
        "add tls_listen = ... or remove this key"
    ]


def test_redirect_needs_tls_listen() -> None:
    """redirect_to_https = yes needs a TLS listener to redirect to."""
    assert problems("[reverse]\nredirect_to_https = yes\n" + HOST) == [
        "t.ini:2: [reverse] redirect_to_https: needs tls_listen to redirect to"
    ]


def test_certificates_relative_to_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patterns are globbed from the working directory; the files are sorted and deduplicated."""
    certs = tmp_path / "etc" / "certs"
    certs.mkdir(parents=True)
    for name in ("b.pem", "a.pem", "notes.txt"):
        (certs / name).write_text("x")
    (certs / "dir.pem").mkdir()
    monkeypatch.chdir(tmp_path)
    text = "[reverse]\ntls_listen = tcp:8443\ncertificates = etc/certs/*.pem etc/certs/a.pem\n"
    reverse = load(text + HOST).reverse
    assert reverse is not None
    assert reverse.certificates == ("etc/certs/*.pem", "etc/certs/a.pem")
    assert reverse.certificate_files == ("etc/certs/a.pem", "etc/certs/b.pem")
    assert reverse.redirect_to_https is False


def test_certificates_unmatched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every unmatched pattern is reported; relative ones name the directory searched."""
    (tmp_path / "only-a-dir.pem").mkdir()
    monkeypatch.chdir(tmp_path)
    text = "[reverse]\ntls_listen = tcp:8443\ncertificates = *.pem, /nonexistent/x.pem\n"
    assert problems(text + HOST) == [
        f"t.ini:3: [reverse] certificates: no file matches '*.pem' (looked in {os.getcwd()})",
        "t.ini:3: [reverse] certificates: no file matches '/nonexistent/x.pem'",
    ]


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ("host:example.com", "backend", "unknown key; did you mean 'backends'?"),
        ("host:example.com", "listen", "unknown key; 'listen' belongs in [forward], [socks] "
         "or [reverse]"),
        ("host:example.com", "trusted_proxies", "unknown key; 'trusted_proxies' belongs in "
         "[reverse]"),
        ("reverse", "backends", "unknown key; 'backends' belongs in [host:NAME]"),
        ("reverse", "tls_listn", "unknown key; did you mean 'tls_listen'?"),
        ("proxyhub", "health_check", "unknown key; 'health_check' belongs in [host:NAME]"),
    ],
)  # fmt: skip
def test_unknown_keys(section: str, key: str, message: str) -> None:
    """Unknown keys in the reverse sections get the same hints as elsewhere."""
    text = f"[{section}]\n{key} = x\n"
    if section.startswith("host:"):
        text += "backends = http://b\n"
    others = {"reverse": REVERSE, "host:example.com": HOST}
    text += "".join(body for name, body in others.items() if name != section)
    assert problems(text) == [f"t.ini:2: [{section}] {key}: {message}"]


def test_records_are_frozen() -> None:
    """Reverse records cannot be changed after loading."""
    config = load(REVERSE + HOST)
    with pytest.raises(AttributeError):
        config.routes[0].balance = "random"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.reverse.listen = ()  # type: ignore[misc, union-attr]


def test_hsts_needs_a_tls_listener() -> None:
    """hsts_max_age without tls_listen is refused; with it, it is read in seconds."""
    from proxyhub.config import ConfigError, parse_config_text

    text = "[reverse]\nlisten = tcp:8080\nhsts_max_age = 1h\n[host:*]\nbackends = http://b:80\n"
    try:
        parse_config_text(text, "t.ini")
    except ConfigError as e:
        assert e.problems == [
            "t.ini:3: [reverse] hsts_max_age: needs tls_listen: the header is only sent over HTTPS"
        ]
    else:
        raise AssertionError("hsts_max_age without tls_listen was accepted")
