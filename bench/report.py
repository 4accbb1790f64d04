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
        return "n/a" if (fig.error or "").startswith("n/a") else "failed"
    return f"{fig.value:,.0f}" + ("*" if fig.flag else "")


def ratio_value(a: Figure | None, b: Figure | None) -> float | None:
    if a is None or b is None or not a.value or not b.value:
        return None
    return a.value / b.value


def ratio(a: Figure | None, b: Figure | None) -> str:
    r = ratio_value(a, b)
    return "-" if r is None else f"{r:.2f}"


def table(results: dict[str, dict[str, Figure]], units: dict[str, str]) -> str:
    """Contenders side by side, then proxyhub's ratio to each; notes for errors."""
    labels: list[str] = []
    for row in results.values():
        labels += [label for label in row if label not in labels]
    others = [label for label in labels if label != PROXYHUB]
    head = ["scenario", "unit", *labels, *(f"ph/{o}" for o in others)]
    rows = [head]
    for name, row in results.items():
        ph = row.get(PROXYHUB)
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
    notes = []
    for name, row in results.items():
        for label, fig in row.items():
            if fig.flag:
                notes.append(f"  * {name}/{label}: errors during the run: {fig.flag}")
            elif fig.error and not fig.error.startswith("n/a"):
                notes.append(f"  ! {name}/{label}: {fig.error}")
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
                "proxyhub_ratio": {
                    label: ratio_value(row.get(PROXYHUB), fig)
                    for label, fig in row.items()
                    if label != PROXYHUB
                },
            }
            for name, row in results.items()
        },
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out
