"""Reading a UTF-8 text file (the config, an htpasswd file) with a message fit for a user.

Either the text comes back, or :class:`TextFileError` says what went wrong
in one line starting with the path: ``path: cannot read: <reason>``, where
the reason names the line of the first byte that is not UTF-8.
"""

from __future__ import annotations

import os


class TextFileError(ValueError):
    """The file cannot be read as UTF-8 text; ``str()`` is the message for the user."""


def read_utf8(path: str | os.PathLike[str]) -> str:
    """The text of the file at ``path``, or :class:`TextFileError`."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise TextFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"not UTF-8 text (line {line}: {exc.reason})"
        raise TextFileError(f"{name}: cannot read: {reason}") from None
