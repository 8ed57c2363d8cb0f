"""The projection: workloads and the accelerator fleet by region, reconciled, with impacts.

Per sample, region r and year y (arrays (n, R, Y); equations in docs/model.md):

    fleet IT energy   F[r,y]  = sum_c installed[c,r,y] x P_avg,c x 8,760 h      (project.model.fleet)
    workload IT       W_w     = requests/day x 365 x growth x e_w x boundary->IT x share[r]
    training IT       T       = runs x energy per run (-> IT) + fine-tuning
    attributed        A       = sum_w W_w + T
    unattributed      U       = max(F - A, 0)          (0 when the scenario has no fleet)
    Energy            = (A + U) x PUE_r                 (facility; fleet-consistent)
    Data Centres      = Energy + conventional load      (when modelled)
    Emissions         = Energy x grid intensity + embodied;  market-based = x (1 - clean share)
    Water             = IT x WUE_on-site + Energy x water intensity of generation

World is the sum of the regions. Every parameter with a range is sampled by a seeded Latin
hypercube; the headline is the median (p50) with p5-p95.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from .distributions import frozen, lognormal_from_moments, swing_bounds
from .model import boundaries as bnd
from .model import fleet as fl
from .model import sampling
from .model.growth import grow
from .model.regions import (REGION_ENTITY, grid_intensity_of, observed_intensity, region_factor_rows, region_grid,
                            region_offsite_water_rows)
from .params import parameter_table
from .reference import paper_task_energy
from .scenario import BOUNDS, Scenario, ScenarioError, Uncertain
from .tasks import task_label
from .variables import (ACTIVITY_PREFIX, FLEET_CLASS_PREFIX, INFERENCE_PREFIX, REGIONS, VARIABLES, WORLD,
                        class_variables, workload_variables)

KWH_PER_TWH = 1e9
DAYS_PER_YEAR = 365.0
REGION_IDS = tuple(REGIONS)
R = len(REGION_IDS)
GRID_BASE_YEAR = 2024
CONVENTIONAL_BASE_YEAR = 2018
STATS = ("p5", "p50", "p95")


# ---------------------------------------------------------------------------
# Parameters


@dataclass
class Param:
    """One scenario number as the engine sees it: central value, distribution, source.

    `spec` is the scenario's Uncertain, or (mean, std) for a lognormal energy from logged
    moments; `lower`/`upper` are the quantity's physical bounds (a normal is truncated).
    """

    path: str
    label: str
    unit: str
    central: float
    spec: Uncertain | tuple[float, float]
    source: str = ""
    lower: float | None = None
    upper: float | None = None

    @cached_property
    def dist(self):
        """The distribution (project.distributions.Dist, scipy's terms), or None when the value is fixed."""
        if isinstance(self.spec, tuple):
            mean, std = self.spec
            return lognormal_from_moments(mean, std) if std > 0 else None
        return frozen(self.spec, self.lower, self.upper)

    @cached_property
    def bounds(self) -> tuple[float | None, float | None]:
        if self.dist is None:
            return (None, None) if isinstance(self.spec, tuple) else (self.spec.low, self.spec.high)
        if isinstance(self.spec, tuple):
            return float(self.dist.ppf(0.05)), float(self.dist.ppf(0.95))
        return swing_bounds(self.spec, self.dist)

    @property
    def low(self) -> float | None:
        return self.bounds[0]

    @property
    def high(self) -> float | None:
        return self.bounds[1]

    @property
    def uncertain(self) -> bool:
        return self.dist is not None


def param_uncertain(name: str) -> Uncertain:
    """A row of data/parameters.csv as an Uncertain (value, range, distribution, source and year)."""
    return Uncertain(**_param_fields(name))


@lru_cache(maxsize=256)
def _param_fields(name: str) -> dict:
    """The Uncertain fields of a parameter row (parsed once: pandas row lookups cost ~0.3 ms each)."""
    row = parameter_table().loc[name]
    lo = None if pd.isna(row["low"]) else float(row["low"])
    hi = None if pd.isna(row["high"]) else float(row["high"])
    d = row["distribution"] if isinstance(row["distribution"], str) else "fixed"
    return dict(value=float(row["value"]), low=lo, high=hi, distribution=d, source=f"{row['source']} ({int(row['year'])})")


def _csv_uncertain(row: Mapping, col: str, lo: str, hi: str, source: str) -> Uncertain:
    v, a, b = float(row[col]), float(row[lo]), float(row[hi])
    if a < b:
        a, b = min(a, v), max(b, v)
        return Uncertain(value=v, low=a, high=b, distribution="triangular", source=source)
    return Uncertain(value=v, source=source)


@dataclass
class WorkloadPlan:
    name: str
    label: str
    kind: str                 # "per_unit" or "llm"
    boundary: str
    hardware: str | None
    pue_measured: bool
    ceiling: bool
    region_shares: np.ndarray | None
    energy_source: str
    #: batch size the per-unit figure was measured at (1: the study's references), None if not stated
    batch_size: int | None = None


@dataclass
class Compiled:
    """A scenario reduced to parameters and precomputed arrays: cheap to evaluate many times."""

    scenario: Scenario
    years: np.ndarray
    dy: np.ndarray
    params: dict[str, Param] = field(default_factory=dict)
    workloads: list[WorkloadPlan] = field(default_factory=list)
    fleet_axes: fl.FleetAxes | None = None
    vintage: dict[str, np.ndarray] = field(default_factory=dict)     # class -> (R, Yf, Y)
    fixed_installed: dict[str, np.ndarray] = field(default_factory=dict)  # class -> (R, Y)
    vintage_refresh: dict[str, np.ndarray] = field(default_factory=dict)   # with the hardware-refresh lever
    fixed_installed_refresh: dict[str, np.ndarray] = field(default_factory=dict)
    replacement: dict[str, np.ndarray] = field(default_factory=dict)       # its replacement shipments (R, Yf, Y)
    fixed_replacement: dict[str, np.ndarray] = field(default_factory=dict)  # of the fixed history (R, Y)
    grid_observed: np.ndarray | None = None   # (R, Y) observed intensity, NaN where projected
    default_shares: np.ndarray | None = None  # (R,) regional split when there is no fleet
    policy: object | None = None
    #: arrays `evaluate` derives from the fields above, per dtype (not copied by dataclasses.replace)
    eval_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def uncertain(self) -> list[Param]:
        return [p for p in self.params.values() if p.uncertain]

    @property
    def tasks(self) -> list[str]:
        return [w.name for w in self.workloads]

    @property
    def energy_sources(self) -> dict[str, str]:
        return {w.name: w.energy_source for w in self.workloads}

    def target_index(self) -> int:
        return int(self.scenario.target_year - self.scenario.start_year)

    def variables(self) -> dict[str, object]:
        """Every variable this scenario emits, in table order, with its definition."""
        labels = {w.name: w.label for w in self.workloads}
        out = {}
        wv = workload_variables(labels)
        cv = class_variables(fl.CLASS_LABELS) if self.fleet_axes is not None else {}
        for k, v in VARIABLES.items():
            if self.fleet_axes is None and k.startswith(("Fleet|", "Power|", "Utilisation|", "Emissions|Embodied")):
                if k != "Emissions|Embodied":
                    continue
            if not self.scenario.conventional and k.startswith("Data Centres"):
                continue
            out[k] = v
            if k == "Energy|Inference":
                out.update({n: d for n, d in wv.items() if n.startswith(INFERENCE_PREFIX)})
            if k == "Fleet|Installed Accelerators":
                out.update(cv)
        out.update({n: d for n, d in wv.items() if n.startswith(ACTIVITY_PREFIX)})
        return out


def _add(c: Compiled, path: str, u: Uncertain, label: str, unit: str, kind: str | None = None,
         bounds: tuple[float | None, float | None] | None = None) -> None:
    lo, hi = bounds if bounds is not None else BOUNDS.get(kind or "", (None, None))
    c.params[path] = Param(path, label, unit, float(u.value), u, u.source or "", lo, hi)


def _growth(c: Compiled, path: str, g, label: str) -> bool:
    _add(c, f"{path}.rate", g.rate, f"{label}: growth", "1/yr", "rate")
    if g.ceiling is not None:
        _add(c, f"{path}.ceiling", g.ceiling, f"{label}: ceiling", "same as base", "count")
        return True
    return False


def compile_scenario(scenario: Scenario, measurements: pd.DataFrame | None = None) -> Compiled:
    """Resolve data defaults, references (Table 2, measurements, national grids) into Params.

    `measurements` is the table of `project.measurements.task_energy_from_records`; it is
    needed only by workloads whose energy says `measurements = "<task>"`, which take its
    `boundary` (server when the table has none) and `batch_size`.
    """
    try:
        return _compile(scenario, measurements)
    except KeyError as exc:
        raise ScenarioError(exc.args[0] if exc.args else str(exc)) from None


def _compile(s: Scenario, measurements: pd.DataFrame | None) -> Compiled:
    years = np.arange(s.start_year, s.end_year + 1)
    c = Compiled(s, years, (years - s.base_year).astype(float))
    b = s.boundary
    _add(c, "boundary.production_factor", b.production_factor or param_uncertain("boundary_production_factor"),
         "Serving vs benchmark accelerator energy", "x", bounds=(1.0, 10.0))
    _add(c, "boundary.host_ratio", b.host_ratio or param_uncertain("boundary_host_ratio"),
         "Host CPU/DRAM per accelerator energy", "x", bounds=(0.0, 10.0))
    _add(c, "boundary.idle_ratio", b.idle_ratio or param_uncertain("boundary_idle_ratio"),
         "Idle provisioned machines per active", "x", bounds=(0.0, 10.0))
    _add(c, "efficiency.software_gain_per_year", s.efficiency.software_gain_per_year,
         "Software and model efficiency gain", "1/yr", bounds=(0.0, 0.9))
    _compile_regions(c)
    if s.policy:
        from .policy import compile_policy

        c.policy = compile_policy(s.policy, c)
    if s.fleet is not None:
        _compile_fleet(c)
    ref = None
    for name, w in s.workloads.items():
        label = w.label or task_label(name).title()
        p = f"workloads.{name}"
        _add(c, f"{p}.requests_per_day", w.requests_per_day, f"{label}: requests/day", "1/day", "count")
        ceiling = _growth(c, f"{p}.growth", w.growth, label)
        _add(c, f"{p}.multipurpose_share", w.multipurpose_share, f"{label}: multi-purpose share", "fraction", "fraction")
        _add(c, f"{p}.multipurpose_ratio", w.multipurpose_ratio, f"{label}: multi-purpose energy ratio", "x",
             bounds=(0.0, 1e4))
        shares = None
        if w.region_shares is not None:
            shares = np.array([w.region_shares.get(r, 0.0) for r in REGION_IDS])
        if w.llm is not None:
            m = w.llm
            for f_, unit, kind in [("output_tokens", "tokens", "count"), ("input_tokens", "tokens", "count"),
                                   ("j_per_output_token", "J", "energy"), ("input_token_ratio", "x", "ratio"),
                                   ("reasoning_share", "fraction", "fraction"),
                                   ("reasoning_energy_multiplier", "x", None), ("moe_share", "fraction", "fraction"),
                                   ("moe_factor", "x", None)]:
                _add(c, f"{p}.llm.{f_}", getattr(m, f_), f"{label}: {f_.replace('_', ' ')}", unit, kind,
                     bounds=(1.0, 1e3) if kind is None else None)
            c.workloads.append(WorkloadPlan(name, label, "llm", "accelerator", m.hardware, False, ceiling, shares,
                                            m.source or "tokens x energy per token"))
            continue
        e = w.energy
        _add(c, f"{p}.energy.multiplier", e.multiplier, f"{label}: energy multiplier", "x", "multiplier")
        path = f"{p}.energy"
        boundary, hardware, batch = e.boundary, e.hardware, None
        if e.kwh is not None:
            _add(c, path, e.kwh, f"{label}: energy per unit", "kWh", "energy")
            source = e.kwh.source or e.source or "scenario value"
        elif e.reference is not None:
            ref = paper_task_energy() if ref is None else ref
            row = ref.loc[e.reference]
            mean, std = float(row["kwh_per_inference_mean"]), float(row["kwh_per_inference_std"])
            source = f"Luccioni et al. 2023, Table 2 ({e.reference}, lognormal from the logged mean and std)"
            c.params[path] = Param(path, f"{label}: energy per unit", "kWh", mean, (mean, std), source, 0.0)
            boundary, hardware, batch = boundary or "server", hardware or "a100", 1   # the study: batch size 1
        else:
            if measurements is None or e.measurements not in set(measurements["task"]):
                raise ScenarioError(f"workloads.{name}.energy.measurements: no measurement records for task "
                                    f"{e.measurements!r} (pass a measurements directory with records of that task)")
            row = measurements.set_index("task").loc[e.measurements]
            mean = float(row["kwh_per_inference_mean"])
            std = float(row["kwh_per_inference_std"]) if pd.notna(row["kwh_per_inference_std"]) else 0.0
            source = f"wattcast measurements ({row.get('source', 'records')}, n={int(row['n_records'])})"
            c.params[path] = Param(path, f"{label}: energy per unit", "kWh", mean, (mean, std), source, 0.0)
            if boundary is None:   # the table's (accelerator/server/it); older tables without one: server
                from .measurements import engine_boundary

                boundary = engine_boundary(_stated_text(row.get("boundary")) or "server")
            batch = int(row["batch_size"]) if pd.notna(row.get("batch_size")) else None
        if boundary == "facility":
            _add(c, f"{p}.energy.pue", e.pue, f"{label}: PUE included", "ratio", "pue")
        c.workloads.append(WorkloadPlan(name, label, "per_unit", boundary, hardware, boundary == "facility",
                                        ceiling, shares, source, batch))
    if s.training is not None:
        t = s.training
        _add(c, "training.runs_per_year", t.runs_per_year, "Frontier training runs per year", "1/yr", "count")
        _growth(c, "training.runs_growth", t.runs_growth, "Frontier runs")
        _add(c, "training.gwh_per_run", t.gwh_per_run, "Energy per frontier run", "GWh", bounds=(0.0, 1e7))
        _growth(c, "training.energy_growth", t.energy_growth, "Energy per run")
        _add(c, "training.finetune_ratio", t.finetune_ratio, "Fine-tuning / frontier energy", "x", bounds=(0.0, 100.0))
    if c.policy is not None:   # compiled before the workloads (the fleet needs it); batching needs them
        from .policy import batched_at_one

        c.policy.batch_one = batched_at_one(s.policy, c.workloads)
    return c


def _stated_text(x) -> str | None:
    """A table cell as text, None when empty or missing (NaN after a CSV round trip)."""
    return None if x is None or pd.isna(x) or not str(x).strip() else str(x)


def _compile_regions(c: Compiled) -> None:
    s = c.scenario
    facts = region_factor_rows()
    grid = region_grid(GRID_BASE_YEAR)
    decarb = {"USA": "decarbonisation_usa", "CHN": "decarbonisation_chn", "EUR": "decarbonisation_eur",
              "ROW": "decarbonisation_row"}
    offsite = region_offsite_water_rows()
    conv_share = fl.interp_rows(fl.regional_split_table(), np.array([CONVENTIONAL_BASE_YEAR]))[0]
    observed = np.full((R, len(c.years)), np.nan)
    allr = s.regions.get("all")
    for i, r in enumerate(REGION_IDS):
        spec = s.regions.get(r)

        def pick(field_: str, default: Uncertain) -> Uncertain:
            for src in (spec, allr):
                if src is not None and getattr(src, field_) is not None:
                    return getattr(src, field_)
            return default

        row = facts[r]
        src = f"{row['source']} ({int(row['year'])})"
        p = f"regions.{r}"
        _add(c, f"{p}.pue", pick("pue", _csv_uncertain(row, "pue", "pue_low", "pue_high", src)), f"{r}: PUE", "ratio",
             "pue")
        _add(c, f"{p}.wue_onsite_l_per_kwh",
             pick("wue_onsite_l_per_kwh", _csv_uncertain(row, "wue_onsite_l_per_kwh", "wue_low", "wue_high", src)),
             f"{r}: on-site WUE (per IT kWh)", "L/kWh", bounds=(0.0, 100.0))
        country = next((x.grid_country for x in (spec, allr) if x is not None and x.grid_country), None)
        given = next((x.grid_intensity_g_per_kwh for x in (spec, allr)
                      if x is not None and x.grid_intensity_g_per_kwh is not None), None)
        if given is not None:
            u = given
        elif country is not None:
            val, source = grid_intensity_of(country, GRID_BASE_YEAR)
            u = Uncertain(value=val, source=source)
        else:
            u = Uncertain(value=grid[r][0], source=f"{REGION_ENTITY.get(r, 'World minus USA, China, EU-27')} "
                                                   f"{GRID_BASE_YEAR}, lifecycle, data/national (OWID/Ember)")
            ent = REGION_ENTITY.get(r)
            if ent is not None:
                hist = observed_intensity(ent)
                for j, y in enumerate(c.years):
                    if y < GRID_BASE_YEAR and int(y) in hist:
                        observed[i, j] = hist[int(y)] / grid[r][0]
        _add(c, f"{p}.grid_intensity_g_per_kwh", u, f"{r}: grid intensity ({GRID_BASE_YEAR})", "g/kWh",
             bounds=(0.0, 5000.0))
        _add(c, f"{p}.decarbonisation_per_year", pick("decarbonisation_per_year", param_uncertain(decarb[r])),
             f"{r}: grid decarbonisation", "1/yr", bounds=(-0.5, 0.99))
        _add(c, f"{p}.clean_power_share", pick("clean_power_share", Uncertain(value=0.0)),
             f"{r}: clean power procured", "fraction", "fraction")
        _add(c, f"{p}.water_offsite_l_per_kwh",
             pick("water_offsite_l_per_kwh", _csv_uncertain(offsite[r], "l_per_kwh", "low", "high",
                                                             f"{offsite[r]['source']} ({int(offsite[r]['year'])})")),
             f"{r}: water at power plants", "L/kWh", bounds=(0.0, 1000.0))
        if s.conventional:
            conv = pick("conventional_twh_2018", Uncertain(
                value=round(205.0 * conv_share[i], 3),
                source="Masanet et al., Science 367:984 (2020): 205 TWh in 2018, split by IEA 2024 regional shares "
                       "(data/fleet/regional_split.csv)"))
            _add(c, f"{p}.conventional_twh_2018", conv, f"{r}: conventional data centres 2018", "TWh",
                 bounds=(0.0, 1e5))
            hist = pick("conventional_growth_per_year", Uncertain(value=0.0))
            _add(c, f"{p}.conventional_growth_per_year", hist, f"{r}: conventional growth to 2024", "1/yr", "rate")
            _add(c, f"{p}.conventional_growth_projected", pick("conventional_growth_projected", hist),
                 f"{r}: conventional growth after 2024", "1/yr", "rate")
    c.grid_observed = observed
    c.default_shares = fl.interp_rows(fl.regional_split_table(), np.array([float(s.base_year)]))[0]


def _compile_fleet(c: Compiled) -> None:
    s = c.scenario
    f = s.fleet
    axes = fl.fleet_axes(f, s.start_year, s.end_year)
    if c.policy is not None:
        lowest = int(np.argmin([c.params[f"regions.{r}.grid_intensity_g_per_kwh"].central for r in REGION_IDS]))
        axes.shares = c.policy.siting(axes.shares, axes.years_full, lowest)
    c.fleet_axes = axes
    refresh = c.policy.refresh_lifetime() if c.policy is not None else None
    _add(c, "fleet.utilisation_scale", f.utilisation_scale, "Fleet utilisation scale", "x", bounds=(0.0, 10.0))
    _add(c, "fleet.shipments_scale", f.shipments_scale, "Shipments scale (all years)", "x", bounds=(0.0, 10.0))
    _growth(c, "fleet.growth", f.growth, "Shipments")
    table = fl.class_rows()
    for cname in fl.CLASS_IDS:
        row = table[cname]
        src = f"{row['source']} ({int(row['year'])})"
        o = f.classes.get(cname)
        p = f"fleet.classes.{cname}"
        lab = fl.CLASS_LABELS[cname]

        def pick(field_: str, default: Uncertain) -> Uncertain:
            return getattr(o, field_) if o is not None and getattr(o, field_) is not None else default

        _add(c, f"{p}.tdp_w", pick("tdp_w", _csv_uncertain(row, "tdp_w", "tdp_low_w", "tdp_high_w", src)),
             f"{lab}: accelerator power", "W", bounds=(0.0, 1e5))
        _add(c, f"{p}.server_w_per_accelerator",
             pick("server_w_per_accelerator", _csv_uncertain(row, "server_w_per_accelerator", "server_low_w",
                                                             "server_high_w", src)),
             f"{lab}: server overhead", "W", bounds=(0.0, 1e5))
        _add(c, f"{p}.idle_fraction", pick("idle_fraction", _csv_uncertain(row, "idle_fraction", "idle_low",
                                                                           "idle_high", src)),
             f"{lab}: idle power fraction", "fraction", "fraction")
        _add(c, f"{p}.utilisation", pick("utilisation", _csv_uncertain(row, "utilisation", "utilisation_low",
                                                                       "utilisation_high", src)),
             f"{lab}: utilisation", "fraction", "fraction")
        _add(c, f"{p}.embodied_kg_per_accelerator",
             pick("embodied_kg_per_accelerator", param_uncertain("embodied_kg_per_accelerator")),
             f"{lab}: embodied emissions", "kg CO2e", bounds=(0.0, 1e6))
        flops = Uncertain(value=float(row["peak_tflops"]), source=str(row["compute_source"]))
        _add(c, f"{p}.peak_tflops", flops, f"{lab}: peak compute", "TFLOPS", bounds=(0.0, 1e6))
        life = pick("lifetime_years", Uncertain(value=float(row["lifetime_years"]), source=src))
        _add(c, f"{p}.lifetime_years", life, f"{lab}: lifetime", "years", "years")
        k = fl.CLASS_IDS.index(cname)
        M = fl.vintage_matrix(axes, float(life.value), f.mid_year)
        c.vintage[cname] = M
        c.fixed_installed[cname] = np.einsum("f,rfy->ry", axes.history[k], M)
        if refresh is not None:
            M2 = fl.vintage_matrix(axes, float(life.value), f.mid_year, refresh)
            c.vintage_refresh[cname] = M2
            c.fixed_installed_refresh[cname] = np.einsum("f,rfy->ry", axes.history[k], M2)
            Mr = fl.replacement_matrix(axes, float(life.value), f.mid_year, refresh)
            c.replacement[cname] = Mr
            c.fixed_replacement[cname] = np.einsum("f,rfy->ry", axes.history[k], Mr)


# ---------------------------------------------------------------------------
# Evaluation
#
# Inside the evaluation arrays are samples-last: (R, Y, n) = regions (REGION_IDS order) x
# scenario years x samples. A parameter is (1, 1, n), or (1, 1, 1) when it takes its central
# value (it broadcasts: fixed parameters cost nothing per sample); regional parameters are
# (R, 1, n), per-class ones (C, n). Samples-last keeps every broadcast and every sum over
# regions on contiguous rows of samples (the (n, R, Y) layout with Y = 16 innermost made those
# 2-15x slower), and a result's rows are already the (cell, samples) rows the percentiles need.
# `evaluate` returns the public (n, R, Y) layout. The central run is float64; Monte Carlo
# chunks are float32 (their draws were always kept as float32) and compute only the variables
# the Monte Carlo keeps (`want`).


class _Values:
    """Parameter values of `dtype` for n samples: the given draws as (1, 1, n), else the
    central value as (1, 1, 1); constants of the compiled scenario cast to `dtype` once."""

    def __init__(self, c: Compiled, values: dict[str, np.ndarray] | None, n: int, dtype=np.float64):
        self.c, self.values, self.n, self.dtype = c, values or {}, n, np.dtype(dtype)

    def __call__(self, path: str) -> np.ndarray:
        x = self.values.get(path)
        if x is None:
            return self.const(("central", path), lambda: np.full((1, 1, 1), self.c.params[path].central))
        return np.asarray(x, dtype=self.dtype).reshape(1, 1, -1)

    def _stack(self, paths: list[str]) -> np.ndarray:
        """(len(paths), 1, n or 1): sampled and fixed parameters side by side."""
        return np.concatenate(np.broadcast_arrays(*(self(p) for p in paths)), axis=0)

    def regional(self, name: str) -> np.ndarray:
        """(R, 1, n) from regions.<r>.<name>."""
        return self._stack([f"regions.{r}.{name}" for r in REGION_IDS])

    def classes(self, name: str) -> np.ndarray:
        """(C, n) from fleet.classes.<c>.<name>."""
        return self._stack([f"fleet.classes.{k}.{name}" for k in fl.CLASS_IDS])[:, 0, :]

    def growth(self, path: str, x0: np.ndarray, dy: np.ndarray, has_ceiling: bool) -> np.ndarray:
        """(len(dy), n) path from the base x0 (1, 1, n) over years dy (Y, 1) from the base year."""
        rate = self(f"{path}.rate")[0]
        ceiling = self(f"{path}.ceiling")[0] if has_ceiling else None
        return grow(x0[0], rate, dy, ceiling)

    def const(self, key, make) -> np.ndarray:
        """The array `make()` (a constant of the compiled scenario) in `dtype`, made once."""
        k = (key, self.dtype.str)
        cache = self.c.eval_cache
        if k not in cache:
            cache[k] = np.asarray(make(), dtype=self.dtype)
        return cache[k]


# project.policy's hooks take and return the public layout (n, R, Y), (n, 1, Y) or (n, Y) and
# multiply by float64 ramps: these adapters are views (no copy) plus a cast back to `dtype`.
def _to_hook(a: np.ndarray) -> np.ndarray:
    """(R, Y, n) -> (n, R, Y)."""
    return a.transpose(2, 0, 1)


def _from_hook(a: np.ndarray, dtype) -> np.ndarray:
    """(n, R, Y) -> (R, Y, n) in `dtype`."""
    return np.asarray(a, dtype=dtype).transpose(1, 2, 0)


class _Outputs(dict):
    """Variables computed by `_evaluate`: every one (`want` None), or only those in `want`,
    which maps a variable to True when its regions are needed and False when its World total
    is enough (then it may be stored as (1, Y, n))."""

    def __init__(self, want: dict[str, bool] | None):
        super().__init__()
        self.want = want
        self._split: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def wants(self, *names: str) -> bool:
        return self.want is None or any(k in self.want for k in names)

    def world_only(self, name: str) -> bool:
        return self.want is not None and not self.want.get(name, True)

    def put(self, name: str, make) -> None:
        if self.wants(name):
            self[name] = make()

    def put_split(self, name: str, world_it: np.ndarray, shares: np.ndarray, pue_twh: np.ndarray) -> None:
        """Facility energy (TWh) of World IT energy `world_it` (1, Y, n, kWh) split by region
        with `shares`: (R, Y, n), or when only the World total is wanted
        world_it x sum_r shares_r x PUE_r / 1e9 as (1, Y, n) (no (R, Y, n) product per workload)."""
        if not self.wants(name):
            return
        if not self.world_only(name):
            self[name] = world_it * shares * pue_twh
            return
        hit = self._split.get(id(shares))
        if hit is None or hit[0] is not shares:
            hit = self._split[id(shares)] = (shares, (shares * pue_twh).sum(axis=0, keepdims=True))
        self[name] = world_it * hit[1]

    def result(self, n: int, Y: int) -> dict[str, np.ndarray]:
        """Every array at its full (R or 1, Y, n) shape (results of fixed parameters broadcast)."""
        out = {}
        for k, a in self.items():
            shape = (a.shape[0], Y, n)
            out[k] = a if a.shape == shape else np.ascontiguousarray(np.broadcast_to(a, shape))
        return out


def evaluate(c: Compiled, values: dict[str, np.ndarray] | None = None, n: int = 1,
             variables: list[str] | None = None) -> dict[str, np.ndarray]:
    """Evaluate every variable (or only `variables`, by region) for `n` parameter sets (float64).

    `values` maps parameter paths to arrays of shape (n,); parameters not given take
    their central value. Returns variable -> array of shape (n, R, Y) by region (additive
    variables; World is their sum) or (n, 1, Y) for World-only intensive variables.
    """
    raw = _evaluate(c, values, n, want=None if variables is None else dict.fromkeys(variables, True))
    return {k: np.ascontiguousarray(a.transpose(2, 0, 1)) for k, a in raw.items()
            if variables is None or k in variables}


def _evaluate(c: Compiled, values: dict[str, np.ndarray] | None = None, n: int = 1,
              want: dict[str, bool] | None = None, dtype=np.float64) -> dict[str, np.ndarray]:
    """`evaluate` in the samples-last layout: variable -> (R, Y, n) or (1, Y, n).

    `want` (Monte Carlo chunks): only these variables, each mapped to True when its regions
    are needed; those mapped to False may come back as (1, Y, n) World totals. `dtype`:
    float64 (central run, sensitivity) or float32 (Monte Carlo chunks).
    """
    v = _Values(c, values, n, dtype)
    o = _Outputs(want)
    s = c.scenario
    Y = len(c.years)
    pol = c.policy
    pue, wue, clean = v.regional("pue"), v.regional("wue_onsite_l_per_kwh"), v.regional("clean_power_share")
    if pol is not None:                                                  # (R, 1, n) -> maybe (R, Y, n)
        pue, wue, clean = (_from_hook(a, v.dtype) for a in pol.facility(*map(_to_hook, (pue, wue, clean))))
    pue_twh = pue / KWH_PER_TWH   # IT kWh -> facility TWh (and accelerator W -> facility GW)
    dy = v.const("dy", lambda: c.dy[:, None])                                 # (Y, 1)
    software = _power_path((1.0 - v("efficiency.software_gain_per_year")), c.dy)   # (1, Y, n)

    # --- supply side: the fleet
    fleet_it = hw_j_per_flop = None
    if c.fleet_axes is not None:
        fleet_it, hw_j_per_flop = _fleet(c, v, o, pue_twh)
    shares, fleet_total = _fleet_shares(c, v, fleet_it)

    # --- demand side: workloads and training (IT boundary, kWh), by region
    inference, training = _demand(c, v, pol, shares, hw_j_per_flop, software, dy, pue_twh, o)
    attributed = inference + training
    if fleet_it is not None and pol is not None and pol.demand_side and pol.fleet_response > 0:
        # the unattributed fleet use follows the modelled demand's relative change
        inf0, tr0 = _demand(c, v, None, shares, hw_j_per_flop, software, dy, pue_twh, None)
        a0 = inf0 + tr0
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(a0 > 0, attributed / np.where(a0 > 0, a0, 1.0), 1.0)
        fleet_it = fleet_it * (1.0 + pol.fleet_response * (rel - 1.0))
        fleet_total = None   # no longer the total the shares were taken from

    # --- reconciliation
    if fleet_it is not None:
        unattributed = np.maximum(fleet_it - attributed, 0.0)
        if fleet_total is None:
            o.put("Fleet|Energy", lambda: fleet_it * pue_twh)
        else:   # fleet_it = fleet_total x shares
            o.put_split("Fleet|Energy", fleet_total, shares, pue_twh)
        o.put("_excess", lambda: np.maximum(attributed - fleet_it, 0.0) / KWH_PER_TWH)
    else:
        unattributed = np.zeros_like(attributed)
    total_it = attributed + unattributed
    energy = total_it * pue_twh
    o["Energy"] = energy
    o.put("Energy|Unattributed", lambda: unattributed * pue_twh)
    o.put("Energy|IT", lambda: total_it / KWH_PER_TWH)

    # --- conventional data centres
    if s.conventional and o.wants("Data Centres", "Data Centres|AI", "Data Centres|Conventional"):
        conv = _conventional(c, v)
        o.put("Data Centres|AI", lambda: energy)
        o.put("Data Centres|Conventional", lambda: conv)
        o.put("Data Centres", lambda: energy + conv)

    # --- impacts
    embodied = o.pop("_embodied", None)
    if embodied is None:
        embodied = np.zeros((R, 1, 1), dtype=v.dtype)
    if o.wants("Emissions", "Emissions|Location-based", "Emissions|Market-based"):
        loc = energy * _intensity(c, v, unit=1e-3)          # TWh x g/kWh / 1e3 = Mt CO2e
        o.put("Emissions|Location-based", lambda: loc)
        # no clean power procured anywhere (the default): market-based is location-based
        o.put("Emissions|Market-based", lambda: loc * (1.0 - clean) if clean.any() else loc)
        o.put("Emissions", lambda: loc + embodied)
    o.put("Emissions|Embodied", lambda: embodied)
    if o.wants("Water", "Water|On-site", "Water|Off-site"):
        onsite = total_it * (wue / KWH_PER_TWH)
        offsite = energy * v.regional("water_offsite_l_per_kwh")
        o.put("Water|On-site", lambda: onsite)
        o.put("Water|Off-site", lambda: offsite)
        o.put("Water", lambda: onsite + offsite)
    if c.fleet_axes is not None:
        o.put("Power|Average", lambda: energy * (1e3 / fl.HOURS_PER_YEAR))
    return o.result(n, Y)


def _fleet_shares(c: Compiled, v: _Values, fleet_it: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Regional split of demand that follows the fleet: its IT energy by region (R, Y, n),
    the scenario's default split (R, 1, 1) without a fleet or where it has no energy; and
    the fleet's World IT energy (1, Y, n) (None without a fleet)."""
    default = v.const("default_shares", lambda: c.default_shares[:, None, None])
    if fleet_it is None:
        return default, None
    tot = fleet_it.sum(axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, fleet_it / np.where(tot > 0, tot, 1.0), default), tot


def _demand(c: Compiled, v: _Values, pol, shares: np.ndarray, hw_j_per_flop, software, dy, pue_twh,
            o: _Outputs | None) -> tuple[np.ndarray, np.ndarray]:
    """Inference and training at the IT boundary (kWh), (R, Y, n) each; fills `o` (when given)
    per workload and for training.

    A workload's IT energy is first a World total (1, Y, n): volume x energy per unit. Those
    that follow the fleet's regional split are summed and split once; those with their own
    split (`region_shares`) are split one by one.
    """
    s = c.scenario
    Y = len(c.years)
    o = o if o is not None else _Outputs({})   # a sink that wants nothing
    pf, host, idle = v("boundary.production_factor"), v("boundary.host_ratio"), v("boundary.idle_ratio")
    follow = np.zeros((1, 1, 1), dtype=v.dtype)     # World IT of workloads on the fleet's split
    inference = np.zeros((R, 1, 1), dtype=v.dtype)  # IT of workloads with their own split
    activity = np.zeros((R, 1, 1), dtype=v.dtype)
    for w in c.workloads:
        p = f"workloads.{w.name}"
        base = v(f"{p}.requests_per_day")
        volume = v.growth(f"{p}.growth", base, dy, w.ceiling) * DAYS_PER_YEAR     # (Y, n) requests/yr
        if pol is not None:
            volume = np.asarray(pol.volume(w.name, volume.T), dtype=v.dtype).T
        per_unit = _energy_per_unit(c, v, w, pol)                    # (1, Y, n) at the workload's boundary
        if w.hardware is not None and hw_j_per_flop is not None:
            ref = v(f"fleet.classes.{w.hardware}.tdp_w") / v(f"fleet.classes.{w.hardware}.peak_tflops")
            per_unit = per_unit * hw_j_per_flop / ref
        per_unit = per_unit * software
        share_mp, ratio_mp = v(f"{p}.multipurpose_share"), v(f"{p}.multipurpose_ratio")
        if pol is not None:
            share_mp = _from_hook(pol.multipurpose_share(w.name, _to_hook(share_mp * np.ones((1, Y, 1), v.dtype))),
                                  v.dtype)
        per_unit = per_unit * (1.0 - share_mp + share_mp * ratio_mp)
        pue_m = v(f"{p}.energy.pue") if w.pue_measured else None
        it_unit = bnd.to_it(per_unit, w.boundary, pf, host, idle, pue_m)   # (1, Y, n) kWh per unit
        o.put(f"_unit|{w.name}", lambda: it_unit)
        it = volume[None] * it_unit                                          # (1, Y, n) World IT kWh
        if w.region_shares is None:
            sh = shares
            follow = follow + it
        else:
            sh = v.const(("region_shares", w.name), lambda: w.region_shares[:, None, None])
            inference = inference + it * sh
        o.put_split(INFERENCE_PREFIX + w.label, it, sh, pue_twh)
        if o.wants(ACTIVITY_PREFIX + w.label, "Activity|Inference"):
            act = volume[None] * sh / 1e9
            o[ACTIVITY_PREFIX + w.label] = act
            activity = activity + act
    inference = inference + follow * shares
    if any(w.region_shares is not None for w in c.workloads):
        o.put("Energy|Inference", lambda: inference * pue_twh)
    else:
        o.put_split("Energy|Inference", follow, shares, pue_twh)
    o.put("Activity|Inference", lambda: activity)

    training = np.zeros((R, 1, 1), dtype=v.dtype)
    if s.training is None:
        for name in ("Energy|Training", "Energy|Training|Frontier", "Energy|Training|Fine-tuning"):
            o.put(name, lambda: training)
        return inference, training
    t = s.training
    runs = v.growth("training.runs_growth", v("training.runs_per_year"), dy, t.runs_growth.ceiling is not None)
    gwh = v.growth("training.energy_growth", v("training.gwh_per_run"), dy, t.energy_growth.ceiling is not None)
    kwh = bnd.to_it((runs * gwh * 1e6)[None], t.boundary, 1.0, host, idle)   # (1, Y, n) World
    sh = shares if t.region_shares is None else v.const(
        "training_shares", lambda: np.array([t.region_shares.get(r, 0.0) for r in REGION_IDS])[:, None, None])
    ratio = v("training.finetune_ratio")
    both = kwh * (1.0 + ratio)                     # frontier runs + fine-tuning, World
    training = both * sh
    o.put_split("Energy|Training", both, sh, pue_twh)
    o.put_split("Energy|Training|Frontier", kwh, sh, pue_twh)
    o.put_split("Energy|Training|Fine-tuning", kwh * ratio, sh, pue_twh)
    return inference, training


def _energy_per_unit(c: Compiled, v: _Values, w: WorkloadPlan, pol) -> np.ndarray:
    """Energy per unit at the workload's boundary (kWh), (1, Y, n) or (1, 1, n)."""
    p = f"workloads.{w.name}"
    if w.kind == "per_unit":
        e = v(f"{p}.energy") * v(f"{p}.energy.multiplier")
        return _from_hook(pol.energy_factor(w.name, _to_hook(e)), v.dtype) if pol is not None else e
    q = lambda k: v(f"{p}.llm.{k}")  # noqa: E731
    m = c.scenario.workloads[w.name].llm
    mix = sum(share * m.size_factors[k] for k, share in m.model_mix.items())
    moe = q("moe_share")
    reasoning = q("reasoning_share")
    if pol is not None:
        moe, reasoning = (_from_hook(a, v.dtype) for a in pol.llm_shares(w.name, _to_hook(moe), _to_hook(reasoning)))
    moe_f = 1.0 - moe + moe / q("moe_factor")
    reason_f = 1.0 - reasoning + reasoning * q("reasoning_energy_multiplier")
    j = q("output_tokens") * q("j_per_output_token") * mix * moe_f * reason_f \
        + q("input_tokens") * q("j_per_output_token") * q("input_token_ratio") * mix * moe_f
    e = j / 3.6e6
    return _from_hook(pol.energy_factor(w.name, _to_hook(e)), v.dtype) if pol is not None else e


def _basis(c: Compiled, v: _Values) -> fl.InstalledBasis:
    """The fleet's installed-base matrices (see fl.InstalledBasis), made once per dtype."""
    cache = c.eval_cache
    key = ("basis", v.dtype.str)
    if key not in cache:
        b64 = cache.get(("basis", "<f8"))
        if b64 is None:
            b64 = cache[("basis", "<f8")] = fl.installed_basis(
                c.fleet_axes, c.vintage, c.fixed_installed, c.vintage_refresh, c.fixed_installed_refresh,
                c.replacement, c.fixed_replacement)
        cache[key] = fl.basis_as(b64, v.dtype)
    return cache[key]


def _fleet(c: Compiled, v: _Values, o: _Outputs, pue_twh: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The fleet's IT energy (kWh, (R, Y, n)) and its accelerators' J per FLOP (1, Y, n) (None when
    no workload is tied to a hardware class); fills `o` with installed base, shipments, peak
    power and embodied emissions.

    Every class sum is one matrix product with the installed-base basis (fl.InstalledBasis).
    With the hardware-refresh lever, accelerators retire earlier and the compute (peak
    TFLOPS) they provided is replaced by newest-class (B200-class) accelerators, which
    Fleet|Shipments counts in the years they are shipped.
    """
    axes = c.fleet_axes
    basis = _basis(c, v)
    scale = v("fleet.shipments_scale")[0]                        # (1, n)
    grown = np.nonzero(axes.growth_mask)[0]
    total = None
    if len(grown):
        dyf = v.const("fleet_dy", lambda: (axes.years_full[grown] - axes.anchor_year)[:, None])   # (G, 1)
        x0 = v.const("anchor_total", lambda: np.full((1, 1, 1), axes.anchor_total))
        total = v.growth("fleet.growth", x0, dyf, c.scenario.fleet.growth.ceiling is not None)   # (G, n)
        x = scale * np.concatenate([np.ones_like(total[:1]), total])         # (J, n) drivers
    else:
        x = scale
    tdp, srv, idle_f = v.classes("tdp_w"), v.classes("server_w_per_accelerator"), v.classes("idle_fraction")
    tflops = v.classes("peak_tflops")
    u = np.minimum(1.0, v.classes("utilisation") * v("fleet.utilisation_scale")[0])   # (C, n)
    pmax = tdp + srv                                     # W per accelerator at full load
    pavg = pmax * (idle_f + (1.0 - idle_f) * u)          # W per accelerator, average

    def csum(w: np.ndarray, world: bool = False) -> np.ndarray:
        return basis.sum(x, w, tflops, world)

    fleet_it = csum(pavg * (fl.HOURS_PER_YEAR / 1e3))    # kWh/yr
    o.put("Power|Peak", lambda: csum(pmax) * pue_twh)    # GW at the meter
    if o.wants("Emissions", "Emissions|Embodied"):
        kg, life = v.classes("embodied_kg_per_accelerator"), v.classes("lifetime_years")
        emb = csum(kg / life)                            # kg/yr, straight-line over the lifetime
        new_life = c.policy.refresh_lifetime() if basis.refresh else None
        if new_life is not None:   # amortised over the shorter life from the refresh year on
            after = csum(kg / np.minimum(life, new_life[1]))
            emb = np.where((c.years >= new_life[0])[None, :, None], after, emb)
        o["_embodied"] = emb / 1e9                       # Mt CO2e
    name = "Fleet|Installed Accelerators"
    o.put(name, lambda: csum(np.ones((len(fl.CLASS_IDS), 1), dtype=v.dtype), o.world_only(name)) / 1e6)
    for k, cname in enumerate(fl.CLASS_IDS):
        o.put(FLEET_CLASS_PREFIX + fl.CLASS_LABELS[cname],
              lambda: csum(v.const(("onehot", k), lambda: np.eye(len(fl.CLASS_IDS))[:, k:k + 1])) / 1e6)
    if o.wants("Fleet|Shipments"):
        hist = v.const("shipped_history", lambda: axes.history.sum(axis=0)[:, None])   # (Yf, 1)
        ship = np.zeros((hist.shape[0], x.shape[1]), dtype=v.dtype) + hist
        if total is not None:
            ship[grown] += total
        shares = v.const("install_shares", lambda: axes.shares[:, :, None])             # (R, Yf, 1)
        shipped = (ship[None] * shares * scale[None])[:, axes.scen_index]
        if basis.refresh:   # and the newest-class units replacing those the lever retires early
            shipped = shipped + basis.replacements(x, tflops)
        o["Fleet|Shipments"] = shipped / 1e6
    if o.wants("Utilisation|Fleet"):
        num, den = csum(pmax * u, world=True), csum(pmax, world=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            o["Utilisation|Fleet"] = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    j_per_flop = None
    if any(w.hardware is not None for w in c.workloads):
        acc_energy, work = csum(u * tdp, world=True), csum(u * tflops, world=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            j_per_flop = np.where(work > 0, acc_energy / np.where(work > 0, work, 1.0), np.nan)
    return fleet_it, j_per_flop


def _power_path(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """x ** k[y] for each year: x (R, 1, n), whole-number exponents k (Y,) -> (R, Y, n).

    The exponents of the model's yearly paths step by 0 or +1 from year to year, so after the
    first year's power (repeated squaring on the small (R, 1, n)) each year is one multiply
    of the previous one: a power or exp over (R, Y, n) costs about ten times more.
    """
    k = np.rint(k).astype(int)
    steps = np.diff(k)
    if len(k) == 0 or not ((steps == 0) | (steps == 1)).all():
        return x ** k[None, :, None].astype(x.dtype)
    out = np.empty((x.shape[0], len(k), x.shape[2]), dtype=np.result_type(x, np.float32))
    out[:, 0] = _int_power(x[:, 0], int(k[0]))
    for j, step in enumerate(steps, start=1):
        if step:
            np.multiply(out[:, j - 1], x[:, 0], out=out[:, j])
        else:
            out[:, j] = out[:, j - 1]
    return out


def _int_power(x: np.ndarray, k: int) -> np.ndarray:
    """x ** k for a whole number k by repeated squaring (k < 0: 1 / x ** -k)."""
    if k < 0:
        return 1.0 / _int_power(x, -k)
    result = np.ones_like(x)
    base = x
    while k:
        if k & 1:
            result = result * base
        k >>= 1
        if k:
            base = base * base
    return result


def _conventional(c: Compiled, v: _Values) -> np.ndarray:
    """Conventional data-centre load (TWh), (R, Y, n): the 2018 base grown at the historical rate
    to 2024, then at the projected rate."""
    base = v.regional("conventional_twh_2018")
    g, gp = v.regional("conventional_growth_per_year"), v.regional("conventional_growth_projected")
    k_hist = np.minimum(c.years, GRID_BASE_YEAR) - CONVENTIONAL_BASE_YEAR
    k_proj = np.maximum(c.years - GRID_BASE_YEAR, 0)
    return base * _power_path(1.0 + g, k_hist) * _power_path(1.0 + gp, k_proj)


def _intensity(c: Compiled, v: _Values, unit: float = 1.0) -> np.ndarray:
    """Location-based grid intensity (g/kWh x `unit`), (R, Y, n): observed history before the
    base year of the national data, then the base value x (1 - decarbonisation)^(y - base)."""
    base = v.regional("grid_intensity_g_per_kwh") * unit
    path = base * _power_path(1.0 - v.regional("decarbonisation_per_year"), c.years - GRID_BASE_YEAR)
    obs = c.grid_observed
    if obs is not None and np.isfinite(obs).any():
        cols = np.nonzero(np.isfinite(obs).any(axis=0))[0]          # years with an observation
        seen = np.isfinite(obs[:, cols])[:, :, None]
        ratio = v.const("grid_observed", lambda: np.nan_to_num(obs[:, cols])[:, :, None])
        path[:, cols] = np.where(seen, base * ratio, path[:, cols])
    return path


def central(c: Compiled) -> dict[str, np.ndarray]:
    """The central run: every variable as an (R, Y) array by region."""
    return {k: a[0] for k, a in evaluate(c).items()}


#: design columns per block of the Latin hypercube (each block from its own spawned generator,
#: as scipy.stats.qmc drew it; kept so seeded designs stay the same)
LHS_BLOCK = 8


#: designs of at most this many cells are kept for reuse (8 MB each): the app's runs differ in
#: their scenario, rarely in (samples, parameters, seed), and a 1,000 x 84 design costs ~6 ms to draw
LHS_CACHE_CELLS = 2_000_000


def lhs_design(c: Compiled, samples: int, seed: int) -> np.ndarray:
    """The seeded Latin hypercube design on [0, 1): (samples, uncertain parameters), float32,
    read-only.

    Drawn LHS_BLOCK columns at a time from one seeded generator: every column is stratified
    and columns are independently permuted, so the blocks together are one Latin hypercube.
    The array is column-major (each parameter's draws contiguous), so a row range of it is
    cheap to turn into draws. It depends only on (samples, number of uncertain parameters,
    seed), so small designs are drawn once and reused.
    """
    d = max(1, len(c.uncertain))
    draw = _small_design if samples * d <= LHS_CACHE_CELLS else _design
    return draw(samples, d, seed).T


def _design(samples: int, d: int, seed: int) -> np.ndarray:
    out = sampling.latin_hypercube(samples, d, seed, LHS_BLOCK, MC_THREADS)
    out.flags.writeable = False  # small ones are shared between runs: nobody may change a design
    return out


_small_design = lru_cache(maxsize=8)(_design)


def draws_from_design(c: Compiled, u: np.ndarray, dtype=np.float64) -> dict[str, np.ndarray]:
    """Parameter values (n,) of `dtype` for rows of an LHS design u (n, d): inverse CDF of each
    distribution (closed forms for whole groups of parameters, as scipy computes them)."""
    unc = c.uncertain
    icdf = c.eval_cache.get("inverse_cdf")
    if icdf is None:
        icdf = c.eval_cache["inverse_cdf"] = sampling.InverseCDF([p.dist for p in unc])
    x = icdf(u.T, dtype)                                             # (d, n)
    return {p.path: x[i] for i, p in enumerate(unc)}


def sample_parameters(c: Compiled, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Latin hypercube draws of every uncertain parameter (seeded, reproducible)."""
    if not c.uncertain or samples <= 0:
        return {}
    return draws_from_design(c, lhs_design(c, samples, seed))


# ---------------------------------------------------------------------------
# Results


@dataclass
class ProjectionResult:
    """A projection's tidy table plus the arrays behind it.

    `central[var]` and `percentiles[var]` are (R + 1, Y) arrays over regions
    (`regions` order: World first) and, for percentiles, (3, R + 1, Y) for p5, p50, p95;
    regions are NaN in the percentiles of variables outside REGIONAL_PERCENTILES (World only,
    to keep 100,000 samples fast), and `value()` then falls back to the central run.
    """

    scenario: Scenario
    compiled: Compiled
    table: pd.DataFrame
    central: dict[str, np.ndarray]
    samples: int
    seed: int | None
    percentiles: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    regions: tuple[str, ...] = (WORLD, *REGIONS.values())
    #: IT-boundary energy per unit of each workload (kWh), central run, (Y,) by workload id
    unit_it_kwh: dict[str, np.ndarray] = field(default_factory=dict)

    def value(self, variable: str, year: int | None = None, stat: str | None = None, region: str = WORLD) -> float:
        """One number (target year, World, the median when sampled else the central run)."""
        year = self.scenario.target_year if year is None else year
        i = int(year - self.scenario.start_year)
        if not 0 <= i < len(self.compiled.years):
            raise KeyError(f"year {year} outside {self.scenario.start_year}..{self.scenario.end_year}")
        if variable not in self.central:
            raise KeyError(f"variable {variable!r} not in this result")
        if region not in self.regions:
            raise KeyError(f"unknown region {region!r}; one of {', '.join(self.regions)}")
        j = self.regions.index(region)
        defaulted = stat is None
        stat = stat or ("p50" if variable in self.percentiles else "central")
        if defaulted and stat == "p50" and not np.isfinite(self.percentiles[variable][1, j, i]):
            stat = "central"  # this region carries central values only
        if stat == "central":
            return float(self.central[variable][j, i])
        if variable not in self.percentiles:
            raise KeyError(f"no Monte Carlo percentiles for {variable!r} (samples={self.samples})")
        return float(self.percentiles[variable][STATS.index(stat), j, i])

    def series(self, variable: str, stat: str | None = None, region: str = WORLD) -> np.ndarray:
        j = self.regions.index(region)
        stat = stat or ("p50" if variable in self.percentiles and np.isfinite(self.percentiles[variable][1, j]).all()
                        else "central")
        if stat == "central":
            return self.central[variable][j]
        return self.percentiles[variable][STATS.index(stat), j]

    @property
    def metadata(self) -> dict[str, object]:
        return {"scenario": self.scenario.name, "samples": self.samples, "seed": self.seed,
                "target_year": self.scenario.target_year, "headline": "p50" if self.percentiles else "central",
                "counts": COUNTS_SENTENCE, "warnings": list(self.warnings)}

    @cached_property
    def backtest(self) -> pd.DataFrame:
        from .calibrate import backtest

        return backtest(self)

    @cached_property
    def per_unit(self) -> pd.DataFrame:
        from .impacts import per_unit_impacts

        return per_unit_impacts(self)


COUNTS_SENTENCE = ("Electricity of the AI accelerator fleet at the data-centre meter (inference, training and "
                   "unattributed use of installed AI servers, PUE included); conventional data centres are "
                   "reported apart.")

#: variables with Monte Carlo percentiles for every region (the other sampled ones: World only)
REGIONAL_PERCENTILES = {"Energy", "Data Centres", "Emissions", "Water", "Power|Peak", "Energy|Unattributed"}


#: variables whose Monte Carlo percentiles are computed (the rest: central values only)
def _sampled(var: str) -> bool:
    return not var.startswith((ACTIVITY_PREFIX, FLEET_CLASS_PREFIX, "Fleet|Shipments", "Utilisation|",
                               "Share|", "Power|Average", "Energy|IT", "Activity|"))


def _regional_block(var: str, a: np.ndarray) -> np.ndarray:
    """(n, R, Y) -> (n, R + 1, Y) with World first."""
    if a.shape[1] == 1:  # World-only intensive variable
        return np.concatenate([a, np.full((a.shape[0], R, a.shape[2]), np.nan)], axis=1)
    return np.concatenate([a.sum(axis=1, keepdims=True), a], axis=1)


def _derived(blocks: dict[str, np.ndarray]) -> None:
    """Intensive variables computed from World and regional sums (in place)."""
    e = blocks["Energy"]
    with np.errstate(invalid="ignore", divide="ignore"):
        att = blocks["Energy|Inference"] + blocks["Energy|Training"]
        blocks["Share|Attributed"] = np.where(e > 0, att / np.where(e > 0, e, 1.0), np.nan)


def _finish(c: Compiled, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    blocks = {k: _regional_block(k, a) for k, a in raw.items() if not k.startswith("_")}
    _derived(blocks)
    return blocks


def check_invariants(c: Compiled, blocks: dict[str, np.ndarray], what: str) -> None:
    """Every emitted number is finite and every non-negative quantity non-negative."""
    special = {"Share|Attributed", "Utilisation|Fleet"}       # NaN allowed (shares, World-only regions)
    plain = [a.ravel() for k, a in blocks.items() if k not in special]
    if plain:
        flat = np.concatenate(plain)
        if np.isfinite(flat).all() and flat.min() >= 0:   # the common case: only the special ones to check
            blocks = {k: a for k, a in blocks.items() if k in special}
    defs = c.variables()
    for k, a in blocks.items():
        if k == "Share|Attributed":
            vals = a[np.isfinite(a)] if np.isfinite(a).any() else a[:0]
            bad = np.isinf(a).any()
        else:
            vals = a if k != "Utilisation|Fleet" else a[:, :1]
            bad = not np.isfinite(vals).all()
        if bad:
            raise ScenarioError(f"{what}: {k} is not finite (overflow): check the scenario's growth rates, "
                                f"PUE and volumes for extreme values ({_drivers(c)})")
        d = defs.get(k)
        if d is not None and d.nonnegative and (vals < -1e-9 * max(1.0, float(np.nanmax(np.abs(vals))) if vals.size else 1.0)).any():
            raise ScenarioError(f"{what}: {k} came out negative: check ranges of {_drivers(c)}")


def _drivers(c: Compiled) -> str:
    unc = [p.path for p in c.uncertain if not isinstance(p.spec, tuple) and p.spec.distribution == "normal"]
    return ", ".join(unc[:5]) or "the scenario's parameters"


def mc_memory_bytes(c: Compiled, samples: int, variables=None) -> int:
    """Estimated peak memory of a Monte Carlo run (bytes), an upper bound: the float32 design and
    the generator's float64 blocks while it is drawn, the kept draws (counted up to KEEP_BYTES:
    beyond it they wait in a temporary file), one read of them per thread for percentiles
    (READ_BYTES), and each thread's chunk: (variables + 40) float32 (R, Y, chunk) arrays,
    where 18-31 were measured at the peak of a chunk (the reference, paper and combined
    policy presets). `variables`: only those percentiles are kept (all sampled ones when None)."""
    design = samples * max(1, len(c.uncertain)) * 4 + MC_THREADS * samples * (LHS_BLOCK + 1) * 8
    kept = _kept_bytes(c, samples, variables)
    chunk = MC_THREADS * min(samples, CHUNK) * (len(c.variables()) + 40) * R * len(c.years) * 4
    return design + min(KEEP_BYTES, kept) + MC_THREADS * min(READ_BYTES, kept) + chunk + 150 * 2**20


#: most samples evaluated at once: (R, Y, CHUNK) float32 temporaries of 2 MB stay in the
#: shared cache, and per-chunk Python overhead is small next to the array work
CHUNK = 8_192
#: float32 draws kept in memory at most; beyond it they go to a temporary file
KEEP_BYTES = 384 * 2**20
#: draws gathered at once for percentiles (a block of cells, every sample)
READ_BYTES = 64 * 2**20
#: threads evaluating chunks and taking percentiles: numpy releases the GIL inside its array
#: loops and partitions, so two threads use both cores of the 2-core machines
MC_THREADS = min(2, os.cpu_count() or 1)


def memory_limit_bytes() -> int:
    """Half the available memory (Linux /proc/meminfo), else 4 GB; override with WATTCAST_MC_MEMORY_MB."""
    env = os.environ.get("WATTCAST_MC_MEMORY_MB")
    if env:
        return int(float(env) * 2**20)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:  # pragma: no cover
        pass
    return 4 * 2**30


def run_projection(scenario: Scenario, samples: int = 0, seed: int = 0, measurements: pd.DataFrame | None = None,
                   compiled: Compiled | None = None, variables=None) -> ProjectionResult:
    """Central run plus, when `samples` > 0, seeded Monte Carlo percentiles (p5, p50, p95).

    The central run is float64 and covers every variable. Samples are evaluated in float32
    chunks on MC_THREADS threads, computing only the variables whose percentiles are kept
    (`_monte_carlo`): every sampled one, or those in `variables` (e.g. the app's page, which
    shows a few); each kept variable's percentiles are the same either way. The seeded
    design is the same Latin hypercube as scipy.stats.qmc draws. A run whose estimated
    memory exceeds `memory_limit_bytes()` is refused with a message.
    """
    if samples < 0:
        raise ScenarioError(f"--samples must be >= 0, got {samples}")
    if seed is None or seed < 0:
        raise ScenarioError(f"--seed must be a non-negative integer, got {seed}")
    c = compiled or compile_scenario(scenario, measurements)
    raw = evaluate(c)
    cen_blocks = _finish(c, raw)
    check_invariants(c, cen_blocks, "central run")
    cen = {k: a[0] for k, a in cen_blocks.items()}
    warn = _warnings(c, raw)
    pct: dict[str, np.ndarray] = {}
    if samples > 0 and c.uncertain:
        need, limit = mc_memory_bytes(c, samples, variables), memory_limit_bytes()
        if need > limit:
            raise ScenarioError(f"--samples {samples:,}: the Monte Carlo would need about {need / 2**30:.1f} GiB, "
                                f"above the limit of {limit / 2**30:.1f} GiB (half the available memory; set "
                                f"WATTCAST_MC_MEMORY_MB to change it): use fewer samples")
        design = lhs_design(c, samples, seed)
        pct = _monte_carlo(c, design, variables)
        del design
    elif samples > 0:
        pct = {k: np.repeat(cen[k][None], 3, axis=0) for k in _kept(c, variables) if k in cen}
    table = _table(c, scenario.name, cen, pct)
    units = {w.name: raw[f"_unit|{w.name}"][0, 0] for w in c.workloads}
    return ProjectionResult(scenario, c, table, cen, samples, seed if samples > 0 else None, pct, warn,
                            unit_it_kwh=units)


def _cells(c: Compiled, var: str) -> int:
    return (R + 1 if var in REGIONAL_PERCENTILES else 1) * len(c.years)


def _kept(c: Compiled, variables=None) -> list[str]:
    """The sampled variables (of `variables` when given) whose percentiles a Monte Carlo keeps."""
    return [v for v in c.variables() if _sampled(v) and (variables is None or v in variables)]


def _kept_bytes(c: Compiled, samples: int, variables=None) -> int:
    """Bytes of the kept float32 draws of a Monte Carlo of `samples`."""
    return samples * sum(_cells(c, k) for k in _kept(c, variables)) * 4


def _spills(c: Compiled, samples: int, variables=None) -> bool:
    """Whether the kept float32 draws exceed KEEP_BYTES, so they wait in a temporary file
    (their percentiles are taken READ_BYTES at a time either way)."""
    return _kept_bytes(c, samples, variables) > KEEP_BYTES


def _monte_carlo(c: Compiled, design: np.ndarray, variables: list[str] | None = None) -> dict[str, np.ndarray]:
    """Percentiles (3, R + 1, Y) of every sampled variable (of `variables` when given) over the
    rows of `design`.

    One evaluation pass, chunk by chunk (float32, on MC_THREADS threads). Each chunk's kept
    values (World, and regions for REGIONAL_PERCENTILES) are a (cells, chunk samples) block,
    stored in memory as (cells, samples) or, beyond KEEP_BYTES, in a temporary file; then
    the draws of a range of cells (READ_BYTES) at a time are partitioned for p5/p50/p95,
    also on the threads.
    """
    samples = design.shape[0]
    kept = _kept(c, variables)
    if not kept:
        return {}
    offsets = np.cumsum([0] + [_cells(c, k) for k in kept])
    rows = {k: (int(offsets[i]), int(offsets[i + 1])) for i, k in enumerate(kept)}
    n_rows = int(offsets[-1])
    want = {k: k in REGIONAL_PERCENTILES for k in kept}
    q = np.empty((3, n_rows))
    _keep_freed_memory()
    step = max(1, READ_BYTES // (4 * samples))

    def chunk(start: int) -> None:
        m = min(size, samples - start)
        block = store.block(start, m)
        _chunk_rows(c, design[start:start + m], want, rows, block)
        store.done(start, block)

    def percentiles(lo: int) -> None:
        hi = min(n_rows, lo + step)
        q[:, lo:hi] = sampling.percentiles(store.read(lo, hi))   # partitions the block in place

    size = _chunk_size(samples)
    spill = _spills(c, samples, variables)
    try:
        with _threads_for_small_products(), _KeptBlocks(n_rows, samples, size, spill) as store:
            _on_threads(chunk, range(0, samples, size))
            _on_threads(percentiles, range(0, n_rows, step))
    except OSError as exc:
        if not spill:
            raise
        raise ScenarioError(f"--samples {samples:,}: the Monte Carlo keeps {n_rows * samples * 4 / 2**30:.1f} GiB of "
                            f"draws in a temporary file in {tempfile.gettempdir()} and could not ({exc.strerror or exc}): "
                            f"free disk space there, set TMPDIR to a larger disk, or use fewer samples") from None
    return {k: _regional_percentiles(c, q[:, a:b]) for k, (a, b) in rows.items()}


def _chunk_size(samples: int) -> int:
    """Samples per chunk: at most CHUNK, in a number of chunks that is a multiple of MC_THREADS
    so the threads finish together (10,000 samples: two chunks of 5,000)."""
    n = -(-samples // CHUNK)
    n = -(-n // MC_THREADS) * MC_THREADS
    return max(1, -(-samples // n))


def _on_threads(fn, items) -> None:
    """fn(item) for every item, on MC_THREADS threads (in this thread when it is 1)."""
    if MC_THREADS <= 1:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(MC_THREADS) as pool:
        list(pool.map(fn, items))


def _threads_for_small_products():
    """One BLAS thread while chunks are evaluated: the fleet's matrix products are small (about
    55 x 64 per sample), and OpenBLAS's second thread spin-waits, which made them 10x slower
    on a busy 2-core machine."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


_THREADPOOLS = None


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep up to 64 MB of freed memory instead of returning it to the
    kernel at once (process-wide, set once; a no-op elsewhere).

    A chunk's evaluation allocates and frees dozens of 0.5 MB temporaries; by default glibc
    trims them back to the kernel and the next chunk faults them in again, about 1,800 page
    faults a chunk: 0.3-0.5 s of system time per 100,000 samples on the 2-core VMs. The
    thresholds set here are the ceilings glibc's own adaptive thresholds can reach.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3       # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 * 2**20)
    mallopt(m_trim_threshold, 64 * 2**20)


_MALLOC_TUNED = False


def _chunk_rows(c: Compiled, u: np.ndarray, want: dict[str, bool], rows: dict[str, tuple[int, int]],
                out: np.ndarray) -> None:
    """Fill `out` (kept cells, chunk samples) float32 with the chunk's draws: World (Y rows), then
    each region's Y rows where `want` says so, per kept variable; checked for finite and
    non-negative values."""
    m = u.shape[0]
    Y = len(c.years)
    raw = _evaluate(c, draws_from_design(c, u, np.float32), m, want=want, dtype=np.float32)
    summed: dict[int, int] = {}      # id of an array already summed -> its World row
    for k, regional in want.items():
        a = raw[k]                                                    # (R, Y, m) or (1, Y, m)
        lo, hi = rows[k]
        if id(a) in summed:   # the same array under two names (Data Centres|AI is Energy)
            out[lo:lo + Y] = out[summed[id(a)]:summed[id(a)] + Y]
        elif a.shape[0] > 1:
            a.sum(axis=0, out=out[lo:lo + Y])
            summed[id(a)] = lo
        else:
            out[lo:lo + Y] = a[0]
        if regional:
            out[lo + Y:hi] = a.reshape(R * Y, m)
    _check_kept(c, out, rows)


def _check_kept(c: Compiled, block: np.ndarray, rows: dict[str, tuple[int, int]]) -> None:
    """check_invariants on the kept values of a chunk, done per variable only when the whole
    block's minimum or maximum is not finite or is negative (the fast path: two reductions)."""
    lo, hi = block.min(axis=1), block.max(axis=1)          # NaN propagates into both
    if np.isfinite(lo).all() and np.isfinite(hi).all() and (lo >= 0).all():
        return
    check_invariants(c, {k: block[a:b] for k, (a, b) in rows.items()}, "Monte Carlo")


class _KeptBlocks:
    """The kept draws, (cells, samples) float32, written a chunk at a time ((cells, m) blocks
    of consecutive samples) and read back as ranges of cells for every sample; both from
    several threads.

    In memory they are written straight into the (cells, samples) array, and `read` returns
    a view of it (the percentiles partition it in place). With `spill` each block is
    written at its own offset of an unnamed temporary file (the block starting at sample s
    at s x cells x 4 bytes), and `read` gathers a range of cells from every block into
    a buffer of the calling thread. Plain file writes and reads, not np.memmap: the pages of
    a mapped file count in the process's resident memory, the page cache of a file does not.
    """

    def __init__(self, cells: int, samples: int, chunk: int, spill: bool):
        self.cells, self.samples, self.chunk = cells, samples, chunk
        self.file = tempfile.TemporaryFile(prefix="wattcast-mc-") if spill else None
        self.array = None if spill else np.empty((cells, samples), dtype=np.float32)
        self.local = threading.local()              # per-thread read buffer when spilled

    def __enter__(self) -> "_KeptBlocks":
        return self

    def __exit__(self, *exc) -> None:
        self.array = None
        if self.file is not None:
            self.file.close()

    def block(self, start: int, m: int) -> np.ndarray:
        """Where the (cells, m) block of samples start..start+m-1 goes: the store's own view in
        memory, else a new array that `done` writes to the file."""
        if self.file is None:
            return self.array[:, start:start + m]
        return np.empty((self.cells, m), dtype=np.float32)

    def done(self, start: int, block: np.ndarray) -> None:
        if self.file is not None:
            _write_at(self.file, block, start * self.cells * 4)

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Cells lo..hi-1 of every sample, (hi - lo, samples) C-contiguous; the caller may
        overwrite it (it is the store itself in memory, the thread's buffer when spilled)."""
        if self.file is None:
            return self.array[lo:hi]
        buf = getattr(self.local, "buffer", None)
        if buf is None or buf.shape[0] < hi - lo:
            buf = self.local.buffer = np.empty((hi - lo, self.samples), dtype=np.float32)
        out = buf[:hi - lo]
        part = np.empty((hi - lo) * self.chunk, dtype=np.float32)
        for start in range(0, self.samples, self.chunk):
            m = min(self.chunk, self.samples - start)
            _read_at(self.file, part[:(hi - lo) * m], (start * self.cells + lo * m) * 4)
            out[:, start:start + m] = part[:(hi - lo) * m].reshape(hi - lo, m)
        return out


def _write_at(f, a: np.ndarray, offset: int) -> None:
    """Write the bytes of a contiguous array at `offset` of file `f` (from any thread)."""
    data = memoryview(np.ascontiguousarray(a)).cast("B")
    while len(data):
        n = os.pwrite(f.fileno(), data, offset)
        data, offset = data[n:], offset + n


def _read_at(f, out: np.ndarray, offset: int) -> None:
    """Fill the contiguous array `out` from `offset` of file `f` (from any thread)."""
    view = memoryview(out).cast("B")
    while len(view):
        n = os.preadv(f.fileno(), [view], offset)
        if n == 0:
            raise OSError(f"Monte Carlo temporary file ended early at byte {offset}")
        view, offset = view[n:], offset + n


def _regional_percentiles(c: Compiled, q: np.ndarray) -> np.ndarray:
    """(3, cells) of one variable -> (3, R + 1, Y), regions NaN for a World-only variable."""
    Y = len(c.years)
    q = q.reshape(3, -1, Y)
    if q.shape[1] == 1:
        q = np.concatenate([q, np.full((3, R, Y), np.nan)], axis=1)
    return q


def _warnings(c: Compiled, raw: dict[str, np.ndarray]) -> list[str]:
    out = []
    ex = raw.get("_excess")
    if ex is not None:
        fleet = raw["Fleet|Energy"][0] / raw_pue(raw)  # IT TWh
        for i, r in enumerate(REGION_IDS):
            for j, y in enumerate(c.years):
                if ex[0, i, j] > 1e-9 and ex[0, i, j] > 0.005 * max(fleet[i, j], 1e-12):
                    out.append(f"{REGIONS[r]} {y}: attributed demand exceeds the fleet's IT energy by "
                               f"{ex[0, i, j]:.3g} TWh ({ex[0, i, j] / max(fleet[i, j], 1e-12):.0%}); Energy follows "
                               f"demand there")
                    break
    return out


def raw_pue(raw: dict[str, np.ndarray]) -> np.ndarray:
    """The PUE implied by a central run (facility / IT energy), (R, Y)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(raw["Energy|IT"][0] > 0, raw["Energy"][0] / raw["Energy|IT"][0], 1.0)


def variable_order(c: Compiled) -> list[str]:
    names = list(c.variables())
    return names + [k for k in ("Share|Attributed",) if k not in names]


def unit_of(variable: str) -> str:
    """The unit of a variable (project.variables; per-workload and per-class ones by prefix)."""
    if variable in VARIABLES:
        return VARIABLES[variable].unit
    if variable.startswith(INFERENCE_PREFIX):
        return "TWh/yr"
    if variable.startswith(ACTIVITY_PREFIX):
        return "billion/yr"
    if variable.startswith(FLEET_CLASS_PREFIX):
        return "million"
    return ""


def _table(c: Compiled, name: str, cen: dict[str, np.ndarray], pct: dict[str, np.ndarray]) -> pd.DataFrame:
    """The tidy long table: one row per variable, region, year and stat (central, p5, p50, p95)."""
    years = c.years
    regions = (WORLD, *REGIONS.values())
    labels, values = [], []
    for k in variable_order(c):
        if k not in cen:
            continue
        unit = unit_of(k)
        stack = [("central", cen[k])] + ([(st, pct[k][i]) for i, st in enumerate(STATS)] if k in pct else [])
        for stat, block in stack:
            for j in np.nonzero(np.isfinite(block).any(axis=1))[0]:   # World-only variables have NaN regions
                labels.append((k, regions[j], unit, stat))
                values.append(block[j])
    ny = len(years)
    lab = np.array(labels, dtype=object).reshape(-1, 4)     # one row per series; repeated once per column
    text = _text_column
    return pd.DataFrame({"scenario": text(np.full(len(lab) * ny, name, dtype=object)),
                         "variable": text(np.repeat(lab[:, 0], ny)), "region": text(np.repeat(lab[:, 1], ny)),
                         "unit": text(np.repeat(lab[:, 2], ny)), "year": np.tile(years, len(lab)),
                         "stat": text(np.repeat(lab[:, 3], ny)),
                         "value": np.concatenate(values) if values else np.array([], dtype=float)})


def _text_column(values: np.ndarray):
    """An object array of str as the column pandas would infer from it; when that is pandas'
    pyarrow-backed string dtype (pandas 3), built through pyarrow in one call, which halves
    the central run's table time."""
    dtype = _default_text_dtype()
    if getattr(dtype, "storage", None) != "pyarrow":
        return values
    import pyarrow as pa

    return pd.array(pa.array(values, type=pa.large_string()), dtype=dtype)


@lru_cache(maxsize=1)
def _default_text_dtype():
    return pd.Series(["x"]).dtype


def with_measured_energy(scenario: Scenario, measurements: pd.DataFrame) -> tuple[Scenario, list[str]]:
    """Switch every workload whose energy references a Table 2 task to measured records of it.

    Returns the new scenario and the workload names switched. Workloads with no records
    keep their figures.
    """
    from .scenario import apply_overrides

    measured = set(measurements["task"])
    switched = {}
    for name, w in scenario.workloads.items():
        if w.energy is None:
            continue
        key = w.energy.reference or w.energy.measurements
        if key in measured:
            switched[f"workloads.{name}.energy"] = {"measurements": key,
                                                   "multiplier": w.energy.multiplier.model_dump(exclude_none=True)}
    if not switched:
        return scenario, []
    return apply_overrides(scenario, switched, origin="measurements"), [k.split(".")[1] for k in switched]
