"""The app's controls and view state: which controls a preset shows, what they change, the URL.

No Streamlit here: the sidebar renders these `Control`s, and everything that turns the view
(a preset plus control values) into a scenario, a share link or back is a plain function,
tested without a browser.

Control values are in model units (fractions, not %; requests per day). `None` means "as in
the starting point" (for a lever: off, or the preset's own setting). Policy levers map to the
scenario's `[policy]` section (project.policy); the other controls to dotted scenario paths
(the ones `wattcast project --set` takes).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from project.policy import COMMON, LEVERS, NO_PHASE_IN
from project.policy import LABELS as LEVER_LABELS
from project.scenario import Scenario, ScenarioError, apply_overrides, load_preset, preset_names

from . import fmt

DEFAULT_PRESET = "reference"
MAX_PINS = 3
SAMPLES = {"standard": 1000, "precise": 5000}
REGIONS = {"world": "World", "usa": "United States", "chn": "China", "eur": "Europe", "row": "Rest of World"}
SHOW = {  # view id -> (model variable, label)
    "energy": ("Energy", "AI electricity"),
    "emissions": ("Emissions", "Emissions"),
    "water": ("Water", "Water consumed"),
    "datacentres": ("Data Centres", "All data centres"),
    "peak": ("Power|Peak", "Peak power"),
}
VIEWS = ("trajectory", "wedges")
#: well-known countries always shown beside the total (linear scale), ISO alpha-3
KNOWN_COUNTRIES = ("USA", "IND", "JPN", "BRA", "DEU", "FRA", "GBR", "ESP")


# ---------------------------------------------------------------------------
# Option formatting


def _pct(v: float) -> str:
    return f"{v * 100:,.4g}%"


def _x(v: float) -> str:
    return f"×{v:g}"


def _signed_pct(v: float) -> str:
    return f"{v * 100:+,.4g}% a year"


def _or(off: str, f: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda v: off if v is None else f(v)


@dataclass(frozen=True)
class Control:
    """One control over the scenario (or the view).

    `options` are the positions a slider steps through (model units; `None` = as in the
    starting point); a value given in a link may also be any number within [lo, hi].
    `kind`: "select" (select slider), "number" (free entry, `scale` = display divisor),
    "year" (integer slider), "grid" (regional grids, a country or a custom intensity).
    """

    key: str
    label: str
    help: str
    group: str
    default: Any
    options: tuple = ()
    fmt: Callable[[Any], str] = str
    kind: str = "select"
    lo: float = -math.inf
    hi: float = math.inf
    unit: str = ""
    scale: float = 1.0
    #: scenario path for plain controls; ("policy", lever, setting) for levers
    target: tuple[str, ...] = ()
    #: caps: positions run from loose to strict (largest value first), so right = more policy
    descending: bool = False

    def choices(self, current: Any = None) -> list:
        """The slider positions, with `current` (e.g. from a link) inserted where it falls."""
        opts = list(self.options)
        if current is not None and current not in opts and self.kind == "select":
            nums = [o for o in opts if o is not None]
            opts = ([None] if None in opts else []) + sorted(nums + [current], reverse=self.descending)
        return opts

    def parse(self, raw: str) -> Any:
        """A value from a link (text) -> model value; ValueError naming the problem."""
        s = str(raw).strip()
        if self.kind == "grid":
            return parse_grid(s)
        if s.lower() in ("off", "none", "") and None in self.options:
            return None
        try:
            x = float(s)
        except ValueError:
            raise ValueError(f"{self.key}={fmt.clip(s, 40)} is not a number") from None
        if not math.isfinite(x):
            raise ValueError(f"{self.key}={fmt.clip(s, 40)} is not a finite number")
        if not self.lo <= x <= self.hi:
            raise ValueError(f"{self.key}={fmt.clip(s, 40)} is out of range ({self.fmt(self.lo)} to "
                             f"{self.fmt(self.hi)})")
        if self.kind == "year":
            if x != int(x):
                raise ValueError(f"{self.key}={fmt.clip(s, 40)} is not a whole year")
            return int(x)
        return _clean(x)


def _clean(x: float) -> float:
    return float(f"{x:.10g}")


def _grid_options(values: list[float], default: float | None, off: bool = True, descending: bool = False) -> tuple:
    vals = sorted({_clean(v) for v in values} | ({_clean(default)} if default is not None else set()),
                  reverse=descending)
    return ((None,) if off else ()) + tuple(vals)


# ---------------------------------------------------------------------------
# Grid: one control, so a country can never be shown while another intensity is used


def parse_grid(s: str) -> str | float:
    """"" (regional grids), an ISO alpha-3 code of a country, or a custom g CO2e/kWh."""
    from project.national import national_electricity

    s = s.strip()
    if s.lower() in ("", "regional", "off", "none"):
        return ""
    try:
        x = float(s)
    except ValueError:
        iso = set(national_electricity()["iso_code"])
        if s.upper() in iso:
            return s.upper()
        raise ValueError(f"grid={fmt.clip(s, 40)} is not a country code (ISO alpha-3, e.g. FRA) or a number "
                         "of g CO2e/kWh") from None
    if not (math.isfinite(x) and 0 <= x <= 2000):
        raise ValueError(f"grid={fmt.clip(s, 40)} is out of range (0 to 2,000 g CO2e/kWh)")
    return _clean(x)


@lru_cache(maxsize=1)
def _grid_table() -> dict[str, tuple[str, float, int]]:
    """iso3 -> country, g CO2e/kWh, year: for every country, the row `grid_intensity_of(iso,
    GRID_BASE_YEAR)` takes (the latest year up to 2024 with an intensity), read in one pass over
    the same table (calling it per country costs 2-8 ms each, 0.5-2 s for the 209 options;
    tests/test_app_modules.py checks every country against it)."""
    from project.engine import GRID_BASE_YEAR
    from project.national import national_table

    d = national_table()
    d = d[d["iso_code"].ne("") & d["carbon_intensity_g_per_kwh"].notna() & (d["year"] <= GRID_BASE_YEAR)]
    last = d.sort_values("year", kind="stable").groupby("iso_code").tail(1)
    # a dict: the sidebar labels all 209 options on every rerun (DataFrame.loc: about 0.1 ms each)
    return {iso: (str(n), float(g), int(y)) for iso, n, g, y in
            zip(last["iso_code"], last["country"], last["carbon_intensity_g_per_kwh"], last["year"])}


def grid_intensity(iso: str) -> tuple[str, float, int]:
    """(country, g CO2e/kWh, data year) of a country's grid as the engine uses it for
    `grid_country`: `project.model.regions.grid_intensity_of(iso, GRID_BASE_YEAR)`, the latest
    lifecycle intensity up to 2024, so a label can never show another year's figure."""
    hit = _grid_table().get(iso)
    if hit is not None:
        return hit
    from project.engine import GRID_BASE_YEAR
    from project.model.regions import grid_intensity_of

    value, source = grid_intensity_of(iso, GRID_BASE_YEAR)  # KeyError for an unknown key, as the engine
    m = re.match(r"(.*?) (\d{4}), ", source)  # "<country> <year>, <dataset>"
    return (m.group(1), value, int(m.group(2))) if m else (iso, value, GRID_BASE_YEAR)


def grid_label(v: str | float) -> str:
    """What a grid choice computes with: regional grids, a country's intensity and its year, or a custom value."""
    if v == "" or v is None:
        return "Each region's own grid (2024 mix)"
    if isinstance(v, float):
        return f"Custom: {v:g} g CO₂e/kWh"
    name, g, year = grid_intensity(v)
    return f"{name} ({g:.0f} g CO₂e/kWh, {year})"


# ---------------------------------------------------------------------------
# Which controls a preset shows


@lru_cache(maxsize=64)
def preset(name: str) -> Scenario:
    """A shipped preset (cached; treated as read-only)."""
    return load_preset(name)


@lru_cache(maxsize=64)
def _compiled_preset(name: str):
    from project.engine import compile_scenario

    return compile_scenario(preset(name))


def _regional(name: str, field_: str, f: Callable[[float], str]) -> str:
    p = _compiled_preset(name).params
    from project.variables import REGIONS as RID

    vals = [p[f"regions.{r}.{field_}"].central for r in RID]
    if max(vals) - min(vals) < 1e-12:
        return f(vals[0])
    short = {"USA": "US", "CHN": "China", "EUR": "Europe", "ROW": "rest"}
    return ", ".join(f"{short[r]} {f(v)}" for r, v in zip(RID, vals))


def _workload_tasks(s: Scenario) -> bool:
    return any(w.llm is not None or w.task or (w.energy is not None and w.energy.reference) for w in s.workloads.values())


def _timing_default(s: Scenario) -> tuple[int, int]:
    for spec in s.policy.values():
        if isinstance(spec, dict) and "start_year" in spec:
            return int(spec["start_year"]), int(spec.get("phase_in_years", 0))
    return min(s.base_year + 1, s.end_year), 3


def _lever_default(s: Scenario, lever: str, setting: str) -> Any:
    spec = s.policy.get(lever)
    if isinstance(spec, dict) and setting in spec and not isinstance(spec[setting], dict):
        return _clean(float(spec[setting]))
    return None


def _lever(s: Scenario, key: str, lever: str, setting: str, label: str, help_: str, values: list[float],
           f: Callable[[Any], str], off: str = "off", descending: bool = False) -> Control:
    d = _lever_default(s, lever, setting)
    lo, hi = LEVERS[lever][setting]
    values = [v for v in values if lo <= v <= hi]  # the lever's own bounds (project.policy) rule
    return Control(key, label, help_, LEVER_LABELS[lever], d, _grid_options(values, d, descending=descending),
                   _or(off, f), lo=lo, hi=hi, target=("policy", lever, setting), descending=descending)


def controls_for(name: str) -> list[Control]:
    """The controls that apply to preset `name`, levers first; sections that cannot act on
    this preset (e.g. right-sizing without multi-purpose traffic) are left out."""
    return list(_controls(name))


@lru_cache(maxsize=64)
def _controls(name: str) -> tuple[Control, ...]:
    s = preset(name)
    out: list[Control] = []
    out.append(Control("year", "Year shown", "The year the headline figures describe.", "Scenario", s.target_year,
                       kind="year", lo=s.start_year, hi=s.end_year, fmt=lambda v: f"{int(v)}", target=("target_year",)))
    has_w = bool(s.workloads)
    has_llm = any(w.llm is not None for w in s.workloads.values())
    has_mp = any(w.multipurpose_share.value > 0 or (w.multipurpose_share.high or 0) > 0 for w in s.workloads.values())
    fleet = s.fleet is not None

    # --- policy levers
    start, phase = _timing_default(s)
    out.append(Control("policy.start", "Measures take effect in", "Every measure below starts in this year and "
                       "ramps up linearly over the phase-in.", "Timing", start, kind="year",
                       lo=max(s.start_year, COMMON["start_year"][0]), hi=s.end_year, fmt=lambda v: f"{int(v)}"))
    out.append(Control("policy.phase_in", "Phased in over", "Years from the start until a measure has its full "
                       "effect (0: at once). A growth cap and a hardware lifetime act in full from the start.", "Timing", phase, options=(0, 1, 2, 3, 4, 5, 7, 10), lo=0,
                       hi=COMMON["phase_in_years"][1], fmt=lambda v: "at once" if not v else f"{v:g} years"))
    if has_w and _workload_tasks(s):
        out.append(_lever(s, "standard", "efficiency_standard", "min_stars", "Minimum energy rating of models",
                          "An energy label for AI models (AI Energy Score style): five equal bands of energy per "
                          "task from the study's measured models; only models rated at least this many stars may "
                          "serve. Source of the spread: Luccioni et al. (FAccT 2024) per-model measurements.",
                          [1, 2, 3, 4, 5], lambda v: f"{int(v)} star{'s' if v != 1 else ''} or better"))
    if has_mp:
        out.append(_lever(s, "right_sizing", "right_sizing", "share_moved",
                          "Requests moved to task-specific models",
                          "Share of the requests now served by multi-purpose generative models that move to "
                          "small task-specific models (the study's Table 3 vs Table 2 energy ratio).",
                          [0.1, 0.25, 0.5, 0.75, 1.0], _pct))
    if has_llm:
        out.append(_lever(s, "reasoning", "reasoning_default", "reasoning_share",
                          "Chatbot answers with reasoning on",
                          "Share of LLM requests answered with step-by-step reasoning (about 25x the energy per "
                          "answer, ML.ENERGY v3). Off keeps the starting point's share.",
                          [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0], _pct, off="as in the starting point"))
    if has_w:
        out.append(_lever(s, "batching", "serving_efficiency", "batching_factor", "Serving: batching gain",
                          "Energy per request divided by this factor through larger batches, for figures measured "
                          "one request at a time (ML.ENERGY v3: batch size changes energy per token 3-5x).",
                          [1.25, 1.5, 2, 3, 4, 5], _x))
        out.append(_lever(s, "quantisation", "serving_efficiency", "quantisation_factor",
                          "Serving: quantisation gain", "Energy per request divided by this factor through "
                          "lower-precision weights (at most 1.3x: 4-bit weights save 15-23% on large models).",
                          [1.05, 1.1, 1.15, 1.2, 1.3], _x))
    if has_llm:
        out.append(_lever(s, "moe", "serving_efficiency", "moe_share", "Serving: mixture-of-experts share",
                          "Share of LLM requests served by mixture-of-experts models (3.56x less energy per "
                          "token than a dense model of similar size, ML.ENERGY v3). Off keeps the starting "
                          "point's share.", [0.0, 0.25, 0.5, 0.75, 0.9, 1.0], _pct, off="as in the starting point"))
    if has_w:
        out.append(_lever(s, "growth_cap", "demand_management", "growth_cap", "Cap on growth of AI requests",
                          "Requests grow at most this much a year from the start year (every workload).",
                          [-0.1, 0.0, 0.05, 0.1, 0.2, 0.3, 0.5], lambda v: f"{v * 100:+.4g}% a year",
                          descending=True))
    out.append(_lever(s, "clean_power", "clean_power", "procurement_share", "Clean electricity contracted",
                      "Share of consumption matched by contracted clean power. It lowers market-based emissions "
                      "only; the headline emissions are location-based (the grid's average).",
                      [0.25, 0.5, 0.75, 0.9, 1.0], _pct))
    if fleet:
        out.append(_lever(s, "siting", "clean_power", "siting_share", "New data centres in the cleanest region",
                          "Share of newly installed accelerators placed in the region with the lowest grid "
                          "intensity.", [0.1, 0.25, 0.5, 0.75, 1.0], _pct))
    out.append(_lever(s, "pue_cap", "facility_standards", "pue_cap", "Facility standard: PUE cap",
                      "Power usage effectiveness (facility kWh per IT kWh) capped in every region; Google's fleet "
                      "reports 1.09 (2025).", [1.1, 1.15, 1.2, 1.3, 1.4, 1.5], lambda v: f"at most {v:g}",
                      descending=True))
    out.append(_lever(s, "wue_cap", "facility_standards", "wue_cap", "Facility standard: on-site water cap",
                      "On-site cooling water per IT kWh capped in every region.", [0.0, 0.1, 0.2, 0.3, 0.5, 1.0],
                      lambda v: f"at most {v:g} L/kWh", descending=True))
    if fleet:
        out.append(_lever(s, "lifetime", "hardware_refresh", "lifetime_years", "Accelerator lifetime",
                          "Accelerators retire at this age; their compute is replaced by the newest class (more "
                          "efficient, more embodied emissions).", [3, 4, 5, 6, 7, 8],
                          lambda v: f"{v:g} years", off="as in the starting point"))

    # --- demand and growth (scenario drivers)
    for wid, w in s.workloads.items():
        label = w.label or wid.replace("_", " ").capitalize()
        v = float(w.requests_per_day.value)
        scale, unit = (1e9, "billion") if v >= 1e9 else (1e6, "million") if v >= 1e6 else (1e3, "thousand")
        # the base volume cannot exceed the workload's growth ceiling (the scenario refuses it)
        top = float(w.growth.ceiling.value) if w.growth.ceiling is not None else 1e13
        out.append(Control(f"{wid}.requests", f"{label}: requests per day ({unit}, {s.base_year})",
                           f"Requests per day in {s.base_year}. Starting point: {fmt.count(v)} a day"
                           + (f" (source: {w.requests_per_day.source})" if w.requests_per_day.source else "") + ".",
                           "Demand", _clean(v), kind="number", lo=0.0, hi=top, scale=scale, unit=unit,
                           fmt=lambda x, sc=scale, u=unit: f"{x / sc:,.4g} {u} a day",
                           target=(f"workloads.{wid}.requests_per_day",)))
        g = float(w.growth.rate.value)
        out.append(Control(f"{wid}.growth", f"{label}: growth of requests",
                           f"Yearly growth after {s.base_year}"
                           + (", slowing towards a ceiling" if w.growth.ceiling is not None else "")
                           + (f". Source: {w.growth.rate.source}" if w.growth.rate.source else "") + ".",
                           "Demand", _clean(g), _grid_options([-0.2, -0.1, 0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0,
                                                              1.5, 2.0], g, off=False),
                           _signed_pct, lo=-0.5, hi=5.0, target=(f"workloads.{wid}.growth.rate",)))
    if fleet:
        g = float(s.fleet.growth.rate.value)
        out.append(Control("shipments.growth", "AI accelerator shipments: growth",
                           "Yearly growth of accelerators shipped after the last observed year"
                           + (", slowing towards a ceiling" if s.fleet.growth.ceiling is not None else "")
                           + (f". Source: {s.fleet.growth.rate.source}" if s.fleet.growth.rate.source else "") + ".",
                           "Demand", _clean(g), _grid_options([-0.2, -0.1, -0.05, 0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5],
                                                              g, off=False),
                           _signed_pct, lo=-0.5, hi=5.0, target=("fleet.growth.rate",)))

    # --- advanced (expert parameters)
    pue_now = _regional(name, "pue", lambda v: f"{v:.2f}")
    out.append(Control("pue", "PUE, every region", f"Power usage effectiveness: facility kWh per IT kWh. "
                       f"Starting point: {pue_now}. A value here replaces every region's (and its range).",
                       "Advanced", None, (None, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0),
                       _or(f"as in the starting point ({pue_now})", lambda v: f"{v:.2f}"), lo=1.0, hi=3.0,
                       target=("regions.all.pue",)))
    wue_now = _regional(name, "wue_onsite_l_per_kwh", lambda v: f"{v:g} L/kWh")
    out.append(Control("wue", "On-site water (WUE), every region", "Cooling water consumed on site per IT kWh. "
                       f"Starting point: {wue_now}.", "Advanced", None,
                       (None, 0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
                       _or(f"as in the starting point ({wue_now})", lambda v: f"{v:g} L/kWh"), lo=0.0, hi=10.0,
                       target=("regions.all.wue_onsite_l_per_kwh",)))
    out.append(Control("grid", "Grid electricity", "Carbon intensity of the electricity: each region's own "
                       "grid, one country's grid for all data centres (its 2024 lifecycle intensity, OWID/Ember), "
                       "or a value you type.", "Advanced", "", kind="grid", fmt=grid_label))
    dec_now = _regional(name, "decarbonisation_per_year", lambda v: f"{v * 100:.3g}%")
    out.append(Control("decarbonisation", "Grid decarbonisation per year", "Yearly fall of the grid's carbon "
                       f"intensity after 2024. Starting point: {dec_now}.", "Advanced", None,
                       (None, 0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1),
                       _or(f"as in the starting point ({dec_now})", lambda v: f"{v * 100:.3g}% a year"),
                       lo=-0.5, hi=0.99, target=("regions.all.decarbonisation_per_year",)))
    sg = float(s.efficiency.software_gain_per_year.value)
    out.append(Control("software_gain", "Software and model efficiency gain per year",
                       "Yearly fall of energy per request from serving software and models (hardware gains come "
                       "from the fleet's mix)."
                       + (f" Source: {s.efficiency.software_gain_per_year.source}."
                          if s.efficiency.software_gain_per_year.source else ""),
                       "Advanced", _clean(sg), _grid_options([0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5], sg, off=False),
                       lambda v: f"{v * 100:.3g}% a year", lo=0.0, hi=0.9,
                       target=("efficiency.software_gain_per_year",)))
    if fleet:
        us = float(s.fleet.utilisation_scale.value)
        out.append(Control("utilisation", "Fleet utilisation scale", "Multiplies every accelerator class's "
                           f"utilisation; the starting point's {us:g} is calibrated on 2024 data-centre "
                           "electricity (wattcast calibrate).", "Advanced", _clean(us),
                           _grid_options([0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.2], us, off=False), lambda v: f"×{v:.3g}",
                           lo=0.05, hi=3.0, target=("fleet.utilisation_scale",)))
    return tuple(out)


def by_key(name: str) -> dict[str, Control]:
    return {c.key: c for c in controls_for(name)}


def default_cfg(name: str) -> dict[str, Any]:
    return {c.key: c.default for c in controls_for(name)}


# ---------------------------------------------------------------------------
# Control values -> scenario


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def changed(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The control values that differ from the preset's (key -> value)."""
    d = default_cfg(name)
    return {k: v for k, v in cfg.items() if k in d and not _same(v, d[k])}


def overrides(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Scenario overrides (dotted path -> value, as `apply_overrides` takes them) for `cfg`."""
    s = preset(name)
    ctl = by_key(name)
    diff = changed(name, cfg)
    out: dict[str, Any] = {}
    for k, v in diff.items():
        c = ctl[k]
        if c.target and c.target[0] != "policy":
            if c.kind == "grid":
                continue
            if v is None:
                continue  # "as in the starting point": nothing to set
            if c.kind == "number" and v == 0:
                out[c.target[0]] = {"value": 0.0}  # none at all: certain (a log range cannot reach zero)
            else:
                out[c.target[0]] = int(v) if c.kind == "year" else float(v)
    g = diff.get("grid")
    if g not in (None, ""):
        field_ = "grid_country" if isinstance(g, str) else "grid_intensity_g_per_kwh"
        for r in ["all", *[r for r in s.regions if r != "all"]]:
            out[f"regions.{r}.{field_}"] = g
    pol = _policy(s, ctl, cfg, diff)
    if pol is not None:
        out["policy"] = pol
    return out


def _policy(s: Scenario, ctl: dict[str, Control], cfg: dict[str, Any], diff: dict[str, Any]) -> dict | None:
    timing = any(k in diff for k in ("policy.start", "policy.phase_in"))
    levers = [c for c in ctl.values() if c.target and c.target[0] == "policy"]
    if not timing and not any(c.key in diff for c in levers):
        return None
    pol = copy.deepcopy(s.policy)
    touched = set()
    for c in levers:
        if c.key not in diff and not timing:
            continue
        _, lever, setting = c.target
        v = cfg.get(c.key)
        spec = pol.setdefault(lever, {})
        if v is None:
            spec.pop(setting, None)
        else:
            spec[setting] = int(v) if setting == "min_stars" else float(v)
        touched.add(lever)
    for lever in list(pol):
        if lever in LEVERS and not (set(pol[lever]) & set(LEVERS[lever])):
            del pol[lever]
    for lever in (set(pol) & set(LEVERS)) if timing else (touched & set(pol)):
        pol[lever]["start_year"] = int(cfg.get("policy.start", ctl["policy.start"].default))
        if lever in NO_PHASE_IN:
            pol[lever].pop("phase_in_years", None)
        else:
            pol[lever]["phase_in_years"] = int(cfg.get("policy.phase_in", ctl["policy.phase_in"].default))
    return pol


def build(name: str, cfg: dict[str, Any]) -> Scenario:
    """The scenario for preset `name` with control values `cfg` (ScenarioError if invalid)."""
    ov = overrides(name, cfg)
    s = preset(name)
    return apply_overrides(s, ov, origin="app") if ov else s


def policy_off(scenario: Scenario) -> Scenario:
    """The same scenario with no policy levers (the baseline of the wedges)."""
    if not scenario.policy:
        return scenario
    return apply_overrides(scenario, {"policy": {}}, origin="app")


# ---------------------------------------------------------------------------
# View state and the share link


@dataclass
class Pin:
    """A pinned scenario: a preset plus changed control values."""

    preset: str
    cfg: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return encode_pin(self)


@dataclass
class View:
    """Everything a share link carries (the page is the link's path)."""

    preset: str = DEFAULT_PRESET
    cfg: dict[str, Any] = field(default_factory=dict)
    region: str = "world"
    show: str = "energy"
    view: str = "trajectory"
    cmp: str = ""
    precision: str = "standard"
    pins: list[Pin] = field(default_factory=list)


def encode_value(v: Any) -> str:
    if v is None:
        return "off"
    if isinstance(v, str):
        return v
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return str(int(v))
    return f"{v:.10g}"


def encode_pin(p: Pin) -> str:
    diff = changed(p.preset, {**default_cfg(p.preset), **p.cfg})
    return "~".join([p.preset] + [f"{k}:{encode_value(v)}" for k, v in sorted(diff.items())])


def encode(view: View) -> dict[str, str | list[str]]:
    """Query parameters for `view`: only what differs from the defaults (plus the preset)."""
    q: dict[str, str | list[str]] = {"preset": view.preset}
    for k, v in changed(view.preset, view.cfg).items():
        q[k] = encode_value(v)
    if view.region != "world":
        q["region"] = view.region
    if view.show != "energy":
        q["show"] = view.show
    if view.view != "trajectory":
        q["view"] = view.view
    if view.cmp:
        q["cmp"] = view.cmp
    if view.precision != "standard":
        q["precision"] = view.precision
    if view.pins:
        q["pin"] = [p.token for p in view.pins]
    return q


VIEW_KEYS = {"preset", "region", "show", "view", "cmp", "precision", "pin"}


def _as_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]


def decode(params: dict[str, Any]) -> tuple[View, list[str]]:
    """A view from query parameters, and one plain-text notice per value it could not use.

    Nothing is clamped or dropped silently: an unknown key, an unknown preset, a value out of
    range or of the wrong kind is left at the preset's value and named in a notice.
    """
    notes: list[str] = []
    v = View()
    names = preset_names()
    raw = {str(k): _as_list(val) for k, val in params.items()}
    raw = {k: val for k, val in raw.items() if val}  # a key with no value says nothing
    if "preset" in raw:
        p = raw["preset"][-1]
        if p in names:
            v.preset = p
        else:
            notes.append(f"preset={fmt.clip(p, 40)} is not a known starting point; showing {DEFAULT_PRESET}")
    v.cfg = default_cfg(v.preset)
    ctl = by_key(v.preset)
    for k, vals in raw.items():
        if k in VIEW_KEYS:
            continue
        if k not in ctl:
            hint = " (this starting point has no such control)" if _known_elsewhere(k) else ""
            notes.append(f"unknown setting {fmt.clip(k, 40)}{hint}: ignored")
            continue
        try:
            v.cfg[k] = ctl[k].parse(vals[-1])
        except ValueError as exc:
            notes.append(f"{exc}: kept the starting point's value")
    _drop_invalid(v, notes)
    choice = {"region": REGIONS, "show": SHOW, "view": dict.fromkeys(VIEWS), "precision": SAMPLES}
    for k, allowed in choice.items():
        if k in raw:
            val = raw[k][-1]
            if val in allowed:
                setattr(v, k, val)
            else:
                notes.append(f"{k}={fmt.clip(val, 40)} is not one of {', '.join(allowed)}: ignored")
    if "cmp" in raw:
        from project.national import national_electricity

        val = raw["cmp"][-1].strip().upper()
        if val in set(national_electricity()["iso_code"]):
            v.cmp = val
        else:
            notes.append(f"cmp={fmt.clip(raw['cmp'][-1], 40)} is not a country code: ignored")
    pins = raw.get("pin", [])
    if len(pins) > MAX_PINS:
        notes.append(f"{len(pins)} pinned scenarios in the link; kept the first {MAX_PINS}")
    for token in pins[:MAX_PINS]:
        try:
            v.pins.append(decode_pin(token))
        except ValueError as exc:
            notes.append(f"pinned scenario {fmt.clip(token, 60)}: {exc}: left out")
    return v, notes


def _drop_invalid(v: View, notes: list[str]) -> None:
    """Values that are each in range but together (or with the preset) make no valid scenario:
    every changed value that fails on its own goes back to the preset's, with a notice."""
    try:
        build(v.preset, v.cfg)
        return
    except ScenarioError:
        pass
    d = default_cfg(v.preset)
    for k, val in list(changed(v.preset, v.cfg).items()):
        try:
            build(v.preset, {**d, k: val})
        except ScenarioError as exc:
            notes.append(f"{k}={encode_value(val)} is not valid here ({fmt.clip(str(exc).split(': ')[-1], 120)}): "
                         "kept the starting point's value")
            v.cfg[k] = d[k]
    try:
        build(v.preset, v.cfg)
    except ScenarioError as exc:  # only the combination fails: keep the preset
        notes.append(f"these settings do not make a valid scenario together ({fmt.clip(str(exc), 120)}): "
                     "showing the starting point")
        v.cfg = dict(d)


@lru_cache(maxsize=1)
def _all_keys() -> frozenset[str]:
    return frozenset(c.key for n in preset_names() for c in controls_for(n))


def _known_elsewhere(k: str) -> bool:
    return k in _all_keys()


def decode_pin(token: str) -> Pin:
    parts = str(token).split("~")
    name = parts[0]
    if name not in preset_names():
        raise ValueError(f"unknown starting point {fmt.clip(name, 40)}")
    ctl = by_key(name)
    cfg: dict[str, Any] = {}
    for part in parts[1:]:
        k, sep, val = part.partition(":")
        if not sep or k not in ctl:
            raise ValueError(f"unknown setting {fmt.clip(k, 40)}")
        cfg[k] = ctl[k].parse(val)
    pin = Pin(name, cfg)
    try:
        build_pin(pin)
    except ScenarioError as exc:
        raise ValueError(f"not a valid scenario ({fmt.clip(str(exc).split(': ')[-1], 120)})") from None
    return pin


def pin_label(p: Pin) -> str:
    """A short plain name for a pinned scenario: the preset's title head plus what changed."""
    title = preset(p.preset).title.split(":")[0].strip() or p.preset
    diff = changed(p.preset, {**default_cfg(p.preset), **p.cfg})
    if not diff:
        return title
    ctl = by_key(p.preset)
    bits = [f"{ctl[k].label.split(':')[0] if k.endswith(('.requests', '.growth')) else ctl[k].label} "
            f"{ctl[k].fmt(v)}" for k, v in list(diff.items())[:2]]
    more = f" +{len(diff) - 2} more" if len(diff) > 2 else ""
    return f"{title} with {'; '.join(bits)}{more}"


def build_pin(p: Pin) -> Scenario:
    return build(p.preset, {**default_cfg(p.preset), **p.cfg})


__all__ = ["Control", "View", "Pin", "ScenarioError", "controls_for", "default_cfg", "overrides", "build", "encode",
           "decode", "decode_pin", "encode_pin", "pin_label", "preset"]
