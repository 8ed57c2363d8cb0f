"""Plain functions behind the Streamlit app (no Streamlit import here).

The app keeps its whole state as a preset name plus a dict of dotted-path overrides in
model units (the same paths `wattcast project --set` takes). Everything that turns that
state into a scenario, a URL, a chart table or a validated upload lives here, so it can
be tested without a browser.
"""

from __future__ import annotations

import difflib
import io
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import pandas as pd

from .engine import TASK_PREFIX, Compiled, ProjectionResult
from .national import national_electricity
from .params import param, parameter_table
from .paths import data_dir, reference_dir
from .scenario import Scenario, Uncertain, apply_overrides, load_preset, preset_names
from .tasks import TASKS, task_label

# ---------------------------------------------------------------------------
# Number formatting


def fmt_count(x: float) -> str:
    """1.5e9 -> '1.5 billion', 34e6 -> '34 million', 0 -> '0'."""
    x = float(x)
    if x == 0:
        return "0"
    for div, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if abs(x) >= div:
            v = x / div
            return f"{v:,.3g} {word}" if v < 1000 else f"{v:,.0f} {word}"
    return f"{x:,.3g}"


def fmt_sig(x: float, digits: int = 3) -> str:
    """A number with `digits` significant digits and thousands separators."""
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    mag = int(math.floor(math.log10(abs(x))))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def _fmt_ladder(x: float, units: tuple[str, str, str]) -> str:
    """`x` in units[0]; below 1 in units[1] (x 1e3), below 1e-3 in units[2] (x 1e6)."""
    x = float(x)
    if abs(x) >= 1 or x == 0:
        return f"{fmt_sig(x)} {units[0]}"
    if abs(x) >= 1e-3:
        return f"{fmt_sig(x * 1e3)} {units[1]}"
    return f"{fmt_sig(x * 1e6)} {units[2]}"


def fmt_energy_twh(twh: float) -> str:
    """TWh with a sensible unit for small values (GWh, MWh)."""
    return _fmt_ladder(twh, ("TWh", "GWh", "MWh"))


def fmt_mass_mt(mt: float) -> str:
    return _fmt_ladder(mt, ("Mt", "kt", "t"))


def fmt_water_bl(bl: float) -> str:
    if float(bl) == 0:
        return "0 L"
    return _fmt_ladder(bl, ("billion L", "million L", "thousand L"))


def fmt_share(frac: float) -> str:
    pct = float(frac) * 100
    if pct == 0:
        return "0%"
    if abs(pct) < 0.001:
        return "<0.001%"
    return f"{fmt_sig(pct, 2)}%"


def fmt_delta(value: float, base: float, fmt: Callable[[float], str]) -> str | None:
    """'+12% (+3.4 TWh)' style delta against the preset baseline, or None when equal."""
    d = float(value) - float(base)
    if abs(d) <= 1e-12 * max(1.0, abs(base)):
        return None
    sign = "+" if d > 0 else "-"
    rel = f"{sign}{fmt_sig(abs(d) / abs(base) * 100, 2)}% · " if base else ""
    if rel and abs(d) / abs(base) >= 10:
        rel = f"{fmt_sig(float(value) / float(base), 2)}x · "
    absolute = fmt(abs(d))
    if absolute.startswith("<") and rel:
        return rel.removesuffix(" · ")
    return f"{rel}{sign}{absolute}"


# ---------------------------------------------------------------------------
# Controls: which sliders a preset shows, their ranges, units and sources


@dataclass
class Control:
    """One sidebar control over a scenario number at dotted `path` (model units).

    `kind`: "slider" (continuous, shown as value x scale), "choice" (select slider over
    `options`, in model units), "int", "country" (grid country picker), "year".
    """

    path: str
    label: str
    unit: str
    help: str
    group: str
    default: Any
    kind: str = "slider"
    min: float | None = None
    max: float | None = None
    step: float | None = None
    scale: float = 1.0
    fmt: str | None = None  # printf format for sliders (display units)
    options: list[Any] = field(default_factory=list)
    primary: bool = True  # False: shown in a collapsed "other side" expander

    def to_ui(self, v: Any) -> Any:
        if self.kind == "slider":
            return _round(float(v) * self.scale)
        return v

    def from_ui(self, v: Any) -> Any:
        if self.kind == "slider":
            return _round(float(v) / self.scale)
        return v

    def coerce(self, v: Any) -> Any:
        """A value from a URL or a user, snapped into this control's domain (ValueError if not)."""
        if self.kind == "model":
            s = str(v)
            if s not in self.options:
                raise ValueError(f"unknown model {s!r} for this task")
            return s
        if self.kind == "country":
            s = str(v)
            if s == "":
                return ""
            hit = national_electricity()
            if s.upper() not in set(hit["iso_code"].str.upper()):
                raise ValueError(f"unknown country code {s!r}")
            return s.upper()
        x = float(v)
        if not math.isfinite(x):
            raise ValueError("not a finite number")
        if self.kind in ("int", "year"):
            return int(min(max(round(x), self.min), self.max))
        if self.kind == "choice":
            return _nearest(self.options, x)
        lo, hi = self.min / self.scale, self.max / self.scale
        return _round(min(max(x, lo), hi))


def _round(x: float) -> float:
    return float(f"{x:.10g}")


def _nearest(options: list[float], x: float) -> float:
    arr = np.asarray(options, dtype=float)
    if x > 0 and (arr > 0).any():
        pos = arr > 0
        idx = np.argmin(np.abs(np.log(arr[pos]) - math.log(x)))
        cand = arr[pos][idx]
        if x < cand / 3 and 0 in options:
            return 0.0
        return float(cand)
    return float(arr[np.argmin(np.abs(arr - x))])


def log_options(lo: float, hi: float, include: list[float] = (), zero: bool = False) -> list[float]:
    """A 1-2-5 grid from lo to hi, plus the given values (a preset's own), sorted."""
    vals: set[float] = set()
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo * 0.9999 <= v <= hi * 1.0001:
                vals.add(_round(v))
        e += 1
    for v in include:
        if v is not None and v > 0:
            vals.add(_round(v))
    out = sorted(vals)
    return ([0.0] if zero else []) + out


def _src(u: Uncertain | None, fallback: str) -> str:
    s = (u.source if u is not None else None) or fallback
    return s


def _range_note(u: Uncertain) -> str:
    if u.low is not None and u.high is not None and u.distribution != "fixed":
        return f" Preset range {fmt_sig(u.low)} to {fmt_sig(u.high)} ({u.distribution})."
    return ""


MULTIPLIER_OPTIONS = [0.05, 0.1, 0.2, 0.25, 0.33, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0]


def task_base_kwh(scenario: Scenario, name: str, model: str = "") -> float:
    """Central IT energy per inference of a task before its multiplier, kWh (of `model` if given)."""
    from .reference import paper_task_energy

    e = scenario.tasks[name].energy
    if model and e.reference is not None and model in model_energies(e.reference):
        return model_energies(e.reference)[model]
    if e.kwh_per_inference is not None:
        return float(e.kwh_per_inference.value)
    if e.reference is not None:
        return float(paper_task_energy().loc[e.reference, "kwh_per_inference_mean"])
    return float("nan")


@lru_cache(maxsize=16)
def model_energies(task: str) -> dict[str, float]:
    """model id -> kWh per inference for one of the study's tasks (mean over its datasets), low to high."""
    from .reference import paper_models

    pm = paper_models()
    g = pm[pm["task"] == task].groupby("model_id")["energy_kwh_per_1000"].mean() / 1000.0
    return {str(k): float(v) for k, v in g.sort_values().items()}


def model_path(task_name: str) -> str:
    """The app-only control path that picks one of the study's models for a task."""
    return f"tasks.{task_name}.energy.model"


def controls_for(scenario: Scenario) -> list[Control]:
    """The controls that matter for a preset, with its values as defaults.

    Demand presets show usage, per-inference energy, efficiency and training; supply presets
    show the server fleet; top-down presets show the AI share of data-centre electricity.
    The other side's controls come back with `primary=False` (for an honest comparison).
    """
    s = scenario
    basis = s.basis
    out: list[Control] = []
    out.append(Control("target_year", "Target year", "year", "The year the headline figures describe.",
                       "Time", s.target_year, kind="year", min=s.start_year, max=s.end_year, step=1))

    demand_primary = basis == "demand"
    for name, t in s.tasks.items():
        label = t.label or task_label(name)
        group = f"Usage: {label}"
        v = t.inferences_per_day.value
        out.append(Control(
            f"tasks.{name}.inferences_per_day", "Inferences per day", "per day, base year "
            f"{s.base_year}", f"Source: {_src(t.inferences_per_day, t.source or 'scenario')}."
            + _range_note(t.inferences_per_day), group, float(v), kind="choice",
            options=log_options(1e3, 1e12, [v], zero=True), primary=demand_primary))
        g = t.growth_per_year
        out.append(Control(
            f"tasks.{name}.growth_per_year", "Usage growth", "% per year",
            f"Yearly growth of the volume after {s.base_year}. Source: {_src(g, 'scenario value')}." + _range_note(g),
            group, float(g.value), min=-50.0, max=200.0, step=1.0, scale=100.0, fmt="%.0f%%", primary=demand_primary))
        if t.energy.reference is not None and model_energies(t.energy.reference):
            models = model_energies(t.energy.reference)
            out.append(Control(
                model_path(name), "Model", "the study's per-model energy",
                f"Run every {label} inference on one of the study's {len(models)} {t.energy.reference} models "
                "instead of the Table 2 mean over all of them (Luccioni et al. 2023, per-model logs, mean over "
                "datasets).", group, "", kind="model", options=[""] + list(models), primary=demand_primary))
        m = t.energy.multiplier
        base = task_base_kwh(s, name)
        esrc = (t.energy.kwh_per_inference.source if t.energy.kwh_per_inference is not None else None) or (
            f"Luccioni et al. 2023, Table 2 ({t.energy.reference})" if t.energy.reference else "measurement records")
        opts = sorted(set(MULTIPLIER_OPTIONS) | {_round(m.value)})
        out.append(Control(
            f"tasks.{name}.energy.multiplier", "Energy per inference (model mix)", "x preset energy",
            f"Scales the energy per inference: below 1 for smaller or more efficient models, above 1 for larger "
            f"ones. Preset energy: {fmt_sig(base * 1000)} Wh per inference (IT load), source: {esrc}.",
            group, float(m.value), kind="choice", options=opts, primary=demand_primary))

    eg = s.hardware.efficiency_gain_per_year
    out.append(Control("hardware.efficiency_gain_per_year", "Hardware efficiency gain", "% per year",
                       "Yearly fall in energy per inference from better accelerators and software. Source: "
                       f"{_src(eg, param_source_safe('hardware_efficiency_gain_per_year'))}." + _range_note(eg),
                       "Hardware and facility", float(eg.value), min=0.0, max=50.0, step=1.0, scale=100.0,
                       fmt="%.0f%%", primary=demand_primary))

    lc = s.lifecycle
    lsrc = lc.source or "Luccioni et al. FAccT 2024 Table 5"
    if basis == "demand" or lc.generations_per_year.value > 0:
        out.append(Control("lifecycle.training_kwh_per_generation", "Training energy per model generation", "kWh",
                           f"Source: {_src(lc.training_kwh_per_generation, lsrc)}. BLOOMz-7B: 51,686 kWh; "
                           "BLOOMz-560M: 10,505 kWh." + _range_note(lc.training_kwh_per_generation),
                           "Training (amortised)", float(lc.training_kwh_per_generation.value), kind="choice",
                           options=log_options(1e3, 1e8, [lc.training_kwh_per_generation.value], zero=True),
                           primary=demand_primary))
        out.append(Control("lifecycle.finetune_kwh_per_generation", "Fine-tuning energy per generation", "kWh",
                           f"Source: {_src(lc.finetune_kwh_per_generation, lsrc)}. BLOOMz-7B: 7,571 kWh "
                           "(Table 5). Some presets fold it into the training figure.",
                           "Training (amortised)", float(lc.finetune_kwh_per_generation.value), kind="choice",
                           options=log_options(1e2, 1e7, [lc.finetune_kwh_per_generation.value], zero=True),
                           primary=demand_primary))
        out.append(Control("lifecycle.generations_per_year", "Model generations trained per year", "per year",
                           f"Source: {_src(lc.generations_per_year, 'scenario value')}."
                           + _range_note(lc.generations_per_year),
                           "Training (amortised)", float(lc.generations_per_year.value), kind="choice",
                           options=log_options(1, 1e4, [lc.generations_per_year.value], zero=True),
                           primary=demand_primary))

    f = s.fleet
    fsrc = f.source or "scenario"
    supply_primary = basis == "supply"
    if basis == "supply" or f.servers_shipped_per_year.value > 0:
        out += [
            Control("fleet.servers_shipped_per_year", "AI servers shipped per year", "servers per year",
                    f"Source: {_src(f.servers_shipped_per_year, fsrc)}." + _range_note(f.servers_shipped_per_year),
                    "Server fleet (supply side)", float(f.servers_shipped_per_year.value), kind="choice",
                    options=log_options(1e4, 1e8, [f.servers_shipped_per_year.value]), primary=supply_primary),
            Control("fleet.shipment_growth_per_year", "Shipment growth", "% per year",
                    f"Source: {_src(f.shipment_growth_per_year, fsrc)}." + _range_note(f.shipment_growth_per_year),
                    "Server fleet (supply side)", float(f.shipment_growth_per_year.value), min=-50.0, max=100.0,
                    step=1.0, scale=100.0, fmt="%.0f%%", primary=supply_primary),
            Control("fleet.power_kw_per_server", "Power per server", "kW",
                    f"Source: {_src(f.power_kw_per_server, fsrc)}. DGX A100 6.5 kW, DGX H100 10.2 kW (de Vries 2023)."
                    + _range_note(f.power_kw_per_server),
                    "Server fleet (supply side)", float(f.power_kw_per_server.value), min=1.0, max=20.0, step=0.1,
                    fmt="%.1f kW", primary=supply_primary),
            Control("fleet.utilisation", "Server utilisation", "% of full power, all year",
                    f"Source: {_src(f.utilisation, fsrc)}. de Vries (2023) uses 100% as an upper bound."
                    + _range_note(f.utilisation),
                    "Server fleet (supply side)", float(f.utilisation.value), min=0.0, max=100.0, step=1.0,
                    scale=100.0, fmt="%.0f%%", primary=supply_primary),
            Control("fleet.lifetime_years", "Server lifetime", "years",
                    f"Years a shipped server stays installed. Source: {fsrc}.",
                    "Server fleet (supply side)", int(f.lifetime_years), kind="int", min=1, max=10, step=1,
                    primary=supply_primary),
        ]

    if s.datacentres is not None:
        dc = s.datacentres
        out.append(Control("datacentres.ai_share_multiplier", "AI share of data-centre electricity", "x preset share",
                           "Scales the AI (accelerated-server) share of data-centre electricity; preset shares "
                           + ", ".join(f"{y}: {v:.0%}" for y, v in sorted(dc.ai_share.items()))
                           + f". Source: {dc.source or 'scenario'}." + _range_note(dc.ai_share_multiplier),
                           "Data centres (top-down)", float(dc.ai_share_multiplier.value), min=0.25, max=2.0,
                           step=0.05, fmt="x%.2f"))

    fac = s.facility
    pue_note = " In top-down presets PUE only changes the water figure (the IEA totals already include it)." \
        if basis == "top-down" else ""
    out.append(Control("facility.pue", "PUE (power usage effectiveness)", "facility kWh per IT kWh",
                       f"Source: {_src(fac.pue, param_source_safe('pue_default'))}." + _range_note(fac.pue) + pue_note,
                       "Hardware and facility", float(fac.pue.value), min=1.0, max=2.0, step=0.01, fmt="%.2f"))
    out.append(Control("facility.wue_l_per_kwh", "WUE (water use effectiveness)", "litres per IT kWh",
                       "On-site water only. Source: "
                       f"{_src(fac.wue_l_per_kwh, param_source_safe('wue_l_per_kwh'))}."
                       + _range_note(fac.wue_l_per_kwh),
                       "Hardware and facility", float(fac.wue_l_per_kwh.value), min=0.0, max=3.0, step=0.05,
                       fmt="%.2f L/kWh"))

    gi = s.grid.intensity_g_per_kwh
    if s.grid.country is not None:
        from .national import country_lookup

        default_int = float(country_lookup(s.grid.country)["intensity_g_per_kwh"])
    else:
        default_int = float(gi.value)
    out.append(Control("grid.country", "Grid of a country", "codecarbon energy mix",
                       "Fills the carbon intensity from a country's electricity mix (codecarbon's data: Our World in "
                       "Data / Ember, mostly 2022-23).", "Grid", (s.grid.country or ""), kind="country"))
    out.append(Control("grid.intensity_g_per_kwh", "Grid carbon intensity", "g CO2e per kWh",
                       f"Source: {_src(gi, 'codecarbon energy mix')}." + (_range_note(gi) if gi else ""),
                       "Grid", default_int, min=0.0, max=1000.0, step=1.0, fmt="%.0f g/kWh"))
    dec = s.grid.decarbonisation_per_year
    out.append(Control("grid.decarbonisation_per_year", "Grid decarbonisation", "% per year",
                       f"Yearly fall in carbon intensity after {s.base_year}. Source: "
                       f"{_src(dec, param_source_safe('grid_decarbonisation_per_year'))}." + _range_note(dec),
                       "Grid", float(dec.value), min=0.0, max=15.0, step=0.5, scale=100.0, fmt="%.1f%%"))
    return out


def param_source_safe(name: str) -> str:
    try:
        row = parameter_table().loc[name]
        return f"{row['source']} ({int(row['year'])})"
    except KeyError:
        return "data/parameters.csv"


@lru_cache(maxsize=32)
def preset(name: str) -> Scenario:
    """A shipped preset, cached (Scenario objects are treated as read-only)."""
    return load_preset(name)


def default_state(name: str) -> dict[str, Any]:
    """path -> preset value for every control of preset `name` (model units)."""
    return {c.path: c.default for c in controls_for(preset(name))}


def overrides_from_state(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """The overrides that differ from the preset, as apply_overrides takes them.

    The country picker wins over the intensity slider only while the slider still shows
    that country's value.
    """
    defaults = default_state(name)
    out: dict[str, Any] = {}
    for path, v in state.items():
        if path not in defaults or path in ("grid.country", "target_year") or path.endswith(".energy.model"):
            continue
        if _same(v, defaults[path]):
            continue
        out[path] = v
    country = state.get("grid.country") or ""
    if country and country != (defaults.get("grid.country") or ""):
        from .national import country_lookup

        ci = float(country_lookup(country)["intensity_g_per_kwh"])
        if _same(round(ci), round(float(state.get("grid.intensity_g_per_kwh", ci)))):
            out.pop("grid.intensity_g_per_kwh", None)
            out["grid.country"] = country
    if "grid.intensity_g_per_kwh" in out:
        out["grid.intensity_g_per_kwh"] = float(out["grid.intensity_g_per_kwh"])
    sc = preset(name)
    for t_name, t in sc.tasks.items():
        model = state.get(model_path(t_name)) or ""
        if model and t.energy.reference is not None:
            kwh = model_energies(t.energy.reference).get(model)
            if kwh is None:
                continue
            mult = out.pop(f"tasks.{t_name}.energy.multiplier", t.energy.multiplier.value)
            out[f"tasks.{t_name}.energy"] = {
                "kwh_per_inference": {"value": kwh, "source": f"Luccioni et al. 2023 per-model logs: {model} "
                                                              "(mean over datasets)"},
                "multiplier": float(mult)}
    ty = state.get("target_year")
    if ty is not None and int(ty) != int(defaults["target_year"]):
        out["target_year"] = int(ty)
    if "fleet.lifetime_years" in out:
        out["fleet.lifetime_years"] = int(out["fleet.lifetime_years"])
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def build_scenario(name: str, state: dict[str, Any], measurement_tasks: dict[str, str] | None = None) -> Scenario:
    """The preset with the state's overrides applied (and tasks switched to measurements).

    `measurement_tasks` maps scenario task -> measured task id whose uploaded records
    should replace its energy per inference (the task keeps its multiplier).
    """
    sc = preset(name)
    ov = overrides_from_state(name, state)
    for t, m in (measurement_tasks or {}).items():
        mult = state.get(f"tasks.{t}.energy.multiplier", sc.tasks[t].energy.multiplier.value)
        ov[f"tasks.{t}.energy"] = {"measurements": m, "multiplier": float(mult)}  # measurements win over a model
        ov.pop(f"tasks.{t}.energy.multiplier", None)
    if not ov:
        return sc
    return apply_overrides(sc, ov, origin="app")


# ---------------------------------------------------------------------------
# URL state


def encode_query(name: str, state: dict[str, Any]) -> dict[str, str]:
    """Query parameters for a view: the preset plus every control that differs from it."""
    defaults = default_state(name)
    q = {"preset": name}
    for path, v in state.items():
        if path in defaults and not _same(v, defaults[path]):
            q[path] = v if isinstance(v, str) else f"{v:.10g}"
    return q


def decode_query(params: dict[str, str], fallback: str) -> tuple[str, dict[str, Any], list[str]]:
    """(preset, state, problems) from query parameters; bad entries are skipped and named."""
    problems: list[str] = []
    name = params.get("preset", fallback)
    if name not in preset_names():
        problems.append(f"preset {name!r} is not a shipped preset; showing {fallback}")
        name = fallback
    controls = {c.path: c for c in controls_for(preset(name))}
    state = {p: c.default for p, c in controls.items()}
    for key, raw in params.items():
        if key in ("preset", "page", "embed", "embed_options"):
            continue
        c = controls.get(key)
        if c is None:
            problems.append(f"{key}: not a control of preset {name}")
            continue
        try:
            state[key] = c.coerce(raw)
        except (TypeError, ValueError) as exc:
            problems.append(f"{key}={raw!r}: {exc}")
    return name, state, problems


# ---------------------------------------------------------------------------
# Tables for charts


def band_table(result: ProjectionResult, variable: str = "Energy|Total", label: str = "Your scenario") -> pd.DataFrame:
    """year, central, p5, p95, series: one row per year (p5/p95 NaN without samples)."""
    years = result.compiled.years
    df = pd.DataFrame({"year": years, "central": result.central[variable], "series": label})
    if result.percentiles and variable in result.percentiles:
        df["p5"] = result.percentiles[variable][0]
        df["p95"] = result.percentiles[variable][2]
    else:
        df["p5"] = np.nan
        df["p95"] = np.nan
    return df


def task_breakdown(result: ProjectionResult, year: int | None = None) -> pd.DataFrame:
    """Per-task inference energy and training in one year: component, twh, share."""
    y = result.scenario.target_year if year is None else year
    i = int(y - result.scenario.start_year)
    rows = []
    for name in result.compiled.tasks:
        t = result.scenario.tasks[name]
        rows.append({"component": t.label or task_label(name), "kind": "inference",
                     "twh": float(result.central[TASK_PREFIX + name][i])})
    tr = float(result.central["Energy|Training"][i])
    if tr > 0:
        rows.append({"component": "training + fine-tuning (amortised)", "kind": "training", "twh": tr})
    df = pd.DataFrame(rows, columns=["component", "kind", "twh"])
    total = df["twh"].sum()
    df["share"] = df["twh"] / total if total > 0 else 0.0
    return df.sort_values("twh", ascending=False, kind="stable").reset_index(drop=True)


def sides_table(result: ProjectionResult) -> pd.DataFrame:
    """Long table year, side, twh for the demand side, supply side and top-down totals."""
    parts = []
    names = {"Energy|Demand side": "Demand side (tasks x energy per inference)",
             "Energy|Supply side": "Supply side (servers x power x utilisation)",
             "Energy|Top-down": "Top-down (data centres x AI share)"}
    for var, label in names.items():
        if var in result.central:
            parts.append(pd.DataFrame({"year": result.compiled.years, "side": label, "twh": result.central[var]}))
    return pd.concat(parts, ignore_index=True)


def lifecycle_table(result: ProjectionResult) -> pd.DataFrame:
    """year, component, twh: inference vs training + fine-tuning (amortised), facility energy."""
    y = result.compiled.years
    return pd.concat([
        pd.DataFrame({"year": y, "component": "Inference", "twh": result.central["Energy|Inference"]}),
        pd.DataFrame({"year": y, "component": "Training + fine-tuning", "twh": result.central["Energy|Training"]}),
    ], ignore_index=True)


def break_even(compiled: Compiled) -> pd.DataFrame:
    """Inferences after which inference energy equals one generation's training + fine-tuning.

    break_even = (training + fine-tuning kWh per generation) / IT kWh per inference, in
    the base year (both at IT load, as in the study's Table 5: BLOOMz-7B 592,570,000).
    Also the days it takes at the task's base-year volume. One row per task; empty when
    the scenario amortises no training.
    """
    p = compiled.params
    life_kwh = p["lifecycle.training_kwh_per_generation"].central + p["lifecycle.finetune_kwh_per_generation"].central
    rows = []
    for name in compiled.tasks:
        kwh = p[f"tasks.{name}.energy"].central * p[f"tasks.{name}.energy.multiplier"].central
        per_day = p[f"tasks.{name}.inferences_per_day"].central
        n = life_kwh / kwh if kwh > 0 else np.inf
        rows.append({
            "task": name,
            "label": compiled.scenario.tasks[name].label or task_label(name),
            "kwh_per_inference": kwh,
            "lifecycle_kwh": life_kwh,
            "break_even_inferences": n,
            "inferences_per_day": per_day,
            "days_to_break_even": n / per_day if per_day > 0 else np.inf,
        })
    return pd.DataFrame(rows, columns=["task", "label", "kwh_per_inference", "lifecycle_kwh",
                                       "break_even_inferences", "inferences_per_day", "days_to_break_even"])


def paper_break_even() -> pd.DataFrame:
    """The study's Table 5 break-even from data/parameters.csv (BLOOMz-7B: 592,570,000)."""
    rows = []
    for model, key in (("BLOOMz-7B", "bloomz_7b"), ("BLOOMz-560M", "bloomz_560m")):
        tr, ft, inf = param(f"{key}_training_kwh"), param(f"{key}_finetuning_kwh"), param(f"{key}_inference_kwh")
        rows.append({"model": model, "training_kwh": tr, "finetuning_kwh": ft, "kwh_per_inference": inf,
                     "break_even_inferences": (tr + ft) / inf})
    return pd.DataFrame(rows)


def reference_equivalences(pue: float, intensity: float) -> pd.DataFrame:
    """The study's Table 2 per-inference equivalences at a given PUE and grid intensity."""
    from .compare import equivalence_table
    from .reference import paper_task_energy

    t = paper_task_energy()
    return equivalence_table(t["task"], t["label"], t["kwh_per_inference_mean"].to_numpy() * pue, intensity)


# ---------------------------------------------------------------------------
# Uploaded measurements

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_ROWS = 20_000
#: accepted energy columns -> factor to kWh per inference
ENERGY_COLUMNS = {
    "kwh_per_inference": 1.0,
    "energy_kwh_per_inference": 1.0,
    "wh_per_inference": 1e-3,
    "energy_j_per_inference": 1 / 3.6e6,
}
#: kWh per inference above this is rejected as implausible (units mix-up): 10x SDXL's worst run per image
MAX_PLAUSIBLE_KWH = 0.1
UPLOAD_SCHEMA = (
    "Required columns: `task` (one of the ten task ids), `model`, and one energy column: "
    "`kwh_per_inference` (or `energy_kwh_per_inference`), `wh_per_inference` or `energy_j_per_inference`. "
    "Optional: `device`, `device_name`, `batch_size`, `n_inferences`, `status` (only `ok` rows count), "
    "`phase` (only `inference` rows count)."
)


@dataclass
class UploadCheck:
    """The outcome of checking an uploaded CSV of measurements."""

    accepted: pd.DataFrame  # row, task, model, kwh_per_inference (+ optional columns)
    rejected: pd.DataFrame  # row, reason, and the raw task/model
    error: str | None = None  # a file-level problem: nothing accepted
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # per task, engine format

    @property
    def ok(self) -> bool:
        return self.error is None and len(self.accepted) > 0


def _empty_check(error: str) -> UploadCheck:
    return UploadCheck(pd.DataFrame(columns=["row", "task", "model", "kwh_per_inference"]),
                       pd.DataFrame(columns=["row", "reason"]), error)


def check_measurements_csv(data: bytes | str, source: str = "upload",
                           max_bytes: int = MAX_UPLOAD_BYTES, max_rows: int = MAX_UPLOAD_ROWS) -> UploadCheck:
    """Validate a CSV of per-inference energy measurements; never raises on bad input.

    File-level problems (too big, not text, not CSV, missing columns) come back in
    `error`; row-level problems list each bad row (1-based, as in a spreadsheet with the
    header on row 1) with its reason; the rest are accepted and summarised per task in
    the format `run_projection(measurements=...)` takes.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        return _empty_check(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    if not raw.strip():
        return _empty_check("The file is empty.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _empty_check("The file is not UTF-8 text (is it an Excel file? Save it as CSV UTF-8).")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _empty_check(f"The file could not be read as CSV: {first}")
    df.columns = [re.sub(r"\s+", "_", str(c).strip().lower()) for c in df.columns]
    if len(df) == 0:
        return _empty_check("The file has a header but no rows.")
    if len(df) > max_rows:
        return _empty_check(f"The file has {len(df):,} rows; the limit is {max_rows:,}.")
    missing = [c for c in ("task", "model") if c not in df.columns]
    energy_cols = [c for c in ENERGY_COLUMNS if c in df.columns]
    if not energy_cols:
        missing.append("kwh_per_inference (or energy_j_per_inference / wh_per_inference)")
    if missing:
        found = ", ".join(df.columns[:12]) + (" ..." if len(df.columns) > 12 else "")
        return _empty_check(f"Missing column(s): {', '.join(missing)}. Found: {found}.")

    accepted, rejected = [], []
    for i, r in enumerate(df.to_dict("records")):
        rowno = i + 2
        task = str(r.get("task", "")).strip()
        model = str(r.get("model", "")).strip()
        reason = None
        if task not in TASKS:
            close = difflib.get_close_matches(task.lower().replace(" ", "_"), list(TASKS), n=1, cutoff=0.6)
            reason = f"unknown task {task!r}" + (f" (did you mean {close[0]}?)" if close else "")
        elif not model:
            reason = "model is empty"
        elif "status" in df.columns and str(r["status"]).strip().lower() not in ("", "ok"):
            reason = f"status is {str(r['status']).strip()!r} (only ok rows count)"
        elif "phase" in df.columns and str(r["phase"]).strip().lower() not in ("", "inference"):
            reason = f"phase is {str(r['phase']).strip()!r} (only inference rows count)"
        kwh = None
        if reason is None:
            values = {}
            for c in energy_cols:
                s = str(r[c]).strip()
                if s == "":
                    continue
                try:
                    x = float(s)
                except ValueError:
                    reason = f"{c} is not a number ({s!r})"
                    break
                if not math.isfinite(x) or x <= 0:
                    reason = f"{c} must be a positive finite number (got {s})"
                    break
                values[c] = x * ENERGY_COLUMNS[c]
            if reason is None and not values:
                reason = "no energy value"
            if reason is None:
                ks = list(values.values())
                if max(ks) > min(ks) * 1.01:
                    reason = "energy columns disagree by more than 1%: " + ", ".join(
                        f"{c} = {fmt_sig(v)} kWh" for c, v in values.items())
                else:
                    kwh = ks[0]
                    if kwh > MAX_PLAUSIBLE_KWH:
                        reason = (f"{fmt_sig(kwh)} kWh per inference is implausible (above {MAX_PLAUSIBLE_KWH} kWh): "
                                  "check the unit (joules vs kWh)")
        if reason is None and "n_inferences" in df.columns and str(r["n_inferences"]).strip():
            try:
                n = float(r["n_inferences"])
                if not (n >= 1 and float(n).is_integer()):
                    reason = f"n_inferences must be a positive integer (got {r['n_inferences']!r})"
            except ValueError:
                reason = f"n_inferences is not a number ({r['n_inferences']!r})"
        if reason is not None:
            rejected.append({"row": rowno, "reason": reason, "task": task, "model": model})
            continue
        row = {"row": rowno, "task": task, "model": model, "kwh_per_inference": kwh}
        for c in ("device", "device_name", "batch_size", "n_inferences"):
            if c in df.columns:
                row[c] = str(r[c]).strip()
        accepted.append(row)
    acc = pd.DataFrame(accepted, columns=None if accepted else ["row", "task", "model", "kwh_per_inference"])
    rej = pd.DataFrame(rejected, columns=None if rejected else ["row", "reason", "task", "model"])
    check = UploadCheck(acc, rej, None if len(acc) else "No row passed the checks (see the list of rows).")
    check.summary = summarise_measurements(acc, source) if len(acc) else pd.DataFrame()
    return check


def summarise_measurements(df: pd.DataFrame, source: str = "upload") -> pd.DataFrame:
    """Per-task mean and std of kWh per inference: the engine's measurements table.

    Columns task, kwh_per_inference_mean, kwh_per_inference_std (0 for one record),
    n_records, n_models, source (the shape of project.measurements.task_energy_from_records).
    """
    g = df.groupby("task")["kwh_per_inference"]
    out = pd.DataFrame({
        "kwh_per_inference_mean": g.mean(),
        "kwh_per_inference_std": g.std(ddof=1).fillna(0.0),
        "n_records": g.size(),
        "n_models": df.groupby("task")["model"].nunique(),
    }).reset_index()
    out["source"] = source
    return out


def matching_tasks(scenario: Scenario, measured: list[str]) -> dict[str, str]:
    """scenario task -> measured task id, where the task's key or Table 2 reference matches."""
    out = {}
    for name, t in scenario.tasks.items():
        if name in measured:
            out[name] = name
        elif t.energy.reference in measured:
            out[name] = t.energy.reference
        elif t.energy.measurements in measured:
            out[name] = t.energy.measurements
    return out


def records_signature() -> tuple:
    """(path, size, mtime) of every record file under data/measurements/: a cache key."""
    folder = data_dir() / "measurements"
    if not folder.exists():
        return (str(folder),)
    return (str(folder),) + tuple(sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
        if p.suffix in (".jsonl", ".parquet") and p.is_file()))


def load_project_records() -> tuple[pd.DataFrame | None, str]:
    """The project's own measurement records (data/measurements/), if there are any.

    Returns (records, message); records is None when there are none or they cannot be
    read (the message says why). Uses project.measurements.load_records (written by the
    measure/ side) when it exists, else reads the record files directly.
    """
    folder = data_dir() / "measurements"
    files = [p for p in folder.rglob("*") if p.suffix in (".jsonl", ".parquet") and p.is_file()] \
        if folder.exists() else []
    where = f"{folder.name}/" if folder.parent != data_dir() else f"data/{folder.name}/"
    if not files:
        return None, f"No measurement records yet in {where}."
    try:
        try:
            from .measurements import load_records
        except ImportError:
            load_records = None
        if load_records is not None:
            df = load_records(folder)
        else:
            df = pd.concat([pd.read_json(p, lines=True) if p.suffix == ".jsonl" else pd.read_parquet(p)
                            for p in files], ignore_index=True)
    except Exception as exc:  # noqa: BLE001 - a bad records file must not break the page
        return None, f"The records in {where} could not be read: {exc}"
    if "energy_kwh_per_inference" not in df.columns or "task" not in df.columns:
        return None, f"Records found in {where}, but without task and energy_kwh_per_inference columns."
    n_files = len({p.parent for p in files})
    return df, f"{len(df):,} records from {n_files} store(s) in {where}."


def project_task_energy(records: pd.DataFrame) -> pd.DataFrame:
    """Per-task energy from records: project.measurements when present, else the same rule here."""
    try:
        from .measurements import task_energy_from_records  # written by the measure/ side
    except ImportError:
        task_energy_from_records = None
    if task_energy_from_records is not None:
        return task_energy_from_records(records)
    df = records
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    if "phase" in df.columns:
        df = df[df["phase"] == "inference"]
    df = df.rename(columns={"energy_kwh_per_inference": "kwh_per_inference"})
    if not len(df):
        return pd.DataFrame(columns=["task", "kwh_per_inference_mean", "kwh_per_inference_std",
                                     "n_records", "n_models", "source"])
    return summarise_measurements(df, "data/measurements")


# ---------------------------------------------------------------------------
# Methodology


def caveats() -> list[str]:
    """Known caveats: the study's (from data/reference/PROVENANCE.md) and the projection's."""
    out: list[str] = []
    try:
        text = (reference_dir() / "PROVENANCE.md").read_text(encoding="utf-8")
        block = text.split("Caveats", 1)[1]
        items = re.split(r"\n(?=\d+\. )", block)
        for it in items[1:]:
            out.append("The study: " + re.sub(r"\s+", " ", re.sub(r"^\d+\.\s*", "", it)).strip())
    except (OSError, IndexError):
        pass
    pt = parameter_table()
    n_check = int((pt["note"].fillna("").str.contains("check") | pt["source"].fillna("").str.contains("check")).sum())
    out += [
        "Demand side and supply side are different questions. The demand side multiplies known usage by "
        "measured energy per inference; the supply side assumes every shipped AI server draws power. In "
        "baseline-2025 they differ by orders of magnitude: the reconciling utilisation (demand-side IT energy / "
        "fleet capacity) shows how little of the fleet the counted tasks would keep busy. Usage not counted "
        "(training of frontier models, enterprise and internal workloads, idle capacity) sits in the gap.",
        "Energy per inference in the study was measured at batch size 1 on one node; production serving "
        "batches requests, which usually lowers energy per inference. Hardware efficiency gains are applied as "
        "one yearly rate to every task.",
        "Water is on-site cooling water only (WUE x IT energy); water used to generate the electricity is not "
        "counted.",
        "Emissions are location-based (grid average), not market-based; power purchase agreements are not "
        "modelled.",
        f"{n_check} rows of data/parameters.csv are flagged 'check': not confirmed from the primary text. "
        "Treat them as placeholders with their range.",
        "Monte Carlo bands treat parameters as independent (Latin hypercube); correlated uncertainties (e.g. "
        "usage growth and efficiency) are not modelled.",
    ]
    return out


def equations() -> str:
    """The projection equations, from the engine's docstring (the code that computes them)."""
    from . import engine

    doc = engine.__doc__ or ""
    return doc.split("Equations", 1)[1].split(":", 1)[1].strip("\n") if "Equations" in doc else doc


def band_spread(df: pd.DataFrame) -> float:
    """Largest p95 / central ratio of a band table (1 without samples); decides a log axis."""
    if "p95" not in df or df["p95"].isna().all():
        return 1.0
    c = df["central"].to_numpy(dtype=float)
    p = df["p95"].to_numpy(dtype=float)
    ok = c > 0
    return float(np.nanmax(p[ok] / c[ok])) if ok.any() else 1.0


def fmt_duration_days(days: float) -> str:
    """0.08 -> '1.9 hours', 3 -> '3 days', 800 -> '2.2 years', inf -> 'never'."""
    if not np.isfinite(days):
        return "never"
    if days < 1:
        return f"{fmt_sig(days * 24, 2)} hours"
    if days < 365:
        return f"{fmt_sig(days, 2)} days"
    return f"{fmt_sig(days / 365, 2)} years"


def unit_scale(max_value: float, variable: str) -> tuple[float, str]:
    """(factor, unit) so that max_value x factor reads well on an axis.

    TWh -> GWh -> MWh, Mt -> kt -> t, billion L -> million L for small totals.
    """
    steps = {
        "Energy": [(1.0, "TWh per year"), (1e3, "GWh per year"), (1e6, "MWh per year")],
        "Emissions": [(1.0, "Mt CO2e per year"), (1e3, "kt CO2e per year"), (1e6, "t CO2e per year")],
        "Water": [(1.0, "billion litres per year"), (1e3, "million litres per year"),
                  (1e6, "thousand litres per year")],
    }[variable.split("|")[0]]
    m = abs(float(max_value)) if np.isfinite(max_value) else 0.0
    for factor, unit in steps:
        if m * factor >= 1:
            return factor, unit
    return steps[-1]
