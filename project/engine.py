"""The projection: per-inference energy x usage -> yearly TWh, Mt CO2e and billion litres.

Equations (per year y, with dy = y - base_year; all arrays are vectorised over samples):

    inferences_t(y)   = inferences_per_day_t x 365 x (1 + growth_t)^dy
    kWh_t(y)          = energy_t x multiplier_t x (1 - efficiency_gain)^dy        (IT energy)
    Inference_t(y)    = inferences_t x kWh_t x PUE                                 (facility)
    Training(y)       = generations_per_year x (training + finetune kWh) x PUE
    Demand side(y)    = sum_t Inference_t + Training
    installed(y)      = servers_shipped x sum_{k<lifetime} (1 + shipment_growth)^(dy-k)
    Supply side(y)    = installed x kW_per_server x utilisation x 8760 h x PUE
    Top-down(y)       = data-centre TWh(y) x AI share(y) x share multiplier
    Total             = one of the three, chosen by the scenario's `basis`
    Emissions(y)      = Total x intensity x (1 - decarbonisation)^dy               (Mt CO2e)
    Water(y)          = Total / PUE x WUE                                          (billion L, on-site)
    Reconciling util. = demand-side IT energy / (installed x kW x 8760 h)

1 TWh = 1e9 kWh; 1 TWh x 1 g/kWh = 1e-3 Mt; 1 TWh x 1 L/kWh = 1 billion litres.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .distributions import frozen, lognormal_from_moments, swing_bounds
from .national import country_lookup
from .params import param
from .reference import paper_task_energy
from .scenario import Scenario, ScenarioError, Uncertain
from .tasks import task_label

KWH_PER_TWH = 1e9
DAYS_PER_YEAR = 365.0

#: variable -> unit, in the order the result table lists them
UNITS: dict[str, str] = {
    "Energy|Total": "TWh/yr",
    "Energy|Demand side": "TWh/yr",
    "Energy|Supply side": "TWh/yr",
    "Energy|Top-down": "TWh/yr",
    "Energy|Data centres": "TWh/yr",
    "Energy|Inference": "TWh/yr",
    "Energy|Training": "TWh/yr",
    "Emissions|Total": "Mt CO2e/yr",
    "Water|Total": "billion L/yr",
    "Utilisation|Reconciling": "fraction",
    "Inferences|Total": "billion/yr",
}
TASK_PREFIX = "Energy|Inference|"
EMISSIONS_PREFIX = "Emissions|Inference|"
WATER_PREFIX = "Water|Inference|"


@dataclass
class Param:
    """One scenario number as the engine sees it.

    `spec` is the scenario's Uncertain, or (mean, std) for a lognormal energy
    distribution; the scipy distribution and the swing bounds are built on first use,
    since a central run (every slider move in the app) needs neither.
    """

    path: str
    label: str
    unit: str
    central: float
    spec: Uncertain | tuple[float, float]
    source: str = ""

    @cached_property
    def dist(self):
        """Frozen scipy.stats distribution, or None when the value is fixed."""
        if isinstance(self.spec, tuple):
            mean, std = self.spec
            return lognormal_from_moments(mean, std) if std > 0 else None
        return frozen(self.spec)

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
        if isinstance(self.spec, tuple):
            return self.spec[1] > 0
        return self.spec.distribution != "fixed" and self.dist is not None


@dataclass
class Compiled:
    """A scenario reduced to arrays and parameters: cheap to evaluate many times."""

    scenario: Scenario
    years: np.ndarray
    dy: np.ndarray
    tasks: list[str]
    params: dict[str, Param] = field(default_factory=dict)
    energy_sources: dict[str, str] = field(default_factory=dict)

    @property
    def uncertain(self) -> list[Param]:
        return [p for p in self.params.values() if p.uncertain]

    def target_index(self) -> int:
        return int(self.scenario.target_year - self.scenario.start_year)


def _add(c: Compiled, path: str, u: Uncertain, label: str, unit: str) -> None:
    c.params[path] = Param(path, label, unit, float(u.value), u, u.source or "")


def compile_scenario(scenario: Scenario, measurements: pd.DataFrame | None = None) -> Compiled:
    """Resolve references (Table 2, measurements, country intensity) into Params.

    `measurements` is the table of `project.measurements.task_energy_from_records`
    (columns task, kwh_per_inference_mean, kwh_per_inference_std, n_records, source);
    it is needed only by tasks whose energy says `measurements = "<task>"`.
    """
    years = np.arange(scenario.start_year, scenario.end_year + 1)
    c = Compiled(scenario, years, (years - scenario.base_year).astype(float), list(scenario.tasks))
    ref = None
    for name, t in scenario.tasks.items():
        label = t.label or task_label(name)
        _add(c, f"tasks.{name}.inferences_per_day", t.inferences_per_day, f"{label}: inferences/day", "1/day")
        _add(c, f"tasks.{name}.growth_per_year", t.growth_per_year, f"{label}: usage growth", "1/yr")
        _add(c, f"tasks.{name}.energy.multiplier", t.energy.multiplier, f"{label}: energy multiplier", "x")
        e = t.energy
        path = f"tasks.{name}.energy"
        if e.kwh_per_inference is not None:
            _add(c, path, e.kwh_per_inference, f"{label}: energy per inference", "kWh")
            c.energy_sources[name] = e.kwh_per_inference.source or "scenario value"
        else:
            if e.reference is not None:
                ref = paper_task_energy() if ref is None else ref
                row = ref.loc[e.reference]
                mean, std = float(row["kwh_per_inference_mean"]), float(row["kwh_per_inference_std"])
                source = f"Luccioni et al. 2023, Table 2 ({e.reference}, lognormal from the logged mean and std)"
            else:
                if measurements is None or e.measurements not in set(measurements["task"]):
                    raise ScenarioError(
                        f"tasks.{name}.energy.measurements: no measurement records for task "
                        f"{e.measurements!r} (pass a measurements directory with records of that task)"
                    )
                row = measurements.set_index("task").loc[e.measurements]
                mean = float(row["kwh_per_inference_mean"])
                std = float(row["kwh_per_inference_std"]) if pd.notna(row["kwh_per_inference_std"]) else 0.0
                source = f"wattcast measurements ({row.get('source', 'records')}, n={int(row['n_records'])})"
            c.params[path] = Param(path, f"{label}: energy per inference", "kWh", mean, (mean, std), source)
            c.energy_sources[name] = source
    s = scenario
    _add(c, "hardware.efficiency_gain_per_year", s.hardware.efficiency_gain_per_year, "Hardware efficiency gain", "1/yr")
    _add(c, "facility.pue", s.facility.pue, "PUE", "ratio")
    _add(c, "facility.wue_l_per_kwh", s.facility.wue_l_per_kwh, "Water use effectiveness", "L/kWh")
    if s.grid.country is not None:
        row = country_lookup(s.grid.country)
        u = Uncertain(value=float(row["intensity_g_per_kwh"]),
                      source=f"codecarbon energy mix: {row['country']} ({int(row['year'])})")
    else:
        u = s.grid.intensity_g_per_kwh
    _add(c, "grid.intensity_g_per_kwh", u, "Grid carbon intensity", "g/kWh")
    _add(c, "grid.decarbonisation_per_year", s.grid.decarbonisation_per_year, "Grid decarbonisation", "1/yr")
    lc = s.lifecycle
    _add(c, "lifecycle.training_kwh_per_generation", lc.training_kwh_per_generation, "Training energy per generation", "kWh")
    _add(c, "lifecycle.finetune_kwh_per_generation", lc.finetune_kwh_per_generation, "Fine-tuning energy per generation", "kWh")
    _add(c, "lifecycle.generations_per_year", lc.generations_per_year, "Model generations per year", "1/yr")
    f = s.fleet
    _add(c, "fleet.servers_shipped_per_year", f.servers_shipped_per_year, "AI servers shipped per year", "servers")
    _add(c, "fleet.shipment_growth_per_year", f.shipment_growth_per_year, "Server shipment growth", "1/yr")
    _add(c, "fleet.power_kw_per_server", f.power_kw_per_server, "Power per server", "kW")
    _add(c, "fleet.utilisation", f.utilisation, "Server utilisation", "fraction")
    if s.datacentres is not None:
        _add(c, "datacentres.ai_share_multiplier", s.datacentres.ai_share_multiplier, "AI share multiplier", "x")
    return c


def _interp(years: np.ndarray, anchors: dict[int, float]) -> np.ndarray:
    ks = sorted(anchors)
    return np.interp(years, ks, [anchors[k] for k in ks])


def evaluate(c: Compiled, values: dict[str, np.ndarray] | None = None, n: int = 1) -> dict[str, np.ndarray]:
    """Evaluate every variable for `n` parameter sets.

    `values` maps parameter paths to arrays of shape (n,); parameters not given take
    their central value. Returns variable -> array of shape (n, years).
    """
    values = values or {}

    def v(path: str) -> np.ndarray:
        x = values.get(path)
        if x is None:
            return np.full((n, 1), c.params[path].central)
        return np.asarray(x, dtype=float).reshape(-1, 1)

    dy = c.dy[None, :]
    s = c.scenario
    pue = v("facility.pue")
    eff = (1.0 - v("hardware.efficiency_gain_per_year")) ** dy
    out: dict[str, np.ndarray] = {}
    inference_it = np.zeros((n, dy.shape[1]))
    inferences = np.zeros_like(inference_it)
    for name in c.tasks:
        p = f"tasks.{name}."
        count = v(p + "inferences_per_day") * DAYS_PER_YEAR * (1.0 + v(p + "growth_per_year")) ** dy
        it_kwh = count * v(p + "energy") * v(p + "energy.multiplier") * eff
        inference_it = inference_it + it_kwh
        inferences = inferences + count
        out[TASK_PREFIX + name] = it_kwh * pue / KWH_PER_TWH
    training_it = (v("lifecycle.training_kwh_per_generation") + v("lifecycle.finetune_kwh_per_generation")) * v(
        "lifecycle.generations_per_year"
    ) * np.ones_like(dy)
    demand_it = inference_it + training_it
    out["Energy|Inference"] = inference_it * pue / KWH_PER_TWH
    out["Energy|Training"] = training_it * pue / KWH_PER_TWH
    out["Energy|Demand side"] = demand_it * pue / KWH_PER_TWH
    out["Inferences|Total"] = inferences / 1e9

    g = 1.0 + v("fleet.shipment_growth_per_year")
    lifetime = s.fleet.lifetime_years
    installed = v("fleet.servers_shipped_per_year") * sum(g ** (dy - k) for k in range(lifetime))
    capacity_kwh = installed * v("fleet.power_kw_per_server") * param("hours_per_year")
    supply_it = capacity_kwh * v("fleet.utilisation")
    out["Energy|Supply side"] = supply_it * pue / KWH_PER_TWH
    with np.errstate(divide="ignore", invalid="ignore"):
        out["Utilisation|Reconciling"] = np.where(capacity_kwh > 0, demand_it / capacity_kwh, np.nan)

    if s.datacentres is not None:
        dc = _interp(c.years, s.datacentres.twh)[None, :]
        share = _interp(c.years, s.datacentres.ai_share)[None, :] * v("datacentres.ai_share_multiplier")
        out["Energy|Data centres"] = dc * np.ones((n, 1))
        out["Energy|Top-down"] = dc * share
    total = {"demand": out["Energy|Demand side"], "supply": out["Energy|Supply side"]}.get(s.basis)
    if total is None:
        total = out["Energy|Top-down"]
    out["Energy|Total"] = total
    intensity = v("grid.intensity_g_per_kwh") * (1.0 - v("grid.decarbonisation_per_year")) ** dy
    out["Emissions|Total"] = total * intensity / 1e3
    wue = v("facility.wue_l_per_kwh")
    out["Water|Total"] = total / pue * wue
    for name in c.tasks:
        e = out[TASK_PREFIX + name]
        out[EMISSIONS_PREFIX + name] = e * intensity / 1e3
        out[WATER_PREFIX + name] = e / pue * wue
    return out


def central(c: Compiled) -> dict[str, np.ndarray]:
    """The central run: every variable as a 1-D array over years."""
    return {k: a[0] for k, a in evaluate(c).items()}


def sample_parameters(c: Compiled, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Latin hypercube draws of every uncertain parameter (seeded, reproducible)."""
    from scipy.stats import qmc

    unc = c.uncertain
    if not unc or samples <= 0:
        return {}
    u = qmc.LatinHypercube(d=len(unc), rng=np.random.default_rng(seed)).random(samples)
    return {p.path: p.dist.ppf(u[:, i]) for i, p in enumerate(unc)}


def variable_order(c: Compiled) -> list[str]:
    names = [k for k in UNITS if k not in ("Energy|Top-down", "Energy|Data centres") or c.scenario.datacentres]
    return names + [prefix + t for prefix in (TASK_PREFIX, EMISSIONS_PREFIX, WATER_PREFIX) for t in c.tasks]


def unit_of(variable: str) -> str:
    if variable.startswith(EMISSIONS_PREFIX):
        return UNITS["Emissions|Total"]
    if variable.startswith(WATER_PREFIX):
        return UNITS["Water|Total"]
    return UNITS.get(variable, "TWh/yr")


@dataclass
class ProjectionResult:
    """A projection's tidy table plus the arrays behind it."""

    scenario: Scenario
    compiled: Compiled
    table: pd.DataFrame
    central: dict[str, np.ndarray]
    samples: int
    seed: int | None
    percentiles: dict[str, np.ndarray] = field(default_factory=dict)  # var -> (3, years): p5, p50, p95

    def value(self, variable: str, year: int | None = None, stat: str = "central") -> float:
        """One number from the result (target year by default)."""
        year = self.scenario.target_year if year is None else year
        i = int(year - self.scenario.start_year)
        if not 0 <= i < len(self.compiled.years):
            raise KeyError(f"year {year} outside {self.scenario.start_year}..{self.scenario.end_year}")
        if stat == "central":
            return float(self.central[variable][i])
        if not self.percentiles:
            raise KeyError("no Monte Carlo samples in this result (samples=0)")
        return float(self.percentiles[variable][("p5", "p50", "p95").index(stat), i])

    @property
    def metadata(self) -> dict[str, object]:
        return {"scenario": self.scenario.name, "samples": self.samples, "seed": self.seed,
                "basis": self.scenario.basis, "target_year": self.scenario.target_year}


def _table(c: Compiled, name: str, central_vals: dict[str, np.ndarray], pct: dict[str, np.ndarray]) -> pd.DataFrame:
    names = variable_order(c)
    years = c.years
    ny = len(years)
    all_stats = ["central", "p5", "p50", "p95"]
    var_col, unit_col, stat_col, year_col, values = [], [], [], [], []
    for k in names:
        stats_ = all_stats if k in pct else all_stats[:1]
        block = np.vstack([central_vals[k][None, :], pct[k]]) if k in pct else central_vals[k][None, :]
        m = len(stats_) * ny
        var_col += [k] * m
        unit_col += [unit_of(k)] * m
        stat_col.append(np.repeat(stats_, ny))
        year_col.append(np.tile(years, len(stats_)))
        values.append(block.ravel())
    return pd.DataFrame(
        {
            "scenario": name,
            "variable": var_col,
            "region": "World",
            "unit": unit_col,
            "year": np.concatenate(year_col),
            "stat": np.concatenate(stat_col),
            "value": np.concatenate(values),
        }
    )


def run_projection(
    scenario: Scenario,
    samples: int = 0,
    seed: int = 0,
    measurements: pd.DataFrame | None = None,
    compiled: Compiled | None = None,
) -> ProjectionResult:
    """Central run plus, when `samples` > 0, seeded Monte Carlo percentiles (p5, p50, p95).

    Percentiles cover every variable except the per-task emissions and water, which are
    reported as central values only.
    """
    if samples < 0:
        raise ScenarioError(f"--samples must be >= 0, got {samples}")
    c = compiled or compile_scenario(scenario, measurements)
    cen = central(c)
    pct: dict[str, np.ndarray] = {}
    if samples > 0:
        draws = sample_parameters(c, samples, seed)
        sampled = evaluate(c, draws, samples) if draws else {k: a[None, :] for k, a in cen.items()}
        for k, arr in sampled.items():
            if k.startswith((EMISSIONS_PREFIX, WATER_PREFIX)):
                continue  # per-task emissions and water: central only (keeps 100k samples <= 1 s)
            if np.isnan(arr).any():  # e.g. reconciling utilisation with no fleet
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    pct[k] = np.nanpercentile(arr, [5, 50, 95], axis=0)
            else:
                pct[k] = np.percentile(arr, [5, 50, 95], axis=0)
    table = _table(c, scenario.name, cen, pct)
    return ProjectionResult(scenario, c, table, cen, samples, seed if samples > 0 else None, pct)


def with_measured_energy(scenario: Scenario, measurements: pd.DataFrame) -> tuple[Scenario, list[str]]:
    """Switch every task whose energy references a Table 2 task to measured records of it.

    Returns the new scenario and the task names switched. Tasks with no records keep
    the study's figures.
    """
    from .scenario import apply_overrides

    measured = set(measurements["task"])
    switched = {}
    for name, t in scenario.tasks.items():
        key = t.energy.reference or t.energy.measurements
        if key in measured:
            switched[f"tasks.{name}.energy"] = {"measurements": key,
                                               "multiplier": t.energy.multiplier.model_dump(exclude_none=True)}
    if not switched:
        return scenario, []
    return apply_overrides(scenario, switched, origin="measurements"), [k.split(".")[1] for k in switched]
