"""Where configuration problems are collected before they are raised together.

Each problem is one line, ``{path}:{line}: [{section}] {key}: {message}``; ``{key}: `` is left
out for problems of a whole section, ``[{section}] `` too for problems of a line outside any
section, and ``:{line}`` for problems of the whole file. Problems come out in line order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Report:
    """Collects problems with their location, and formats them in file order."""

    path: str
    found: list[tuple[float, str]] = field(default_factory=list)

    def add(
        self,
        message: str,
        line: int | None = None,
        section: str | None = None,
        key: str | None = None,
    ) -> None:
        """Record ``message`` about ``key`` in ``section`` at ``line`` (all optional)."""
        where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        if section is not None:
            where += f"[{section}] "
        if key is not None:
            where += f"{key}: "
        self.found.append((line if line is not None else math.inf, where + message))

    def problems(self) -> list[str]:
        """Every problem, sorted by line; problems of the whole file come last."""
        return [text for _, text in sorted(self.found, key=lambda item: item[0])]
