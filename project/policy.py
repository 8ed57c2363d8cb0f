"""Policy levers: a `[policy]` section of named measures, each off by default.

Every lever has `start_year` and, where it ramps, `phase_in_years` n: the ramp
r(y) = clip((y - start + 1) / (n + 1), 0, 1) is 1/(n+1) in the start year and 1 from
start + n on (n = 0: a step in the start year). Mechanisms, units and effect-size sources
(docs/model.md, "Policy levers"):

| lever (settings, range) | mechanism, applied from the start year, ramped | effect-size source |
|---|---|---|
| `efficiency_standard` (`min_stars` 1-5) | energy per unit x k, k = mean energy of the task's models rated >= min_stars / mean of all its models (requests move from models below the rating to the rated ones, equal use assumed); 5 equal energy bands per task (AI Energy Score); a workload is rated against its `task`, else its energy reference, else its id when that is a study task, else text_generation for LLM text | the study's task-specific per-model means (data/reference/paper_models.csv, mean over data sets) |
| `right_sizing` (`share_moved` 0-1) | multi-purpose share x (1 - share_moved x r): those requests move to task-specific models, whose energy is 1 / multipurpose_ratio of the multi-purpose one | the study's Table 3 / Table 2 ratios (the workload's `multipurpose_ratio`) |
| `reasoning_default` (`reasoning_share` 0-1) | LLM reasoning share moves to the target (x reasoning_energy_multiplier per request) | ML.ENERGY v3.0: reasoning on 25x energy per response |
| `serving_efficiency` (`batching_factor` 1-5, `quantisation_factor` 1-1.3, `moe_share` 0-1, `workloads`) | energy per unit / batching_factor for figures measured at batch size 1 (the study's Table 2 references and wattcast measurement records of batch size 1, or the listed `workloads`); energy per unit / quantisation_factor for every workload; LLM mixture-of-experts share moves to the target (x 1/moe_factor) | ML.ENERGY v3.0: batch size cuts energy per token 3-5x; MoE 3.56x less per token. Quantisation: weight-only 4-bit saves 15-23% above a 3-5B-parameter crossover and costs 25-55% below it (hongping-zh, Zenodo 10.5281/zenodo.18900289, 2026, check); lower precision helps only in compute-bound phases (Delavande, Pierrard, Luccioni, arXiv 2601.22362, 2026): at most 1.3x |
| `clean_power` (`procurement_share` 0-1, `siting_share` 0-1) | market-based clean share >= procurement_share x r (Emissions|Market-based only); siting_share x r of each year's new installations placed in the region with the lowest 2024 grid intensity | policy target (no effect size needed) |
| `facility_standards` (`pue_cap` 1-3, `wue_cap` 0-10 L/kWh; a number or per region) | PUE and on-site WUE above the cap fall to it (x r) | Google fleet PUE 1.09 (2025) shows the cap is reachable |
| `demand_management` (`growth_cap` -0.5-5 per year, `workloads`; no phase-in) | requests per year grow at most growth_cap a year from the start year | policy target |
| `hardware_refresh` (`lifetime_years` 1-15; no phase-in) | from the start year accelerators retire at this age when it is shorter than their class lifetime; the compute (peak TFLOPS) they provided is replaced by newest-class accelerators, and embodied emissions are amortised over the shorter life | policy target; embodied and efficiency follow from the fleet data |

Batching is not applied to LLM per-token figures from ML.ENERGY: they are the benchmark's
minimum-energy configurations, at the largest batch already, so a further 3-5x would
count the gain twice (list a workload in `workloads` to apply it anyway).

Every lever table may carry a `source` (text): where its setting comes from.

Demand-side levers change the modelled workloads; the fleet's unattributed use follows
their relative change by `fleet_response` (default 1: the unmodelled use responds like the
modelled workloads; 0: the fleet is fixed and only attribution moves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .variables import REGIONS

LEVERS: dict[str, dict[str, tuple[float, float]]] = {
    "efficiency_standard": {"min_stars": (1, 5)},
    "right_sizing": {"share_moved": (0.0, 1.0)},
    "reasoning_default": {"reasoning_share": (0.0, 1.0)},
    "serving_efficiency": {"batching_factor": (1.0, 5.0), "quantisation_factor": (1.0, 1.3), "moe_share": (0.0, 1.0)},
    "clean_power": {"procurement_share": (0.0, 1.0), "siting_share": (0.0, 1.0)},
    "facility_standards": {"pue_cap": (1.0, 3.0), "wue_cap": (0.0, 10.0)},
    "demand_management": {"growth_cap": (-0.5, 5.0)},
    "hardware_refresh": {"lifetime_years": (1.0, 15.0)},
}
COMMON = {"start_year": (2000, 2100), "phase_in_years": (0, 50)}
LABELS = {
    "efficiency_standard": "Efficiency standard",
    "right_sizing": "Right-sizing models",
    "reasoning_default": "Reasoning by default",
    "serving_efficiency": "Serving efficiency",
    "clean_power": "Clean power",
    "facility_standards": "Facility standards",
    "demand_management": "Demand management",
    "hardware_refresh": "Hardware refresh",
}
#: levers that accept a list of workload ids
WITH_WORKLOADS = {"demand_management", "serving_efficiency"}
#: levers that act from the start year at once (a phase-in would be ignored, so it is refused)
NO_PHASE_IN = {"demand_management", "hardware_refresh"}
DEMAND_SIDE = {"efficiency_standard", "right_sizing", "reasoning_default", "serving_efficiency", "demand_management"}
#: the study task whose per-model spread rates each kind of workload
LLM_TASK = "text_generation"


def validate_policy(policy: dict[str, Any]) -> None:
    """Check names, types and ranges of every lever; raises ValueError naming the field."""
    for name, spec in policy.items():
        if name == "fleet_response":
            _num(spec, "policy.fleet_response", 0.0, 1.0)
            continue
        if name not in LEVERS:
            raise ValueError(f"policy.{name}: unknown lever; one of {', '.join(LEVERS)}, fleet_response")
        if not isinstance(spec, dict):
            raise ValueError(f"policy.{name}: expected a table of settings")
        allowed = {**COMMON, **LEVERS[name], **({"workloads": None} if name in WITH_WORKLOADS else {})}
        for k, val in spec.items():
            if k == "source":
                if not isinstance(val, str) or len(val) > 1000:
                    raise ValueError(f"policy.{name}.source: expected text of at most 1,000 characters")
                continue
            if k not in allowed:
                raise ValueError(f"policy.{name}.{k}: unknown setting; one of {', '.join(allowed)}, source")
            if k == "workloads":
                if not isinstance(val, list) or not all(isinstance(x, str) for x in val):
                    raise ValueError(f"policy.{name}.workloads: expected a list of workload names")
                continue
            lo, hi = allowed[k]
            if k in ("pue_cap", "wue_cap") and isinstance(val, dict):
                bad = set(val) - set(REGIONS)
                if bad:
                    raise ValueError(f"policy.{name}.{k}: unknown region {sorted(bad)}; one of {', '.join(REGIONS)}")
                for r, x in val.items():
                    _num(x, f"policy.{name}.{k}.{r}", lo, hi)
                continue
            _num(val, f"policy.{name}.{k}", lo, hi)
        if name in NO_PHASE_IN and spec.get("phase_in_years", 0):
            raise ValueError(f"policy.{name}.phase_in_years: this lever acts in full from start_year; "
                             "remove phase_in_years")
        if "start_year" not in spec:
            raise ValueError(f"policy.{name}: needs start_year")
        if not (set(spec) & set(LEVERS[name])):
            raise ValueError(f"policy.{name}: give at least one of {', '.join(LEVERS[name])}")


def _num(x: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"{where}: expected a finite number, got {x!r}")
    if not lo <= x <= hi:
        raise ValueError(f"{where}: {x} is out of range [{lo}, {hi}]")
    return float(x)


@lru_cache(maxsize=32)
def star_factor(task: str, min_stars: int) -> float:
    """Mean energy of the study's models rated >= `min_stars` over the mean of all models of `task`.

    Ratings follow AI Energy Score: five equal bands of energy between the task's least
    and most energy-hungry model, 5 stars = the lowest band. One energy per model: its
    mean over the task's data sets (task-specific rows of data/reference/paper_models.csv,
    kWh per 1,000 inferences). 1.0 for a task with fewer than two models.
    """
    from .reference import paper_models

    df = paper_models()
    rows = df[(df["task"] == task) & (df["setting"] == "task_specific")]
    e = rows.groupby("model_id")["energy_kwh_per_1000"].mean().to_numpy()
    if len(e) < 2 or e.max() <= e.min():
        return 1.0
    stars = star_ratings(e)
    keep = e[stars >= int(min_stars)]
    return float(keep.mean() / e.mean())


def star_ratings(energy: np.ndarray) -> np.ndarray:
    """1-5 stars for energies of one task: five equal bands from min to max, 5 = lowest energy."""
    lo, hi = float(np.min(energy)), float(np.max(energy))
    band = np.floor((np.asarray(energy) - lo) / (hi - lo) * 5) if hi > lo else np.zeros(len(energy))
    return 5 - np.minimum(4, band).astype(int)


def _ramp(years: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """(1, 1, Y): 0 before start_year, rising linearly to 1 over phase_in_years."""
    start = float(spec["start_year"])
    n = float(spec.get("phase_in_years", 0))
    r = np.clip((years - start + 1) / (n + 1), 0.0, 1.0) if n > 0 else (years >= start).astype(float)
    return r[None, None, :]


@dataclass
class CompiledPolicy:
    """The levers turned into hooks the engine calls at fixed points of `evaluate`."""

    spec: dict[str, Any]
    years: np.ndarray
    ramps: dict[str, np.ndarray] = field(default_factory=dict)
    workload_task: dict[str, str | None] = field(default_factory=dict)
    #: workloads whose per-unit figure was measured at batch size 1 (batching applies)
    batch_one: set[str] = field(default_factory=set)
    fleet_response: float = 1.0

    def active(self, name: str) -> bool:
        return name in self.ramps

    @property
    def demand_side(self) -> bool:
        return any(k in DEMAND_SIDE for k in self.ramps)

    # --- demand side
    def energy_factor(self, workload: str, e: np.ndarray) -> np.ndarray:
        f = np.ones((1, 1, len(self.years)))
        if "efficiency_standard" in self.ramps:
            task = self.workload_task.get(workload)
            if task is not None:
                k = star_factor(task, int(self.spec["efficiency_standard"]["min_stars"]))
                f = f * (1.0 - self.ramps["efficiency_standard"] * (1.0 - k))
        if "serving_efficiency" in self.ramps:
            s = self.spec["serving_efficiency"]
            div = float(s.get("quantisation_factor", 1.0))
            if workload in self.batch_one:
                div *= float(s.get("batching_factor", 1.0))
            f = f * (1.0 - self.ramps["serving_efficiency"] * (1.0 - 1.0 / div))
        return e * f

    def multipurpose_share(self, workload: str, share: np.ndarray) -> np.ndarray:
        if "right_sizing" not in self.ramps:
            return share
        moved = float(self.spec["right_sizing"]["share_moved"])
        return share * (1.0 - moved * self.ramps["right_sizing"])

    def llm_shares(self, workload: str, moe: np.ndarray, reasoning: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if "serving_efficiency" in self.ramps and "moe_share" in self.spec["serving_efficiency"]:
            t = float(self.spec["serving_efficiency"]["moe_share"])
            moe = moe + self.ramps["serving_efficiency"] * (t - moe)
        if "reasoning_default" in self.ramps:
            t = float(self.spec["reasoning_default"]["reasoning_share"])
            reasoning = reasoning + self.ramps["reasoning_default"] * (t - reasoning)
        return moe, reasoning

    def volume(self, workload: str, volume: np.ndarray) -> np.ndarray:
        """Requests per year (n, Y) capped to grow at most growth_cap a year from the start year."""
        s = self.spec.get("demand_management")
        if s is None or (s.get("workloads") and workload not in s["workloads"]):
            return volume
        start = int(s["start_year"])
        i = int(np.clip(start - self.years[0], 0, len(self.years) - 1))
        cap_path = volume[:, i:i + 1] * (1.0 + float(s["growth_cap"])) ** np.maximum(self.years - self.years[i], 0)[None, :]
        return np.where(self.years[None, :] >= start, np.minimum(volume, cap_path), volume)

    # --- supply side
    def facility(self, pue: np.ndarray, wue: np.ndarray, clean: np.ndarray):
        if "facility_standards" in self.ramps:
            s, r = self.spec["facility_standards"], self.ramps["facility_standards"]
            pue = _towards_cap(pue, s.get("pue_cap"), r)
            wue = _towards_cap(wue, s.get("wue_cap"), r)
        if "clean_power" in self.ramps and "procurement_share" in self.spec["clean_power"]:
            t = float(self.spec["clean_power"]["procurement_share"]) * self.ramps["clean_power"]
            clean = np.maximum(clean, t)
        return pue, wue, clean

    def siting(self, shares: np.ndarray, years_full: np.ndarray, target: int) -> np.ndarray:
        """Regional shares of new installations (R, Yf) with siting_share moved to region `target`."""
        s = self.spec.get("clean_power")
        if s is None or "siting_share" not in s:
            return shares
        r = _ramp(years_full, s)[0, 0]
        k = float(s["siting_share"]) * r
        onehot = np.zeros_like(shares)
        onehot[target] = 1.0
        return shares * (1.0 - k) + onehot * k

    def refresh_lifetime(self) -> tuple[int, float] | None:
        s = self.spec.get("hardware_refresh")
        if s is None:
            return None
        return int(s["start_year"]), float(s["lifetime_years"])


def _towards_cap(x: np.ndarray, cap: Any, ramp: np.ndarray) -> np.ndarray:
    if cap is None:
        return x
    if isinstance(cap, dict):
        caps = np.array([cap.get(r, np.inf) for r in REGIONS], dtype=float)[None, :, None]
    else:
        caps = np.full((1, len(REGIONS), 1), float(cap))
    return x - ramp * np.maximum(x - caps, 0.0)


def compile_policy(spec: dict[str, Any], c) -> CompiledPolicy:
    """Hooks for the engine from a validated `[policy]` table and the compiled scenario.

    Raises ScenarioError when a lever lists a workload the scenario does not have.
    """
    from .scenario import ScenarioError
    from .tasks import TASKS

    pol = CompiledPolicy(spec, c.years, fleet_response=float(spec.get("fleet_response", 1.0)))
    workloads = c.scenario.workloads
    for name, s in spec.items():
        if name in LEVERS:
            pol.ramps[name] = _ramp(c.years, s)
        if name in WITH_WORKLOADS and isinstance(s, dict) and "workloads" in s:
            bad = [w for w in s["workloads"] if w not in workloads]
            if bad:
                raise ScenarioError(f"policy.{name}.workloads: unknown workload {bad}; the scenario has "
                                    f"{', '.join(workloads) or 'none'}")
    for name, w in workloads.items():
        task = w.task
        if task is None and w.energy is not None and w.energy.reference is not None:
            task = w.energy.reference
        if task is None and name in TASKS:
            task = name
        if task is None and w.llm is not None:
            task = LLM_TASK
        pol.workload_task[name] = task
    pol.batch_one = batched_at_one(spec, c.workloads)
    return pol


def batched_at_one(spec: dict[str, Any], plans) -> set[str]:
    """Workloads the batching factor applies to: those `serving_efficiency.workloads` lists,
    else those whose per-unit figure was measured at batch size 1 (the study's references,
    measurement records of batch 1; `plans` are the engine's compiled WorkloadPlans). A
    figure measured at a larger or unstated batch size is left alone: batching it again
    would count the gain twice."""
    serving = spec.get("serving_efficiency") or {}
    if "workloads" in serving:
        return set(serving["workloads"])
    return {w.name for w in plans if w.batch_size == 1}
