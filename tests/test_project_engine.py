"""Behaviour of the projection engine: hand-computed cases, linearity, monotonicity, seeds, units."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from project.engine import compile_scenario, evaluate, run_projection
from project.model.fleet import survival_weights
from project.scenario import apply_overrides, load_preset, scenario_from_dict

REG = {"pue": 1.2, "wue_onsite_l_per_kwh": 1.0, "grid_intensity_g_per_kwh": 400, "decarbonisation_per_year": 0.0,
       "water_offsite_l_per_kwh": 2.0}
BASE = {
    "name": "t", "base_year": 2025, "start_year": 2025, "end_year": 2030, "target_year": 2030,
    "workloads": {
        "img": {"requests_per_day": 1e6, "growth": {"rate": 0.1},
                "energy": {"reference": "image_generation"}, "region_shares": {"USA": 1.0}},
        "chat": {"requests_per_day": 1e8, "energy": {"kwh": 0.0003, "boundary": "it"},
                 "region_shares": {"USA": 0.5, "EUR": 0.5}},
    },
    "boundary": {"idle_ratio": 0.1, "host_ratio": 0.5, "production_factor": 1.2},
    "regions": {"all": REG},
    "training": {"runs_per_year": 3, "gwh_per_run": 1.0, "boundary": "it", "region_shares": {"USA": 1.0}},
}


def run(data=BASE, **kw):
    return run_projection(scenario_from_dict(data), **kw)


def with_(path, value, data=BASE):
    return run_projection(apply_overrides(scenario_from_dict(data), {path: value}))


def test_hand_computed_central():
    r = run()
    img = 1e6 * 365 * 1.1 ** 5 * 0.00290718 * (1 + 0.1) * 1.2 / 1e9  # server boundary -> IT: x (1 + idle)
    chat = 1e8 * 365 * 0.0003 * 1.2 / 1e9
    train = 3 * 1e6 * 1.2 / 1e9
    assert r.value("Energy|Inference|Img") == pytest.approx(img, rel=1e-4)
    assert r.value("Energy|Inference|Chat") == pytest.approx(chat, rel=1e-9)
    assert r.value("Energy|Inference|Chat", region="Europe") == pytest.approx(chat / 2, rel=1e-9)
    assert r.value("Energy|Training") == pytest.approx(train)
    assert r.value("Energy") == pytest.approx(img + chat + train, rel=1e-4)
    assert r.value("Energy|Unattributed") == 0.0  # no fleet: nothing unattributed
    # Mt = TWh x g/kWh / 1000; million m3 = TWh x L/kWh; on-site on IT energy, off-site on facility
    assert r.value("Emissions|Location-based") == pytest.approx(r.value("Energy") * 400 / 1000)
    assert r.value("Water|On-site") == pytest.approx(r.value("Energy") / 1.2 * 1.0)
    assert r.value("Water|Off-site") == pytest.approx(r.value("Energy") * 2.0)


def test_accelerator_boundary_conversion_chain():
    d = {**BASE, "workloads": {"x": {"requests_per_day": 1e9, "energy": {"kwh": 1e-4, "boundary": "accelerator"}}}}
    r = run(d)
    it = 1e9 * 365 * 1e-4 * 1.2 * 1.5 * 1.1
    assert r.value("Energy|Inference|X") == pytest.approx(it * 1.2 / 1e9)
    assert r.unit_it_kwh["x"][0] == pytest.approx(1e-4 * 1.2 * 1.5 * 1.1)


def test_facility_boundary_is_not_multiplied_by_pue_twice():
    d = {**BASE, "workloads": {"x": {"requests_per_day": 1e9,
                                     "energy": {"kwh": 2.4e-4, "boundary": "facility", "pue": 1.2}}}}
    assert run(d).value("Energy|Inference|X") == pytest.approx(1e9 * 365 * 2.4e-4 / 1e9)


@settings(max_examples=25, deadline=None)
@given(k=st.floats(0.01, 100))
def test_linear_in_usage(k):
    base = with_("workloads.chat.requests_per_day", 1e8).value("Energy|Inference|Chat")
    scaled = with_("workloads.chat.requests_per_day", 1e8 * k).value("Energy|Inference|Chat")
    assert scaled == pytest.approx(base * k, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(1.0, 3.0), b=st.floats(1.0, 3.0))
def test_monotone_in_pue(a, b):
    ea, eb = (with_("regions.all.pue", x).value("Energy") for x in (a, b))
    assert (ea <= eb) == (a <= b) or ea == pytest.approx(eb)


def test_fleet_hand_computed():
    d = {"name": "f", "base_year": 2025, "start_year": 2025, "end_year": 2027, "target_year": 2026,
         "regions": {"all": REG},
         "fleet": {"history": False, "mid_year": True, "shipments": {"h100": {2025: 1000, 2026: 2000}},
                   "region_shares": {"USA": 1.0},
                   "classes": {"h100": {"tdp_w": 700, "server_w_per_accelerator": 300, "idle_fraction": 0.2,
                                        "utilisation": 0.5, "lifetime_years": 4}}}}
    r = run(d)
    # 2026: last year's 1000 in service all year + this year's 2000 at half a year
    inst = 1000 + 2000 * 0.5
    pavg = 1000 * (0.2 + 0.8 * 0.5)
    it_twh = inst * pavg * 8760 / 1e3 / 1e9
    assert r.value("Fleet|Installed Accelerators") == pytest.approx(inst / 1e6)
    assert r.value("Energy|IT") == pytest.approx(it_twh)
    assert r.value("Energy") == pytest.approx(it_twh * 1.2)
    assert r.value("Energy|Unattributed") == pytest.approx(it_twh * 1.2)
    assert r.value("Power|Peak") == pytest.approx(inst * 1000 * 1.2 / 1e9)


def test_survival_weights_sum_to_lifetime():
    for life in (1, 2.5, 4, 6):
        assert survival_weights(life, 20, True).sum() == pytest.approx(life)
        assert survival_weights(life, 20, False).sum() == pytest.approx(life)


def test_attributed_above_fleet_is_a_warning_and_energy_follows_demand():
    d = {"name": "w", "base_year": 2025, "start_year": 2025, "end_year": 2026, "target_year": 2025,
         "regions": {"all": REG},
         "workloads": {"x": {"requests_per_day": 1e10, "energy": {"kwh": 0.01, "boundary": "it"}}},
         "fleet": {"history": False, "mid_year": False, "shipments": {"a100": {2025: 1000}}}}
    r = run(d)
    assert r.warnings and "exceeds the fleet" in r.warnings[0]
    assert r.value("Energy") == pytest.approx(r.value("Energy|Inference"))
    assert r.value("Energy|Unattributed") == 0


def test_same_seed_same_percentiles_other_seed_differs():
    s = load_preset("reference")
    a = run_projection(s, samples=300, seed=3)
    b = run_projection(s, samples=300, seed=3)
    c = run_projection(s, samples=300, seed=4)
    assert a.value("Energy", stat="p95") == b.value("Energy", stat="p95")
    assert a.value("Energy", stat="p95") != c.value("Energy", stat="p95")


def test_headline_is_median_and_percentiles_ordered():
    r = run_projection(load_preset("reference"), samples=500, seed=1)
    for var in ("Energy", "Data Centres", "Emissions", "Water"):
        for reg in r.regions:
            p5, p50, p95 = (r.value(var, stat=s, region=reg) for s in ("p5", "p50", "p95"))
            assert p5 <= p50 <= p95
    assert r.value("Energy") == r.value("Energy", stat="p50")
    assert r.metadata["headline"] == "p50"


def test_chunked_monte_carlo_matches_single_chunk(monkeypatch):
    import project.engine as eng

    s = load_preset("reference")
    full = run_projection(s, samples=400, seed=2)
    monkeypatch.setattr(eng, "CHUNK", 150)
    chunked = run_projection(s, samples=400, seed=2)
    np.testing.assert_allclose(full.percentiles["Energy"], chunked.percentiles["Energy"], rtol=1e-6)


def test_table_is_tidy_long_format_with_regions():
    r = run_projection(load_preset("reference"), samples=100)
    t = r.table
    assert list(t.columns) == ["scenario", "variable", "region", "unit", "year", "stat", "value"]
    assert set(t["region"]) == {"World", "United States", "China", "Europe", "Rest of World"}
    assert set(t["stat"]) == {"central", "p5", "p50", "p95"}
    assert not t.duplicated(["variable", "region", "year", "stat"]).any()
    assert np.isfinite(t["value"]).all()


def test_evaluate_vectorised_equals_single_runs():
    c = compile_scenario(load_preset("reference"))
    vals = {"fleet.utilisation_scale": np.array([0.5, 0.7]), "regions.USA.pue": np.array([1.1, 1.5])}
    many = evaluate(c, vals, 2)["Energy"]
    for i in range(2):
        one = evaluate(c, {k: v[i:i + 1] for k, v in vals.items()}, 1)["Energy"]
        np.testing.assert_allclose(many[i], one[0])


def test_region_grid_country_changes_emissions_only_there():
    base = run_projection(load_preset("reference"))
    fra = run_projection(apply_overrides(load_preset("reference"), ["regions.EUR.grid_country=FRA"]))
    assert fra.value("Emissions|Location-based", region="Europe") < base.value("Emissions|Location-based",
                                                                               region="Europe")
    assert fra.value("Emissions", region="China") == pytest.approx(base.value("Emissions", region="China"))
    assert fra.value("Energy") == pytest.approx(base.value("Energy"))


@pytest.mark.parametrize("name, iso", [("Republic of Korea", "KOR"), ("Republic of Ireland", "IRL"), ("UK", "GBR")])
def test_grid_country_takes_every_name_compare_with_takes(name, iso):
    from project.national import country_lookup

    path = "regions.EUR.grid_intensity_g_per_kwh"
    by_name = compile_scenario(apply_overrides(load_preset("reference"), {"regions.EUR.grid_country": name}))
    by_iso = compile_scenario(apply_overrides(load_preset("reference"), {"regions.EUR.grid_country": iso}))
    assert by_name.params[path].central == by_iso.params[path].central
    assert by_name.params[path].source == by_iso.params[path].source
    assert by_name.params[path].source.startswith(f"{country_lookup(name)['country']} 2024, ")


def test_measured_energy_replaces_reference():
    import pandas as pd

    from project.engine import with_measured_energy

    s = load_preset("paper-2023")
    m = pd.DataFrame({"task": ["image_generation"], "kwh_per_inference_mean": [0.001],
                      "kwh_per_inference_std": [0.0], "n_records": [3], "n_models": [1], "source": ["test"]})
    s2, switched = with_measured_energy(s, m)
    assert switched == ["image_generation"]
    r = run_projection(s2, measurements=m)
    assert r.value("Energy|Inference|Image Generation", 2023) == pytest.approx(1e6 * 365 * 0.001 / 1e9)
