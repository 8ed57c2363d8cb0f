"""Running projections for the app, and the numbers its headline shows (no Streamlit here).

`run` is `project.engine.run_projection` with the app's seed: every variable's Monte Carlo
percentiles and the tidy table (downloads, methodology). `run_shown` is the same run with
percentiles for the variables the simulator page shows (SHOWN) only, so fewer variables go
through the Monte Carlo; a variable's numbers are the same in both (tests/test_app_modules.py
checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from project.engine import COUNTS_SENTENCE, ProjectionResult, run_projection
from project.scenario import Scenario

SEED = 0
#: the variables the simulator page shows; `run_shown` computes Monte Carlo percentiles for these only
SHOWN = ("Energy", "Emissions", "Water", "Data Centres", "Power|Peak")


def run(scenario: Scenario, samples: int, measurements=None) -> ProjectionResult:
    """The engine's projection (seed 0) of `scenario` with `samples` Monte Carlo samples."""
    return run_projection(scenario, samples=samples, seed=SEED, measurements=measurements)


def run_shown(scenario: Scenario, samples: int, measurements=None) -> ProjectionResult:
    """`run` with Monte Carlo percentiles for the variables the page shows (SHOWN) only."""
    return run_projection(scenario, samples=samples, seed=SEED, measurements=measurements, variables=SHOWN)


# ---------------------------------------------------------------------------
# Headline numbers


@dataclass
class Figure:
    """One headline quantity: median (or central value) with its 90% range, or not modelled."""

    variable: str
    p50: float
    p5: float | None = None
    p95: float | None = None
    modelled: bool = True

    @property
    def has_range(self) -> bool:
        return self.p5 is not None and self.p95 is not None and self.p95 > self.p5


def modelled(result: ProjectionResult, variable: str) -> bool:
    """False when the variable is absent or zero in every region and year of the central run
    (e.g. water in a preset that sets water use to zero because it has no figure)."""
    a = result.central.get(variable)
    return a is not None and bool((abs(a[0]) > 0).any())


def figure(result: ProjectionResult, variable: str, year: int, region: str) -> Figure:
    if not modelled(result, variable):
        return Figure(variable, math.nan, modelled=False)
    p50 = result.value(variable, year, region=region)
    if variable in result.percentiles:
        lo = result.value(variable, year, "p5", region)
        hi = result.value(variable, year, "p95", region)
        if math.isfinite(lo) and math.isfinite(hi):
            return Figure(variable, p50, lo, hi)
    return Figure(variable, p50)


@dataclass
class Headline:
    """What the headline cards show for one region and year."""

    year: int
    region: str
    energy: Figure
    emissions: Figure
    water: Figure
    datacentres: Figure
    peak: Figure
    inference: float
    training: float
    unattributed: float
    attributed_share: float
    has_fleet: bool
    samples: int
    counts: str = COUNTS_SENTENCE


def headline(result: ProjectionResult, year: int, region: str = "World") -> Headline:
    s = result.scenario
    val = lambda v: result.value(v, year, region=region) if v in result.central else 0.0  # noqa: E731
    share = val("Share|Attributed")
    return Headline(
        year=year, region=region,
        energy=figure(result, "Energy", year, region),
        emissions=figure(result, "Emissions", year, region),
        water=figure(result, "Water", year, region),
        datacentres=figure(result, "Data Centres", year, region),
        peak=figure(result, "Power|Peak", year, region),
        inference=val("Energy|Inference"), training=val("Energy|Training"),
        unattributed=val("Energy|Unattributed"),
        attributed_share=share if math.isfinite(share) else math.nan,
        has_fleet=s.fleet is not None, samples=result.samples,
    )


@lru_cache(maxsize=4)
def countries(year: int = 2024) -> pd.DataFrame:
    """Every country's electricity demand of `year` (or its latest year before), by ISO code:
    country, twh, year, intensity_g_per_kwh (project.national; read once)."""
    from project.national import national_electricity

    return national_electricity(year).set_index("iso_code")


def country_share(twh: float, iso: str, year: int) -> tuple[float, str, float, int]:
    """(share of the country's electricity demand, country name, its TWh, its data year)."""
    row = countries(year).loc[iso]
    return float(twh) / float(row["twh"]), str(row["country"]), float(row["twh"]), int(row["year"])


def default_country(twh: float, candidates: list[str], year: int) -> str:
    """The candidate whose electricity demand is closest to `twh` on a log scale (ties: first)."""
    table = countries(year)
    known = [c for c in candidates if c in table.index]
    if not (twh > 0) or not known:
        return candidates[0]
    gaps = [abs(math.log(float(table.at[c, "twh"]) / twh)) for c in known]
    return known[gaps.index(min(gaps))]
