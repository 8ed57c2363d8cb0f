"""Policy wedges: the change from a baseline to a policy scenario split by lever, exactly.

For a baseline B and a policy scenario P, the players are the levers whose settings differ
between them (`project.policy.LEVERS`), plus `other` when anything outside `[policy]`
differs (workloads, fleet, regions, `policy.fleet_response`, ...). For every coalition S of
players the engine's central run v(S) is evaluated on B with the players in S switched to
P's settings, and each player gets its Shapley value

    phi_i = sum over S not containing i of |S|! (k - |S| - 1)! / k! x (v(S + i) - v(S))

for every variable, region and year. Shapley values add up exactly to v(P) - v(B) (the
efficiency property), and they share interaction terms fairly: a PUE cap and a cut in
demand each get half of the saving that needs both. A wedge is signed: negative where
the lever lowers the variable, so baseline + sum of wedges = policy.

Cost: 2^k central runs of the decomposed variables only (k <= 9 players, at most 512).
Levers that act inside `evaluate` only recompile their hooks (`compile_policy`) and reuse the
compiled scenario's evaluation cache (installed-base matrices, ...); the ones that change the
compiled fleet (clean_power's siting, hardware_refresh) and `other` are compiled once per
combination. With `measurements` (the per-task table of project.measurements) every
coalition compiles its measured workloads from it, as the projection does.

Exported variables (IAMC style, unit of the variable decomposed):
`Wedge|<variable>|<lever label>`, e.g. `Wedge|Energy|Facility standards`,
`Wedge|Emissions|Location-based|Clean power`, `Wedge|Water|On-site|Other differences`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd

from .comparison import SUMMARY_VARIABLES
from .engine import REGION_IDS, Compiled, compile_scenario, evaluate, unit_of
from .policy import LABELS, LEVERS, compile_policy
from .scenario import Scenario, ScenarioError
from .variables import REGIONS, WORLD, Variable

#: the variables decomposed by default: the comparison's, all additive over regions
WEDGE_VARIABLES: tuple[str, ...] = SUMMARY_VARIABLES
OTHER = "other"
OTHER_LABEL = "Other differences"
WEDGE_PREFIX = "Wedge|"
#: levers whose settings change the compiled fleet (siting of new capacity, retirement ages)
COMPILE_TIME = ("clean_power", "hardware_refresh")
#: fields that name or describe a scenario and do not change its numbers
_DESCRIPTIVE = ("name", "title", "description", "sources", "compare_with", "policy")


def wedge_variable(variable: str, lever: str) -> str:
    """The IAMC-style name of one wedge, e.g. `Wedge|Energy|Clean power`."""
    return f"{WEDGE_PREFIX}{variable}|{label_of(lever)}"


def label_of(lever: str) -> str:
    return OTHER_LABEL if lever == OTHER else LABELS[lever]


def wedge_variables(variables: Sequence[str] = WEDGE_VARIABLES) -> dict[str, Variable]:
    """Every wedge variable a comparison can export, with unit and description (for the
    variable list and the IAMC codelist). Wedges are signed, so not `nonnegative`."""
    out = {}
    for var in variables:
        for lever in (*LEVERS, OTHER):
            out[wedge_variable(var, lever)] = Variable(
                unit_of(var), f"Change in {var} from a baseline to a policy scenario attributed to "
                              f"{label_of(lever).lower()} (Shapley value over the levers that differ, central run; "
                              f"negative = lower)", nonnegative=False)
    return out


def players(baseline: Scenario, policy: Scenario) -> list[str]:
    """Levers whose settings differ between the two scenarios (LEVERS order), then `other`."""
    out = [k for k in LEVERS if baseline.policy.get(k) != policy.policy.get(k)]
    if _rest(baseline) != _rest(policy):
        out.append(OTHER)
    return out


def _rest(s: Scenario) -> dict:
    d = s.model_dump(mode="python", exclude_none=True)
    for k in _DESCRIPTIVE:
        d.pop(k, None)
    d["fleet_response"] = s.policy.get("fleet_response")
    return d


def _spec(baseline: Scenario, policy: Scenario, members: frozenset[str], movers: Sequence[str]) -> dict:
    """The [policy] table of a coalition: the baseline's, with `members` switched to the policy's."""
    src = policy if OTHER in members else baseline
    spec = {k: v for k, v in baseline.policy.items() if k in LEVERS}
    for k in movers:
        if k == OTHER or k not in members:
            continue
        if k in policy.policy:
            spec[k] = policy.policy[k]
        else:
            spec.pop(k, None)
    if "fleet_response" in src.policy:
        spec["fleet_response"] = src.policy["fleet_response"]
    return {k: spec[k] for k in sorted(spec, key=lambda x: (x not in LEVERS, x))}


def _scenario(baseline: Scenario, policy: Scenario, members: frozenset[str], movers: Sequence[str]) -> Scenario:
    src = policy if OTHER in members else baseline
    return src.model_copy(update={"policy": _spec(baseline, policy, members, movers)})


class _Coalitions:
    """Central runs of coalitions, compiling the fleet once per combination of compile-time players."""

    def __init__(self, baseline: Scenario, policy: Scenario, movers: list[str], variables: Sequence[str],
                 measurements: pd.DataFrame | None = None):
        self.baseline, self.policy, self.movers, self.variables = baseline, policy, movers, tuple(variables)
        self.measurements = measurements
        self.compiled: dict[frozenset[str], Compiled] = {}

    def run(self, members: frozenset[str]) -> np.ndarray:
        """(V, R + 1, Y) central values of `variables`, World first; NaN where a variable is absent."""
        key = frozenset(m for m in members if m in COMPILE_TIME or m == OTHER)
        scen = _scenario(self.baseline, self.policy, members, self.movers)
        base = self.compiled.get(key)
        if base is None:
            base = self.compiled[key] = compile_scenario(_scenario(self.baseline, self.policy, key, self.movers),
                                                         self.measurements)
        c = replace(base, scenario=scen, policy=compile_policy(scen.policy, base) if scen.policy else None)
        c.eval_cache = base.eval_cache   # the same parameters and fleet: its cached arrays hold
        raw = evaluate(c, variables=list(self.variables))
        Y = len(c.years)
        out = np.full((len(self.variables), len(REGION_IDS) + 1, Y), np.nan)
        for i, var in enumerate(self.variables):
            a = raw.get(var)
            if a is None:
                continue
            out[i, 1:] = a[0]
            out[i, 0] = a[0].sum(axis=0)
        return out


def shapley(values: dict[frozenset[str], np.ndarray], movers: Sequence[str]) -> dict[str, np.ndarray]:
    """Shapley value of each player from v(S) for every subset S of `movers` (any array shape)."""
    k = len(movers)
    w = [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    out = {}
    for p in movers:
        others = [m for m in movers if m != p]
        acc = None
        for size in range(k):
            for S in combinations(others, size):
                s = frozenset(S)
                term = w[size] * (values[s | {p}] - values[s])
                acc = term if acc is None else acc + term
        out[p] = acc
    return out


def lever_wedges(baseline: Scenario, policy: Scenario, variables: Sequence[str] = WEDGE_VARIABLES,
                 measurements: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each lever's share of policy minus baseline (central runs), per variable, region and year.

    `measurements`: the per-task table (project.measurements) the scenarios' measured
    workloads take their energy from (as `run_projection(..., measurements=)`).

    Returns a chart-ready long table: variable (the one decomposed), region, year, lever
    (id, or `other`), label, value (signed: policy minus baseline; negative = a saving),
    unit. For every variable, region and year the values sum to the total difference
    (Shapley efficiency). `df.attrs` carries baseline, policy and the players.
    Raises ScenarioError when the scenarios cover different years.
    """
    if (baseline.start_year, baseline.end_year) != (policy.start_year, policy.end_year):
        raise ScenarioError(f"wedges: {policy.name!r} covers {policy.start_year}..{policy.end_year} but "
                            f"{baseline.name!r} covers {baseline.start_year}..{baseline.end_year}")
    unknown = [v for v in variables if v not in WEDGE_VARIABLES and not v.startswith("Energy|")]
    if unknown:
        raise ScenarioError(f"wedges: cannot decompose {unknown}; use additive variables such as "
                            f"{', '.join(WEDGE_VARIABLES)}")
    movers = players(baseline, policy)
    years = np.array(baseline.years)
    regions = (WORLD, *REGIONS.values())
    cols = ("variable", "region", "year", "lever", "label", "value", "unit")
    if not movers:
        df = pd.DataFrame({c: [] for c in cols})
    else:
        runner = _Coalitions(baseline, policy, movers, variables, measurements)
        values = {frozenset(S): runner.run(frozenset(S))
                  for size in range(len(movers) + 1) for S in combinations(movers, size)}
        phi = shapley(values, movers)
        Rw, Y = len(regions), len(years)
        present = np.isfinite(values[frozenset(movers)]).all(axis=(1, 2)) & np.isfinite(values[frozenset()]).all(axis=(1, 2))
        parts = []
        for p in movers:
            a = phi[p][present]                          # (V', R + 1, Y)
            vs = np.array(variables)[present]
            parts.append(pd.DataFrame({
                "variable": np.repeat(vs, Rw * Y),
                "region": np.tile(np.repeat(regions, Y), len(vs)),
                "year": np.tile(years, len(vs) * Rw),
                "lever": p,
                "label": label_of(p),
                "value": a.reshape(-1),
                "unit": np.repeat([unit_of(v) for v in vs], Rw * Y),
            }))
        df = pd.concat(parts, ignore_index=True)[list(cols)]
    df.attrs.update({"baseline": baseline.name, "policy": policy.name, "players": movers})
    return df


def wedge_table(wedges: pd.DataFrame, scenario: str | None = None, model: str | None = None) -> pd.DataFrame:
    """Wedges as IAMC rows (model, scenario, region, variable, unit, year, value) named
    `Wedge|<variable>|<label>`, to stack under the policy scenario's export (central run:
    no percentile suffix). `scenario` defaults to the policy scenario, `model` to the export's."""
    if model is None:
        from .export import model_name

        model = model_name()
    return pd.DataFrame({
        "model": model,
        "scenario": scenario or wedges.attrs.get("policy", ""),
        "region": wedges["region"].astype(str).to_numpy(),
        "variable": (WEDGE_PREFIX + wedges["variable"] + "|" + wedges["label"]).to_numpy(),
        "unit": wedges["unit"].astype(str).to_numpy(),
        "year": wedges["year"].astype(int).to_numpy(),
        "value": wedges["value"].astype(float).to_numpy(),
    })
