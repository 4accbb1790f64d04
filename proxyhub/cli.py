"""The ``proxyhub`` command line: ``proxyhub check FILE`` validates a configuration file;
``proxyhub explain --config FILE [--client IP] [--user U] REQUEST`` tells why a request would
be allowed or denied (see :mod:`proxyhub.explain`).

Each subcommand is a ``_cmd_<name>(args) -> int`` function registered in :func:`_parser`;
more subcommands are added the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from proxyhub.config import Config, ConfigError, load_config
from proxyhub.explain import explain
from proxyhub.net.tls import CertificateError, CertificateStore
from proxyhub.policy.htpasswd import HtpasswdError


def _cmd_check(args: argparse.Namespace) -> int:
    """Print ``ok`` and return 0 if the file is valid, else print every problem and return 1.

    Valid means what startup needs: the INI itself, and the files it names
    (the htpasswd ``auth_file``, PEM certificates) readable and usable.
    """
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    problems = _named_file_problems(config)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print("ok")
    return 0


def _named_file_problems(config: Config) -> list[str]:
    """What startup would refuse in the files a valid configuration names.

    The loader already reads ``auth_file``; the PEM files are read here, as the
    TLS listener reads them at startup.
    """
    reverse = config.reverse
    if reverse is None or not reverse.tls_listen:
        return []
    try:
        CertificateStore.from_paths(list(reverse.certificate_files))
    except CertificateError as exc:
        return [f"certificates: {line}" for line in str(exc).splitlines()]
    return []


def _cmd_explain(args: argparse.Namespace) -> int:
    """Print the decision on a request and the rules that made it.

    Exit status 0 when allowed, 1 when denied, 2 for a bad request or configuration.
    """
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 2
    # PROXYHUB_PASSWORD keeps the password out of the shell history.
    password = args.password if args.password is not None else os.getenv("PROXYHUB_PASSWORD")
    try:
        result = explain(
            config,
            args.client,
            " ".join(args.request),
            user=args.user,
            password=password if args.user is not None else None,
            no_resolve=args.no_resolve,
        )
    except HtpasswdError as exc:
        for problem in exc.problems:
            print(problem)
        return 2
    except ValueError as exc:
        print(f"proxyhub explain: {exc}", file=sys.stderr)
        return 2
    print(result.render())
    return 0 if result.allowed else 1


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(prog="proxyhub", description="proxyhub proxy server tools")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check", help="validate a configuration file and report every problem"
    )
    check.add_argument("file", metavar="FILE", help="the INI file, e.g. etc/proxy.ini")
    check.set_defaults(run=_cmd_check)
    explain_ = commands.add_parser(
        "explain",
        help="tell whether a forward or SOCKS request would be allowed, and by which rule",
        description="Exit status: 0 allowed, 1 denied, 2 usage or configuration error.",
    )
    explain_.add_argument("--config", required=True, metavar="FILE", help="the INI file")
    explain_.add_argument(
        "--client", default="127.0.0.1", metavar="IP", help="client address (default 127.0.0.1)"
    )
    explain_.add_argument("--user", metavar="USER", help="proxy-auth user (auth_file)")
    explain_.add_argument(
        "--password",
        metavar="PASSWORD",
        help="verify this password (or set PROXYHUB_PASSWORD); without it only USER is looked up",
    )
    explain_.add_argument(
        "--no-resolve",
        action="store_true",
        help="do not resolve the host (IP literals are still checked)",
    )
    explain_.add_argument(
        "request",
        nargs="+",
        metavar="REQUEST",
        help="'CONNECT host:port', 'GET http://host/path' or 'SOCKS host:port'",
    )
    explain_.set_defaults(run=_cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    status: int = args.run(args)
    return status
