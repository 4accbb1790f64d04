"""Reporting: the figures of a run, the table printed at the end, and the JSON results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROXYHUB = "proxyhub"


@dataclass
class Figure:
    """One contender's result in one scenario."""

    value: float | None = None
    flag: str | None = None  # the run had errors (value shown with a *)
    error: str | None = None  # no value: why
    detail: dict[str, object] = field(default_factory=dict)
    note: str | None = None  # more figures of the run, listed under the table


def best(figs: list[Figure]) -> Figure:
    good = [f for f in figs if f.value is not None]
    if not good:
        return figs[-1]
    top = max(good, key=lambda f: f.value or 0.0)
    if len(figs) > 1:
        top.detail = {**top.detail, "rounds": [f.value for f in figs]}
    return top


def cell(fig: Figure | None) -> str:
    if fig is None:
        return ""
    if fig.value is None:
        why = fig.error or ""
        return next((w for w in ("n/a", "skipped") if why.startswith(w)), "failed")
    return f"{fig.value:,.0f}" + ("*" if fig.flag else "")


def ratio_value(a: Figure | None, b: Figure | None) -> float | None:
    if a is None or b is None or not a.value or not b.value:
        return None
    return a.value / b.value


def ratio(a: Figure | None, b: Figure | None) -> str:
    r = ratio_value(a, b)
    return "-" if r is None else f"{r:.2f}"


def table(
    results: dict[str, dict[str, Figure]],
    units: dict[str, str],
    base: str | None = PROXYHUB,
    notes: list[str] | None = None,
) -> str:
    """Contenders side by side, then base's ratio to each (ph/X for proxyhub); notes below."""
    labels: list[str] = []
    for row in results.values():
        labels += [label for label in row if label not in labels]
    others = [label for label in labels if base is not None and label != base]
    short = "ph" if base == PROXYHUB else base
    head = ["scenario", "unit", *labels, *(f"{short}/{o}" for o in others)]
    rows = [head]
    for name, row in results.items():
        ph = row.get(base) if base is not None else None
        rows.append(
            [
                name,
                units[name],
                *(cell(row.get(lbl)) for lbl in labels),
                *(ratio(ph, row.get(o)) for o in others),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, r in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = list(notes or [])
    for name, row in results.items():
        for label, fig in row.items():
            if fig.flag:
                notes.append(f"  * {name}/{label}: errors during the run: {fig.flag}")
            elif fig.error and not fig.error.startswith("n/a"):
                notes.append(f"  ! {name}/{label}: {fig.error}")
            if fig.note:
                notes.append(f"  - {name}/{label}: {fig.note}")
    return "\n".join(lines + (["", *notes] if notes else []))


def version(argv: list[str]) -> str | None:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (p.stdout + p.stderr).strip()
    return text.splitlines()[0] if text else None


def environment(python: str, squid: str | None) -> dict[str, object]:
    """Versions and machine facts recorded beside the figures."""
    code = "import sys, twisted; print(sys.version.split()[0], twisted.__version__)"
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "python": python,
        "python_twisted": version([python, "-c", code]),
        "nginx": version(["nginx", "-v"]),
        "squid": version([squid, "-v"]) if squid else None,
        "wrk": version(["wrk", "-v"]),
        "curl": version(["curl", "--version"]),
    }


def write_json(
    directory: Path,
    started: str,
    options: dict[str, object],
    env: dict[str, object],
    results: dict[str, dict[str, Figure]],
    units: dict[str, str],
    what: dict[str, str],
    bases: dict[str, str | None] | None = None,
) -> Path:
    """Write the run to directory/YYYYmmdd-HHMMSS.json and return its path."""
    directory.mkdir(exist_ok=True)
    out = directory / (time.strftime("%Y%m%d-%H%M%S") + ".json")
    doc = {
        "started": started,
        "options": options,
        "environment": env,
        "scenarios": {
            name: {
                "unit": units[name],
                "what": what[name],
                "contenders": {label: asdict(fig) for label, fig in row.items()},
                **_ratios(row, (bases or {}).get(name, PROXYHUB)),
            }
            for name, row in results.items()
        },
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out


def _ratios(row: dict[str, Figure], base: str | None) -> dict[str, object]:
    """The JSON ratio fields of one scenario: ``proxyhub_ratio`` when proxyhub is the base."""
    if base is None:
        return {}
    ratios = {label: ratio_value(row.get(base), fig) for label, fig in row.items() if label != base}
    key = "proxyhub_ratio" if base == PROXYHUB else "ratio_of_" + base
    return {key: ratios}
