"""The ``proxyhub`` command line: ``proxyhub check FILE`` validates a configuration file.

Each subcommand is a ``_cmd_<name>(args) -> int`` function registered in :func:`_parser`;
more subcommands (``explain``) are meant to be added the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from proxyhub.config import ConfigError, load_config


def _cmd_check(args: argparse.Namespace) -> int:
    """Print ``ok`` and return 0 if the file is valid, else print every problem and return 1."""
    try:
        load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    print("ok")
    return 0


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(prog="proxyhub", description="proxyhub proxy server tools")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check", help="validate a configuration file and report every problem"
    )
    check.add_argument("file", metavar="FILE", help="the INI file, e.g. etc/proxy.ini")
    check.set_defaults(run=_cmd_check)
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
