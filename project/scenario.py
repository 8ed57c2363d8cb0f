"""Scenario: a validated description of usage, hardware, facility, grid and fleet.

Scenarios are TOML files (`data/scenarios/*.toml` are the shipped presets). Any number
can be given as a plain value or as a table with a range for the Monte Carlo:

    pue = 1.2
    pue = { value = 1.3, low = 1.09, high = 1.56, distribution = "triangular", source = "..." }

All errors a user can cause end in `ScenarioError`, whose message names the file, the
field (dotted path) and the offending value.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .paths import scenarios_dir

Distribution = Literal["fixed", "uniform", "triangular", "normal", "lognormal", "loguniform"]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is meant for the user as is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Uncertain(_Strict):
    """A number with an optional uncertainty range.

    `value` is the central value (the mean for `lognormal`, the mode for `triangular`).
    `low`/`high` bound `uniform`, `triangular` and `loguniform`; for `normal` and
    `lognormal` they are read as the 5th and 95th percentiles when `std` is not given.
    """

    value: float
    low: float | None = None
    high: float | None = None
    std: float | None = Field(default=None, ge=0)
    distribution: Distribution | None = None
    source: str | None = None

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
        if self.distribution is None:
            self.distribution = "triangular" if (self.low is not None and self.high is not None) else (
                "lognormal" if self.std else "fixed"
            )
        d = self.distribution
        if d in ("uniform", "triangular", "loguniform"):
            if self.low is None or self.high is None:
                raise ValueError(f"distribution {d!r} needs both low and high")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if d in ("uniform", "triangular", "loguniform") and not (self.low <= self.value <= self.high):
            raise ValueError(f"value {self.value} lies outside [low, high] = [{self.low}, {self.high}]")
        if d in ("lognormal", "loguniform"):
            if self.value <= 0 or (self.low is not None and self.low <= 0):
                raise ValueError(f"distribution {d!r} needs positive values")
            if d == "lognormal" and self.std is None and (self.low is None or self.high is None):
                raise ValueError("lognormal needs std, or low and high (5th and 95th percentiles)")
        if d == "normal" and self.std is None and (self.low is None or self.high is None):
            raise ValueError("normal needs std, or low and high (5th and 95th percentiles)")
        return self

    @property
    def is_uncertain(self) -> bool:
        return self.distribution != "fixed"


def _min(field: str, bound: float, *, strict: bool = False):
    """A validator that checks an Uncertain's value and range against a lower bound."""

    def check(cls, u: Uncertain) -> Uncertain:
        for name in ("value", "low"):
            v = getattr(u, name)
            if v is not None and (v <= bound if strict else v < bound):
                rel = ">" if strict else ">="
                raise ValueError(f"{name} must be {rel} {bound}, got {v}")
        return u

    return field_validator(field)(check)


def _max(field: str, bound: float):
    def check(cls, u: Uncertain) -> Uncertain:
        for name in ("value", "high"):
            v = getattr(u, name)
            if v is not None and v > bound:
                raise ValueError(f"{name} must be <= {bound}, got {v}")
        return u

    return field_validator(field)(check)


class EnergySpec(_Strict):
    """Energy per inference at the facility's IT load, in kWh, in the scenario's base year.

    Exactly one of: `reference` (a task of the study's Table 2: lognormal with the logged
    mean and std), `measurements` (a task of wattcast's own measurement records, supplied
    to the engine at run time), `kwh_per_inference` (a value or range).
    """

    reference: str | None = None
    measurements: str | None = None
    kwh_per_inference: Uncertain | None = None
    multiplier: Uncertain = Uncertain(value=1.0)

    _pos_kwh = _min("kwh_per_inference", 0.0)
    _pos_mult = _min("multiplier", 0.0)

    @model_validator(mode="after")
    def _one_source(self) -> "EnergySpec":
        given = [n for n in ("reference", "measurements", "kwh_per_inference") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of reference, measurements, kwh_per_inference"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.reference is not None:
            from .tasks import TASKS

            if self.reference not in TASKS:
                raise ValueError(f"unknown reference task {self.reference!r}; one of {', '.join(TASKS)}")
        return self


class TaskUsage(_Strict):
    """Usage of one task: inferences per day in the base year and their yearly growth."""

    label: str | None = None
    inferences_per_day: Uncertain
    growth_per_year: Uncertain = Uncertain(value=0.0)
    energy: EnergySpec
    source: str | None = None

    _nonneg = _min("inferences_per_day", 0.0)
    _growth = _min("growth_per_year", -1.0, strict=True)


class Hardware(_Strict):
    """Yearly fall in energy per inference from better accelerators and software (fraction)."""

    efficiency_gain_per_year: Uncertain = Uncertain(value=0.0)

    _lo = _min("efficiency_gain_per_year", 0.0)
    _hi = _max("efficiency_gain_per_year", 0.99)


class Facility(_Strict):
    """Power usage effectiveness (total facility / IT energy) and water use effectiveness."""

    pue: Uncertain = Uncertain(value=1.0)
    wue_l_per_kwh: Uncertain = Uncertain(value=0.0)

    _pue = _min("pue", 1.0)
    _wue = _min("wue_l_per_kwh", 0.0)


class Grid(_Strict):
    """Carbon intensity of the electricity used: a country (codecarbon data) or a value."""

    country: str | None = None
    intensity_g_per_kwh: Uncertain | None = None
    decarbonisation_per_year: Uncertain = Uncertain(value=0.0)

    _int = _min("intensity_g_per_kwh", 0.0)
    _dec = _max("decarbonisation_per_year", 0.99)

    @model_validator(mode="after")
    def _one(self) -> "Grid":
        if self.country is None and self.intensity_g_per_kwh is None:
            raise ValueError("give country or intensity_g_per_kwh")
        if self.country is not None and self.intensity_g_per_kwh is not None:
            raise ValueError("give country or intensity_g_per_kwh, not both")
        if self.country is not None:
            from .national import country_lookup

            try:
                country_lookup(self.country)
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        return self


class Lifecycle(_Strict):
    """Training and fine-tuning, amortised: energy per model generation x generations per year."""

    training_kwh_per_generation: Uncertain = Uncertain(value=0.0)
    finetune_kwh_per_generation: Uncertain = Uncertain(value=0.0)
    generations_per_year: Uncertain = Uncertain(value=0.0)
    source: str | None = None

    _t = _min("training_kwh_per_generation", 0.0)
    _f = _min("finetune_kwh_per_generation", 0.0)
    _g = _min("generations_per_year", 0.0)


class Fleet(_Strict):
    """Supply side: AI servers shipped per year, their power, utilisation and lifetime."""

    servers_shipped_per_year: Uncertain = Uncertain(value=0.0)
    shipment_growth_per_year: Uncertain = Uncertain(value=0.0)
    power_kw_per_server: Uncertain = Uncertain(value=6.5)
    utilisation: Uncertain = Uncertain(value=1.0)
    lifetime_years: int = Field(default=1, ge=1, le=30)
    source: str | None = None

    _s = _min("servers_shipped_per_year", 0.0)
    _g = _min("shipment_growth_per_year", -1.0, strict=True)
    _p = _min("power_kw_per_server", 0.0)
    _u = _min("utilisation", 0.0)
    _u1 = _max("utilisation", 1.0)


class DataCentres(_Strict):
    """Top-down: data-centre electricity anchors (TWh by year) x AI share (fraction by year).

    Between anchor years both are interpolated linearly; outside them they are held flat.
    """

    twh: dict[int, float]
    ai_share: dict[int, float]
    ai_share_multiplier: Uncertain = Uncertain(value=1.0)
    source: str | None = None

    _m = _min("ai_share_multiplier", 0.0)

    @field_validator("twh", "ai_share", mode="before")
    @classmethod
    def _int_keys(cls, v: Any) -> Any:
        if isinstance(v, dict):
            try:
                return {int(k): val for k, val in v.items()}
            except (TypeError, ValueError):
                raise ValueError("keys must be years, e.g. 2030 = 945") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> "DataCentres":
        if not self.twh or not self.ai_share:
            raise ValueError("twh and ai_share need at least one year each")
        if any(v < 0 for v in self.twh.values()):
            raise ValueError("twh values must be >= 0")
        if any(not 0 <= v <= 1 for v in self.ai_share.values()):
            raise ValueError("ai_share values must be fractions in [0, 1]")
        return self


class Scenario(_Strict):
    """Everything the projection needs, in one validated object."""

    name: str = Field(min_length=1, max_length=80)
    title: str = ""
    description: str = ""
    sources: list[str] = []
    base_year: int = Field(ge=2000, le=2100)
    start_year: int = Field(ge=2000, le=2100)
    end_year: int = Field(ge=2000, le=2100)
    target_year: int = Field(ge=2000, le=2100)
    basis: Literal["demand", "supply", "top-down"] = "demand"
    tasks: dict[str, TaskUsage] = {}
    hardware: Hardware = Hardware()
    facility: Facility = Facility()
    grid: Grid = Grid(intensity_g_per_kwh=Uncertain(value=475.0))
    lifecycle: Lifecycle = Lifecycle()
    fleet: Fleet = Fleet()
    datacentres: DataCentres | None = None
    compare_with: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        if self.start_year > self.end_year:
            raise ValueError(f"start_year ({self.start_year}) is after end_year ({self.end_year}): years are reversed")
        if not self.start_year <= self.target_year <= self.end_year:
            raise ValueError(
                f"target_year ({self.target_year}) must lie within start_year..end_year "
                f"({self.start_year}..{self.end_year})"
            )
        if self.basis == "demand" and not self.tasks:
            raise ValueError("basis 'demand' needs at least one entry in [tasks]")
        if self.basis == "top-down" and self.datacentres is None:
            raise ValueError("basis 'top-down' needs a [datacentres] section")
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
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: malformed TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a UTF-8 text file") from None
    return scenario_from_dict(data, str(p))


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


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at dotted `path` in a scenario dict, in place.

    Setting a number on a ranged value moves its central value and keeps the range
    (widening it if the new value falls outside).
    """
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ScenarioError(f"--set {path}: empty field name")
    node: Any = data
    schema: Any = Scenario
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(node, dict) and part in node and isinstance(node[part], dict):
            node = node[part]
            continue
        fields = getattr(schema, "model_fields", None)
        if fields is not None and part in fields and isinstance(node, dict):
            node[part] = {} if node.get(part) is None else node[part]
            if not isinstance(node[part], dict):
                raise ScenarioError(f"--set {path}: {where} is not a table")
            node = node[part]
            ann = fields[part].annotation
            schema = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None)
            continue
        raise ScenarioError(f"--set {path}: unknown field {where!r}")
    key = parts[-1]
    current = node.get(key) if isinstance(node, dict) else None
    if isinstance(current, dict) and "value" in current and isinstance(value, (int, float)) and not isinstance(value, bool):
        current = dict(current)
        current["value"] = value
        if current.get("low") is not None and value < current["low"]:
            current["low"] = value
        if current.get("high") is not None and value > current["high"]:
            current["high"] = value
        node[key] = current
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
        if key == "grid.country":
            data.setdefault("grid", {}).pop("intensity_g_per_kwh", None)
        elif key.startswith("grid.intensity_g_per_kwh"):
            data.setdefault("grid", {}).pop("country", None)
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
