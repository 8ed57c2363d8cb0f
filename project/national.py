"""National electricity use and grid intensity, from the installed codecarbon package.

codecarbon ships `data/private_infra/global_energy_mix.json` (Our World in Data / Ember
figures: 213 countries, total generation in TWh and carbon intensity in g CO2e/kWh, each
row with its year, mostly 2022-2023). wattcast reads it at run time instead of copying it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from .paths import data_dir

CODECARBON_SOURCE = "codecarbon global_energy_mix.json (Our World in Data / Ember)"


@lru_cache(maxsize=1)
def national_electricity() -> pd.DataFrame:
    """One row per country: iso_code, country, twh, intensity_g_per_kwh, year.

    Sorted by `twh` ascending. Raises RuntimeError if codecarbon's data cannot be read.
    """
    try:
        ref = resources.files("codecarbon") / "data" / "private_infra" / "global_energy_mix.json"
        raw = json.loads(ref.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError, json.JSONDecodeError) as exc:  # pragma: no cover
        raise RuntimeError(f"cannot read codecarbon's national energy data: {exc}") from exc
    rows = [
        {
            "iso_code": iso,
            "country": rec.get("country_name", iso),
            "twh": float(rec["total_TWh"]),
            "intensity_g_per_kwh": float(rec.get("carbon_intensity", np.nan)),
            "year": int(rec.get("year", 0)),
        }
        for iso, rec in raw.items()
        if rec.get("total_TWh") is not None
    ]
    df = pd.DataFrame(rows).sort_values("twh", kind="stable").reset_index(drop=True)
    return df


@lru_cache(maxsize=1)
def crosscheck_2025() -> pd.DataFrame:
    """The shipped 2025 demand cross-check table (Our World in Data), indexed by iso_code."""
    return pd.read_csv(data_dir() / "national_crosscheck_2025.csv").set_index("iso_code", drop=False)


def country_lookup(key: str) -> pd.Series:
    """Find a country by ISO 3166 alpha-3 code or by name (case-insensitive).

    Raises KeyError with close matches when nothing fits.
    """
    df = national_electricity()
    k = key.strip()
    hit = df[(df["iso_code"].str.upper() == k.upper()) | (df["country"].str.lower() == k.lower())]
    if len(hit):
        return hit.iloc[0]
    import difflib

    names = df["country"].tolist() + df["iso_code"].tolist()
    close = difflib.get_close_matches(k, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"unknown country {key!r} (use an ISO alpha-3 code or a name from codecarbon's data{hint})")


def world_electricity_twh() -> float:
    """World electricity demand, 2025 (Our World in Data), TWh."""
    return float(crosscheck_2025().at["WLD", "demand_twh"])
