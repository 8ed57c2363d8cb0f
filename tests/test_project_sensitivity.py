"""Tornado swings and Sobol indices."""

import pytest

from project.engine import compile_scenario, run_projection
from project.scenario import load_preset, scenario_from_dict
from project.sensitivity import sobol, tornado


def test_tornado_swings_match_single_runs():
    s = load_preset("reference")
    c = compile_scenario(s)
    t = tornado(c)
    assert (t["swing"].diff().dropna() <= 0).all()  # sorted
    from project.scenario import apply_overrides
    row = t.set_index("path").loc["fleet.utilisation_scale"]
    lo = run_projection(apply_overrides(s, {"fleet.utilisation_scale": row["low"]})).value("Energy")
    hi = run_projection(apply_overrides(s, {"fleet.utilisation_scale": row["high"]})).value("Energy")
    assert row["total_at_low"] == pytest.approx(lo)
    assert row["total_at_high"] == pytest.approx(hi)
    assert row["total_at_low"] < row["central_total"] < row["total_at_high"]


def test_sobol_identifies_the_only_driver():
    data = {"name": "s", "base_year": 2025, "start_year": 2025, "end_year": 2026, "target_year": 2026,
            "workloads": {"a": {"requests_per_day": {"value": 1.25e6, "low": 0.5e6, "high": 2e6, "distribution": "uniform"},
                                "energy": {"kwh": 0.001, "boundary": "it"}}},
            "regions": {"all": {"pue": {"value": 1.2, "low": 1.19, "high": 1.21, "distribution": "uniform"}}}}
    c = compile_scenario(scenario_from_dict(data))
    df = sobol(c, n=1024, seed=1).set_index("path")
    assert df.at["workloads.a.requests_per_day", "total_order"] > 0.9
    assert df.at["regions.USA.pue", "total_order"] < 0.05


def test_sobol_rejects_bad_n():
    c = compile_scenario(load_preset("reference"))
    with pytest.raises(ValueError, match="power of two"):
        sobol(c, n=1000)


def test_cli_sensitivity_lists_drivers():
    from typer.testing import CliRunner

    from project.cli import app
    res = CliRunner().invoke(app, ["sensitivity", "--preset", "reference", "--sobol-n", "256"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Fleet utilisation scale" in res.output and "Sobol" in res.output
    bad = CliRunner().invoke(app, ["sensitivity", "--preset", "reference", "--sobol-n", "1000"])
    assert bad.exit_code == 2 and "power of two" in bad.output
