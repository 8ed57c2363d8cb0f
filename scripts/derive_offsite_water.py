"""Derive data/water/offsite_water_by_region.csv: water consumed at power plants per kWh, by region.

    python scripts/derive_offsite_water.py            # needs `pip install ecologits==0.11.3`

Input: EcoLogits' electricity-mix table (ecologits/data/electricity_mixes.json, field `wue`,
the water consumption factor of each country's electricity mix in L/kWh; countries flagged
`electricity-mix-wue-world` carry EcoLogits' world value) and national electricity demand in
2024 from data/national/national_electricity.csv (OWID/Ember). Regions: USA and China are
their national factors; Europe is the EU-27 demand-weighted mean; Rest of World is the
demand-weighted mean of every other country in both tables (world factor where EcoLogits
has none). The product reads the CSV only; ecologits is not needed at run time.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from importlib import resources
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from project.export import atomic_write  # noqa: E402
from project.national import iam_region  # noqa: E402

OUT = ROOT / "data" / "water" / "offsite_water_by_region.csv"
YEAR = 2024
#: LBNL 2024 (Shehabi et al.): ~800 billion L of indirect water for 176 TWh of US data centres in 2023
LBNL_US_L_PER_KWH = 800e9 / 176e9


def ecologits_table() -> tuple[pd.DataFrame, str]:
    import ecologits

    text = resources.files("ecologits").joinpath("data/electricity_mixes.json").read_text()
    rows = json.loads(text)["electricity_mixes"]
    df = pd.DataFrame(rows)
    df["own"] = [not (w and "electricity-mix-wue-world" in w) for w in df["warnings"]]
    return df.set_index("name"), ecologits.__version__


def derive() -> list[dict]:
    eco, version = ecologits_table()
    nat = pd.read_csv(ROOT / "data" / "national" / "national_electricity.csv")
    demand = nat[(nat["year"] == YEAR) & (nat["is_aggregate"] == 0)].set_index("iso3")["electricity_demand_twh"].dropna()
    world = float(eco.loc["WOR", "wue"])
    src = f"EcoLogits {version} electricity_mixes.json (`wue`, water consumption factor of the electricity mix)"

    def weighted(codes: list[str]) -> tuple[float, int, float]:
        codes = [c for c in codes if c in demand.index and c in eco.index]
        d = demand.loc[codes]
        f = eco.loc[codes, "wue"].astype(float)
        own = eco.loc[codes, "own"]
        return float((f * d).sum() / d.sum()), int(own.sum()), float(d[own].sum() / d.sum())

    eu27 = [c for c in demand.index if iam_region(c) == "Europe"]   # country_converter's EU-27
    if len(eu27) != 27:
        raise SystemExit(f"expected the 27 EU members in data/national, found {len(eu27)}: {sorted(eu27)}")
    eu, eu_n, eu_cov = weighted(eu27)
    rest = [c for c in demand.index if c not in eu27 + ["USA", "CHN"]]
    row_v, row_n, row_cov = weighted(rest)
    us = float(eco.loc["USA", "wue"])
    cn = float(eco.loc["CHN", "wue"])
    note_range = "range: wattcast assumption, x0.5 to x1.5 (published consumption factors differ by method and cooling mix)"
    return [
        {"region": "USA", "l_per_kwh": round(us, 3), "low": round(us * 0.75, 3), "high": round(LBNL_US_L_PER_KWH, 3),
         "source": f"{src}: USA; high: Shehabi et al., LBNL 2024 US Data Center Energy Usage Report, ~800 billion L "
                   f"indirect water for 176 TWh in 2023", "year": YEAR,
         "note": "consumption (not withdrawal) at power plants; low = wattcast assumption (x0.75)"},
        {"region": "CHN", "l_per_kwh": round(cn, 3), "low": round(cn * 0.5, 3), "high": round(cn * 1.5, 3),
         "source": f"{src}: CHN", "year": YEAR, "note": f"consumption at power plants; {note_range}"},
        {"region": "EUR", "l_per_kwh": round(eu, 3), "low": round(eu * 0.5, 3), "high": round(eu * 1.5, 3),
         "source": f"{src}: EU-27, weighted by {YEAR} electricity demand (data/national, OWID/Ember)", "year": YEAR,
         "note": f"{eu_n} of 27 countries have their own factor ({eu_cov:.0%} of EU demand), the rest EcoLogits' "
                 f"world value; {note_range}"},
        {"region": "ROW", "l_per_kwh": round(row_v, 3), "low": round(row_v * 0.5, 3), "high": round(row_v * 1.5, 3),
         "source": f"{src}: every other country, weighted by {YEAR} electricity demand (data/national, OWID/Ember)",
         "year": YEAR,
         "note": f"{row_n} countries have their own factor ({row_cov:.0%} of the region's demand), the rest EcoLogits' "
                 f"world value {world:g} L/kWh; {note_range}"},
    ]


def write(rows: list[dict], path: Path) -> None:
    def fill(p: Path) -> None:
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)

    atomic_write(path, fill)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = ap.parse_args()
    rows = derive()
    if args.check:
        shipped = pd.read_csv(OUT)
        fresh = pd.DataFrame(rows)
        same = shipped[["region", "l_per_kwh", "low", "high"]].equals(fresh[["region", "l_per_kwh", "low", "high"]])
        print("up to date" if same else f"differs:\n{fresh}")
        raise SystemExit(0 if same else 1)
    write(rows, OUT)
    print(pd.DataFrame(rows)[["region", "l_per_kwh", "low", "high", "note"]].to_string(index=False))


if __name__ == "__main__":
    main()
