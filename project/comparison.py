"""Scenarios side by side: one projection per scenario, same samples and seed, one table.

    comp = compare([load_preset("reference"), load_preset("combined")], samples=1000, seed=0)
    comp.table                 # the results' tidy tables stacked, one `scenario` per input
    comp.summary()             # target year: p50, p5, p95, change vs the first, p50 trajectory
    comp.trajectory("Energy")  # year x scenario, p50 (central when samples = 0)

The first scenario is the one the others are measured against (`change`, `change_pct`).
Scenarios must share their years (every scenario reports the same regions), so every row of
the stacked table lines up; otherwise `compare` raises one ScenarioError naming the difference. Every scenario gets the
same seed: the Latin hypercube draws differ only where the scenarios' uncertain parameters
differ. Units follow project.variables (TWh/yr, Mt CO2-equiv/yr, million m3/yr, GW).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .engine import ProjectionResult, run_projection, unit_of
from .scenario import Scenario, ScenarioError
from .variables import WORLD

#: the variables a comparison shows, in order: energy, emissions by kind, water by kind, peak power
SUMMARY_VARIABLES: tuple[str, ...] = (
    "Energy",
    "Emissions",
    "Emissions|Location-based",
    "Emissions|Embodied",
    "Emissions|Market-based",
    "Water",
    "Water|On-site",
    "Water|Off-site",
    "Power|Peak",
)
#: at most this many scenarios in one comparison (a table a person can read)
MAX_SCENARIOS = 8


@dataclass
class Comparison:
    """Projection results of several scenarios over the same years and regions, in input order."""

    results: dict[str, ProjectionResult]
    samples: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.results)

    @property
    def first(self) -> ProjectionResult:
        return next(iter(self.results.values()))

    @property
    def years(self) -> list[int]:
        return self.first.scenario.years

    @property
    def target_year(self) -> int:
        """The first scenario's target year (the default year of `summary`)."""
        return self.first.scenario.target_year

    @property
    def table(self) -> pd.DataFrame:
        """The results' tidy tables stacked (scenario, variable, region, unit, year, stat, value)."""
        return pd.concat([r.table for r in self.results.values()], ignore_index=True)

    def variables(self) -> list[str]:
        """SUMMARY_VARIABLES that at least one result carries (e.g. Power|Peak needs a fleet)."""
        return [v for v in SUMMARY_VARIABLES if any(v in r.central for r in self.results.values())]

    def milestones(self, year: int | None = None) -> list[int]:
        """Trajectory years: the start, every fifth year, the end and `year`."""
        ys = self.years
        keep = {ys[0], ys[-1], year if year is not None else self.target_year}
        keep |= {y for y in ys if y % 5 == 0}
        return sorted(y for y in keep if ys[0] <= y <= ys[-1])

    def summary(self, year: int | None = None, region: str = WORLD) -> pd.DataFrame:
        """The side-by-side table in long form: one row per variable and scenario.

        Columns: variable, unit, scenario, region, year, p50, p5, p95 (the Monte Carlo
        median and 90% interval; the central run in all three when samples = 0 or the
        region has no percentiles), change and change_pct (p50 minus the first
        scenario's p50, and that over the first's p50), and `p50 <year>` for each
        trajectory year (`milestones`). A variable a scenario lacks is NaN.
        """
        year = self.target_year if year is None else int(year)
        if year not in self.years:
            raise ScenarioError(f"--year {year}: outside the scenarios' years {self.years[0]}..{self.years[-1]}")
        if region not in self.first.regions:
            raise ScenarioError(f"region {region!r}: unknown; one of {', '.join(self.first.regions)}")
        miles = self.milestones(year)
        rows = []
        for var in self.variables():
            ref = None
            for name, res in self.results.items():
                p5, p50, p95 = (_stat(res, var, year, s, region) for s in ("p5", "p50", "p95"))
                ref = p50 if ref is None else ref
                row = {"variable": var, "unit": unit_of(var), "scenario": name, "region": region, "year": year,
                       "p50": p50, "p5": p5, "p95": p95, "change": p50 - ref,
                       "change_pct": (p50 - ref) / ref * 100.0 if ref and np.isfinite(ref) else np.nan}
                row.update({f"p50 {y}": _stat(res, var, y, "p50", region) for y in miles})
                rows.append(row)
        return pd.DataFrame(rows)

    def trajectory(self, variable: str, stat: str = "p50", region: str = WORLD) -> pd.DataFrame:
        """Year x scenario table of one variable (p50 falls back to central where unsampled)."""
        data = {name: [_stat(res, variable, y, stat, region) for y in self.years] for name, res in self.results.items()}
        return pd.DataFrame(data, index=pd.Index(self.years, name="year"))


def _stat(res: ProjectionResult, var: str, year: int, stat: str, region: str) -> float:
    """p5/p50/p95 of a result, falling back to its central value where it has no percentiles."""
    if var not in res.central:
        return float("nan")
    try:
        x = res.value(var, year, stat, region)
    except KeyError:
        x = float("nan")
    if not np.isfinite(x):
        x = res.value(var, year, "central", region)
    return float(x)


def check_compatible(scenarios: Sequence[Scenario]) -> None:
    """One ScenarioError naming the first difference that stops rows lining up."""
    if not scenarios:
        raise ScenarioError("compare: give at least one scenario")
    if len(scenarios) > MAX_SCENARIOS:
        raise ScenarioError(f"compare: at most {MAX_SCENARIOS} scenarios, got {len(scenarios)}")
    first = scenarios[0]
    seen: dict[str, int] = {}
    for i, s in enumerate(scenarios, start=1):
        if s.name in seen:
            raise ScenarioError(f"compare: scenarios {seen[s.name]} and {i} are both named {s.name!r}; give one "
                                f"another name (e.g. --set {i}:name={s.name}-variant)")
        seen[s.name] = i
        if (s.start_year, s.end_year) != (first.start_year, first.end_year):
            raise ScenarioError(f"compare: {s.name!r} covers {s.start_year}..{s.end_year} but {first.name!r} covers "
                                f"{first.start_year}..{first.end_year}; compare scenarios over the same years "
                                f"(set start_year/end_year)")


def compare(scenarios: Sequence[Scenario], samples: int = 1000, seed: int = 0) -> Comparison:
    """Project every scenario with the same samples and seed; refuse incompatible ones.

    Raises ScenarioError (one message) for duplicate names, different year ranges, and
    whatever a single projection refuses.
    """
    scenarios = list(scenarios)
    check_compatible(scenarios)
    results: dict[str, ProjectionResult] = {}
    for s in scenarios:
        results[s.name] = run_projection(s, samples=samples, seed=seed)
    notes = []
    targets = {s.target_year for s in scenarios}
    if len(targets) > 1:
        notes.append(f"target years differ ({', '.join(f'{s.name} {s.target_year}' for s in scenarios)}); "
                     f"the table shows {scenarios[0].target_year} unless a year is given")
    return Comparison(results, samples, seed, notes)
