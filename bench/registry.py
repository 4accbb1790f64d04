"""The scenario registry shared by run.py and the scenario modules (ops_scenarios.py).

A scenario is a ``@scenario(name, unit, what, {column: starter name})`` function that measures
one server and returns a Figure. Scenarios of one ``group`` are printed in one table; the
ratio columns divide the ``base`` column's figure by each other column's (no ratio columns
when ``base`` is None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lab import Lab, Server, StartError
from report import PROXYHUB, Figure


@dataclass
class Options:
    duration: float
    warmup: float
    connect_runs: int
    rounds: int
    load_cpu: str
    reloads: int = 10  # SIGHUPs of the reload scenario, one a second


Measure = Callable[[Lab, Options, Server], Figure]


@dataclass
class Scenario:
    name: str
    unit: str
    what: str
    measure: Measure
    # column label -> Lab server name; "origin" means direct to the origin; None means n/a.
    contenders: dict[str, str | None]
    na_reason: dict[str, str] = field(default_factory=dict)
    group: str = "main"  # scenarios of one group share a table
    base: str | None = PROXYHUB  # the column the ratios are of
    note: str | None = None  # printed under the scenario's heading and its table


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    unit: str,
    what: str,
    contenders: dict[str, str | None],
    na_reason: dict[str, str] | None = None,
    *,
    group: str = "main",
    base: str | None = PROXYHUB,
    note: str | None = None,
) -> Callable[[Measure], Measure]:
    def register(fn: Measure) -> Measure:
        SCENARIOS[name] = Scenario(
            name, unit, what, fn, contenders, na_reason or {}, group, base, note
        )
        return fn

    return register


def ordered() -> list[str]:
    """Every scenario name, the main table's first, then each group in registration order."""
    groups = list(dict.fromkeys(sc.group for sc in SCENARIOS.values()))
    groups.sort(key=lambda g: g != "main")
    return [name for g in groups for name, sc in SCENARIOS.items() if sc.group == g]


def proxy_url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}"


def origin_target(lab: Lab, path: str) -> str:
    origin = lab.get("origin")
    if origin is None:
        raise StartError("the origin is not running")
    return f"{proxy_url(origin)}{path}"
