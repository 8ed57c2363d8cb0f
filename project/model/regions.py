"""Regional data: grid intensity and electricity demand from data/national, facility factors
from data/fleet/regions.csv, water consumed at power plants from data/water. Regions: USA, CHN,
EUR (EU-27, Ember), ROW (World minus the three)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from .. import national
from ..paths import data_dir
from ..variables import REGIONS

#: region id -> the national-data entity whose intensity and demand stand for it
REGION_ENTITY = {"USA": "United States", "CHN": "China", "EUR": "EU (Ember)"}


def _entity_rows(key: str) -> pd.DataFrame:
    """Every year's row of a country or aggregate, named as `project.national` accepts it (ISO3,
    the table's name, or a country_converter spelling such as "UK"); KeyError with close matches."""
    rows = national._find(key)
    if not len(rows):
        raise national._unknown(key)
    return rows


def _row(entity: str, year: int) -> pd.Series:
    rows = _entity_rows(entity)
    hit = rows[rows["year"] == year]
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


@lru_cache(maxsize=256)
def grid_intensity_of(key: str, year: int = 2024) -> tuple[float, str]:
    """Lifecycle grid intensity (g CO2e/kWh) of a country or aggregate in the latest year <= `year`
    with a value, and its source ("France 2024, <national.SOURCE>"). Names as `project.national`
    accepts them; KeyError for an unknown name or no value up to `year`."""
    rows = _entity_rows(key)
    rows = rows[rows["carbon_intensity_g_per_kwh"].notna() & (rows["year"] <= year)]
    if rows.empty:
        raise KeyError(f"no grid intensity for {key!r} up to {year}")
    row = rows.loc[rows["year"].idxmax()]
    return float(row["carbon_intensity_g_per_kwh"]), f"{row['country']} {int(row['year'])}, {national.SOURCE}"


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
    df = national.national_table()
    rows = df[df["country"] == entity]
    return {int(y): float(v) for y, v in zip(rows["year"], rows["carbon_intensity_g_per_kwh"]) if pd.notna(v)}
