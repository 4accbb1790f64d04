"""Tests of the ``proxyhub`` command line (``proxyhub check FILE``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxyhub.cli import main


def test_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file prints 'ok' and exits 0."""
    path = tmp_path / "proxy.ini"
    path.write_text("[forward]\nlisten = tcp:3128:interface=127.0.0.1\n")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out == "ok\n"


def test_check_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid file prints every problem, one per line, on stdout and exits 1."""
    path = tmp_path / "proxy.ini"
    path.write_text("[forward]\nlisten = tcp:3128\nvia = perhaps\nlisen = x\n")
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}:3: [forward] via: expected yes or no, got 'perhaps'\n"
        f"{path}:4: [forward] lisen: unknown key; did you mean 'listen'?\n"
    )


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read is reported and exits 1."""
    path = tmp_path / "missing.ini"
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().out == f"{path}: cannot read: No such file or directory\n"


def test_no_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a subcommand the usage is printed and the exit status is 2."""
    assert main([]) == 2
    assert "check" in capsys.readouterr().out


def test_check_needs_file(capsys: pytest.CaptureFixture[str]) -> None:
    """`check` without FILE is a usage error (exit status 2)."""
    with pytest.raises(SystemExit) as info:
        main(["check"])
    assert info.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_check_reads_the_pem_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unusable PEM file is reported as startup would report it: exit 1, no 'ok'."""
    (tmp_path / "site.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    path = tmp_path / "proxy.ini"
    path.write_text(
        "[reverse]\nlisten = tcp:8080\ntls_listen = tcp:8443\n"
        f"certificates = {tmp_path / '*.pem'}\n[host:*]\nbackends = http://127.0.0.1:9\n"
    )
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"certificates: {tmp_path / 'site.pem'}: "), out
    assert "ok" not in out.splitlines()
