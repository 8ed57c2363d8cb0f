"""Comparisons: national electricity ranks, world share and per-inference equivalences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .engine import ProjectionResult
from .national import COMPARISON_YEAR, country_lookup, national_electricity, world_electricity_twh
from .params import param


@dataclass
class NationalRank:
    """Where an electricity total (TWh/yr) sits among national electricity demand of `year`."""

    twh: float
    rank: int  # 1 = larger than every country's total
    n_countries: int
    nearest: pd.Series
    below: pd.DataFrame  # up to k countries just below, nearest first
    above: pd.DataFrame  # up to k countries just above, nearest first
    year: int = COMPARISON_YEAR  # the stated demand year (a row's own `year` may be earlier)

    @property
    def sentence(self) -> str:
        n = self.nearest
        return f"about as much as {n['country']} ({n['twh']:,.3g} TWh, {int(n['year'])} demand)"


def national_rank(twh: float, k: int = 3, year: int = COMPARISON_YEAR) -> NationalRank:
    """Rank `twh` (TWh/yr) among national electricity demand of `year`.

    Each country counts with its demand in the latest year <= `year` that has a value (the
    row's `year`; 2023 for a few countries whose 2024 demand is not published yet).
    """
    df = national_electricity(year)
    values = df["twh"].to_numpy()
    pos = int(np.searchsorted(values, twh))  # countries with smaller totals
    below = df.iloc[max(0, pos - k):pos].iloc[::-1].reset_index(drop=True)
    above = df.iloc[pos:pos + k].reset_index(drop=True)
    nearest = df.iloc[int(np.argmin(np.abs(values - twh)))]
    return NationalRank(float(twh), len(df) - pos + 1, len(df), nearest, below, above, int(year))


def ranked_with(twh: float, label: str = "AI (this scenario)", k: int = 6, include: list[str] | None = None,
                year: int = COMPARISON_YEAR) -> pd.DataFrame:
    """Countries around `twh` plus the named ones, with the AI total as a row (`is_ai` = True).

    Country rows are electricity demand of `year` (or the latest earlier year with a value:
    the row's `year`). Columns: name, twh, is_ai, year; sorted by twh descending (for a
    ranked bar chart).
    """
    r = national_rank(twh, k, year)
    parts = [r.below, r.above]
    for key in include or []:
        parts.append(country_lookup(key, year).to_frame().T)
    df = pd.concat(parts, ignore_index=True).drop_duplicates("iso_code")
    out = pd.DataFrame({"name": df["country"], "twh": df["twh"].astype(float), "is_ai": False, "year": df["year"]})
    out = pd.concat([out, pd.DataFrame([{"name": label, "twh": float(twh), "is_ai": True, "year": None}])])
    return out.sort_values("twh", ascending=False, kind="stable").reset_index(drop=True)


def share_of_world(twh: float, year: int = COMPARISON_YEAR) -> float:
    """Fraction of world electricity demand of `year` (Our World in Data; 2019-2025)."""
    return float(twh) / world_electricity_twh(year)


def households(twh: float) -> float:
    """Number of average US households with the same yearly electricity use (EIA 2022)."""
    return float(twh) * 1e9 / param("household_kwh_per_year")


def equivalence_table(tasks, labels, kwh_per_inference, intensity_g_per_kwh: float) -> pd.DataFrame:
    """Per-inference equivalences for facility energy `kwh_per_inference` (kWh, array-like).

    Columns: task, label, wh_per_inference, charges_per_inference (0.012 kWh charge, EPA
    before 2024), charges_per_inference_2024 (0.022 kWh, EPA 2024), g_co2_per_1000,
    km_per_1000 (gasoline car, g/km implied by the study), inferences_per_charge.
    """
    kwh = np.asarray(kwh_per_inference, dtype=float)
    g1000 = kwh * 1000 * intensity_g_per_kwh
    with np.errstate(divide="ignore"):
        per_charge = np.where(kwh > 0, param("smartphone_charge_kwh") / kwh, np.inf)
    return pd.DataFrame(
        {
            "task": list(tasks),
            "label": list(labels),
            "wh_per_inference": kwh * 1000,
            "charges_per_inference": kwh / param("smartphone_charge_kwh"),
            "charges_per_inference_2024": kwh / param("smartphone_charge_kwh_epa_2024"),
            "g_co2_per_1000": g1000,
            "km_per_1000": g1000 / param("car_g_co2_per_km"),
            "inferences_per_charge": per_charge,
        }
    )


def equivalences(result: ProjectionResult) -> pd.DataFrame:
    """Per-inference equivalences of each workload in the base year: facility energy and
    location-based emissions per unit (World, central run, `project.impacts`); columns as
    `equivalence_table`."""
    from .impacts import per_unit_impacts

    pu = per_unit_impacts(result)
    pu = pu[pu["region"] == pu["region"].iloc[0]] if len(pu) else pu
    kwh = pu["facility_wh"].to_numpy() / 1e3
    with np.errstate(invalid="ignore", divide="ignore"):
        intensity = np.where(kwh > 0, pu["location_g"].to_numpy() / np.where(kwh > 0, kwh, 1), 0.0)
    return equivalence_table(pu["workload"], pu["label"], kwh, intensity)


def headline(result: ProjectionResult, year: int | None = None, comparison_year: int = COMPARISON_YEAR) -> dict[str, object]:
    """The numbers a summary shows for one year (target year by default), World region.

    `twh` (TWh/yr; the median when sampled, else the central run), `mt_co2e` (Mt CO2-equiv/yr)
    and `water_billion_l` (million m3/yr = billion litres). `twh` is set beside national
    electricity demand of `comparison_year` (`rank`) and that year's world demand
    (`world_twh`, `share_of_world`); `comparison_year` is in the dict so a sentence can state it.
    """
    y = result.scenario.target_year if year is None else year
    twh = result.value("Energy", y)
    out: dict[str, object] = {
        "year": y,
        "twh": twh,
        "mt_co2e": result.value("Emissions", y),
        "water_billion_l": result.value("Water", y),
        "comparison_year": int(comparison_year),
        "world_twh": world_electricity_twh(comparison_year),
        "share_of_world": share_of_world(twh, comparison_year),
        "households": households(twh),
        "rank": national_rank(twh, year=comparison_year),
    }
    if "Energy" in result.percentiles:
        for s in ("p5", "p50", "p95"):
            out[f"twh_{s}"] = result.value("Energy", y, stat=s)
            out[f"mt_co2e_{s}"] = result.value("Emissions", y, stat=s)
    return out
