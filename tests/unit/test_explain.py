"""Tests of proxyhub.explain and ``proxyhub explain``: every check, in the listeners' order."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest

from proxyhub import explain as module
from proxyhub.cli import main
from proxyhub.config import Config, parse_config_text
from proxyhub.explain import Explanation, Step, explain
from proxyhub.policy.htpasswd import md5_crypt

NAMES = {
    "example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "good.example.com": ["93.184.216.35"],
    "evil.test": ["127.0.0.1"],
    "meta.test": ["93.184.216.36", "169.254.169.254"],
    "intranet.corp": ["10.20.0.5"],
    "mapped.test": ["::ffff:127.0.0.1"],
}


def fake_resolve(host: str) -> list[str]:
    """Answer from NAMES; anything else does not resolve, like getaddrinfo."""
    try:
        return NAMES[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def config(forward: str = "", extra: str = "") -> Config:
    """A config whose [forward] has ``forward`` on top of a listener and 10/8 clients."""
    text = "[forward]\nlisten = tcp:3128:interface=127.0.0.1\nallow_clients = 10.0.0.0/8\n"
    return parse_config_text(text + forward + "\n" + extra, "t.ini")


def run(
    request: str, cfg: Config | None = None, client: str = "10.1.2.3", **kw: Any
) -> Explanation:
    """Explain ``request`` with the fake resolver."""
    return explain(cfg or config(), client, request, resolve=fake_resolve, **kw)


def last(result: Explanation) -> tuple[str, str, str]:
    """The last step as (check, outcome, rule)."""
    step = result.steps[-1]
    return step.check, step.outcome, step.rule


# -- client -------------------------------------------------------------------------------------


def test_client_denied_stops_at_once() -> None:
    result = run("CONNECT example.com:443", client="192.0.2.1")
    assert (result.allowed, result.status, result.route) == (False, 403, None)
    assert result.steps == (Step("client", "denied", "allow_clients 192.0.2.1 not listed", 403),)
    assert result.render() == (
        "CONNECT example.com:443 from 192.0.2.1: DENIED 403\n"
        "  client       denied    allow_clients 192.0.2.1 not listed"
    )


def test_allowed_connect_renders_every_step() -> None:
    result = run("CONNECT example.com:443")
    assert (result.allowed, result.status, result.route) == (True, 200, "direct")
    assert result.render() == (
        "CONNECT example.com:443 from 10.1.2.3: ALLOWED 200\n"
        "  client       allowed   allow_clients 10.0.0.0/8\n"
        "  target       allowed   authority-form example.com:443\n"
        "  connect_port allowed   connect_ports 443\n"
        "  domain       allowed   allow_domains *\n"
        "  destination  allowed   deny_destinations 93.184.216.34 not listed\n"
        "  destination  allowed   deny_destinations 2606:2800:220:1:248:1893:25c8:1946 not listed\n"
        "  route        direct    no parent configured\n"
        "route: direct"
    )


def test_explanation_is_frozen() -> None:
    result = run("CONNECT example.com:443")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.allowed = False  # type: ignore[misc]


# -- domains and ports --------------------------------------------------------------------------


def test_deny_domains_wins_over_allow_domains() -> None:
    cfg = config("allow_domains = example.com *.example.com\ndeny_domains = good.example.com")
    result = run("CONNECT good.example.com:443", cfg)
    assert (result.allowed, result.status) == (False, 403)
    assert last(result) == ("domain", "denied", "deny_domains good.example.com")
    result = run("GET http://example.com/", cfg)
    assert result.allowed
    assert ("domain", "allowed", "allow_domains example.com") in [
        (s.check, s.outcome, s.rule) for s in result.steps
    ]


def test_domain_not_in_allow_list() -> None:
    result = run("GET http://other.test/", config("allow_domains = *.example.com"))
    assert (result.status, last(result)) == (
        403,
        ("domain", "denied", "allow_domains other.test not listed"),
    )


def test_connect_port_not_listed() -> None:
    result = run("CONNECT example.com:22")
    assert (result.allowed, result.status) == (False, 403)
    assert last(result) == ("connect_port", "denied", "connect_ports 22 not listed")


def test_connect_port_checked_before_domain() -> None:
    """Like the listener: a denied port is reported even for a denied domain."""
    result = run("CONNECT good.example.com:22", config("deny_domains = *.example.com"))
    assert last(result)[0] == "connect_port"


# -- destinations -------------------------------------------------------------------------------


def test_name_resolving_to_loopback_is_denied_by_default() -> None:
    result = run("CONNECT evil.test:443")
    assert (result.allowed, result.status) == (False, 403)
    assert last(result) == (
        "destination",
        "denied",
        "deny_destinations 127.0.0.0/8 (resolved 127.0.0.1)",
    )


def test_every_resolved_address_is_checked() -> None:
    result = run("GET http://meta.test/latest/meta-data/")
    assert [s.outcome for s in result.steps if s.check == "destination"] == ["allowed", "denied"]
    assert last(result) == (
        "destination",
        "denied",
        "deny_destinations 169.254.0.0/16 (resolved 169.254.169.254)",
    )


def test_ipv4_mapped_address_is_seen_as_ipv4() -> None:
    result = run("CONNECT mapped.test:443")
    assert last(result)[2] == "deny_destinations 127.0.0.0/8 (resolved 127.0.0.1)"


def test_metadata_literal_is_denied_before_resolving() -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError("an IP literal is never resolved")

    result = explain(config(), "10.1.2.3", "GET http://169.254.169.254/latest", resolve=no_dns)
    assert (result.status, last(result)) == (
        403,
        ("destination", "denied", "deny_destinations 169.254.0.0/16 (literal 169.254.169.254)"),
    )


@pytest.mark.parametrize(
    "request_", ["CONNECT 0x7f.1:443", "GET http://0x7f.1/", "SOCKS 2130706433:443"]
)
def test_hex_and_integer_ip_literals(request_: str) -> None:
    result = run(request_, no_resolve=True)
    assert (result.status, last(result)) == (
        403,
        ("destination", "denied", "deny_destinations 127.0.0.0/8 (literal 127.0.0.1)"),
    )


def test_literal_checked_against_destinations_with_no_resolve() -> None:
    """A literal passing check_host (deny_domains only) still gets check_destination."""
    cfg = config("deny_destinations = 192.0.2.0/24\nconnect_ports = *")
    result = run("CONNECT 0xc0.0.2.1:8443", cfg, no_resolve=True)
    assert last(result) == (
        "destination",
        "denied",
        "deny_destinations 192.0.2.0/24 (literal 192.0.2.1)",
    )
    result = run("CONNECT 198.51.100.1:8443", cfg, no_resolve=True)
    assert result.allowed
    assert ("destination", "allowed", "deny_destinations 198.51.100.1 not listed") in [
        (s.check, s.outcome, s.rule) for s in result.steps
    ]


def test_unresolvable_name_is_502() -> None:
    result = run("CONNECT nowhere.invalid:443")
    assert (result.allowed, result.status) == (False, 502)
    check, outcome, rule = last(result)
    assert (check, outcome) == ("destination", "denied")
    assert rule.startswith("nowhere.invalid does not resolve")


def test_empty_resolution_is_502() -> None:
    result = explain(config(), "10.1.2.3", "CONNECT a.test:443", resolve=lambda host: [])
    assert (result.status, last(result)[2]) == (502, "a.test does not resolve (no addresses)")


def test_no_resolve_skips_names() -> None:
    result = run("CONNECT nowhere.invalid:443", no_resolve=True)
    assert result.allowed
    assert ("destination", "skipped", "nowhere.invalid not resolved (--no-resolve)") in [
        (s.check, s.outcome, s.rule) for s in result.steps
    ]


def test_request_to_the_proxy_itself_is_a_loop() -> None:
    cfg = config("deny_destinations =")
    result = run("GET http://127.0.0.1:3128/", cfg)
    assert (result.status, last(result)) == (
        508,
        ("destination", "denied", "listen 127.0.0.1:3128 is this proxy (loop)"),
    )
    assert run("GET http://127.0.0.1:3129/", cfg).allowed


# -- method, target, scheme ---------------------------------------------------------------------


def test_trace_is_405() -> None:
    result = run("TRACE http://example.com/")
    assert (result.status, last(result)) == (
        405,
        ("method", "denied", "TRACE is not allowed through this proxy"),
    )


def test_https_scheme_is_501() -> None:
    result = run("GET https://example.com/")
    assert (result.status, last(result)) == (
        501,
        ("scheme", "denied", "https:// is not supported; use CONNECT for https"),
    )


def test_origin_form_is_400() -> None:
    result = run("GET /index.html")
    assert (result.status, last(result)) == (
        400,
        ("target", "denied", "/index.html: not absolute-form (http://host/path)"),
    )


def test_connect_without_port_is_400() -> None:
    result = run("CONNECT example.com")
    assert (result.status, last(result)) == (
        400,
        ("target", "denied", "malformed CONNECT target: authority needs a port"),
    )


def test_pac_file_is_served_locally_before_auth(tmp_path: Path) -> None:
    cfg = config(f"auth_file = {htpasswd(tmp_path)}")
    result = run("GET /proxy.pac", cfg)
    assert (result.allowed, result.status, result.route) == (True, 200, "local (PAC file)")


@pytest.mark.parametrize("request_", ["CONNECT", "", "GET http://a/ extra"])
def test_malformed_request_text(request_: str) -> None:
    with pytest.raises(ValueError, match="METHOD TARGET"):
        run(request_)


# -- auth ---------------------------------------------------------------------------------------


def htpasswd(tmp_path: Path) -> Path:
    """An htpasswd file with alice (password 'wonderland', apr1) and bob."""
    alice = "$apr1$saltsalt$" + md5_crypt(b"wonderland", b"saltsalt").decode()
    bob = "$apr1$pepper$" + md5_crypt(b"builder", b"pepper").decode()
    path = tmp_path / "users.htpasswd"
    path.write_text(f"alice:{alice}\nbob:{bob}\n")
    return path


@pytest.fixture
def auth_config(tmp_path: Path) -> Config:
    return config(f"auth_file = {htpasswd(tmp_path)}")


def test_auth_without_user_is_407(auth_config: Config) -> None:
    result = run("CONNECT example.com:443", auth_config)
    assert (result.status, [s.check for s in result.steps]) == (407, ["client", "auth"])
    assert last(result) == (
        "auth",
        "denied",
        f"credentials required (auth_file {auth_config.forward.auth_file})",  # type: ignore[union-attr]
    )


def test_auth_comes_after_client(auth_config: Config) -> None:
    result = run("CONNECT example.com:443", auth_config, client="192.0.2.1")
    assert [s.check for s in result.steps] == ["client"]


def test_auth_unknown_user(auth_config: Config) -> None:
    result = run("CONNECT example.com:443", auth_config, user="mallory")
    assert result.status == 407
    assert last(result)[2].endswith("unknown user 'mallory'")
    result = run("CONNECT example.com:443", auth_config, user="mallory", password="x")
    assert result.status == 407
    assert last(result)[2].endswith("unknown user 'mallory'")


def test_auth_known_user_without_password_is_not_verified(auth_config: Config) -> None:
    result = run("CONNECT example.com:443", auth_config, user="alice")
    assert result.allowed
    assert result.steps[1].rule.endswith("user 'alice' exists (password not checked)")


def test_auth_wrong_password(auth_config: Config) -> None:
    result = run("GET http://example.com/", auth_config, user="alice", password="builder")
    assert (result.status, last(result)[0]) == (407, "auth")
    assert last(result)[2].endswith("wrong password for 'alice'")
    assert "builder" not in result.render()


def test_auth_right_password(auth_config: Config) -> None:
    result = run("GET http://example.com/", auth_config, user="alice", password="wonderland")
    assert result.allowed
    assert result.steps[1].check == "auth"
    assert result.steps[1].rule.endswith("user 'alice', password verified")
    assert "wonderland" not in result.render()


def test_auth_comes_before_trace(auth_config: Config) -> None:
    assert run("TRACE http://example.com/", auth_config).status == 407


# -- routes -------------------------------------------------------------------------------------

PARENTS = "parent = http://u:p@10.9.9.9:3128 http://10.9.9.10:3128\nparent_bypass = *.corp"


def test_parent_route_names_the_first_parent() -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError("the parent resolves the origin, not us")

    result = explain(config(PARENTS), "10.1.2.3", "CONNECT example.com:443", resolve=no_dns)
    assert (result.allowed, result.route) == (True, "parent 10.9.9.9:3128")
    assert result.steps[-2:] == (
        Step("destination", "skipped", "not checked: parent 10.9.9.9:3128 resolves and connects"),
        Step("route", "parent", "parent 10.9.9.9:3128 (first of 2)"),
    )
    assert "u:p" not in result.render()
    assert result.render().endswith("\nroute: parent 10.9.9.9:3128")


def test_parent_bypass_goes_direct_and_checks_destinations() -> None:
    result = run("GET http://intranet.corp/wiki", config(PARENTS))
    assert (result.allowed, result.route) == (True, "direct (parent_bypass *.corp)")
    assert result.steps[-2:] == (
        Step("destination", "allowed", "deny_destinations 10.20.0.5 not listed"),
        Step("route", "direct", "parent_bypass *.corp"),
    )


# -- SOCKS --------------------------------------------------------------------------------------

SOCKS = "[socks]\nlisten = tcp:1080:interface=127.0.0.1\nports = 443 8443\n"


def test_socks_port_not_listed() -> None:
    result = run("SOCKS example.com:22", config(extra=SOCKS))
    assert (result.allowed, result.status) == (False, 403)
    assert last(result) == ("connect_port", "denied", "ports 22 not listed ([socks])")


def test_socks_port_listed_ignores_connect_ports() -> None:
    result = run("SOCKS example.com:8443", config(extra=SOCKS))
    assert result.allowed
    assert [s.check for s in result.steps][:4] == ["client", "target", "connect_port", "domain"]
    assert result.steps[2].rule == "ports 8443"


def test_socks_without_section_allows_any_port() -> None:
    result = run("SOCKS example.com:22")
    assert result.allowed
    assert result.steps[2].rule.startswith("ports * (no [socks] section")


def test_socks_needs_credentials_with_auth_file(auth_config: Config) -> None:
    assert run("SOCKS example.com:443", auth_config).status == 407


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def ini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file on disk, and the fake resolver in place of getaddrinfo."""
    monkeypatch.setattr(module, "system_resolve", fake_resolve)
    monkeypatch.delenv("PROXYHUB_PASSWORD", raising=False)
    path = tmp_path / "proxy.ini"
    path.write_text(
        "[forward]\nlisten = tcp:3128:interface=127.0.0.1\nallow_clients = 10.0.0.0/8\n"
        f"deny_domains = *.example.com\nauth_file = {htpasswd(tmp_path)}\n"
    )
    return path


def test_cli_denied(ini: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--config", str(ini), "--client", "10.1.2.3", "--user", "alice"]
    assert main([*argv, "CONNECT www.example.com:443"]) == 1
    assert capsys.readouterr().out == (
        "CONNECT www.example.com:443 from 10.1.2.3: DENIED 403\n"
        "  client       allowed   allow_clients 10.0.0.0/8\n"
        f"  auth         allowed   auth_file {ini.parent}/users.htpasswd: user 'alice' exists"
        " (password not checked)\n"
        "  target       allowed   authority-form www.example.com:443\n"
        "  connect_port allowed   connect_ports 443\n"
        "  domain       denied    deny_domains *.example.com\n"
    )


def test_cli_allowed_with_password_from_env(
    ini: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXYHUB_PASSWORD", "wonderland")
    argv = ["explain", "--config", str(ini), "--client", "10.1.2.3", "--user", "alice"]
    assert main([*argv, "CONNECT", "example.com:443"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CONNECT example.com:443 from 10.1.2.3: ALLOWED 200\n")
    assert "password verified" in out
    assert out.endswith("\nroute: direct\n")
    monkeypatch.setenv("PROXYHUB_PASSWORD", "wrong")
    assert main([*argv, "CONNECT", "example.com:443"]) == 1
    assert "DENIED 407" in capsys.readouterr().out


def test_cli_password_option(ini: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--config", str(ini), "--client", "10.1.2.3", "--user", "bob"]
    assert main([*argv, "--password", "builder", "GET http://example.com/"]) == 0
    assert main([*argv, "--password", "nope", "GET http://example.com/"]) == 1
    out = capsys.readouterr().out
    assert "wrong password for 'bob'" in out
    assert "nope" not in out


def test_cli_default_client_and_no_resolve(ini: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--config", str(ini), "--user", "bob", "CONNECT x.test:443"]) == 1
    assert capsys.readouterr().out.startswith("CONNECT x.test:443 from 127.0.0.1: DENIED 403\n")
    argv = ["explain", "--config", str(ini), "--client", "10.0.0.1", "--user", "bob"]
    assert main([*argv, "CONNECT x.test:443"]) == 1
    assert "x.test does not resolve" in capsys.readouterr().out
    assert main([*argv, "--no-resolve", "CONNECT x.test:443"]) == 0
    assert "x.test not resolved (--no-resolve)" in capsys.readouterr().out


def test_cli_config_problems_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.ini"
    path.write_text("[forward]\nlisten = tcp:3128\nvia = perhaps\n")
    assert main(["explain", "--config", str(path), "CONNECT a:443"]) == 2
    assert (
        capsys.readouterr().out == f"{path}:3: [forward] via: expected yes or no, got 'perhaps'\n"
    )


def test_cli_bad_request_exit_2(ini: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--config", str(ini), "CONNECT"]) == 2
    assert "METHOD TARGET" in capsys.readouterr().err


def test_cli_needs_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["explain", "CONNECT a:443"])
    assert info.value.code == 2
    assert "--config" in capsys.readouterr().err
