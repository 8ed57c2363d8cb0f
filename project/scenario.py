"""Scenario: a validated description of workloads, the accelerator fleet, regions and levers.

Scenarios are TOML files (`data/scenarios/*.toml` are the shipped presets). Any number
can be given as a plain value or as a table with a range for the Monte Carlo:

    pue = 1.2
    pue = { value = 1.3, low = 1.09, high = 1.56, distribution = "triangular", source = "..." }

What `value` means for each distribution is in `project.distributions` (median for
lognormal/loguniform/uniform, mode for triangular, mean for normal); a value that
contradicts its range is refused. Sections (all optional except the years):

- `[workloads.<id>]`  demand side: volume x energy per unit, at a stated boundary
- `[training]`        frontier runs and fine-tuning
- `[fleet]`           supply side: accelerator shipments by class -> installed base by region
- `[regions.<id>]`    USA, CHN, EUR, ROW (or `all`): PUE, WUE, grid, clean power, conventional load
- `[boundary]`        conversion factors accelerator -> server -> IT -> facility
- `[policy]`          policy levers (see `project.policy`), default off

All errors a user can cause end in `ScenarioError`, whose message names the file, the
field (dotted path) and the offending value.
"""

from __future__ import annotations

import copy
import math
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .paths import scenarios_dir
from .variables import REGIONS

Distribution = Literal["fixed", "uniform", "triangular", "normal", "lognormal", "loguniform"]
Boundary = Literal["accelerator", "server", "it", "facility"]
REGION_IDS: tuple[str, ...] = tuple(REGIONS)
#: largest magnitude any scenario number may take (keeps every product finite)
MAX_ABS = 1e15
#: relative tolerance for a value that must sit at the centre of its range
CENTRE_TOL = 0.02


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is meant for the user as is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Uncertain(_Strict):
    """A number with an optional uncertainty range (see `project.distributions` for semantics).

    Without `distribution`: low and high give a triangular with `value` as mode; `std`
    alone gives a lognormal with `value` as its mean; nothing gives a fixed value.
    """

    value: float
    low: float | None = None
    high: float | None = None
    std: float | None = Field(default=None, ge=0)
    distribution: Distribution | None = None
    source: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("expected a number, not a boolean")
        if isinstance(data, (int, float)):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _check(self) -> "Uncertain":
        for name in ("value", "low", "high", "std"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v}")
            if v is not None and abs(v) > MAX_ABS:
                raise ValueError(f"{name} {v:g} is out of range (|x| <= {MAX_ABS:g})")
        if self.distribution is None:
            self.distribution = "triangular" if (self.low is not None and self.high is not None) else (
                "lognormal" if self.std else "fixed"
            )
        d, lo, hi, v = self.distribution, self.low, self.high, self.value
        if d in ("uniform", "triangular", "loguniform") and (lo is None or hi is None):
            raise ValueError(f"distribution {d!r} needs both low and high")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"low ({lo}) is above high ({hi})")
        if d != "fixed" and lo is not None and hi is not None and not (lo <= v <= hi):
            raise ValueError(f"value {v} lies outside [low, high] = [{lo}, {hi}]")
        if d in ("lognormal", "loguniform"):
            if v <= 0 or (lo is not None and lo <= 0):
                raise ValueError(f"distribution {d!r} needs positive values")
            if d == "lognormal" and self.std is None and (lo is None or hi is None):
                raise ValueError("lognormal needs std, or low and high (5th and 95th percentiles)")
        if d == "normal" and self.std is None and (lo is None or hi is None):
            raise ValueError("normal needs std, or low and high (5th and 95th percentiles)")
        # value is the median (uniform, loguniform, lognormal by p5/p95) or the mean (normal):
        # it must sit at the centre of the range, or the central run contradicts the Monte Carlo
        if lo is not None and hi is not None and hi > lo and self.std is None:
            if d in ("uniform", "normal"):
                centre = (lo + hi) / 2
                if abs(v - centre) > CENTRE_TOL * (hi - lo):
                    raise ValueError(f"{d}: value {v} is its median/mean and must be the midpoint of "
                                     f"[{lo}, {hi}] ({centre:.6g}); use 'triangular' for an off-centre mode")
            elif d in ("loguniform", "lognormal"):
                log_centre = (math.log(lo) + math.log(hi)) / 2
                centre = math.exp(log_centre)
                if abs(math.log(v) - log_centre) > CENTRE_TOL * (math.log(hi) - math.log(lo)):
                    raise ValueError(f"{d}: value {v} is its median and must be the geometric midpoint of "
                                     f"[{lo}, {hi}] ({centre:.6g}); use 'triangular' for an off-centre mode")
        return self

    @property
    def is_uncertain(self) -> bool:
        return self.distribution != "fixed"


def U(value: float, low: float | None = None, high: float | None = None, source: str | None = None,
      distribution: Distribution | None = None) -> Uncertain:
    """Shorthand for defaults in code."""
    return Uncertain(value=value, low=low, high=high, source=source, distribution=distribution)


def _bound(field: str, lo: float | None = None, hi: float | None = None, strict_lo: bool = False):
    """A validator that checks an Uncertain's value and range against physical bounds."""

    def check(cls, u):
        if u is None:
            return u
        items = u.values() if isinstance(u, dict) else [u]
        for x in items:
            for name in ("value", "low", "high"):
                v = getattr(x, name)
                if v is None:
                    continue
                if lo is not None and (v <= lo if strict_lo else v < lo):
                    raise ValueError(f"{name} must be {'>' if strict_lo else '>='} {lo}, got {v}")
                if hi is not None and v > hi:
                    raise ValueError(f"{name} must be <= {hi}, got {v}")
        return u

    return field_validator(field)(check)


#: physical bounds of each kind of quantity, used by the validators and by the sampler
#: (a normal is truncated to them)
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "count": (0.0, MAX_ABS),
    "energy": (0.0, 1e9),
    "rate": (-0.99, 10.0),
    "fraction": (0.0, 1.0),
    "pue": (1.0, 5.0),
    "ratio": (0.0, 100.0),
    "multiplier": (0.0, 1e3),
    "years": (0.5, 30.0),
}


class Growth(_Strict):
    """Bounded growth from the base year: logistic towards `ceiling` (same unit as the base).

    x(y) = K / (1 + (K/x0 - 1) exp(-r (y - y0))) with r = ln(1 + rate); without a ceiling,
    plain compound growth x0 (1 + rate)^(y - y0). Before the base year growth runs backwards.
    """

    rate: Uncertain = U(0.0)
    ceiling: Uncertain | None = None
    source: str | None = None

    _r = _bound("rate", *BOUNDS["rate"])
    _c = _bound("ceiling", 0.0, MAX_ABS, strict_lo=True)


class EnergyPerUnit(_Strict):
    """Energy per unit of work (request, image, inference), at a stated boundary.

    Exactly one of `reference` (a task of the study's Table 2: lognormal from the logged
    mean and std, boundary server: the study metered GPU + CPU + RAM of the node),
    `measurements` (a task of wattcast's own records, boundary from the records),
    `kwh` (a value or range). `hardware` is the accelerator class the figure was measured
    on: the engine scales it by the fleet's energy per unit of compute relative to that
    class (no scaling when the scenario has no fleet).
    """

    reference: str | None = None
    measurements: str | None = None
    kwh: Uncertain | None = None
    boundary: Boundary | None = None
    #: the PUE a facility-boundary figure includes (to bring it back to IT energy once)
    pue: Uncertain | None = None
    hardware: str | None = None
    multiplier: Uncertain = U(1.0)
    source: str | None = None

    _k = _bound("kwh", *BOUNDS["energy"])
    _p = _bound("pue", *BOUNDS["pue"])
    _m = _bound("multiplier", *BOUNDS["multiplier"])

    @model_validator(mode="after")
    def _one_source(self) -> "EnergyPerUnit":
        given = [n for n in ("reference", "measurements", "kwh") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of reference, measurements, kwh"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.reference is not None:
            from .tasks import TASKS

            if self.reference not in TASKS:
                raise ValueError(f"unknown reference task {self.reference!r}; one of {', '.join(TASKS)}")
        if self.kwh is not None and self.boundary is None:
            raise ValueError("kwh needs its boundary: accelerator, server, it or facility")
        if self.boundary == "facility" and self.pue is None:
            raise ValueError("a facility-boundary energy needs `pue`, the PUE it includes")
        _check_class(self.hardware, "hardware")
        return self


class LLMEnergy(_Strict):
    """LLM text: energy per request from tokens (accelerator boundary, measured on `hardware`).

    E = out_tokens x J/token x mix x (1 - r + r x reasoning_energy_multiplier)
        + in_tokens x J/token x input_token_ratio, with r the reasoning share and mix the
    model-class mix (size factors, MoE share x 1/moe_factor).
    """

    output_tokens: Uncertain
    input_tokens: Uncertain = U(0.0)
    j_per_output_token: Uncertain
    input_token_ratio: Uncertain = U(0.1)
    reasoning_share: Uncertain = U(0.0)
    reasoning_energy_multiplier: Uncertain = U(25.0)
    model_mix: dict[str, float] = {"mid": 1.0}
    size_factors: dict[str, float] = {"small": 0.25, "mid": 1.0, "frontier": 4.0}
    moe_share: Uncertain = U(0.0)
    moe_factor: Uncertain = U(3.56)
    hardware: str | None = None
    source: str | None = None

    _t = _bound("output_tokens", *BOUNDS["count"])
    _ti = _bound("input_tokens", *BOUNDS["count"])
    _j = _bound("j_per_output_token", *BOUNDS["energy"])
    _ir = _bound("input_token_ratio", *BOUNDS["ratio"])
    _rs = _bound("reasoning_share", *BOUNDS["fraction"])
    _rm = _bound("reasoning_energy_multiplier", 1.0, 1e3)
    _ms = _bound("moe_share", *BOUNDS["fraction"])
    _mf = _bound("moe_factor", 1.0, 100.0)

    @model_validator(mode="after")
    def _mix(self) -> "LLMEnergy":
        unknown = set(self.model_mix) - set(self.size_factors)
        if unknown:
            raise ValueError(f"model_mix: unknown model class {sorted(unknown)}; one of {sorted(self.size_factors)}")
        if any(v < 0 or not math.isfinite(v) for v in self.model_mix.values()):
            raise ValueError("model_mix shares must be finite and >= 0")
        total = sum(self.model_mix.values())
        if not math.isclose(total, 1.0, rel_tol=1e-6):
            raise ValueError(f"model_mix shares must sum to 1, got {total:g}")
        if any(not (0 < v < 1e3) for v in self.size_factors.values()):
            raise ValueError("size_factors must be in (0, 1000)")
        _check_class(self.hardware, "hardware")
        return self


class Workload(_Strict):
    """One inference workload: requests (units) per day in the base year x energy per unit."""

    label: str | None = Field(default=None, max_length=80)
    requests_per_day: Uncertain
    growth: Growth = Growth()
    energy: EnergyPerUnit | None = None
    llm: LLMEnergy | None = None
    #: where requests are served; default: in proportion to each region's fleet energy
    region_shares: dict[str, float] | None = None
    #: the study's policy contrast: share served by multi-purpose generative models and
    #: their energy ratio to task-specific models (Table 3 / Table 2)
    multipurpose_share: Uncertain = U(0.0)
    multipurpose_ratio: Uncertain = U(1.0)
    #: the study task this workload is rated against (efficiency standard); default: the
    #: energy reference, or text_generation for LLM workloads
    task: str | None = None
    source: str | None = Field(default=None, max_length=1000)

    _v = _bound("requests_per_day", *BOUNDS["count"])
    _ms = _bound("multipurpose_share", *BOUNDS["fraction"])
    _mr = _bound("multipurpose_ratio", 0.0, 1e4, strict_lo=True)

    @model_validator(mode="after")
    def _one(self) -> "Workload":
        if (self.energy is None) == (self.llm is None):
            raise ValueError("give exactly one of energy (per unit) or llm (per token)")
        _check_below_ceiling(self.requests_per_day, self.growth, "requests_per_day")
        if self.region_shares is not None:
            _check_shares(self.region_shares, "region_shares")
        if self.task is not None:
            from .tasks import TASKS

            if self.task not in TASKS:
                raise ValueError(f"task: unknown study task {self.task!r}; one of {', '.join(TASKS)}")
        return self


def _check_below_ceiling(base: Uncertain, growth: Growth, what: str) -> None:
    """A base-year value above its growth ceiling contradicts the ceiling (the engine would hold it at K)."""
    if growth.ceiling is not None and base.value > growth.ceiling.value:
        raise ValueError(f"{what}: {base.value:g} is above its growth ceiling {growth.ceiling.value:g}; "
                         "raise the ceiling or lower the base value")


def _check_class(name: str | None, what: str) -> None:
    from .model.fleet import CLASS_IDS

    if name is not None and name not in CLASS_IDS:
        raise ValueError(f"{what}: unknown accelerator class {name!r}; one of {', '.join(CLASS_IDS)}")


def _check_shares(shares: dict[str, float], what: str) -> None:
    unknown = set(shares) - set(REGION_IDS)
    if unknown:
        raise ValueError(f"{what}: unknown region {sorted(unknown)}; regions are {', '.join(REGION_IDS)}")
    if any(not (0 <= v <= 1) or not math.isfinite(v) for v in shares.values()):
        raise ValueError(f"{what}: shares must be fractions in [0, 1]")
    total = sum(shares.values())
    if not math.isclose(total, 1.0, rel_tol=1e-6, abs_tol=1e-9):
        raise ValueError(f"{what}: shares must sum to 1, got {total:g}")


class Training(_Strict):
    """Training: frontier runs started per year x facility energy per run, plus fine-tuning.

    Energy per run grows with `energy_growth` (compute growth net of hardware
    efficiency, bounded by a ceiling in GWh per run); `boundary` is not facility; fine-tuning and smaller runs are `finetune_ratio` x the frontier energy.
    Runs are placed by region with `region_shares` (default: fleet energy shares).
    """

    runs_per_year: Uncertain = U(0.0)
    runs_growth: Growth = Growth()
    gwh_per_run: Uncertain = U(0.0)
    energy_growth: Growth = Growth()
    boundary: Boundary = "server"
    finetune_ratio: Uncertain = U(0.0)
    region_shares: dict[str, float] | None = None
    source: str | None = Field(default=None, max_length=1000)

    _n = _bound("runs_per_year", *BOUNDS["count"])
    _e = _bound("gwh_per_run", 0.0, 1e7)
    _f = _bound("finetune_ratio", 0.0, 100.0)

    @model_validator(mode="after")
    def _shares(self) -> "Training":
        if self.boundary == "facility":
            raise ValueError("training.boundary: give training energy at the accelerator, server or it boundary")
        _check_below_ceiling(self.runs_per_year, self.runs_growth, "runs_per_year")
        _check_below_ceiling(self.gwh_per_run, self.energy_growth, "gwh_per_run")
        if self.region_shares is not None:
            _check_shares(self.region_shares, "region_shares")
        return self


class AcceleratorClass(_Strict):
    """Overrides of one accelerator class (defaults: data/fleet/accelerator_classes.csv)."""

    tdp_w: Uncertain | None = None
    server_w_per_accelerator: Uncertain | None = None
    idle_fraction: Uncertain | None = None
    utilisation: Uncertain | None = None
    lifetime_years: Uncertain | None = None
    embodied_kg_per_accelerator: Uncertain | None = None

    _t = _bound("tdp_w", 0.0, 1e5)
    _s = _bound("server_w_per_accelerator", 0.0, 1e5)
    _i = _bound("idle_fraction", *BOUNDS["fraction"])
    _u = _bound("utilisation", *BOUNDS["fraction"])
    _l = _bound("lifetime_years", *BOUNDS["years"])
    _e = _bound("embodied_kg_per_accelerator", 0.0, 1e6)


class Fleet(_Strict):
    """Supply side: accelerators shipped per year by class -> installed base by vintage and region.

    `history = true` takes observed shipments from data/fleet/shipments.csv up to its last
    year; later years grow from it (`growth`, bounded) with the class `mix` of new
    shipments by year (interpolated; a class's share of the mix). `shipments` adds or
    replaces years explicitly ({class = {year = units}}). Accelerators retire after
    their class lifetime; `mid_year = true` counts the installation year at half.
    """

    history: bool = True
    shipments: dict[str, dict[int, float]] = {}
    growth: Growth = Growth()
    mix: dict[int, dict[str, float]] = {}
    classes: dict[str, AcceleratorClass] = {}
    mid_year: bool = True
    region_shares: dict[str, float] | None = None
    utilisation_scale: Uncertain = U(1.0)
    shipments_scale: Uncertain = U(1.0)
    source: str | None = Field(default=None, max_length=1000)

    _us = _bound("utilisation_scale", 0.0, 10.0)
    _ss = _bound("shipments_scale", 0.0, 10.0)

    @field_validator("shipments", mode="before")
    @classmethod
    def _ship_keys(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: _year_keys(x, f"shipments.{k}") for k, x in v.items()}
        return v

    @field_validator("mix", mode="before")
    @classmethod
    def _mix_keys(cls, v: Any) -> Any:
        return _year_keys(v, "mix")

    @model_validator(mode="after")
    def _check(self) -> "Fleet":
        for c in [*self.shipments, *self.classes, *(k for m in self.mix.values() for k in m)]:
            _check_class(c, "fleet")
        for cls_, years in self.shipments.items():
            for y, units in years.items():
                if not (0 <= units <= MAX_ABS) or not math.isfinite(units):
                    raise ValueError(f"shipments.{cls_}.{y}: units must be finite and >= 0, got {units}")
        for y, m in self.mix.items():
            if any(not (0 <= v <= 1) or not math.isfinite(v) for v in m.values()):
                raise ValueError(f"mix.{y}: shares must be fractions in [0, 1]")
            if not math.isclose(sum(m.values()), 1.0, rel_tol=1e-6):
                raise ValueError(f"mix.{y}: shares must sum to 1, got {sum(m.values()):g}")
        if self.region_shares is not None:
            _check_shares(self.region_shares, "region_shares")
        return self


def _year_keys(v: Any, what: str) -> Any:
    if isinstance(v, dict):
        try:
            out = {int(k): x for k, x in v.items()}
        except (TypeError, ValueError):
            raise ValueError(f"{what}: keys must be years, e.g. 2030 = ...") from None
        if any(not 1990 <= y <= 2100 for y in out):
            raise ValueError(f"{what}: years must lie in 1990..2100")
        return out
    return v


class Region(_Strict):
    """Regional factors; unset fields take data/fleet/regions.csv and national data.

    `grid_intensity_g_per_kwh` is the location-based intensity in the base year (default:
    the region's 2024 lifecycle intensity from data/national); `clean_power_share` is the
    share of consumption matched by contracted clean power (market-based emissions);
    `water_offsite_l_per_kwh` is water consumed at power plants per kWh generated;
    `conventional_twh_2018` and `conventional_growth_per_year` give conventional
    (non-accelerated) data-centre electricity, facility level, from 2018 (Masanet et al.)
    to 2024; `conventional_growth_projected` applies after 2024 (default: the same rate).
    """

    pue: Uncertain | None = None
    wue_onsite_l_per_kwh: Uncertain | None = None
    grid_intensity_g_per_kwh: Uncertain | None = None
    grid_country: str | None = Field(default=None, max_length=80)
    decarbonisation_per_year: Uncertain | None = None
    clean_power_share: Uncertain | None = None
    water_offsite_l_per_kwh: Uncertain | None = None
    conventional_twh_2018: Uncertain | None = None
    conventional_growth_per_year: Uncertain | None = None
    conventional_growth_projected: Uncertain | None = None

    _p = _bound("pue", *BOUNDS["pue"])
    _w = _bound("wue_onsite_l_per_kwh", 0.0, 100.0)
    _g = _bound("grid_intensity_g_per_kwh", 0.0, 5000.0)
    _d = _bound("decarbonisation_per_year", -0.5, 0.99)
    _c = _bound("clean_power_share", *BOUNDS["fraction"])
    _o = _bound("water_offsite_l_per_kwh", 0.0, 1000.0)
    _ct = _bound("conventional_twh_2018", 0.0, 1e5)
    _cg = _bound("conventional_growth_per_year", *BOUNDS["rate"])
    _cp = _bound("conventional_growth_projected", *BOUNDS["rate"])

    @model_validator(mode="after")
    def _one(self) -> "Region":
        if self.grid_country is not None and self.grid_intensity_g_per_kwh is not None:
            raise ValueError("give grid_country or grid_intensity_g_per_kwh, not both")
        if self.grid_country is not None:
            from .model.regions import grid_intensity_of

            try:
                grid_intensity_of(self.grid_country)
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        return self


class BoundarySpec(_Strict):
    """Factors between boundaries (anchor: Google, Aug 2025, median Gemini prompt).

    server = accelerator x production_factor x (1 + host_ratio);
    it = server x (1 + idle_ratio); facility = it x PUE (regional).
    """

    production_factor: Uncertain | None = None
    host_ratio: Uncertain | None = None
    idle_ratio: Uncertain | None = None

    _p = _bound("production_factor", 1.0, 10.0)
    _h = _bound("host_ratio", 0.0, 10.0)
    _i = _bound("idle_ratio", 0.0, 10.0)


class Efficiency(_Strict):
    """Yearly fall of energy per unit of work from software and models (not hardware:
    the fleet's mix carries that)."""

    software_gain_per_year: Uncertain = U(0.0)

    _s = _bound("software_gain_per_year", 0.0, 0.9)


class Scenario(_Strict):
    """Everything the projection needs, in one validated object."""

    name: str = Field(min_length=1, max_length=80)
    title: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=5000)
    sources: list[str] = Field(default=[], max_length=50)
    base_year: int = Field(ge=2000, le=2100)
    start_year: int = Field(ge=2000, le=2100)
    end_year: int = Field(ge=2000, le=2100)
    target_year: int = Field(ge=2000, le=2100)
    workloads: dict[str, Workload] = Field(default={}, max_length=50)
    training: Training | None = None
    fleet: Fleet | None = None
    regions: dict[str, Region] = {}
    boundary: BoundarySpec = BoundarySpec()
    efficiency: Efficiency = Efficiency()
    conventional: bool = False
    policy: dict[str, Any] = {}
    compare_with: list[str] = Field(default=[], max_length=20)

    @field_validator("sources")
    @classmethod
    def _src_len(cls, v: list[str]) -> list[str]:
        for s in v:
            if len(s) > 1000:
                raise ValueError("each source must be at most 1,000 characters")
        return v

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        if self.start_year > self.end_year:
            raise ValueError(f"start_year ({self.start_year}) is after end_year ({self.end_year}): years are reversed")
        if self.end_year - self.start_year > 60:
            raise ValueError(f"at most 61 years per scenario, got {self.start_year}..{self.end_year}")
        if not self.start_year <= self.target_year <= self.end_year:
            raise ValueError(f"target_year ({self.target_year}) must lie within start_year..end_year "
                             f"({self.start_year}..{self.end_year})")
        if not self.workloads and self.fleet is None and self.training is None:
            raise ValueError("nothing to project: give [workloads.*], [training] or [fleet]")
        bad = set(self.regions) - set(REGION_IDS) - {"all"}
        if bad:
            raise ValueError(f"regions: unknown region {sorted(bad)}; one of all, {', '.join(REGION_IDS)}")
        if self.policy:
            from .policy import validate_policy

            validate_policy(self.policy)
        from .national import country_lookup

        for c in self.compare_with:
            try:
                country_lookup(c)
            except KeyError as exc:
                raise ValueError(f"compare_with: {exc.args[0]}") from None
        return self

    @property
    def years(self) -> list[int]:
        return list(range(self.start_year, self.end_year + 1))


# ---------------------------------------------------------------------------
# Loading, presets, overrides


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        value = err.get("input")
        shown = "" if isinstance(value, dict) or err["type"] == "missing" else f" (value: {value!r})"
        lines.append(f"{origin}: {loc or '<scenario>'}: {msg}{shown}")
    more = len(exc.errors()) - 5
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


def scenario_from_dict(data: dict[str, Any], origin: str = "<scenario>") -> Scenario:
    """Validate a plain dict as a Scenario; errors raise ScenarioError naming `origin`."""
    if isinstance(data, dict) and "extends" in data:
        data = resolve_extends(data, origin)
    if _depth(data) > MAX_DEPTH:
        raise ScenarioError(f"{origin}: nested more than {MAX_DEPTH} levels deep")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc, origin)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError(f"{p}: scenario file not found")
    if p.is_dir():
        raise ScenarioError(f"{p}: is a directory, expected a .toml scenario file")
    if p.stat().st_size > MAX_TOML_BYTES:
        raise ScenarioError(f"{p}: scenario file is larger than {MAX_TOML_BYTES // 1024} KiB")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a UTF-8 text file") from None
    return scenario_from_dict(resolve_extends(parse_toml(text, str(p)), str(p)), str(p))


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, tables merged key by key (a value replaces a table whole)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not _is_number_table(v):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _is_number_table(v: dict[str, Any]) -> bool:
    return "value" in v


def resolve_extends(data: dict[str, Any], origin: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A scenario dict with `extends = "<preset>"` merged onto that preset (recursively)."""
    base_name = data.get("extends")
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ScenarioError(f"{origin}: extends: expected a preset name, got {base_name!r}")
    if base_name in _seen or len(_seen) > 5:
        raise ScenarioError(f"{origin}: extends: cycle through {' -> '.join((*_seen, base_name))}")
    names = preset_names()
    if base_name not in names:
        raise ScenarioError(f"{origin}: extends: unknown preset {base_name!r}; available: {', '.join(names)}")
    base_path = scenarios_dir() / f"{base_name}.toml"
    base = resolve_extends(parse_toml(base_path.read_text(encoding="utf-8"), str(base_path)), str(base_path),
                           (*_seen, base_name))
    base = {k: v for k, v in base.items() if k not in ("sources", "description", "title")}
    merged = deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    merged.setdefault("sources", [])
    return merged


MAX_TOML_BYTES = 1024 * 1024
MAX_DEPTH = 8


def _depth(obj: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max([_depth(v, level + 1) for v in obj.values()] or [level + 1])
    if isinstance(obj, list):
        return max([_depth(v, level + 1) for v in obj] or [level + 1])
    return level


def parse_toml(text: str, origin: str) -> dict[str, Any]:
    """TOML text -> dict, with one message naming `origin` for malformed or too-deep input.

    Parsed texts are cached (a preset is read on every load, about 4 ms of pure-Python TOML
    parsing); the caller gets its own deep copy.
    """
    return copy.deepcopy(_parse_toml(text, origin))


@lru_cache(maxsize=64)
def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    # bracket depth before parsing: tomllib recurses on nested inline tables/arrays
    depth = 0
    deepest = 0
    in_str = None
    for ch in text:
        if in_str:
            if ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    if deepest > 4 * MAX_DEPTH:
        raise ScenarioError(f"{origin}: nested more than {MAX_DEPTH} levels deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{origin}: malformed TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{origin}: nested more than {MAX_DEPTH} levels deep") from None
    if _depth(data) > MAX_DEPTH:
        raise ScenarioError(f"{origin}: nested more than {MAX_DEPTH} levels deep")
    return data


def preset_names() -> list[str]:
    """Names of the shipped presets (file stems in data/scenarios)."""
    return sorted(p.stem for p in scenarios_dir().glob("*.toml"))


def load_preset(name: str) -> Scenario:
    """A shipped preset by name."""
    names = preset_names()
    if name not in names:
        raise ScenarioError(f"unknown preset {name!r}; available: {', '.join(names)}")
    return load_scenario(scenarios_dir() / f"{name}.toml")


def _parse_override_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as a country code


def _child_schema(schema: Any, part: str) -> tuple[bool, Any]:
    """(known, schema of the child) for field `part` of `schema` (a model, ("dict", model) or None)."""
    import typing

    if schema is None:
        return True, None
    if isinstance(schema, tuple):  # a dict of models: any key
        return True, schema[1]
    fields = getattr(schema, "model_fields", None)
    if fields is None or part not in fields:
        return False, None
    ann = fields[part].annotation
    options = (ann,) if typing.get_origin(ann) is dict else getattr(ann, "__args__", (ann,))
    for a in options:
        if hasattr(a, "model_fields"):
            return True, a
        if typing.get_origin(a) is dict:
            args = typing.get_args(a)
            inner = args[1] if len(args) == 2 else None
            return True, ("dict", inner) if hasattr(inner, "model_fields") else None
    return True, None


def _moved(current: dict[str, Any], value: float) -> dict[str, Any]:
    """A ranged value with its central value moved: the range follows where `value` is a
    median or mean (it must stay centred), and widens where it is a mode."""
    out = dict(current)
    old = out.get("value")
    out["value"] = value
    lo, hi, d = out.get("low"), out.get("high"), out.get("distribution")
    if lo is None or hi is None or out.get("std") is not None:
        return out
    if d in ("uniform", "normal"):
        out["low"], out["high"] = lo + (value - old), hi + (value - old)
    elif d in ("loguniform", "lognormal") and old and old > 0 and value > 0:
        out["low"], out["high"] = lo * value / old, hi * value / old
    else:
        out["low"], out["high"] = min(lo, value), max(hi, value)
    return out


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at dotted `path` in a scenario dict, in place.

    Setting a number on a ranged value moves its central value and keeps the range
    (shifted where the value is a median or mean, widened where it is a mode).
    """
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ScenarioError(f"--set {path}: empty field name")
    node: Any = data
    schema: Any = Scenario
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        known, child = _child_schema(schema, part)
        if not known or not isinstance(node, dict):
            raise ScenarioError(f"--set {path}: unknown field {where!r}")
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            raise ScenarioError(f"--set {path}: {where} is not a table")
        node, schema = node[part], child
    key = parts[-1]
    known, _ = _child_schema(schema, key)
    if not known:
        raise ScenarioError(f"--set {path}: unknown field {path!r}")
    current = node.get(key)
    if isinstance(current, dict) and "value" in current and isinstance(value, (int, float)) and not isinstance(value, bool):
        node[key] = _moved(current, float(value))
    else:
        node[key] = value


def apply_overrides(scenario: Scenario, overrides: list[str] | dict[str, Any], origin: str = "--set") -> Scenario:
    """Return a new Scenario with `key=value` overrides applied (dotted paths).

    `overrides` is a list of "a.b=value" strings (values parsed as TOML, bare words as
    strings) or a dict of path -> value.
    """
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise ScenarioError(f"{origin} {item!r}: expected key=value, e.g. facility.pue=1.2")
            k, v = item.split("=", 1)
            pairs.append((k.strip(), _parse_override_value(v.strip())))
    data = scenario.model_dump(mode="python", exclude_none=True)
    for key, value in pairs:
        parts = key.split(".")
        if len(parts) >= 3 and parts[0] == "regions":
            # a country and an intensity exclude each other: the newer one wins
            other = {"grid_country": "grid_intensity_g_per_kwh", "grid_intensity_g_per_kwh": "grid_country"}
            if parts[2] in other:
                data.setdefault("regions", {}).setdefault(parts[1], {}).pop(other[parts[2]], None)
        set_path(data, key, value)
    return scenario_from_dict(data, f"{origin} ({', '.join(k for k, _ in pairs)})")


def scenario_to_toml(scenario: Scenario) -> str:
    """TOML text that `load_scenario` reads back to an equal Scenario."""
    import tomli_w

    data = scenario.model_dump(mode="python", exclude_none=True)

    def compact(obj: Any) -> Any:
        if isinstance(obj, dict):
            if set(obj) <= {"value", "distribution"} and obj.get("distribution") == "fixed":
                return obj["value"]
            return {str(k): compact(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [compact(v) for v in obj]
        return obj

    return tomli_w.dumps(compact(data))
