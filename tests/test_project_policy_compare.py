"""Scenarios side by side, policy packages and wedges (exact split of a policy's effect by lever)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from project.cli import app
from project.comparison import SUMMARY_VARIABLES, compare
from project.engine import run_projection
from project.export import read_result
from project.scenario import ScenarioError, apply_overrides, load_preset, preset_names, scenario_from_dict
from project.wedges import WEDGE_VARIABLES, lever_wedges, players, wedge_table, wedge_variables

runner = CliRunner()
PACKAGES = [n for n in preset_names() if n.startswith("policy-")]


def test_packages_exist_extend_reference_and_cite_every_lever():
    assert {"policy-efficiency-first", "policy-clean-power", "policy-right-sizing", "policy-combined"} <= set(PACKAGES)
    ref = load_preset("reference")
    for name in PACKAGES:
        s = load_preset(name)
        assert s.policy and s.description.strip() and s.sources, name
        assert all(spec.get("source") for spec in s.policy.values() if isinstance(spec, dict)), name
        # a package changes levers only: everything outside [policy] is the reference's
        assert players(ref, s) and "other" not in players(ref, s), name


def test_comparison_table_and_summary_line_up():
    ref, comb = load_preset("reference"), load_preset("policy-combined")
    c = compare([ref, comb], samples=200, seed=3)
    t = c.table
    assert list(t["scenario"].unique()) == ["reference", "policy-combined"]
    a, b = (t[t["scenario"] == n].drop(columns=["scenario", "value"]).reset_index(drop=True) for n in c.names)
    assert a.equals(b)  # the same variables, regions, years and stats in the same order
    s = c.summary()
    assert list(s["variable"].unique()) == list(SUMMARY_VARIABLES)
    for var in SUMMARY_VARIABLES:
        rows = s[s["variable"] == var].set_index("scenario")
        for n, res in c.results.items():
            assert rows.loc[n, "p50"] == pytest.approx(res.value(var, 2030, "p50"))
            assert rows.loc[n, "p5"] <= rows.loc[n, "p50"] <= rows.loc[n, "p95"]
            assert rows.loc[n, "p50 2035"] == pytest.approx(res.value(var, 2035, "p50"))
        assert rows.loc["policy-combined", "change"] == pytest.approx(
            rows.loc["policy-combined", "p50"] - rows.loc["reference", "p50"])
    assert s.set_index(["variable", "scenario"]).loc[("Energy", "policy-combined"), "change"] < 0
    assert c.trajectory("Energy").shape == (len(ref.years), 2)


def test_compare_refuses_incompatible_scenarios():
    ref = load_preset("reference")
    short = apply_overrides(ref, {"name": "short", "end_year": 2032, "target_year": 2030})
    with pytest.raises(ScenarioError, match="same years"):
        compare([ref, short], samples=0)
    with pytest.raises(ScenarioError, match="both named 'reference'"):
        compare([ref, ref], samples=0)


@pytest.mark.parametrize("package", PACKAGES)
def test_wedges_sum_exactly_to_the_total_difference(package):
    base, pol = load_preset("reference"), load_preset(package)
    w = lever_wedges(base, pol)
    rb, rp = run_projection(base), run_projection(pol)
    total = w.groupby(["variable", "region", "year"], sort=False)["value"].sum()
    assert set(w["lever"]) == set(pol.policy) - {"fleet_response"}
    for var in WEDGE_VARIABLES:
        for j, region in enumerate(rb.regions):
            diff = rp.central[var][j] - rb.central[var][j]
            got = total.loc[(var, region)].to_numpy()
            scale = np.maximum(np.abs(rb.central[var][j]), np.abs(rp.central[var][j]))
            assert np.all(np.abs(got - diff) <= 1e-9 * np.maximum(scale, 1e-300)), (var, region)


def test_wedges_share_an_interaction_by_shapley():
    # Energy = V x e x PUE: a PUE cap (1.5 -> 1.2) and quantisation (e / 1.25) interact;
    # each gets the average of its effect alone and its effect on top of the other.
    d = {"name": "b", "base_year": 2025, "start_year": 2025, "end_year": 2030, "target_year": 2030,
         "workloads": {"chat": {"requests_per_day": 1e8, "energy": {"kwh": 0.0003, "boundary": "it"}}},
         "regions": {"all": {"pue": 1.5, "grid_intensity_g_per_kwh": 400}}}
    base = scenario_from_dict(d)
    pol = scenario_from_dict({**d, "name": "p", "policy": {
        "facility_standards": {"start_year": 2026, "pue_cap": 1.2},
        "serving_efficiency": {"start_year": 2026, "quantisation_factor": 1.25}}})
    w = lever_wedges(base, pol, ["Energy"])
    w = w[(w["region"] == "World") & (w["year"] == 2030)].set_index("lever")["value"]
    ve = 1e8 * 365 * 0.0003 / 1e9  # TWh at the IT boundary
    pue = 0.5 * ((ve * 1.2 - ve * 1.5) + (ve * 1.2 / 1.25 - ve * 1.5 / 1.25))
    q = 0.5 * ((ve * 1.5 / 1.25 - ve * 1.5) + (ve * 1.2 / 1.25 - ve * 1.2))
    assert w["facility_standards"] == pytest.approx(pue, rel=1e-12)
    assert w["serving_efficiency"] == pytest.approx(q, rel=1e-12)


def test_wedges_of_a_scenario_with_measured_energy_sum_to_its_measured_runs():
    """The app's "with the measures" line uses uploaded measurements; its wedges must too, so
    "without the measures" (policy minus the wedges) is the measured scenario without levers."""
    import pandas as pd

    from project.engine import with_measured_energy

    # a GPU-only figure (accelerator boundary): 2x the Table 2 image_generation mean
    table = pd.DataFrame([{"task": "image_generation", "kwh_per_inference_mean": 6e-3, "kwh_per_inference_std": 0.0,
                           "n_records": 3, "n_models": 1, "boundary": "accelerator", "batch_size": 1,
                           "source": "test table, not a measurement"}])
    pol, switched = with_measured_energy(apply_overrides(load_preset("paper-2023"), {"policy": {
        "serving_efficiency": {"start_year": 2025, "batching_factor": 3.0},
        "facility_standards": {"start_year": 2026, "pue_cap": 1.05}}}), table)
    assert switched == ["image_generation"]
    base = apply_overrides(pol, {"policy": {}})
    w = lever_wedges(base, pol, ["Energy"], measurements=table)
    rb, rp = run_projection(base, measurements=table), run_projection(pol, measurements=table)
    got = w[w["region"] == "World"].groupby("year")["value"].sum().to_numpy()
    np.testing.assert_allclose(got, rp.central["Energy"][0] - rb.central["Energy"][0], rtol=1e-12)
    assert got[-1] < 0


def test_wedges_name_other_differences_and_removed_levers():
    base = load_preset("iea-high-efficiency")  # has a facility standard the policy drops
    pol = apply_overrides(load_preset("policy-clean-power"), {"target_year": 2035})
    w = lever_wedges(base, pol)
    assert set(w["lever"]) == {"clean_power", "facility_standards", "other"}
    rb, rp = run_projection(base), run_projection(pol)
    got = w[(w["variable"] == "Energy") & (w["region"] == "World")].groupby("year")["value"].sum().to_numpy()
    assert np.allclose(got, rp.central["Energy"][0] - rb.central["Energy"][0], rtol=1e-9, atol=0)
    fs = w[(w["lever"] == "facility_standards") & (w["variable"] == "Energy") & (w["year"] == 2035)]
    assert (fs["value"] > 0).all()  # dropping a PUE cap adds energy
    iamc = wedge_table(w, model="m")
    assert "Wedge|Energy|Facility standards" in set(iamc["variable"])
    assert set(iamc["variable"]) <= set(wedge_variables())  # every exported name is declared
    assert list(iamc.columns) == ["model", "scenario", "region", "variable", "unit", "year", "value"]


def test_cli_compare_prints_and_exports_one_scenario_per_input(tmp_path):
    out = tmp_path / "c.csv"
    r = runner.invoke(app, ["compare", "reference", "combined", "--samples", "100", "--wedges", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "policy-combined" in r.output and "Facility standards" in r.output
    t = read_result(out)
    assert set(t["scenario"]) == {"reference", "policy-combined"}
    assert "Wedge|Energy|Clean power" in set(t.loc[t["scenario"] == "policy-combined", "variable"])
    for suffix in (".xlsx", ".parquet", ".json"):
        p = tmp_path / f"c{suffix}"
        r = runner.invoke(app, ["compare", "reference", "clean-power", "--samples", "0", "--out", str(p)])
        assert r.exit_code == 0, r.output
        assert set(read_result(p)["scenario"]) == {"reference", "policy-clean-power"}


def test_cli_compare_splits_each_scenario_once_for_the_table_and_the_export(tmp_path, monkeypatch):
    import pandas as pd

    import project.wedges as wedges

    calls = []
    real = wedges.lever_wedges
    monkeypatch.setattr(wedges, "lever_wedges", lambda *a, **k: calls.append(a[1].name) or real(*a, **k))
    out = tmp_path / "c.xlsx"
    r = runner.invoke(app, ["compare", "reference", "combined", "clean-power", "--samples", "0", "--wedges",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert calls == ["policy-combined", "policy-clean-power"]
    t = read_result(out)
    w = t[t["variable"].str.startswith("Wedge|")]
    assert set(w["scenario"]) == {"policy-combined", "policy-clean-power"}
    assert {"Wedge|Emissions|Market-based|Clean power", "Wedge|Power|Peak|Facility standards"} <= set(w["variable"])
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"data", "meta", "assumptions", "parameters"} <= set(sheets)
    assert list(sheets["assumptions"].columns)[0] == "scenario"


def test_cli_compare_routes_sets_and_prints_json():
    r = runner.invoke(app, ["compare", "reference", "reference", "--samples", "0", "--format", "json", "--year", "2035",
                            "--set", "2:name=pue-cap", "--set", "2:policy.facility_standards={start_year=2026, pue_cap=1.1}"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scenarios"] == ["reference", "pue-cap"] and doc["year"] == 2035
    e = {row["scenario"]: row for row in doc["summary"] if row["variable"] == "Energy"}
    assert e["pue-cap"]["p50"] < e["reference"]["p50"] and e["pue-cap"]["change"] < 0


@pytest.mark.parametrize("args, words", [
    (["reference", "combined", "--set", "2:policy.clean_power.procurement_share=1.5"], ["procurement_share", "1.5"]),
    (["reference", "--set", "policy.magic={start_year=2026}"], ["policy.magic", "unknown lever"]),
    (["reference", "iea-base", "--set", "2:end_year=2032"], ["same years"]),
    (["reference", "atlantis"], ["atlantis", "not a preset"]),
    (["reference", "combined", "--set", "7:name=x"], ["7", "names none"]),
    (["reference", "reference"], ["both named"]),
    (["reference", "--year", "2050"], ["--year 2050"]),
    (["reference", "--out", "/nonexistent/x.csv"], ["/nonexistent"]),
])
def test_cli_compare_bad_input_is_one_message_and_exit_2(args, words, tmp_path):
    r = runner.invoke(app, ["compare", *args, "--samples", "0"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and all(w in r.output for w in words), r.output


def test_cli_wedges_when_nothing_differs():
    r = runner.invoke(app, ["compare", "reference", "reference", "--set", "2:name=same", "--wedges", "--samples", "0"])
    assert r.exit_code == 0, r.output
    assert "differ in no lever" in r.output
