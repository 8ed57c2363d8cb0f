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

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .distributions import frozen, lognormal_from_moments, swing_bounds
from .model import boundaries as bnd
from .model import fleet as fl
from .model.growth import grow
from .model.regions import (REGION_ENTITY, grid_intensity_of, national_long, region_factors, region_grid,
                            region_offsite_water)
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
        """Frozen scipy.stats distribution, or None when the value is fixed."""
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
    row = parameter_table().loc[name]
    lo = None if pd.isna(row["low"]) else float(row["low"])
    hi = None if pd.isna(row["high"]) else float(row["high"])
    d = row["distribution"] if isinstance(row["distribution"], str) else "fixed"
    return Uncertain(value=float(row["value"]), low=lo, high=hi, distribution=d,
                     source=f"{row['source']} ({int(row['year'])})")


def _csv_uncertain(row: pd.Series, col: str, lo: str, hi: str, source: str) -> Uncertain:
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
    grid_observed: np.ndarray | None = None   # (R, Y) observed intensity, NaN where projected
    default_shares: np.ndarray | None = None  # (R,) regional split when there is no fleet
    policy: object | None = None

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
    needed only by workloads whose energy says `measurements = "<task>"`.
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
        boundary, hardware = e.boundary, e.hardware
        if e.kwh is not None:
            _add(c, path, e.kwh, f"{label}: energy per unit", "kWh", "energy")
            source = e.kwh.source or e.source or "scenario value"
        elif e.reference is not None:
            ref = paper_task_energy() if ref is None else ref
            row = ref.loc[e.reference]
            mean, std = float(row["kwh_per_inference_mean"]), float(row["kwh_per_inference_std"])
            source = f"Luccioni et al. 2023, Table 2 ({e.reference}, lognormal from the logged mean and std)"
            c.params[path] = Param(path, f"{label}: energy per unit", "kWh", mean, (mean, std), source, 0.0)
            boundary, hardware = boundary or "server", hardware or "a100"
        else:
            if measurements is None or e.measurements not in set(measurements["task"]):
                raise ScenarioError(f"workloads.{name}.energy.measurements: no measurement records for task "
                                    f"{e.measurements!r} (pass a measurements directory with records of that task)")
            row = measurements.set_index("task").loc[e.measurements]
            mean = float(row["kwh_per_inference_mean"])
            std = float(row["kwh_per_inference_std"]) if pd.notna(row["kwh_per_inference_std"]) else 0.0
            source = f"wattcast measurements ({row.get('source', 'records')}, n={int(row['n_records'])})"
            c.params[path] = Param(path, f"{label}: energy per unit", "kWh", mean, (mean, std), source, 0.0)
            boundary = boundary or str(row.get("boundary", "server") or "server")
        if boundary == "facility":
            _add(c, f"{p}.energy.pue", e.pue, f"{label}: PUE included", "ratio", "pue")
        c.workloads.append(WorkloadPlan(name, label, "per_unit", boundary, hardware, boundary == "facility",
                                        ceiling, shares, source))
    if s.training is not None:
        t = s.training
        _add(c, "training.runs_per_year", t.runs_per_year, "Frontier training runs per year", "1/yr", "count")
        _growth(c, "training.runs_growth", t.runs_growth, "Frontier runs")
        _add(c, "training.gwh_per_run", t.gwh_per_run, "Energy per frontier run", "GWh", bounds=(0.0, 1e7))
        _growth(c, "training.energy_growth", t.energy_growth, "Energy per run")
        _add(c, "training.finetune_ratio", t.finetune_ratio, "Fine-tuning / frontier energy", "x", bounds=(0.0, 100.0))
    return c


def _compile_regions(c: Compiled) -> None:
    s = c.scenario
    facts = region_factors()
    grid = region_grid(GRID_BASE_YEAR)
    nat = national_long()
    decarb = {"USA": "decarbonisation_usa", "CHN": "decarbonisation_chn", "EUR": "decarbonisation_eur",
              "ROW": "decarbonisation_row"}
    offsite = region_offsite_water()
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

        row = facts.loc[r]
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
                hist = nat[nat["country"] == ent].set_index("year")["carbon_intensity_g_per_kwh"]
                for j, y in enumerate(c.years):
                    if y < GRID_BASE_YEAR and y in hist.index and pd.notna(hist.loc[y]):
                        observed[i, j] = float(hist.loc[y]) / grid[r][0]
        _add(c, f"{p}.grid_intensity_g_per_kwh", u, f"{r}: grid intensity ({GRID_BASE_YEAR})", "g/kWh",
             bounds=(0.0, 5000.0))
        _add(c, f"{p}.decarbonisation_per_year", pick("decarbonisation_per_year", param_uncertain(decarb[r])),
             f"{r}: grid decarbonisation", "1/yr", bounds=(-0.5, 0.99))
        _add(c, f"{p}.clean_power_share", pick("clean_power_share", Uncertain(value=0.0)),
             f"{r}: clean power procured", "fraction", "fraction")
        _add(c, f"{p}.water_offsite_l_per_kwh",
             pick("water_offsite_l_per_kwh", _csv_uncertain(offsite.loc[r], "l_per_kwh", "low", "high",
                                                             f"{offsite.loc[r, 'source']} ({int(offsite.loc[r, 'year'])})")),
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
    table = fl.class_table()
    for cname in fl.CLASS_IDS:
        row = table.loc[cname]
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


# ---------------------------------------------------------------------------
# Evaluation


class _Values:
    """Parameter values for n samples: given arrays, else the central value; shape (n, 1, 1)."""

    def __init__(self, c: Compiled, values: dict[str, np.ndarray] | None, n: int):
        self.c, self.values, self.n = c, values or {}, n

    def __call__(self, path: str) -> np.ndarray:
        x = self.values.get(path)
        if x is None:
            return np.full((self.n, 1, 1), self.c.params[path].central)
        return np.asarray(x, dtype=float).reshape(-1, 1, 1)

    def regional(self, name: str) -> np.ndarray:
        """(n, R, 1) from regions.<r>.<name>."""
        return np.concatenate([self(f"regions.{r}.{name}") for r in REGION_IDS], axis=1)

    def growth(self, path: str, x0: np.ndarray, dy: np.ndarray, has_ceiling: bool) -> np.ndarray:
        rate = self(f"{path}.rate")[:, :, 0]
        ceiling = self(f"{path}.ceiling")[:, :, 0] if has_ceiling else None
        return grow(x0[:, :, 0], rate, dy, ceiling)


def evaluate(c: Compiled, values: dict[str, np.ndarray] | None = None, n: int = 1) -> dict[str, np.ndarray]:
    """Evaluate every variable for `n` parameter sets.

    `values` maps parameter paths to arrays of shape (n,); parameters not given take
    their central value. Returns variable -> array of shape (n, R, Y) by region (additive
    variables; World is their sum) or (n, 1, Y) for World-only intensive variables.
    """
    v = _Values(c, values, n)
    s = c.scenario
    Y = len(c.years)
    pol = c.policy
    out: dict[str, np.ndarray] = {}

    pue = v.regional("pue") * np.ones((1, 1, Y))
    wue = v.regional("wue_onsite_l_per_kwh") * np.ones((1, 1, Y))
    clean = v.regional("clean_power_share") * np.ones((1, 1, Y))
    if pol is not None:
        pue, wue, clean = pol.facility(pue, wue, clean)
    software = (1.0 - v("efficiency.software_gain_per_year")) ** c.dy[None, None, :]

    # --- supply side: the fleet
    fleet_it = None
    hw_j_per_flop = None
    if c.fleet_axes is not None:
        fleet_it, hw_j_per_flop = _fleet(c, v, out, pue)

    # --- demand side: workloads and training (IT boundary, kWh), by region
    def shares_of(fixed: np.ndarray | None) -> np.ndarray:
        if fixed is not None:
            return fixed[None, :, None]
        if fleet_it is not None:
            tot = fleet_it.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                sh = np.where(tot > 0, fleet_it / np.where(tot > 0, tot, 1.0), c.default_shares[None, :, None])
            return sh
        return c.default_shares[None, :, None]

    inference, training, frontier, finetune = _demand(c, v, pol, shares_of, hw_j_per_flop, software, pue, out)
    attributed = inference + training
    if fleet_it is not None and pol is not None and pol.demand_side and pol.fleet_response > 0:
        # the unattributed fleet use follows the modelled demand's relative change
        inf0, tr0, _, _ = _demand(c, v, None, shares_of, hw_j_per_flop, software, pue, None)
        a0 = inf0 + tr0
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(a0 > 0, attributed / np.where(a0 > 0, a0, 1.0), 1.0)
        fleet_it = fleet_it * (1.0 + pol.fleet_response * (rel - 1.0))

    # --- reconciliation
    if fleet_it is not None:
        unattributed = np.maximum(fleet_it - attributed, 0.0)
        out["Fleet|Energy"] = fleet_it * pue / KWH_PER_TWH
        out["_excess"] = np.maximum(attributed - fleet_it, 0.0) / KWH_PER_TWH
    else:
        unattributed = np.zeros_like(attributed)
    total_it = attributed + unattributed
    energy = total_it * pue / KWH_PER_TWH
    out["Energy"] = energy
    out["Energy|Inference"] = inference * pue / KWH_PER_TWH
    out["Energy|Training"] = training * pue / KWH_PER_TWH
    out["Energy|Training|Frontier"] = frontier * pue / KWH_PER_TWH
    out["Energy|Training|Fine-tuning"] = finetune * pue / KWH_PER_TWH
    out["Energy|Unattributed"] = unattributed * pue / KWH_PER_TWH
    out["Energy|IT"] = total_it / KWH_PER_TWH

    # --- conventional data centres
    if s.conventional:
        base = v.regional("conventional_twh_2018")
        g = v.regional("conventional_growth_per_year")
        gp = v.regional("conventional_growth_projected")
        y = c.years[None, None, :]
        conv = base * (1.0 + g) ** (np.minimum(y, GRID_BASE_YEAR) - CONVENTIONAL_BASE_YEAR) \
            * (1.0 + gp) ** np.maximum(y - GRID_BASE_YEAR, 0)
        out["Data Centres|AI"] = energy
        out["Data Centres|Conventional"] = conv
        out["Data Centres"] = energy + conv

    # --- impacts
    intensity = _intensity(c, v, Y)
    loc = energy * intensity / 1e3
    out["Emissions|Location-based"] = loc
    out["Emissions|Market-based"] = loc * (1.0 - clean)
    out["Emissions|Embodied"] = out.pop("_embodied", np.zeros((n, R, Y)))
    out["Emissions"] = loc + out["Emissions|Embodied"]
    out["Water|On-site"] = out["Energy|IT"] * wue
    out["Water|Off-site"] = energy * v.regional("water_offsite_l_per_kwh")
    out["Water"] = out["Water|On-site"] + out["Water|Off-site"]
    if c.fleet_axes is not None:
        out["Power|Average"] = energy * 1e3 / fl.HOURS_PER_YEAR
    return out


def _demand(c: Compiled, v: "_Values", pol, shares_of, hw_j_per_flop, software, pue, out: dict | None):
    """Workloads and training at the IT boundary (kWh), (n, R, Y) each; fills `out` per workload."""
    s = c.scenario
    n, Y = v.n, len(c.years)
    dy = c.dy[None, :]
    pf, host, idle = v("boundary.production_factor"), v("boundary.host_ratio"), v("boundary.idle_ratio")
    store = out if out is not None else {}
    inference = np.zeros((n, R, Y))
    activity_total = np.zeros((n, R, Y))
    for w in c.workloads:
        p = f"workloads.{w.name}"
        volume = v.growth(f"{p}.growth", v(f"{p}.requests_per_day"), dy, w.ceiling) * DAYS_PER_YEAR  # (n, Y)
        if pol is not None:
            volume = pol.volume(w.name, volume, v(f"{p}.requests_per_day")[:, :, 0] * DAYS_PER_YEAR, c)
        per_unit = _energy_per_unit(c, v, w, pol)                     # (n, 1, Y) at the workload's boundary
        if w.hardware is not None and hw_j_per_flop is not None:
            ref = v(f"fleet.classes.{w.hardware}.tdp_w") / v(f"fleet.classes.{w.hardware}.peak_tflops")
            per_unit = per_unit * hw_j_per_flop / ref
        per_unit = per_unit * software
        share_mp, ratio_mp = v(f"{p}.multipurpose_share"), v(f"{p}.multipurpose_ratio")
        if pol is not None:
            share_mp = pol.multipurpose_share(w.name, share_mp * np.ones((1, 1, Y)))
        per_unit = per_unit * (1.0 - share_mp + share_mp * ratio_mp)
        pue_m = v(f"{p}.energy.pue") if w.pue_measured else None
        it_unit = bnd.to_it(per_unit, w.boundary, pf, host, idle, pue_m)
        sh = shares_of(w.region_shares)
        store[f"_unit|{w.name}"] = it_unit * np.ones((1, 1, Y))
        it = volume[:, None, :] * it_unit * sh
        store[INFERENCE_PREFIX + w.label] = it * pue / KWH_PER_TWH
        act = volume[:, None, :] * sh / 1e9
        store[ACTIVITY_PREFIX + w.label] = act
        activity_total = activity_total + act
        inference = inference + it

    frontier = np.zeros((n, R, Y))
    finetune = np.zeros((n, R, Y))
    if s.training is not None:
        t = s.training
        runs = v.growth("training.runs_growth", v("training.runs_per_year"), dy, t.runs_growth.ceiling is not None)
        gwh = v.growth("training.energy_growth", v("training.gwh_per_run"), dy, t.energy_growth.ceiling is not None)
        kwh = bnd.to_it((runs * gwh * 1e6)[:, None, :], t.boundary, 1.0, host, idle)
        sh = shares_of(None if t.region_shares is None else np.array([t.region_shares.get(r, 0.0) for r in REGION_IDS]))
        frontier = kwh * sh
        finetune = frontier * v("training.finetune_ratio")
    training = frontier + finetune
    store["Activity|Inference"] = activity_total

    return inference, training, frontier, finetune


def _energy_per_unit(c: Compiled, v: _Values, w: WorkloadPlan, pol) -> np.ndarray:
    """Energy per unit at the workload's boundary (kWh), (n, 1, Y) or (n, 1, 1)."""
    p = f"workloads.{w.name}"
    if w.kind == "per_unit":
        e = v(f"{p}.energy") * v(f"{p}.energy.multiplier")
        return pol.energy_factor(w.name, e, c) if pol is not None else e
    q = lambda k: v(f"{p}.llm.{k}")  # noqa: E731
    m = c.scenario.workloads[w.name].llm
    mix = sum(share * m.size_factors[k] for k, share in m.model_mix.items())
    moe = q("moe_share")
    reasoning = q("reasoning_share")
    if pol is not None:
        moe, reasoning = pol.llm_shares(w.name, moe, reasoning, c)
    moe_f = 1.0 - moe + moe / q("moe_factor")
    reason_f = 1.0 - reasoning + reasoning * q("reasoning_energy_multiplier")
    j = q("output_tokens") * q("j_per_output_token") * mix * moe_f * reason_f \
        + q("input_tokens") * q("j_per_output_token") * q("input_token_ratio") * mix * moe_f
    e = j / 3.6e6
    return pol.energy_factor(w.name, e, c) if pol is not None else e


def _installed(c: Compiled, cname: str, total, grown_idx, scale, refresh: bool) -> np.ndarray:
    """Installed accelerators of one class, (n, R, Y)."""
    k = fl.CLASS_IDS.index(cname)
    M = (c.vintage_refresh if refresh else c.vintage)[cname]
    fixed = (c.fixed_installed_refresh if refresh else c.fixed_installed)[cname]
    n = len(scale)
    inst = np.broadcast_to(fixed[None], (n,) + fixed.shape).copy()
    if len(grown_idx):
        ship = total * c.fleet_axes.mix[k, grown_idx][None, :]            # (n, G)
        inst += np.tensordot(ship, M[:, grown_idx, :], axes=([1], [1]))   # (n, R, Y)
    return inst * scale[:, None, None]


def _fleet(c: Compiled, v: _Values, out: dict, pue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Installed base, IT energy (kWh), peak, embodied and J/FLOP of the fleet; fills `out`.

    With the hardware-refresh lever, accelerators retire earlier and the compute
    (peak TFLOPS) they provided is replaced by newest-class (B200-class) accelerators.
    """
    axes = c.fleet_axes
    n = v.n
    Y = len(c.years)
    scale = v("fleet.shipments_scale")[:, 0, 0]
    has_ceiling = c.scenario.fleet.growth.ceiling is not None
    grown_idx = np.nonzero(axes.growth_mask)[0]
    total = None
    if len(grown_idx):
        dyf = (axes.years_full[grown_idx] - axes.anchor_year)[None, :].astype(float)
        total = v.growth("fleet.growth", np.full((n, 1, 1), axes.anchor_total), dyf, has_ceiling)  # (n, G)
    refresh = bool(c.vintage_refresh)
    uscale = v("fleet.utilisation_scale")
    insts = {}
    deficit = np.zeros((n, R, Y))
    for cname in fl.CLASS_IDS:
        inst = _installed(c, cname, total, grown_idx, scale, refresh)
        if refresh:
            base = _installed(c, cname, total, grown_idx, scale, False)
            deficit += (base - inst) * v(f"fleet.classes.{cname}.peak_tflops")
        insts[cname] = inst
    if refresh:
        newest = fl.CLASS_IDS[-2]  # b200: the newest GPU class
        insts[newest] = insts[newest] + np.maximum(deficit, 0.0) / v(f"fleet.classes.{newest}.peak_tflops")
    fleet_it = np.zeros((n, R, Y))
    peak = np.zeros((n, R, Y))
    embodied = np.zeros((n, R, Y))
    installed_all = np.zeros((n, R, Y))
    acc_energy = np.zeros((n, 1, Y))
    work = np.zeros((n, 1, Y))
    util_num = np.zeros((n, 1, Y))
    util_den = np.zeros((n, 1, Y))
    life_new = c.policy.refresh_lifetime() if refresh else None
    for cname in fl.CLASS_IDS:
        p = f"fleet.classes.{cname}"
        inst = insts[cname]
        tdp, srv = v(f"{p}.tdp_w"), v(f"{p}.server_w_per_accelerator")
        idle_f = v(f"{p}.idle_fraction")
        u = np.minimum(1.0, v(f"{p}.utilisation") * uscale)
        pmax = tdp + srv
        pavg = pmax * (idle_f + (1.0 - idle_f) * u)
        fleet_it += inst * pavg * fl.HOURS_PER_YEAR / 1e3
        peak += inst * pmax
        life = v(f"{p}.lifetime_years") * np.ones((1, 1, Y))
        if life_new is not None:
            life = np.where(c.years[None, None, :] >= life_new[0], np.minimum(life, life_new[1]), life)
        embodied += inst * v(f"{p}.embodied_kg_per_accelerator") / life
        installed_all += inst
        out[FLEET_CLASS_PREFIX + fl.CLASS_LABELS[cname]] = inst / 1e6
        world = inst.sum(axis=1, keepdims=True)
        acc_energy += world * u * tdp
        work += world * u * v(f"{p}.peak_tflops")
        util_num += world * pmax * u
        util_den += world * pmax
    out["Fleet|Installed Accelerators"] = installed_all / 1e6
    ship_all = axes.history.sum(axis=0)[None, :] * np.ones((n, 1))
    if len(grown_idx):
        ship_all[:, grown_idx] += total
    ship_r = ship_all[:, None, :] * axes.shares[None, :, :] * scale[:, None, None]
    out["Fleet|Shipments"] = ship_r[:, :, axes.scen_index] / 1e6
    out["Power|Peak"] = peak * pue / 1e9
    out["_embodied"] = embodied / 1e9
    with np.errstate(invalid="ignore", divide="ignore"):
        out["Utilisation|Fleet"] = np.where(util_den > 0, util_num / np.where(util_den > 0, util_den, 1), 0.0)
        j_per_flop = np.where(work > 0, acc_energy / np.where(work > 0, work, 1.0), np.nan)
    return fleet_it, j_per_flop


def _intensity(c: Compiled, v: _Values, Y: int) -> np.ndarray:
    """Location-based grid intensity (g/kWh), (n, R, Y): observed history before the base year
    of the national data, then the base value x (1 - decarbonisation)^(y - base)."""
    base = v.regional("grid_intensity_g_per_kwh")
    d = v.regional("decarbonisation_per_year")
    path = base * (1.0 - d) ** (c.years[None, None, :] - GRID_BASE_YEAR)
    obs = c.grid_observed
    if obs is not None and np.isfinite(obs).any():
        path = np.where(np.isfinite(obs)[None], base * np.nan_to_num(obs)[None], path)
    return path


def central(c: Compiled) -> dict[str, np.ndarray]:
    """The central run: every variable as an (R, Y) array by region."""
    return {k: a[0] for k, a in evaluate(c).items()}


#: design columns drawn per scipy call: scipy builds float64 and int64 (samples, d) temporaries,
#: about 3 GB for 1,000,000 samples x 84 parameters at once; blocks keep that near 0.4 GB
LHS_BLOCK = 8


def lhs_design(c: Compiled, samples: int, seed: int) -> np.ndarray:
    """The seeded Latin hypercube design on [0, 1): (samples, uncertain parameters), float32.

    Drawn LHS_BLOCK columns at a time from one seeded generator: every column is stratified
    and columns are independently permuted, so the blocks together are one Latin hypercube.
    """
    from scipy.stats import qmc

    d = max(1, len(c.uncertain))
    rng = np.random.default_rng(seed)
    out = np.empty((samples, d), dtype=np.float32)
    for j in range(0, d, LHS_BLOCK):
        k = min(LHS_BLOCK, d - j)
        out[:, j:j + k] = qmc.LatinHypercube(d=k, rng=rng).random(samples)
    return out


def draws_from_design(c: Compiled, u: np.ndarray) -> dict[str, np.ndarray]:
    """Parameter values for rows of an LHS design (inverse CDF of each distribution)."""
    eps = np.float32(1e-7)
    return {p.path: p.dist.ppf(np.clip(u[:, i].astype(float), eps, 1 - eps)) for i, p in enumerate(c.uncertain)}


def sample_parameters(c: Compiled, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Latin hypercube draws of every uncertain parameter (seeded, reproducible)."""
    if not c.uncertain or samples <= 0:
        return {}
    return draws_from_design(c, lhs_design(c, samples, seed))


# ---------------------------------------------------------------------------
# Results


def _world(var: str, a: np.ndarray, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """World value of a variable from its regional array (..., R, Y) -> (..., Y)."""
    if a.shape[-2] == 1:
        return a[..., 0, :]
    return a.sum(axis=-2)


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


def mc_memory_bytes(c: Compiled, samples: int) -> int:
    """Estimated peak memory of a Monte Carlo run (bytes): the float32 design, one pass's kept
    draws (at most KEEP_BYTES), one chunk's evaluation and one variable's percentile copy."""
    design = samples * max(1, len(c.uncertain)) * 4
    keep = min(KEEP_BYTES, samples * sum(_cells(c, k) for k in c.variables() if _sampled(k)) * 4)
    chunk = min(samples, CHUNK) * (len(c.variables()) + 40) * R * len(c.years) * 8
    one = samples * len(c.years) * 4 * 2
    return design + keep + chunk + one + 150 * 2**20


CHUNK = 10_000
#: float32 draws kept per pass; more variables take more passes over the same design
KEEP_BYTES = 384 * 2**20


def memory_limit_bytes() -> int:
    """Half the available memory (Linux /proc/meminfo), else 4 GB; override with WATTCAST_MC_MEMORY_MB."""
    import os

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
                   compiled: Compiled | None = None) -> ProjectionResult:
    """Central run plus, when `samples` > 0, seeded Monte Carlo percentiles (p5, p50, p95).

    Samples are evaluated in chunks; results kept for percentiles are float32. A run whose
    estimated memory exceeds `memory_limit_bytes()` is refused with a message.
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
        need, limit = mc_memory_bytes(c, samples), memory_limit_bytes()
        if need > limit:
            raise ScenarioError(f"--samples {samples:,}: the Monte Carlo would need about {need / 2**30:.1f} GiB, "
                                f"above the limit of {limit / 2**30:.1f} GiB (half the available memory; set "
                                f"WATTCAST_MC_MEMORY_MB to change it): use fewer samples")
        design = lhs_design(c, samples, seed)
        for group in _pass_groups(c, samples):
            pct.update(_monte_carlo_pass(c, design, group))
        del design
    elif samples > 0:
        pct = {k: np.repeat(a[None], 3, axis=0) for k, a in cen.items() if _sampled(k)}
    table = _table(c, scenario.name, cen, pct)
    units = {w.name: raw[f"_unit|{w.name}"][0, 0] for w in c.workloads}
    return ProjectionResult(scenario, c, table, cen, samples, seed if samples > 0 else None, pct, warn,
                            unit_it_kwh=units)


def _cells(c: Compiled, var: str) -> int:
    return (R + 1 if var in REGIONAL_PERCENTILES else 1) * len(c.years)


def _pass_groups(c: Compiled, samples: int) -> list[list[str]]:
    """Sampled variables split so one pass keeps at most KEEP_BYTES of float32 draws."""
    groups: list[list[str]] = [[]]
    used = 0
    for k in (v for v in c.variables() if _sampled(v)):
        b = samples * _cells(c, k) * 4
        if groups[-1] and used + b > KEEP_BYTES:
            groups.append([])
            used = 0
        groups[-1].append(k)
        used += b
    return groups


def _monte_carlo_pass(c: Compiled, design: np.ndarray, group: list[str]) -> dict[str, np.ndarray]:
    """Evaluate every chunk of the design, keep the group's variables, return their percentiles."""
    samples = design.shape[0]
    Y = len(c.years)
    kept = {k: np.empty((samples, _cells(c, k)), dtype=np.float32) for k in group}
    for start in range(0, samples, CHUNK):
        stop = min(samples, start + CHUNK)
        raw = evaluate(c, draws_from_design(c, design[start:stop]), stop - start)
        check_invariants(c, {k: a for k, a in raw.items() if not k.startswith("_")}, "Monte Carlo")
        for k in group:
            a = raw[k]
            if k in REGIONAL_PERCENTILES and a.shape[1] > 1:
                block = np.concatenate([a.sum(axis=1, keepdims=True), a], axis=1)
            else:
                block = a.sum(axis=1, keepdims=True) if a.shape[1] > 1 else a
            kept[k][start:stop] = block.reshape(stop - start, -1)
        del raw
    out = {}
    for k in group:
        a = kept.pop(k)
        # percentiles a block of cells at a time: each block is copied contiguous (samples last)
        q = np.concatenate([_percentiles(np.ascontiguousarray(a[:, j:j + Y].T)) for j in range(0, a.shape[1], Y)],
                           axis=1).reshape(3, -1, Y)   # (3, 1 or R + 1, Y)
        del a
        if q.shape[1] == 1:
            q = np.concatenate([q, np.full((3, R, Y), np.nan)], axis=1)
        out[k] = q
    return out


def _percentiles(a: np.ndarray) -> np.ndarray:
    """p5, p50, p95 along the LAST axis by partial sort (linear interpolation, as numpy's default).

    `a` is (..., n); returns (3, ...)."""
    n = a.shape[-1]
    lead = a.shape[:-1]
    flat = a.reshape(-1, n)
    out = np.full((3, flat.shape[0]), np.nan)
    ok = ~np.isnan(flat[:, 0])
    qs = np.array([0.05, 0.5, 0.95]) * (n - 1)
    lo = np.floor(qs).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    kth = np.unique(np.concatenate([lo, hi]))
    if ok.any():
        part = np.partition(flat[ok], kth, axis=1)
        frac = (qs - lo)[:, None]
        out[:, ok] = part[:, lo].T.astype(float) * (1 - frac) + part[:, hi].T.astype(float) * frac
    return out.reshape((3,) + lead)


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


def unit_of(variable: str, c: Compiled | None = None) -> str:
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
    years = c.years
    regions = (WORLD, *REGIONS.values())
    ny = len(years)
    cols = {k: [] for k in ("variable", "region", "unit", "year", "stat", "value")}
    for k in variable_order(c):
        if k not in cen:
            continue
        stack = [("central", cen[k])] + ([(s, pct[k][i]) for i, s in enumerate(STATS)] if k in pct else [])
        for stat, block in stack:
            keep = np.isfinite(block).any(axis=1)   # World-only variables have NaN regions
            for j in np.nonzero(keep)[0]:
                cols["variable"].append(np.repeat(k, ny))
                cols["region"].append(np.repeat(regions[j], ny))
                cols["unit"].append(np.repeat(unit_of(k), ny))
                cols["year"].append(years)
                cols["stat"].append(np.repeat(stat, ny))
                cols["value"].append(block[j])
    df = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    df.insert(0, "scenario", name)
    return df[["scenario", "variable", "region", "unit", "year", "stat", "value"]]


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
