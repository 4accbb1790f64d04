"""Tests of proxyhub.config.loader: defaults, every key's validation, problems reported at once."""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path

import pytest

from proxyhub.config import ConfigError, ParentProxy, load_config
from proxyhub.config.schema import DEFAULT_DENY_DESTINATIONS

from .conftest import load, make, problems


def nets(*texts: str) -> tuple[object, ...]:
    """ip_network of each text."""
    return tuple(ip_network(text) for text in texts)


def test_proxyhub_defaults() -> None:
    """Without a [proxyhub] section every setting takes its documented default."""
    settings = load(make()).proxyhub
    assert settings.name == "testhost:3128"
    assert settings.workers == 1
    assert settings.access_log == "-"
    assert settings.access_log_format == "combined"
    assert settings.admin_listen == ()
    assert (settings.connect_timeout, settings.header_timeout) == (10.0, 30.0)
    assert (settings.idle_timeout, settings.read_timeout) == (60.0, 60.0)
    assert (settings.tunnel_idle_timeout, settings.half_close_timeout) == (300.0, 30.0)
    assert (settings.tls_handshake_timeout, settings.drain_timeout) == (10.0, 30.0)
    assert (settings.max_target_size, settings.max_header_size) == (8192, 32768)
    assert (settings.max_headers, settings.max_body_size) == (100, 0)
    assert settings.max_connections == 10000


def test_empty_proxyhub_section_is_all_defaults() -> None:
    """An empty [proxyhub] section gives the same settings as none at all."""
    assert load(make(proxyhub="")).proxyhub == load(make()).proxyhub


def test_forward_defaults() -> None:
    """An empty [forward] section listens on loopback 3128 with the documented policy."""
    forward = load("[forward]\n").forward
    assert forward is not None
    assert forward.listen == ("tcp:3128:interface=127.0.0.1",)
    assert forward.allow_clients == nets("127.0.0.0/8", "::1/128")
    assert forward.connect_ports == frozenset({443})
    assert forward.deny_destinations == nets(*DEFAULT_DENY_DESTINATIONS.split())
    assert ip_network("169.254.0.0/16") in forward.deny_destinations
    assert forward.allow_domains == ("*",)
    assert forward.deny_domains == ()
    assert forward.auth_file is None
    assert forward.parent == ()
    assert forward.parent_bypass == ()
    assert forward.forwarded_for == "add"
    assert forward.via is True


def test_config_path_recorded() -> None:
    """The path given is kept in Config.path."""
    assert load(make()).path == "t.ini"


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("name", "proxy1.example.net", "proxy1.example.net"),
        ("workers", "4", 4),
        ("workers", "auto", os.cpu_count() or 1),
        ("access_log", "off", "off"),
        ("access_log", "OFF", "off"),
        ("access_log", "-", "-"),
        ("access_log", "logs/access.log", "logs/access.log"),
        ("access_log_format", "json", "json"),
        ("admin_listen", "tcp:9901:interface=127.0.0.1", ("tcp:9901:interface=127.0.0.1",)),
        ("admin_listen", "tcp:9901, unix:/run/ph.sock", ("tcp:9901", "unix:/run/ph.sock")),
        ("connect_timeout", "500ms", 0.5),
        ("header_timeout", "1m", 60.0),
        ("idle_timeout", "1h", 3600.0),
        ("read_timeout", "1.5s", 1.5),
        ("tunnel_idle_timeout", "10m", 600.0),
        ("half_close_timeout", "5s", 5.0),
        ("tls_handshake_timeout", "3s", 3.0),
        ("drain_timeout", "2s", 2.0),
        ("max_target_size", "16KiB", 16384),
        ("max_header_size", "64KB", 64000),
        ("max_headers", "50", 50),
        ("max_body_size", "1MiB", 1048576),
        ("max_body_size", "0", 0),
        ("max_connections", "20", 20),
    ],
)
def test_proxyhub_key_accepted(key: str, text: str, expected: object) -> None:
    """Each [proxyhub] key accepts its documented forms."""
    assert getattr(load(make(proxyhub=f"{key} = {text}")).proxyhub, key) == expected


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("name", "", "must not be empty"),
        ("name", "my proxy", "must be one word of printable ASCII without commas, got 'my proxy'"),
        ("workers", "0", "expected a whole number greater than 0 or 'auto', got '0'"),
        ("workers", "many", "expected a whole number greater than 0 or 'auto', got 'many'"),
        ("access_log", "", "must not be empty; use - for stdout, off, or a file path"),
        ("access_log_format", "xml", "expected combined or json, got 'xml'"),
        ("admin_listen", "nope:1", "not a valid endpoint description: 'nope:1' "
         "(Unknown endpoint type: 'nope')"),
        ("connect_timeout", "0", "must be greater than 0"),
        ("header_timeout", "30", "durations need a unit (ms, s, m, h), e.g. 10s"),
        ("idle_timeout", "soon", "not a duration: 'soon' (e.g. 500ms, 10s, 5m, 1h)"),
        ("read_timeout", "0s", "must be greater than 0"),
        ("tunnel_idle_timeout", "", "not a duration: '' (e.g. 500ms, 10s, 5m, 1h)"),
        ("half_close_timeout", "-1s", "not a duration: '-1s' (e.g. 500ms, 10s, 5m, 1h)"),
        ("tls_handshake_timeout", "1d", "unknown duration unit 'd' (use ms, s, m or h)"),
        ("drain_timeout", "0ms", "must be greater than 0"),
        ("max_target_size", "0", "must be greater than 0"),
        ("max_header_size", "lots", "not a size: 'lots' (e.g. 32KiB, 1MiB, or a number of bytes)"),
        ("max_headers", "0", "expected a whole number greater than 0, got '0'"),
        ("max_headers", "1e3", "expected a whole number greater than 0, got '1e3'"),
        ("max_body_size", "-1", "not a size: '-1' (e.g. 32KiB, 1MiB, or a number of bytes)"),
        ("max_connections", "", "expected a whole number greater than 0, got ''"),
    ],
)  # fmt: skip
def test_proxyhub_key_refused(key: str, text: str, message: str) -> None:
    """Each [proxyhub] key refuses bad values with a message naming file, line, section, key."""
    assert problems(make(proxyhub=f"{key} = {text}")) == [f"t.ini:2: [proxyhub] {key}: {message}"]


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("listen", "tcp:8080", ("tcp:8080",)),
        ("listen", "tcp:3128:interface=127.0.0.1 tcp6:3128:interface=\\:\\:1",
         ("tcp:3128:interface=127.0.0.1", "tcp6:3128:interface=\\:\\:1")),
        ("allow_clients", "10.0.0.0/8, 192.168.1.7 2001:db8::/32",
         nets("10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32")),
        ("allow_clients", "10.1.2.3/8", nets("10.0.0.0/8")),
        ("connect_ports", "443 8443,563", frozenset({443, 8443, 563})),
        ("connect_ports", "*", None),
        ("deny_destinations", "10.0.0.0/8", nets("10.0.0.0/8")),
        ("allow_domains", "Example.COM. *.Example.org", ("example.com", "*.example.org")),
        ("allow_domains", "localhost _srv.example.com x-1.io", ("localhost", "_srv.example.com",
                                                               "x-1.io")),
        ("deny_domains", "ads.example.com *.tracker.net", ("ads.example.com", "*.tracker.net")),
        ("parent", "http://proxy.example.net:3128",
         (ParentProxy("proxy.example.net", 3128),)),
        ("parent", "http://us%40er:p%3Aw%20d@Parent:8080/ http://[::1]:3128",
         (ParentProxy("parent", 8080, "us@er", "p:w d"), ParentProxy("::1", 3128))),
        ("parent", "http://user@parent:3128", (ParentProxy("parent", 3128, "user", None),)),
        ("parent_bypass", "*.internal intranet", ("*.internal", "intranet")),
        ("forwarded_for", "delete", "delete"),
        ("forwarded_for", "Keep", "keep"),
        ("via", "no", False),
        ("via", "off", False),
        ("via", "0", False),
        ("via", "false", False),
        ("via", "TRUE", True),
        ("via", "on", True),
        ("via", "1", True),
    ],
)  # fmt: skip
def test_forward_key_accepted(key: str, text: str, expected: object) -> None:
    """Each [forward] key accepts its documented forms."""
    assert getattr(load(make(forward=f"{key} = {text}")).forward, key) == expected


@pytest.mark.parametrize(
    "key", ["allow_clients", "connect_ports", "deny_destinations", "allow_domains", "deny_domains",
            "parent", "parent_bypass"],
)  # fmt: skip
def test_empty_value_is_empty_list(key: str) -> None:
    """A list key given with an empty value is an empty list, not its default."""
    value = getattr(load(make(forward=f"{key} =")).forward, key)
    assert not value
    assert value is not None


def test_deny_destinations_empty_denies_nothing() -> None:
    """`deny_destinations =` (even with only a comment) gives no denied networks at all."""
    forward = load(make(forward="deny_destinations =   ; allow everything")).forward
    assert forward is not None
    assert forward.deny_destinations == ()


def test_admin_listen_empty() -> None:
    """`admin_listen =` means no admin listener."""
    assert load(make(proxyhub="admin_listen =")).proxyhub.admin_listen == ()


def test_auth_file_readable(tmp_path: Path) -> None:
    """An existing, readable auth_file is kept as written; empty means None."""
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("user:$apr1$abcdefgh$wjJ4rFv3oMU4s2cx5ngV80\n")
    assert load(make(forward=f"auth_file = {htpasswd}")).forward.auth_file == str(htpasswd)  # type: ignore[union-attr]
    assert load(make(forward="auth_file =")).forward.auth_file is None  # type: ignore[union-attr]


def test_auth_file_problems_are_config_problems(tmp_path: Path) -> None:
    """Every htpasswd problem is reported at the auth_file line, never quoting a hash."""
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("a:{SHA}secret-hash\nb:plain\n")
    assert problems(make(forward=f"auth_file = {htpasswd}")) == [
        f"t.ini:2: [forward] auth_file: {htpasswd}:1: user 'a': {{SHA}} hashes are unsupported "
        "(unsalted SHA-1); rehash it with `htpasswd -B`",
        f"t.ini:2: [forward] auth_file: {htpasswd}:2: user 'b': plaintext passwords are refused "
        "(auth_plaintext = no); rehash it with `htpasswd -B`",
    ]


def test_auth_file_directory(tmp_path: Path) -> None:
    """A directory as auth_file is reported."""
    assert problems(make(forward=f"auth_file = {tmp_path}")) == [
        f"t.ini:2: [forward] auth_file: not a regular file: '{tmp_path}'"
    ]


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("listen", "", "must not be empty"),
        ("listen", "3128", "not a valid endpoint description: '3128' "
         "(Unknown endpoint type: '3128')"),
        ("listen", "tcp:http", "not a valid endpoint description: 'tcp:http' "
         "(invalid literal for int() with base 10: 'http')"),
        ("listen", "tcp:70000",
         "not a valid endpoint description: 'tcp:70000' (port out of range)"),
        ("listen", "tcp:80:colour=red", "not a valid endpoint description: 'tcp:80:colour=red' "
         "(got an unexpected keyword argument 'colour')"),
        ("allow_clients", "10.0.0.0/33", "not an IP address or network: '10.0.0.0/33'"),
        ("allow_clients", "localhost", "not an IP address or network: 'localhost'"),
        ("connect_ports", "0", "not a port number (1-65535): '0'"),
        ("connect_ports", "65536", "not a port number (1-65535): '65536'"),
        ("connect_ports", "https", "not a port number (1-65535): 'https'"),
        ("connect_ports", "443 *", "'*' (any port) cannot be combined with port numbers"),
        ("deny_destinations", "10.0.0.0/8/8", "not an IP address or network: '10.0.0.0/8/8'"),
        ("allow_domains", "a*b.com",
         "not a domain pattern (use example.com or *.example.com): 'a*b.com'"),
        ("allow_domains", "*.", "not a domain pattern (use example.com or *.example.com): '*.'"),
        ("deny_domains", "a..b", "not a domain pattern (use example.com or *.example.com): 'a..b'"),
        ("deny_domains", "*.*.com",
         "not a domain pattern (use example.com or *.example.com): '*.*.com'"),
        ("parent_bypass", "-x.com", "not a domain pattern (use example.com or *.example.com): "
         "'-x.com'"),
        ("auth_file", "/nonexistent/htpasswd",
         "cannot read '/nonexistent/htpasswd': No such file or directory"),
        ("parent", "https://p:3128", "parent proxies are reached over http://, got 'https://p:3128'"),
        ("parent", "http://p", "parent proxy needs a host and a port "
         "(expected http://[user:pass@]host:port): 'http://p'"),
        ("parent", "http://p:x", "not a parent proxy URL "
         "(expected http://[user:pass@]host:port): 'http://p:x'"),
        ("parent", "http://p:3128/path", "parent proxy URL must not have a path or query "
         "(expected http://[user:pass@]host:port): 'http://p:3128/path'"),
        ("parent", "http://:pw@p:3128", "parent proxy URL has an empty user name: "
         "'http://:pw@p:3128'"),
        ("forwarded_for", "append", "expected add, delete or keep, got 'append'"),
        ("via", "maybe", "expected yes or no, got 'maybe'"),
    ],
)  # fmt: skip
def test_forward_key_refused(key: str, text: str, message: str) -> None:
    """Each [forward] key refuses bad values with a message naming file, line, section, key."""
    assert problems(make(forward=f"{key} = {text}")) == [f"t.ini:2: [forward] {key}: {message}"]


def test_every_bad_list_item_reported() -> None:
    """Each bad item of a list is its own problem, all on the key's line."""
    assert problems(make(forward="allow_clients = 10.0.0.0/33 ::1 banana")) == [
        "t.ini:2: [forward] allow_clients: not an IP address or network: '10.0.0.0/33'",
        "t.ini:2: [forward] allow_clients: not an IP address or network: 'banana'",
    ]


def test_name_default_uses_first_forward_port() -> None:
    """The default name is <hostname>:<port of the first [forward] listen endpoint>."""
    text = make(forward="listen = tcp:port=8000:interface=127.0.0.1 tcp:9000")
    assert load(text).proxyhub.name == "testhost:8000"
    text = make(forward="listen = tcp6:3129:interface=\\:\\:1 tcp:3128")
    assert load(text).proxyhub.name == "testhost:3129"


def test_name_default_without_port() -> None:
    """A first listener without a port (a UNIX socket) gives the bare hostname."""
    assert load(make(forward="listen = unix:/run/proxyhub.sock")).proxyhub.name == "testhost"


def test_name_given_wins() -> None:
    """An explicit name is used as written."""
    assert load(make(proxyhub="name = edge-1:3128")).proxyhub.name == "edge-1:3128"


def test_nothing_to_serve() -> None:
    """A file without any listener section is refused."""
    assert problems(make(proxyhub="workers = 2", forward=None)) == [
        "t.ini: nothing to serve: add a [forward], [socks] or [reverse] section with listen = ..."
    ]


def test_empty_file() -> None:
    """An empty file has nothing to serve."""
    assert problems("") == [
        "t.ini: nothing to serve: add a [forward], [socks] or [reverse] section with listen = ..."
    ]


def test_many_problems_at_once() -> None:
    """Every problem of the file is reported in one ConfigError, in line order."""
    text = (
        "[proxyhub]\n"
        "workers = none\n"
        "idle_timeout = 60\n"
        "[forward]\n"
        "listen =\n"
        "via = sometimes\n"
        "via = yes\n"
        "[extras]\n"
        "[sock]\n"
    )
    with pytest.raises(ConfigError) as info:
        load(text)
    expected = [
        "t.ini:2: [proxyhub] workers: expected a whole number greater than 0 or 'auto', got 'none'",
        "t.ini:3: [proxyhub] idle_timeout: durations need a unit (ms, s, m, h), e.g. 10s",
        "t.ini:5: [forward] listen: must not be empty",
        "t.ini:6: [forward] via: expected yes or no, got 'sometimes'",
        "t.ini:7: [forward] via: duplicate key (first at line 6)",
        "t.ini:8: [extras] unknown section; expected [proxyhub], [forward], [socks], [reverse], "
        "[cache], [host:NAME]",
        "t.ini:9: [sock] unknown section; did you mean 'socks'?",
    ]
    assert info.value.problems == expected
    assert str(info.value) == "\n".join(expected)


def test_load_config_reads_file(tmp_path: Path) -> None:
    """load_config reads a file and records its path."""
    path = tmp_path / "proxy.ini"
    path.write_text(make(), encoding="utf-8")
    config = load_config(path)
    assert config.path == str(path)
    assert config.forward is not None


def test_load_config_missing_file(tmp_path: Path) -> None:
    """A file that cannot be read is one problem naming the file and the reason."""
    path = tmp_path / "missing.ini"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_load_config_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 is one problem, not a traceback."""
    path = tmp_path / "latin1.ini"
    path.write_bytes(b"[forward]\nname = caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: cannot read: not UTF-8 text (line 2: invalid continuation byte)"
    ]


def test_records_are_frozen() -> None:
    """The records cannot be changed after loading."""
    config = load(make())
    with pytest.raises(AttributeError):
        config.proxyhub.workers = 3  # type: ignore[misc]
