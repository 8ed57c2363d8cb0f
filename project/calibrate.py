"""Calibration on observed totals and the back-test table (modelled vs observed).

Observations live in data/observations.csv (variable, region, year, value, low, high,
unit, source, year_published, note, backtest). Rows named `Energy|Data Centres...` are
observed totals; `Projection|...` rows are published projections, used out of sample.
A row with `backtest = 0` is kept for context but not scored (its boundary differs:
crypto included, a broader scope, or conflicting figures; the note says which).

`calibrate(scenario)` fits two physical parameters of a preset, on 2024 only:
  - `fleet.utilisation_scale` so the fleet's IT energy is the IEA's accelerated-server
    share of data-centre electricity (data/parameters.csv `accelerated_it_share_2024`);
  - `regions.all.conventional_growth_per_year` so that AI + conventional data centres
    match the observed 2024 World total.
Every other year and region in the back-test is out of sample.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from .paths import data_dir
from .variables import REGIONS, WORLD

#: observation variable -> model variable
OBSERVED_AS = {"Energy|Data Centres": "Data Centres", "Energy|Data Centres|Accelerated Servers": "Data Centres|AI"}
CALIBRATION_YEAR = 2024
REGION_NAME = {"World": WORLD, **REGIONS}


@lru_cache(maxsize=1)
def observations() -> pd.DataFrame:
    """data/observations.csv with `model_variable`, `model_region` and `backtest` (bool) columns."""
    df = pd.read_csv(data_dir() / "observations.csv")
    if "backtest" not in df.columns:
        df["backtest"] = 1
    df["backtest"] = df["backtest"].fillna(1).astype(int).astype(bool)
    df["model_region"] = df["region"].map(REGION_NAME)
    df["model_variable"] = df["variable"].str.removeprefix("Projection|").map(OBSERVED_AS)
    df["kind"] = np.where(df["variable"].str.startswith("Projection|"), "projection", "observed")
    return df


def backtest(result, tolerance: float = 0.15) -> pd.DataFrame:
    """Modelled vs observed for every scored observation inside the result's years.

    Columns: variable, region, year, observed, low, high, modelled, error (relative),
    within (|error| <= tolerance), in_range (modelled within the source's low-high),
    calibrated (the year and variable the preset was fitted on), source.
    """
    obs = observations()
    s = result.scenario
    rows = []
    sel = obs[(obs["kind"] == "observed") & obs["backtest"] & obs["model_variable"].notna()
              & obs["year"].between(s.start_year, min(s.end_year, CALIBRATION_YEAR))]
    for _, o in sel.iterrows():
        if o["model_variable"] not in result.central:
            continue
        m = result.value(o["model_variable"], int(o["year"]), region=o["model_region"])
        err = m / o["value"] - 1.0
        rows.append({
            "variable": o["model_variable"], "region": o["model_region"], "year": int(o["year"]),
            "observed": float(o["value"]), "low": float(o["low"]), "high": float(o["high"]),
            "modelled": m, "error": err, "within": abs(err) <= tolerance,
            "in_range": float(o["low"]) <= m <= float(o["high"]),
            "calibrated": int(o["year"]) == CALIBRATION_YEAR and o["model_region"] == WORLD,
            "source": o["source"],
        })
    return pd.DataFrame(rows, columns=["variable", "region", "year", "observed", "low", "high", "modelled",
                                       "error", "within", "in_range", "calibrated", "source"])


def projection_checks(result) -> pd.DataFrame:
    """Modelled vs published projections (out of sample), for years inside the result."""
    obs = observations()
    s = result.scenario
    sel = obs[(obs["kind"] == "projection") & obs["model_variable"].notna()
              & obs["year"].between(s.start_year, s.end_year)]
    rows = []
    for _, o in sel.iterrows():
        if o["model_variable"] not in result.central:
            continue
        m = result.value(o["model_variable"], int(o["year"]), region=o["model_region"])
        rows.append({"variable": o["model_variable"], "region": o["model_region"], "year": int(o["year"]),
                     "published": float(o["value"]), "modelled": m, "ratio": m / o["value"],
                     "note": o["note"], "source": o["source"]})
    return pd.DataFrame(rows)


def calibration_targets() -> dict[str, float]:
    """The 2024 targets: World data-centre electricity (TWh) and the accelerated-server IT share."""
    from .params import param

    obs = observations()
    hit = obs[(obs["variable"] == "Energy|Data Centres") & (obs["region"] == "World")
              & (obs["year"] == CALIBRATION_YEAR) & (obs["kind"] == "observed")]
    if hit.empty:
        raise ValueError(f"data/observations.csv: no World data-centre total for {CALIBRATION_YEAR}")
    return {"world_twh": float(hit["value"].iloc[0]), "accelerated_it_share": param("accelerated_it_share_2024")}


def calibrate(scenario) -> dict[str, float]:
    """Fit the fleet's utilisation scale and the conventional growth rate on 2024 (central run).

    Returns the fitted values with the 2024 outcome; raises ValueError if the scenario
    has no fleet or no conventional load.
    """
    from scipy.optimize import brentq

    from .engine import central, compile_scenario
    from .scenario import apply_overrides

    if scenario.fleet is None or not scenario.conventional:
        raise ValueError(f"{scenario.name}: calibration needs a [fleet] and conventional = true")
    tg = calibration_targets()
    i = CALIBRATION_YEAR - scenario.start_year
    if not 0 <= i <= scenario.end_year - scenario.start_year:
        raise ValueError(f"{scenario.name}: {CALIBRATION_YEAR} lies outside its years")

    def world(s, var):
        cen = central(compile_scenario(s))
        return float(cen[var][:, i].sum())

    def with_(u, g):
        return apply_overrides(scenario, {"fleet.utilisation_scale": u, "regions.all.conventional_growth_per_year": g},
                               origin="calibrate")

    # the AI share depends on both, the total on both: alternate two 1-D solves to a fixed point
    u, g = scenario.fleet.utilisation_scale.value, 0.05
    for _ in range(20):
        def share_err(x):
            s = with_(x, g)
            return world(s, "Energy|IT") - tg["accelerated_it_share"] * world(s, "Data Centres")

        u_new = brentq(share_err, 0.05, 5.0, xtol=1e-6)

        def total_err(x):
            return world(with_(u_new, x), "Data Centres") - tg["world_twh"]

        g_new = brentq(total_err, -0.2, 0.5, xtol=1e-7)
        done = abs(u_new - u) < 1e-5 and abs(g_new - g) < 1e-6
        u, g = u_new, g_new
        if done:
            break
    s = with_(u, g)
    return {"fleet.utilisation_scale": u, "regions.all.conventional_growth_per_year": g,
            "world_twh_2024": world(s, "Data Centres"), "ai_it_twh_2024": world(s, "Energy|IT"), **tg}
