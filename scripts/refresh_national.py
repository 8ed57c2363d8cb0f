#!/usr/bin/env python
"""Rebuild data/national/national_electricity.csv from Our World in Data / Ember files.

    # with local copies of the inputs (works offline):
    python scripts/refresh_national.py \\
        --owid path/to/owid-energy-data.csv --owid-id owid_energy_<commit7> \\
        --ember path/to/api_country_overview_yearly.csv --ember-id ember_api_<commit7>

    # where the network allows, fetch both first (raw GitHub copies, into a temp folder):
    python scripts/refresh_national.py --download

Inputs
- `--owid`: OWID's energy dataset, `owid-energy-data.csv` from github.com/owid/energy-data
  (columns country, year, iso_code, electricity_demand, electricity_generation,
  carbon_intensity_elec; TWh and g CO2-equiv/kWh, lifecycle, from Ember).
- `--ember` (optional): Ember's yearly country overview, `data/api_country_overview_yearly.csv`
  from github.com/ember-climate/ember-data-api (columns country_or_region, country_code,
  year, demand_twh). Used for the demand of Ember's aggregates ("EU" -> "EU (Ember)"), whose
  demand the OWID file gives as equal to generation, and for countries OWID has no demand for.
- `--owid-id` / `--ember-id`: the ids written in the `source` / `demand_source` columns; name
  the commit you read (default: `owid_energy_` / `ember_api_` + the first 7 hex digits of the
  file's sha256). Then update national_electricity.md: sources table, row counts, cross-checks.

Rules (the same as the shipped table; national_electricity.md has the details)
- Years `--first-year`..last year in the OWID file; a row only where a value is present.
- Countries: ISO3 from OWID (`OWID_KOS` -> `XKX`); generation and intensity from OWID;
  demand from OWID, else from the Ember file (same ISO3 and year).
- Aggregates kept: World, OWID's continents and EU-27 (no demand), OWID's income groups (no
  demand), Ember's "(Ember)" regions (demand from the Ember file only). Others ("(EI)",
  "(EIA)", ...) are dropped and listed.
- Numbers are copied as written in the inputs (trailing zeros stripped), never recomputed.

Exit status 2 with one message for a missing file or column. The output is written to a
temporary file and renamed into place.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from project.export import atomic_write  # noqa: E402

OUT = ROOT / "data" / "national" / "national_electricity.csv"
OWID_URL = "https://raw.githubusercontent.com/owid/energy-data/master/owid-energy-data.csv"
EMBER_URL = "https://raw.githubusercontent.com/ember-climate/ember-data-api/main/data/api_country_overview_yearly.csv"
COLUMNS = ["country", "iso3", "year", "electricity_demand_twh", "electricity_generation_twh",
           "carbon_intensity_g_per_kwh", "is_aggregate", "aggregate_type", "is_latest_year",
           "is_latest_demand_year", "demand_source", "source"]
OWID_REGIONS = {"Africa", "Asia", "Europe", "North America", "South America", "Oceania", "European Union (27)"}
INCOME_GROUPS = {"High-income countries", "Low-income countries", "Lower-middle-income countries",
                 "Upper-middle-income countries"}
ISO_FIX = {"OWID_KOS": "XKX"}


class InputError(ValueError):
    """A missing or malformed input file (the message names it)."""


def number(text: object) -> str:
    """A number as written in the input, trailing zeros stripped ("1352.110" -> "1352.11");
    "" for a missing value."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = str(text).strip()
    if not s or s.lower() == "nan":
        return ""
    float(s)  # refuse text that is no number
    if "." in s and "e" not in s.lower():
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def file_id(prefix: str, path: Path) -> str:
    return prefix + hashlib.sha256(path.read_bytes()).hexdigest()[:7]


def _read(path: Path, needed: list[str], what: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{what}: {path} is not a file")
    head = pd.read_csv(path, nrows=0)
    missing = [c for c in needed if c not in head.columns]
    if missing:
        raise InputError(f"{what}: {path} lacks columns {missing}")
    return pd.read_csv(path, usecols=needed, dtype=str, keep_default_na=False)


def aggregate_type(name: str, iso: str) -> str | None:
    """'' for a country, the aggregate type for a kept aggregate, None for a dropped one."""
    if (iso and not iso.startswith("OWID_")) or iso in ISO_FIX:
        return ""
    if name == "World":
        return "world"
    if name in OWID_REGIONS:
        return "owid_region"
    if name in INCOME_GROUPS:
        return "owid_income_group"
    if name.endswith(" (Ember)"):
        return "ember_region"
    return None


def build(owid: Path, ember: Path | None, owid_id: str, ember_id: str | None, first_year: int = 2019
          ) -> tuple[pd.DataFrame, list[str]]:
    """The long table (COLUMNS, all text) and the names of the aggregates dropped."""
    o = _read(owid, ["country", "year", "iso_code", "electricity_demand", "electricity_generation",
                     "carbon_intensity_elec"], "--owid")
    o["year"] = o["year"].astype(int)
    o = o[o["year"] >= first_year]
    e_country: dict[tuple[str, int], str] = {}
    e_region: dict[tuple[str, int], str] = {}
    if ember is not None:
        e = _read(ember, ["country_or_region", "country_code", "year", "demand_twh"], "--ember")
        for name, code, year, dem in zip(e["country_or_region"], e["country_code"], e["year"], e["demand_twh"]):
            if not number(dem):
                continue
            key = int(float(year))
            if code:
                e_country[(code, key)] = number(dem)
            else:
                e_region[(f"{name} (Ember)", key)] = number(dem)
    rows, dropped = [], set()
    for r in o.itertuples(index=False):
        kind = aggregate_type(r.country, r.iso_code)
        if kind is None:
            dropped.add(r.country)
            continue
        iso = ISO_FIX.get(r.iso_code, r.iso_code) if kind == "" else ""
        gen, ci = number(r.electricity_generation), number(r.carbon_intensity_elec)
        demand, dsrc = "", ""
        if kind in ("", "world"):
            demand, dsrc = number(r.electricity_demand), owid_id
            if not demand and (iso, r.year) in e_country:
                demand, dsrc = e_country[(iso, r.year)], ember_id
        elif kind == "ember_region" and (r.country, r.year) in e_region:
            demand, dsrc = e_region[(r.country, r.year)], ember_id
        if not (demand or gen or ci):
            continue
        dsrc = dsrc if demand else ""
        rows.append({"country": r.country, "iso3": iso, "year": r.year, "electricity_demand_twh": demand,
                     "electricity_generation_twh": gen, "carbon_intensity_g_per_kwh": ci,
                     "is_aggregate": int(kind != ""), "aggregate_type": kind, "demand_source": dsrc,
                     "source": f"gen+ci={owid_id}" + (f";demand={dsrc}" if dsrc else "")})
    if not rows:
        raise InputError(f"--owid: {owid} has no rows from {first_year} on")
    df = pd.DataFrame(rows)
    df["is_latest_year"] = (df["year"] == df.groupby("country")["year"].transform("max")).astype(int)
    has_d = df["electricity_demand_twh"] != ""
    last_d = df[has_d].groupby("country")["year"].max()
    df["is_latest_demand_year"] = (has_d & (df["year"] == df["country"].map(last_d))).astype(int)
    df = df.sort_values(["is_aggregate", "country", "year"], kind="stable")
    return df[COLUMNS].reset_index(drop=True), sorted(dropped)


def download(folder: Path) -> tuple[Path, Path]:
    """Fetch the two inputs into `folder` (InputError when the network does not allow it)."""
    out = []
    for url, name in ((OWID_URL, "owid-energy-data.csv"), (EMBER_URL, "api_country_overview_yearly.csv")):
        target = folder / name
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(target, "wb") as f:
                f.write(resp.read())
        except OSError as exc:
            raise InputError(f"--download: cannot fetch {url} ({exc}); download it by hand and pass its path "
                             "with --owid/--ember") from None
        out.append(target)
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--owid", type=Path, help="owid-energy-data.csv (local copy)")
    ap.add_argument("--ember", type=Path, help="api_country_overview_yearly.csv (local copy, optional)")
    ap.add_argument("--owid-id", help="source id for the OWID file, e.g. owid_energy_e7897ae")
    ap.add_argument("--ember-id", help="source id for the Ember file, e.g. ember_api_ae39f58")
    ap.add_argument("--download", action="store_true", help="fetch both inputs first (needs the network)")
    ap.add_argument("--first-year", type=int, default=2019)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            owid, ember = (download(Path(tmp)) if args.download else (args.owid, args.ember))
            if owid is None:
                raise InputError("give --owid PATH (a local owid-energy-data.csv) or --download")
            for flag, p in (("--owid", owid), ("--ember", ember)):
                if p is not None and not p.is_file():
                    raise InputError(f"{flag}: {p} is not a file")
            owid_id = args.owid_id or file_id("owid_energy_", owid)
            ember_id = (args.ember_id or file_id("ember_api_", ember)) if ember is not None else None
            df, dropped = build(owid, ember, owid_id, ember_id, args.first_year)
        if not args.out.parent.is_dir():
            raise InputError(f"--out: folder {args.out.parent} does not exist")
        atomic_write(args.out, lambda p: df.to_csv(p, index=False))
    except (InputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_agg = df.loc[df["is_aggregate"] == 1, "country"].nunique()
    print(f"wrote {args.out}: {len(df):,} rows, {df['country'].nunique() - n_agg} countries, {n_agg} aggregates, "
          f"years {df['year'].min()}-{df['year'].max()}; dropped aggregates: {', '.join(dropped) or 'none'}")
    print("now update national_electricity.md (sources, counts, cross-checks) and run "
          "tests/test_project_national.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
