"""The generated PAC file."""

from __future__ import annotations

from proxyhub.policy.pac import pac_file


def test_direct_patterns_then_proxy() -> None:
    """Exact names compare, wildcards use dnsDomainIs, everything else goes to the proxy."""
    text = pac_file("proxy.example:3128", ["intranet", "*.corp.example"]).decode()
    assert text == (
        "function FindProxyForURL(url, host) {\n"
        "  host = host.toLowerCase();\n"
        '  if (host == "intranet") return "DIRECT";\n'
        '  if (dnsDomainIs(host, ".corp.example")) return "DIRECT";\n'
        '  return "PROXY proxy.example:3128";\n'
        "}\n"
    )


def test_star_sends_everything_direct() -> None:
    """The pattern * matches every host."""
    assert b'if (true) return "DIRECT";' in pac_file("p:1", ["*"])


def test_duplicates_are_written_once() -> None:
    """parent_bypass and pac_direct may overlap; each pattern appears once."""
    assert pac_file("p:1", ["a", "a"]).count(b'"a"') == 1
