"""Every number the engine emits is finite, and every non-negative quantity non-negative,
for any scenario that validates (issue 12): random scenarios, normal ranges on counts
(truncated at zero), extreme but valid inputs; memory refused before allocating."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import project.engine as eng
from project.engine import run_projection
from project.scenario import ScenarioError, apply_overrides, load_preset, scenario_from_dict
from project.variables import VARIABLES


def _num(lo, hi, log=False):
    if log:
        return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10 ** x)
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def ranged(draw, lo, hi, log=False):
    """A valid Uncertain spec inside [lo, hi] with a random distribution."""
    v = draw(_num(lo, hi, log))
    kind = draw(st.sampled_from(["fixed", "triangular", "normal", "uniform", "lognormal"]))
    if kind == "fixed":
        return v
    w = draw(st.floats(0.01, 0.9))
    a, b = max(lo, v * (1 - w)), min(hi, v * (1 + w)) if v > 0 else hi
    if kind == "triangular":
        return {"value": v, "low": a, "high": max(b, v), "distribution": "triangular"}
    if kind == "normal":
        return {"value": v, "std": v * w + 1e-12, "distribution": "normal"}
    if kind == "uniform":
        return {"value": (a + b) / 2, "low": a, "high": b, "distribution": "uniform"} if b > a else v
    if v <= 0:
        return v
    return {"value": v, "low": v / (1 + w), "high": v * (1 + w), "distribution": "lognormal"}


@st.composite
def scenarios(draw):
    start = draw(st.integers(2020, 2026))
    end = start + draw(st.integers(0, 12))
    regions = {"all": {"pue": draw(ranged(1.0, 3.0)), "grid_intensity_g_per_kwh": draw(ranged(0.0, 1200.0)),
                       "decarbonisation_per_year": draw(ranged(0.0, 0.3)),
                       "wue_onsite_l_per_kwh": draw(ranged(0.0, 5.0)),
                       "clean_power_share": draw(ranged(0.0, 1.0))}}
    workloads = {}
    for i in range(draw(st.integers(1, 3))):
        workloads[f"w{i}"] = {
            "requests_per_day": draw(ranged(0.0, 1e11, log=False)),
            "growth": {"rate": draw(ranged(-0.9, 3.0))},
            "energy": {"kwh": draw(ranged(1e-7, 1.0)), "boundary": draw(st.sampled_from(["accelerator", "server", "it"]))},
        }
    data = {"name": "h", "base_year": draw(st.integers(start, end)), "start_year": start, "end_year": end,
            "target_year": end, "workloads": workloads, "regions": regions}
    if draw(st.booleans()):
        data["fleet"] = {"growth": {"rate": draw(ranged(-0.5, 1.0)), "ceiling": draw(ranged(1e6, 1e9))},
                         "utilisation_scale": draw(ranged(0.1, 2.0))}
    if draw(st.booleans()):
        data["training"] = {"runs_per_year": draw(ranged(0.0, 100.0)), "gwh_per_run": draw(ranged(0.0, 1e4)),
                            "energy_growth": {"rate": draw(ranged(-0.5, 2.0))}}
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=scenarios())
def test_random_valid_scenarios_give_finite_nonnegative_results(data):
    try:
        s = scenario_from_dict(data)
    except ScenarioError:
        return  # an invalid draw: the validator's business, tested elsewhere
    try:
        r = run_projection(s, samples=64, seed=1)
    except ScenarioError as exc:  # a failed end-of-run check is a message, never a NaN
        assert "not finite" in str(exc) or "negative" in str(exc)
        return
    t = r.table
    assert np.isfinite(t["value"]).all()
    nonneg = t["variable"].map(lambda v: VARIABLES[v].nonnegative if v in VARIABLES else True)
    assert (t.loc[nonneg, "value"] >= -1e-9).all()


def test_off_centre_normal_is_refused():
    # the reported case: a normal whose value is not the centre of its p5-p95 range
    with pytest.raises(ScenarioError, match="midpoint"):
        apply_overrides(load_preset("reference"), {"workloads.llm_text.requests_per_day": {
            "value": 2.5e9, "low": 2.5e8, "high": 2.5e10, "distribution": "normal"}})


def test_normal_range_on_a_count_is_truncated_at_zero():
    s = apply_overrides(load_preset("reference"), {
        "workloads.llm_text.requests_per_day": {"value": 2.5e9, "std": 3e9, "distribution": "normal"},
        "regions.all.pue": {"value": 1.3, "std": 1.0, "distribution": "normal"}})
    r = run_projection(s, samples=2000, seed=0)
    assert r.value("Energy|Inference|LLM Text", stat="p5") >= 0
    assert (r.table["value"] >= 0).all()


@pytest.mark.parametrize("override", [
    "regions.all.pue=1e308", "workloads.llm_text.growth.rate=1e308", "regions.all.pue=nan",
    "workloads.llm_text.requests_per_day=inf",
])
def test_extreme_inputs_are_refused(override):
    with pytest.raises(ScenarioError):
        apply_overrides(load_preset("reference"), [override])


def test_memory_is_estimated_and_refused_before_allocating(monkeypatch):
    monkeypatch.setenv("WATTCAST_MC_MEMORY_MB", "50")
    with pytest.raises(ScenarioError, match="GiB"):
        run_projection(load_preset("reference"), samples=200_000)


def test_draws_beyond_keep_bytes_spill_to_a_file_with_the_same_percentiles(monkeypatch):
    s = load_preset("reference")
    one = run_projection(s, samples=600, seed=5)
    assert not eng._spills(eng.compile_scenario(s), 600)
    monkeypatch.setattr(eng, "KEEP_BYTES", 600 * 80 * 4 * 2)  # about two variables' draws
    many = run_projection(s, samples=600, seed=5)
    assert eng._spills(eng.compile_scenario(s), 600)   # the draws went through a temporary file
    for k in ("Energy", "Water", "Emissions|Embodied"):
        np.testing.assert_allclose(one.percentiles[k], many.percentiles[k], rtol=1e-6, equal_nan=True)


def test_base_above_its_ceiling_is_refused_and_never_turns_negative():
    """A base-year volume above its growth ceiling: refused at validation (central values); in
    Monte Carlo draws (base and ceiling sampled independently) the path is held at the ceiling
    instead of diverging on the years before the base year."""
    import numpy as np

    from project.model.growth import grow
    from project.scenario import ScenarioError, apply_overrides, load_preset

    with pytest.raises(ScenarioError, match="above its growth ceiling"):
        apply_overrides(load_preset("reference"), ["workloads.llm_text.requests_per_day=1e15"])
    dy = np.arange(-5, 11, dtype=float)[None, :]
    path = grow(np.array([[1e15]]), np.array([[0.5]]), dy, np.array([[5e10]]))
    assert np.isfinite(path).all() and (path > 0).all()
    assert np.allclose(path, 5e10)
    below = grow(np.array([[1e9]]), np.array([[0.5]]), dy, np.array([[5e10]]))
    assert below[0, 5] == pytest.approx(1e9) and (np.diff(below[0]) > 0).all() and below.max() < 5e10


def test_lhs_design_in_blocks_is_one_latin_hypercube():
    """Every column of the blocked design has exactly one draw per stratum, and it is seeded."""
    import numpy as np

    from project.engine import compile_scenario, lhs_design

    c = compile_scenario(load_preset("reference"))
    d = lhs_design(c, 500, seed=3)
    assert d.shape == (500, len(c.uncertain)) and d.dtype == np.float32
    # sorted, column j's k-th draw lies in stratum [k/n, (k+1)/n) (float32: to 1e-6)
    k = np.arange(500)[:, None]
    srt = np.sort(d.astype(float), axis=0)
    assert (srt >= k / 500 - 1e-6).all() and (srt <= (k + 1) / 500 + 1e-6).all()
    assert np.array_equal(d, lhs_design(c, 500, seed=3))
    assert not np.array_equal(d[:, 0], d[:, eng.LHS_BLOCK])  # blocks are not copies of each other
    # reused between runs (the app's): the same numbers, and nobody can change them
    assert np.shares_memory(lhs_design(compile_scenario(load_preset("reference")), 500, seed=3), d)
    assert not np.shares_memory(lhs_design(c, 500, seed=4), d)
    import pytest

    with pytest.raises(ValueError, match="read-only"):
        d[0, 0] = 0.5


def test_offsite_water_per_region_comes_from_the_sourced_table():
    """Water|Off-site / Energy per region equals the factor in data/water (central run)."""
    import numpy as np

    from project.model.regions import region_offsite_water
    from project.variables import REGIONS

    r = run_projection(load_preset("reference"))
    table = region_offsite_water()
    for rid, name in REGIONS.items():
        ratio = r.value("Water|Off-site", 2030, region=name) / r.value("Energy", 2030, region=name)
        assert ratio == pytest.approx(table.loc[rid, "l_per_kwh"], rel=1e-9)
        assert table.loc[rid, "low"] < table.loc[rid, "l_per_kwh"] < table.loc[rid, "high"]
        assert isinstance(table.loc[rid, "source"], str) and int(table.loc[rid, "year"]) == 2024
    assert np.isfinite(r.series("Water|Off-site")).all()
