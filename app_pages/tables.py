"""Chart-ready and page-ready tables from projection results (no Streamlit here).

Units are the model's (TWh/yr, Mt CO2-equiv/yr, million m3/yr, GW); every table says which
statistic it holds: `p50` is the Monte Carlo median where the result has percentiles for
that variable and region, else the central run (`stat` column says which).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from project.engine import ProjectionResult
from project.variables import TREE, VARIABLES

from . import fmt


def band_table(result: ProjectionResult, variable: str, region: str, series: str) -> pd.DataFrame:
    """Year by year: p50 (median, or central when unsampled), p5 and p95 (NaN when unsampled)."""
    years = result.compiled.years
    j = result.regions.index(region)
    pct = result.percentiles.get(variable)
    if pct is not None and np.isfinite(pct[1, j]).all():
        p5, p50, p95, stat = pct[0, j], pct[1, j], pct[2, j], "median"
    else:
        c = result.central[variable][j]
        p5, p50, p95, stat = np.full(len(years), np.nan), c, np.full(len(years), np.nan), "central"
    return pd.DataFrame({"year": years.astype(int), "series": series, "p50": np.asarray(p50, float),
                         "p5": np.asarray(p5, float), "p95": np.asarray(p95, float), "stat": stat})


def regions_table(result: ProjectionResult, variable: str, year: int) -> pd.DataFrame:
    """One row per region (World excluded): p50, p5, p95 and share of World."""
    rows = []
    world = result.value(variable, year)
    for r in result.regions[1:]:
        p50 = result.value(variable, year, region=r)
        try:
            p5, p95 = (result.value(variable, year, s, r) for s in ("p5", "p95"))
        except KeyError:
            p5 = p95 = np.nan
        rows.append({"region": r, "p50": p50, "p5": p5, "p95": p95,
                     "share": p50 / world if world else np.nan})
    return pd.DataFrame(rows)


def country_table(ai_twh: float, ai_lo: float | None, ai_hi: float | None, label: str, countries: list[str],
                  year: int) -> pd.DataFrame:
    """The AI total beside a fixed list of countries' electricity demand (TWh, `year` or latest before).

    Columns: name, twh, lo, hi, kind ("AI" or "Country"), data_year; sorted by twh, largest first.
    """
    from .compute import countries as table

    nat = table(year)
    rows = [{"name": label, "twh": float(ai_twh), "lo": ai_lo, "hi": ai_hi, "kind": "AI", "data_year": None}]
    for iso in dict.fromkeys(countries):
        if iso in nat.index:
            r = nat.loc[iso]
            rows.append({"name": str(r["country"]), "twh": float(r["twh"]), "lo": None, "hi": None,
                         "kind": "Country", "data_year": int(r["year"])})
    df = pd.DataFrame(rows)
    return df.sort_values("twh", ascending=False, kind="stable").reset_index(drop=True)


def reference_lines(ymax: float, countries: list[str], year: int, limit: int = 4) -> pd.DataFrame:
    """Countries whose electricity demand lies within the chart's range (8% to 100% of ymax TWh):
    name, twh, data_year; at most `limit`, largest first, none closer than 7% of the range."""
    from .compute import countries as table

    nat = table(year)
    rows = [{"name": str(nat.at[i, "country"]), "twh": float(nat.at[i, "twh"]), "data_year": int(nat.at[i, "year"])}
            for i in dict.fromkeys(countries) if i in nat.index]
    df = pd.DataFrame(rows, columns=["name", "twh", "data_year"])
    df = df[(df["twh"] >= 0.08 * ymax) & (df["twh"] <= ymax)].sort_values("twh", ascending=False)
    kept: list[int] = []
    for i, t in zip(df.index, df["twh"]):
        if all(abs(t - df.loc[k, "twh"]) > 0.07 * ymax for k in kept):
            kept.append(i)
    return df.loc[kept[:limit]].reset_index(drop=True)


@dataclass(frozen=True)
class Counted:
    """What AI electricity is made of in one year and region, every number from the central run
    (every parameter at its central value), so the parts add up: inference + training +
    unattributed = total and attributed_share x total = inference + training. TWh/yr;
    `datacentres` (all data centres, AI included) is NaN when the scenario does not model it."""

    total: float
    inference: float
    training: float
    unattributed: float
    attributed_share: float
    datacentres: float


def counted(result: ProjectionResult, year: int, region: str) -> Counted:
    """The central run's parts of Energy in `year` and `region` (see `Counted`)."""
    def c(v: str) -> float:
        return result.value(v, year, "central", region) if v in result.central else 0.0

    from .compute import modelled

    share = c("Share|Attributed") if "Share|Attributed" in result.central else np.nan
    return Counted(total=c("Energy"), inference=c("Energy|Inference"), training=c("Energy|Training"),
                   unattributed=c("Energy|Unattributed"),
                   attributed_share=float(share) if np.isfinite(share) else np.nan,
                   datacentres=c("Data Centres") if modelled(result, "Data Centres") else np.nan)


def variable_tree(result: ProjectionResult) -> pd.DataFrame:
    """The variables of a result in tree order: variable, depth, unit, definition, parts (children)."""
    from project.engine import unit_of

    defs = result.compiled.variables()
    rows = []
    for k in result.table["variable"].unique():
        d = defs.get(k) or VARIABLES.get(k)
        rows.append({"variable": k, "depth": k.count("|"), "unit": unit_of(k),
                     "definition": d.description if d is not None else "",
                     "sum of": " + ".join(c.split("|")[-1] for c in TREE.get(k, []))})
    return pd.DataFrame(rows)


def backtest_table(result: ProjectionResult) -> pd.DataFrame:
    """The model's back-test against observed totals, formatted for a page (TWh/yr)."""
    bt = result.backtest
    if bt.empty:
        return pd.DataFrame(columns=["Year", "Region", "What", "Observed", "Modelled", "Error", "Source"])
    return pd.DataFrame({
        "Year": bt["year"].astype(int), "Region": bt["region"],
        "What": bt["variable"].map({"Data Centres": "All data centres", "Data Centres|AI": "AI servers"})
                .fillna(bt["variable"]),
        "Observed": bt["observed"], "Modelled": bt["modelled"],
        "Error": [f"{e:+.0%}" + (" (calibrated)" if c else "") for e, c in zip(bt["error"], bt["calibrated"])],
        "Source": bt["source"],
    }).sort_values(["Year", "Region"]).reset_index(drop=True)


def equations() -> str:
    """The engine's equations, as its module docstring states them (the code that computes them)."""
    import textwrap

    from project import engine

    paras = (engine.__doc__ or "").split("\n\n")
    for i, p in enumerate(paras):
        if p.lstrip().startswith("Per sample") and i + 1 < len(paras):
            return p.strip() + "\n\n" + textwrap.dedent(paras[i + 1]).strip("\n")
    return (engine.__doc__ or "").strip()


def sources_table(result: ProjectionResult) -> pd.DataFrame:
    """Every parameter of the scenario with its central value, range and source (from the engine)."""
    rows = []
    for p in result.compiled.params.values():
        rows.append({"parameter": p.label, "path": p.path, "value": p.central, "low": p.low, "high": p.high,
                     "unit": p.unit, "source": p.source})
    return pd.DataFrame(rows)


def source_list(result: ProjectionResult) -> list[str]:
    """Distinct sources named by the scenario and its parameters, shortest first (for chart footers)."""
    out = list(result.scenario.sources)
    seen = {re.sub(r"\W+", "", s.lower()) for s in out}
    for p in result.compiled.params.values():
        key = re.sub(r"\W+", "", (p.source or "").lower())
        if p.source and key not in seen:
            seen.add(key)
            out.append(p.source)
    return out


def pinned_table(rows: list[tuple[str, ProjectionResult]], year: int, region: str) -> pd.DataFrame:
    """Side by side: for each scenario, energy, emissions and water in `year` (median and 90% range)."""
    from .compute import figure

    out = []
    for name, r in rows:
        row = {"Scenario": name}
        for v, col in (("Energy", "Electricity"), ("Emissions", "Emissions"), ("Water", "Water")):
            if year < r.scenario.start_year or year > r.scenario.end_year:
                row[col] = "outside its years"
                continue
            f = figure(r, v, year, region)
            row[col] = fmt.NOT_MODELLED if not f.modelled else (
                f"{fmt.value(v, f.p50)} ({fmt.span(v, f.p5, f.p95)})" if f.has_range else fmt.value(v, f.p50))
        out.append(row)
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------
# Plain-text summaries (chart descriptions for screen readers and the caption under a chart)


def describe_trajectory(bands: pd.DataFrame, variable: str, label: str, target_year: int) -> str:
    """One sentence per series: start, year shown (with its 90% range) and end values."""
    parts = []
    for name, g in bands.groupby("series", sort=False):
        g = g.set_index("year")
        y0, y1 = int(g.index.min()), int(g.index.max())
        ty = min(max(target_year, y0), y1)
        t = g.loc[ty]
        rng = f" (90% range {fmt.span(variable, t['p5'], t['p95'])})" if np.isfinite(t["p5"]) else ""
        parts.append(f"{name}: {fmt.value(variable, g.loc[y0, 'p50'])} in {y0}, {fmt.value(variable, t['p50'])} in "
                     f"{ty}{rng}, {fmt.value(variable, g.loc[y1, 'p50'])} in {y1}.")
    return f"{label}, median by year. " + " ".join(parts)


def describe_wedges(wedges_total: pd.DataFrame, variable: str, year: int) -> str:
    """'In 2030 the measures change X by -12 TWh: facility standards -8 TWh, ...'."""
    g = wedges_total[wedges_total["year"] == year].sort_values("value")
    if g.empty:
        return "No measure differs from the starting point."
    total = float(g["value"].sum())
    items = ", ".join(f"{r.label} {'-' if r.value < 0 else '+'}{fmt.value(variable, abs(r.value))}"
                      for r in g.itertuples())
    sign = "-" if total < 0 else "+"
    return f"In {year} the measures change the total by {sign}{fmt.value(variable, abs(total))}: {items}."
