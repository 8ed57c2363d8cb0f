"""The reference preset explains observed totals (back-test) and the IEA cases land on their
published totals from driver settings, not inputs."""

import pytest

from project.calibrate import backtest, calibrate, observations, projection_checks
from project.engine import run_projection
from project.scenario import load_preset


@pytest.fixture(scope="module")
def reference():
    return run_projection(load_preset("reference"))


def test_backtest_covers_2020_to_2024(reference):
    bt = reference.backtest
    assert set(bt["year"]) >= {2020, 2021, 2022, 2023, 2024}
    assert {"World", "United States", "China", "Europe", "Rest of World"} <= set(bt["region"])


def test_every_scored_observation_within_15_percent(reference):
    bt = reference.backtest
    bad = bt[~bt["within"]]
    assert bad.empty, bad[["variable", "region", "year", "observed", "modelled", "error"]].to_string()


def test_world_2024_from_mechanisms():
    r = run_projection(load_preset("reference"))
    assert r.value("Data Centres", 2024) == pytest.approx(415, rel=0.15)
    # the AI part comes from the fleet: shipments x power x utilisation, not a share of a total
    assert r.value("Fleet|Energy", 2024) == pytest.approx(r.value("Data Centres|AI", 2024))
    assert r.value("Fleet|Installed Accelerators", 2024) > 5


def test_preset_holds_the_calibrated_values():
    s = load_preset("reference")
    fit = calibrate(s)
    assert s.fleet.utilisation_scale.value == pytest.approx(fit["fleet.utilisation_scale"], rel=0.01)
    g = s.regions["all"].conventional_growth_per_year.value
    assert g == pytest.approx(fit["regions.all.conventional_growth_per_year"], abs=0.001)


@pytest.mark.parametrize("preset,year,twh", [
    ("iea-base", 2030, 945), ("iea-base", 2035, 1200), ("iea-lift-off", 2035, 1700),
    ("iea-high-efficiency", 2035, 970), ("iea-headwinds", 2035, 700),
])
def test_iea_cases_from_drivers(preset, year, twh):
    r = run_projection(load_preset(preset))
    assert r.value("Data Centres", year) == pytest.approx(twh, rel=0.15)
    assert r.value("Data Centres", 2024) == pytest.approx(415, rel=0.15)


def test_unscored_observations_say_why():
    obs = observations()
    context = obs[(obs["kind"] == "observed") & ~obs["backtest"]]
    assert context["note"].str.len().gt(10).all()


def test_projection_checks_table(reference):
    pc = projection_checks(reference)
    assert {"published", "modelled", "ratio"} <= set(pc.columns)
    assert (pc["ratio"] > 0).all()
