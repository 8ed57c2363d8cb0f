"""`wattcast compare`: resolve the inputs, route each --set to its scenario, print and export.

Inputs are preset names (`reference`), policy packages by short name (`combined` =
`policy-combined`) or TOML files. `--set path=value` applies to every scenario;
`--set LABEL:path=value` to one, where LABEL is its position (1, 2, ...), the input as
typed, or its scenario name: `--set 2:policy.clean_power.procurement_share=0.8`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_report import fmt
from .comparison import Comparison
from .engine import unit_of
from .scenario import Scenario, ScenarioError

#: variables in the trajectory table (the summary table shows every SUMMARY_VARIABLES row)
TRAJECTORY = ("Energy", "Emissions", "Water", "Power|Peak")
LABELS = {
    "Energy": "AI electricity",
    "Emissions": "Emissions",
    "Emissions|Location-based": "  location-based",
    "Emissions|Embodied": "  embodied",
    "Emissions|Market-based": "  market-based*",
    "Water": "Water",
    "Water|On-site": "  on-site",
    "Water|Off-site": "  power plants",
    "Power|Peak": "Peak power",
}
SHORT_UNITS = {"TWh/yr": "TWh", "Mt CO2-equiv/yr": "Mt CO2e", "million m3/yr": "million m3", "GW": "GW"}
POLICY_PREFIX = "policy-"


def load_input(text: str) -> Scenario:
    """A preset, a policy package by short name, or a .toml file."""
    from .scenario import load_preset, load_scenario, preset_names

    p = Path(text)
    if text.endswith(".toml") or p.is_file():
        return load_scenario(p)
    names = preset_names()
    if text in names:
        return load_preset(text)
    if POLICY_PREFIX + text in names:
        return load_preset(POLICY_PREFIX + text)
    packages = [n.removeprefix(POLICY_PREFIX) for n in names if n.startswith(POLICY_PREFIX)]
    raise ScenarioError(f"{text!r}: not a preset, a policy package or a .toml file; presets: "
                        f"{', '.join(n for n in names if not n.startswith(POLICY_PREFIX))}; packages: "
                        f"{', '.join(packages)}")


def route_overrides(inputs: list[str], scenarios: list[Scenario], sets: list[str]) -> list[list[str]]:
    """Each --set for every scenario, or (LABEL:path=value) for the one LABEL names."""
    out: list[list[str]] = [[] for _ in inputs]
    for item in sets:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected [LABEL:]path=value, e.g. 2:policy.clean_power.siting_share=0.5")
        key, value = item.split("=", 1)
        if ":" not in key:
            for o in out:
                o.append(item)
            continue
        label, path = key.split(":", 1)
        label = label.strip()
        hits = [i for i, (t, s) in enumerate(zip(inputs, scenarios), start=1)
                if label in (str(i), t, s.name, s.name.removeprefix(POLICY_PREFIX))]
        if not hits:
            raise ScenarioError(f"--set {item!r}: {label!r} names none of the scenarios; use a position "
                                f"(1..{len(inputs)}) or one of {', '.join(inputs)}")
        if len(hits) > 1:
            raise ScenarioError(f"--set {item!r}: {label!r} names scenarios {hits}; use a position instead")
        out[hits[0] - 1].append(f"{path.strip()}={value}")
    return out


def all_wedges(comp: Comparison) -> dict[str, pd.DataFrame]:
    """lever_wedges of every scenario after the first against the first (WEDGE_VARIABLES: the
    export's rows and, sliced by `wedge_frame`, the printed table; computed once)."""
    from .wedges import lever_wedges

    base = comp.first.scenario
    return {name: lever_wedges(base, res.scenario) for name, res in list(comp.results.items())[1:]}


def wedge_frame(wedges: dict[str, pd.DataFrame], year: int, variables=TRAJECTORY) -> dict[str, pd.DataFrame]:
    """Of `all_wedges`: per scenario, lever x variable wedges (World, `year`), with a total row."""
    out = {}
    for name, w in wedges.items():
        w = w[(w["region"] == "World") & (w["year"] == year) & w["variable"].isin(variables)]
        t = w.pivot_table(index="label", columns="variable", values="value", sort=False)
        t = t.reindex(columns=[v for v in variables if v in t.columns])
        if not t.empty:
            t.loc["total"] = t.sum(axis=0)
        out[name] = t
    return out


def print_comparison(comp: Comparison, console: Console, year: int, wedges: dict[str, pd.DataFrame] | None) -> None:
    """One row per variable and scenario: the year's p50, p5-p95, change vs the first, trajectory."""
    summ = comp.summary(year)
    sampled = comp.samples > 0
    stat = f"p50 (p5-p95) of {comp.samples:,} Monte Carlo samples, seed {comp.seed}" if sampled else "central run"
    miles = [y for y in comp.milestones(year)[1:] if y != year]  # the start year is history
    traj = "p50" if sampled else "central run"
    t = Table(title=escape(f"World {year}, {stat}; change vs {comp.names[0]}; trajectory ({traj})"),
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("variable", style="bold", no_wrap=True)
    t.add_column("scenario", no_wrap=True)
    t.add_column(str(year), justify="right")
    if sampled:
        t.add_column("p5-p95", justify="right", no_wrap=True)
    t.add_column("change", justify="right")
    for y in miles:
        t.add_column(str(y), justify="right")
    for var in comp.variables():
        rows = summ[summ["variable"] == var]
        for i, n in enumerate(comp.names):
            r = rows[rows["scenario"] == n].iloc[0]
            unit = rows["unit"].iloc[0]
            label = f"{LABELS.get(var, var)}, {SHORT_UNITS.get(unit, unit)}" if i == 0 else ""
            change = "" if i == 0 or not np.isfinite(r["change_pct"]) else f"{round(r['change_pct']) + 0:+d}%"
            cells = [fmt(r["p50"])] + ([f"{fmt(r['p5'])}-{fmt(r['p95'])}"] if sampled else []) + [change]
            t.add_row(label, n, *cells, *(fmt(r[f"p50 {y}"]) for y in miles),
                      end_section=i == len(comp.names) - 1)
    console.print(t)
    if "Emissions|Market-based" in comp.variables():
        console.print("* market-based: net of contracted clean power, an alternative to location-based "
                      "(not in the Emissions sum)")
    for name, w in (wedges or {}).items():
        if w.empty:
            console.print(f"Wedges: {escape(name)} and {escape(comp.names[0])} differ in no lever and nothing else")
            continue
        h = Table(title=f"Wedges, World {year}: {name} minus {comp.names[0]} by lever (central run, Shapley)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        h.add_column("lever", style="bold", no_wrap=True)
        for v in w.columns:
            h.add_column(f"{LABELS.get(v, v)}, {SHORT_UNITS.get(unit_of(v), unit_of(v))}", justify="right")
        for lever, row in w.iterrows():
            h.add_row(str(lever), *(fmt(x) for x in row.to_numpy()), end_section=lever == w.index[-2])
        console.print(h)
    for note in comp.notes:
        console.print(f"note: {escape(note)}")
    for name, res in comp.results.items():
        for w in res.warnings:
            console.print(f"warning ({escape(name)}): {escape(w)}")


def comparison_json(comp: Comparison, year: int, wedges: dict[str, pd.DataFrame] | None) -> str:
    """The summary (and wedges) as a JSON document (NaN -> null)."""
    def records(df: pd.DataFrame) -> list[dict]:
        clean = df.astype(object).where(df.notna(), None)
        return clean.to_dict(orient="records")

    doc = {"year": year, "region": "World", "samples": comp.samples, "seed": comp.seed, "scenarios": comp.names,
           "baseline": comp.names[0], "summary": records(comp.summary(year)), "notes": comp.notes}
    if wedges is not None:
        doc["wedges"] = {n: records(w.reset_index().rename(columns={"label": "lever"})) for n, w in wedges.items()}
    return json.dumps(doc, indent=1, allow_nan=False, default=float)


def write_comparison(comp: Comparison, path: Path, wedges: dict[str, pd.DataFrame] | None = None) -> Path:
    """One export with a scenario per input and, given `all_wedges`, `Wedge|...` rows under each policy."""
    from . import export
    from .wedges import wedge_table

    model = export.model_name()
    rows = pd.concat([wedge_table(w, model=model) for w in wedges.values()], ignore_index=True) if wedges else None
    return export.write_results(list(comp.results.values()), path, extra_rows=rows)
