"""Regional data: grid intensity and electricity demand from data/national, facility factors
from data/fleet/regions.csv, water consumed at power plants from data/water. Regions: USA, CHN,
EUR (EU-27, Ember), ROW (World minus the three)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..paths import data_dir
from ..variables import REGIONS

#: region id -> the national-data entity whose intensity and demand stand for it
REGION_ENTITY = {"USA": "United States", "CHN": "China", "EUR": "EU (Ember)"}
NATIONAL_SOURCE = ("Our World in Data energy dataset (Ember 2026 release) and Ember yearly data, "
                   "data/national/national_electricity.csv")


@lru_cache(maxsize=1)
def national_long() -> pd.DataFrame:
    """data/national/national_electricity.csv (one row per entity and year, 2019-2025)."""
    return pd.read_csv(data_dir() / "national" / "national_electricity.csv")


def _row(entity: str, year: int) -> pd.Series:
    df = national_long()
    hit = df[((df["country"] == entity) | (df["iso3"] == entity)) & (df["year"] == year)]
    if hit.empty:
        raise KeyError(f"no national data for {entity!r} in {year}")
    return hit.iloc[0]


@lru_cache(maxsize=64)
def region_grid(year: int = 2024) -> dict[str, tuple[float, float]]:
    """region -> (lifecycle grid intensity g/kWh, electricity demand TWh) in `year`.

    ROW is World minus USA, CHN and EU-27, demand-weighted.
    """
    out = {}
    for r, ent in REGION_ENTITY.items():
        row = _row(ent, year)
        out[r] = (float(row["carbon_intensity_g_per_kwh"]), float(row["electricity_demand_twh"]))
    w = _row("World", year)
    wd, wi = float(w["electricity_demand_twh"]), float(w["carbon_intensity_g_per_kwh"])
    rest_d = wd - sum(d for _, d in out.values())
    rest_i = (wd * wi - sum(i * d for i, d in out.values())) / rest_d
    out["ROW"] = (rest_i, rest_d)
    return {r: out[r] for r in REGIONS}


def grid_intensity_of(key: str, year: int = 2024) -> tuple[float, str]:
    """Lifecycle grid intensity (g CO2e/kWh) of a country (ISO3 or name) or aggregate, and its source."""
    df = national_long()
    k = key.strip().lower()
    hit = df[(df["country"].str.lower() == k) | (df["iso3"].fillna("").str.lower() == k)]
    if hit.empty:
        import difflib

        close = difflib.get_close_matches(key, df["country"].unique().tolist(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown country or aggregate {key!r} for grid intensity{hint}")
    hit = hit[hit["carbon_intensity_g_per_kwh"].notna()]
    hit = hit[hit["year"] <= year].sort_values("year")
    if hit.empty:
        raise KeyError(f"no grid intensity for {key!r} up to {year}")
    row = hit.iloc[-1]
    return float(row["carbon_intensity_g_per_kwh"]), f"{row['country']} {int(row['year'])}, {NATIONAL_SOURCE}"


def _region_table(relpath: str) -> pd.DataFrame:
    """A data/ CSV with one row per region id (column `region`), indexed by it; every region present."""
    df = pd.read_csv(data_dir() / relpath)
    missing = set(REGIONS) - set(df["region"])
    if missing:
        raise ValueError(f"data/{relpath}: missing regions {sorted(missing)}")
    return df.set_index("region", drop=False)


@lru_cache(maxsize=1)
def region_factors() -> pd.DataFrame:
    """data/fleet/regions.csv indexed by region id (PUE, on-site WUE with ranges and sources)."""
    return _region_table("fleet/regions.csv")


@lru_cache(maxsize=1)
def region_offsite_water() -> pd.DataFrame:
    """data/water/offsite_water_by_region.csv indexed by region id: water consumed at power plants
    per kWh generated (L/kWh) with range, source and year (scripts/derive_offsite_water.py)."""
    return _region_table("water/offsite_water_by_region.csv")


@lru_cache(maxsize=1)
def region_factor_rows() -> dict[str, dict]:
    """region_factors() as plain dicts by region (row lookups at compile time without pandas)."""
    return region_factors().to_dict("index")


@lru_cache(maxsize=1)
def region_offsite_water_rows() -> dict[str, dict]:
    """region_offsite_water() as plain dicts by region."""
    return region_offsite_water().to_dict("index")


@lru_cache(maxsize=16)
def observed_intensity(entity: str) -> dict[int, float]:
    """Year -> lifecycle grid intensity (g/kWh) of a national-data entity, years with a value."""
    df = national_long()
    rows = df[df["country"] == entity]
    return {int(y): float(v) for y, v in zip(rows["year"], rows["carbon_intensity_g_per_kwh"]) if pd.notna(v)}
