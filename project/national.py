"""National electricity demand, generation and grid intensity, 2019-2025 (OWID / Ember).

The table is `data/national/national_electricity.csv` (provenance, definitions and caveats in
`national_electricity.md` beside it): one row per entity and year, 214 countries and
territories plus 24 aggregates (World, Ember and OWID regions), with

- `electricity_demand_twh`: demand in TWh/yr (Ember: gross generation + net imports),
- `electricity_generation_twh`: domestic generation in TWh/yr,
- `carbon_intensity_g_per_kwh`: lifecycle intensity of generation, g CO2-equiv/kWh.

Country comparisons use **demand of a stated year**: `national_electricity(year)` gives each
country's demand in the latest year <= `year` that has a value, with that year on the row.
Names are matched exactly (ISO alpha-3 or the table's English name, case-insensitive), then
through `country_converter` (e.g. "Republic of Ireland", "South Korea"); `iam_region` maps a
country onto wattcast's regions or an IAM's (MESSAGE, IMAGE, REMIND: country_converter's
classifications). codecarbon's `global_energy_mix.json` is not read here: it stays the
measurement side's grid factor only.
"""

from __future__ import annotations

import difflib
import logging
from functools import lru_cache

import numpy as np
import pandas as pd

from .paths import data_dir

SOURCE = ("Our World in Data energy dataset (Ember 2026 release) and Ember yearly country "
          "overview (data/national/national_electricity.csv)")
#: the year country comparisons use unless told otherwise: the latest year with demand for
#: most countries (2025 demand exists only for World, the United States and China)
COMPARISON_YEAR = 2024

_COLUMNS = ["iso_code", "country", "year", "twh", "generation_twh", "intensity_g_per_kwh",
            "intensity_year", "is_aggregate", "aggregate_type", "demand_source"]


def table_path():
    """Path of the shipped long table."""
    return data_dir() / "national" / "national_electricity.csv"


@lru_cache(maxsize=1)
def national_table() -> pd.DataFrame:
    """The whole long table (one row per entity and year), as shipped, plus `iso_code`
    (= `iso3`; empty string for aggregates). Raises RuntimeError if the file is unreadable."""
    path = table_path()
    try:
        df = pd.read_csv(path, dtype={"iso3": str, "country": str, "aggregate_type": str,
                                      "demand_source": str, "source": str})
    except (OSError, ValueError) as exc:  # pragma: no cover - the file ships with the package
        raise RuntimeError(f"cannot read national electricity table {path}: {exc}") from exc
    df["iso3"] = df["iso3"].fillna("")
    df["iso_code"] = df["iso3"]
    for c in ("aggregate_type", "demand_source", "source"):
        df[c] = df[c].fillna("")
    return df


def _latest(df: pd.DataFrame, year: int | None) -> pd.DataFrame:
    """One comparison row per entity of `df` (index: `country`, sorted; columns _COLUMNS): demand
    of the latest year <= `year` with a value (`year`; NaN demand and the latest year <= `year`
    for an entity with none), and the intensity of that year, or of the latest <= `year` with
    one (`intensity_year` says which)."""
    r = df if year is None else df[df["year"] <= year]
    ents = df.drop_duplicates("country").set_index("country").sort_index()
    countries = ents.index
    dem = r[r["electricity_demand_twh"].notna()]
    d = dem.loc[dem.groupby("country")["year"].idxmax()].set_index("country").reindex(countries)
    has_demand = d["year"].notna().to_numpy()
    y = np.where(has_demand, d["year"], r.groupby("country")["year"].max().reindex(countries))
    ci = r[r["carbon_intensity_g_per_kwh"].notna()]
    latest_ci = ci.loc[ci.groupby("country")["year"].idxmax()].set_index("country").reindex(countries)
    same = ci.set_index(["country", "year"])["carbon_intensity_g_per_kwh"]
    keys = pd.MultiIndex.from_arrays([countries, np.nan_to_num(y, nan=-1).astype(int)], names=["country", "year"])
    same_v = np.where(has_demand, same.reindex(keys).to_numpy(dtype=float), np.nan)
    has = ~np.isnan(same_v)
    out = pd.DataFrame({
        "iso_code": ents["iso_code"], "country": countries, "year": y,
        "twh": d["electricity_demand_twh"].astype(float), "generation_twh": d["electricity_generation_twh"].astype(float),
        "intensity_g_per_kwh": np.where(has, same_v, latest_ci["carbon_intensity_g_per_kwh"].astype(float)),
        "intensity_year": np.where(has, y, latest_ci["year"].astype(float)),
        "is_aggregate": ents["is_aggregate"].astype(bool), "aggregate_type": ents["aggregate_type"],
        "demand_source": d["demand_source"].fillna(""),
    }, index=countries)
    return out[_COLUMNS]


@lru_cache(maxsize=16)
def _by_year(year: int | None) -> pd.DataFrame:
    """`_latest` of every entity of the table (cached per year), indexed by `country`."""
    return _latest(national_table(), year)


def _entity_row(country: str, year: int | None) -> pd.Series:
    """One entity's `_by_year` row as a new Series (years as int, NaN where there is none)."""
    row = _by_year(year).loc[country].to_dict()
    for k in ("year", "intensity_year"):
        row[k] = int(row[k]) if row[k] == row[k] else np.nan
    return pd.Series(row)


def national_electricity(year: int | None = None) -> pd.DataFrame:
    """One row per country (aggregates excluded) with a demand value up to `year`.

    Columns: iso_code, country, twh (demand, TWh/yr, of the row's `year`: the latest year
    <= `year` with a value; all years when `year` is None), year, generation_twh,
    intensity_g_per_kwh (g CO2-equiv/kWh, same year where present, else `intensity_year`),
    intensity_year, demand_source. Sorted by `twh` ascending.
    """
    d = _by_year(None if year is None else int(year)).reset_index(drop=True)
    d = d[~d["is_aggregate"] & d["twh"].notna()].astype({"year": int})
    return d.drop(columns=["is_aggregate", "aggregate_type"]).sort_values("twh", kind="stable").reset_index(drop=True)


@lru_cache(maxsize=1)
def _converter():
    """A country_converter instance (its data file read so that pandas 3 keeps "NA" = Namibia)."""
    import os

    import country_converter as coco

    logging.getLogger("country_converter").setLevel(logging.ERROR)
    try:
        return coco.CountryConverter()
    except TypeError:  # country_converter 1.3.2 with pandas 3 reads Namibia's ISO2 "NA" as missing
        path = os.path.join(os.path.dirname(coco.__file__), "country_data.tsv")
        data = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
        for col in ("ISO2", "regex"):
            data[col] = data[col].fillna("(?!)")  # a pattern that never matches
        return coco.CountryConverter(country_data=data)


def to_iso3(name: str) -> str | None:
    """ISO alpha-3 for a country name in any spelling country_converter knows; None if unknown."""
    try:
        iso = _converter().convert(name, to="ISO3", not_found=None)
    except Exception:  # noqa: BLE001 - an unusable converter only loses the fuzzy match
        return None
    return iso if isinstance(iso, str) and iso != name and len(iso) == 3 else None


def _find(key: str) -> pd.DataFrame:
    """Rows of the entity `key` names (ISO3, table name, or a country_converter spelling)."""
    df = national_table()
    k = str(key).strip()
    hit = df[(df["iso_code"].str.upper() == k.upper()) & (df["iso_code"] != "")]
    if not len(hit):
        hit = df[df["country"].str.lower() == k.lower()]
    if not len(hit) and k:
        iso = to_iso3(k)
        if iso:
            hit = df[df["iso_code"] == iso]
    return hit


def _unknown(key: str) -> KeyError:
    df = national_table()
    names = sorted(set(df["country"]) | set(df["iso_code"]) - {""})
    close = difflib.get_close_matches(str(key).strip(), names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return KeyError(f"unknown country {key!r} (use an ISO alpha-3 code or a country name from "
                    f"data/national/national_electricity.csv{hint})")


def country_lookup(key: str, year: int | None = None) -> pd.Series:
    """A country (or aggregate) by ISO 3166 alpha-3 code or name, case-insensitive.

    Returns a Series: iso_code, country, twh (electricity demand, TWh/yr, of `year`, or of
    the latest year <= `year` with a value; latest overall when `year` is None), year,
    generation_twh, intensity_g_per_kwh, intensity_year, is_aggregate, aggregate_type,
    demand_source. Raises KeyError with close matches when nothing fits.
    """
    return _lookup(str(key), None if year is None else int(year)).copy()


@lru_cache(maxsize=512)
def _lookup(key: str, year: int | None) -> pd.Series:
    """country_lookup, cached: every scenario load checks its `compare_with` countries (pandas
    filters on a 1,700-row table, about 7 ms each); callers get a copy."""
    hit = _find(key)
    if not len(hit):
        raise _unknown(key)
    if bool(hit["is_aggregate"].iloc[0]):
        return aggregate_row(hit["country"].iloc[0], year)
    return _entity_row(hit["country"].iloc[0], year)


def aggregate_row(name: str, year: int | None = None) -> pd.Series:
    """An aggregate ("World", "EU (Ember)", "Europe", "OECD (Ember)", ...) for `year`.

    Columns as `country_lookup`. OWID's own regions (Europe, Asia, ...) carry no demand in
    the table; for those the matching Ember region ("Europe (Ember)") is returned, whole
    (demand and intensity from one source), and its name is in `country`.
    KeyError for an unknown name.
    """
    df = national_table()
    agg = df[df["is_aggregate"] == 1]
    rows = agg[agg["country"].str.lower() == str(name).strip().lower()]
    if not len(rows):
        names = sorted(set(agg["country"]))
        close = difflib.get_close_matches(str(name).strip(), names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown aggregate {name!r} (one of {len(names)} in "
                       f"data/national/national_electricity.csv{hint})")
    y = None if year is None else int(year)
    row = _entity_row(rows["country"].iloc[0], y)
    if row["twh"] != row["twh"]:
        twin = agg[agg["country"].str.lower() == f"{rows['country'].iloc[0]} (ember)".lower()]
        if len(twin):
            return _entity_row(twin["country"].iloc[0], y)
    return row


def world_electricity_twh(year: int = COMPARISON_YEAR) -> float:
    """World electricity demand of `year` (OWID; 2019-2025), TWh/yr. KeyError outside the table."""
    w = national_table()
    w = w[(w["country"] == "World") & (w["year"] == int(year))]
    if not len(w) or w["electricity_demand_twh"].isna().all():
        raise KeyError(f"no world electricity demand for {year} in data/national/national_electricity.csv")
    return float(w["electricity_demand_twh"].iloc[0])


#: wattcast region of the countries that are not "Rest of World" (Europe = EU-27, as in
#: project/model/regions.py, which uses Ember's "EU (Ember)" aggregate for it)
_WATTCAST_REGION = {"USA": "United States", "CHN": "China"}
#: IAM region schemes country_converter carries (its column names)
IAM_SCHEMES = ("wattcast", "MESSAGE", "IMAGE", "REMIND", "EU27", "OECD", "continent", "UNregion")


def iam_region(key: str, scheme: str = "wattcast") -> str:
    """The region a country (ISO3 or any name country_converter knows) belongs to in `scheme`.

    "wattcast": United States, China, Europe (EU-27 members) or Rest of World; the other
    schemes are country_converter's classifications (e.g. MESSAGE "WEU"). KeyError for an
    unknown country or a country the scheme leaves out; ValueError for an unknown scheme.
    """
    if scheme not in IAM_SCHEMES:
        raise ValueError(f"unknown region scheme {scheme!r}; one of {', '.join(IAM_SCHEMES)}")
    k = str(key).strip()
    hit = _find(k)
    iso = hit["iso_code"].iloc[0] if len(hit) and hit["iso_code"].iloc[0] else to_iso3(k)
    if not iso:
        raise _unknown(key)
    conv = _converter()
    if scheme == "wattcast":
        if iso in _WATTCAST_REGION:
            return _WATTCAST_REGION[iso]
        return "Europe" if conv.convert(iso, src="ISO3", to="EU27", not_found=None) == "EU27" else "Rest of World"
    out = conv.convert(iso, src="ISO3", to=scheme, not_found=None)
    if not isinstance(out, str) or out != out:
        raise KeyError(f"{key!r} ({iso}) has no {scheme} region in country_converter")
    return out
