"""Google's median Gemini prompt (Aug 2025) through the model's own conversion chain.

From the active-accelerator figure (0.10 Wh) and the boundary split (accelerators 58%, host
25%, idle machines 10%, overhead at PUE 1.09), the chain accelerator -> server -> IT ->
facility must give the comprehensive 0.24 Wh, applying PUE once; on-site water on IT
energy at Google's WUE gives 0.26 mL (comprehensive) and 0.12 mL (accelerators only).
Emissions: Google's reported Scope 2 (market-based, 0.023 g of 0.033 g) gives the market-based
factor, applied to the right energy at each boundary; Scope 1 + 3 (0.010 g, mostly embodied
hardware) is added per prompt. The minimal boundary (active accelerators only: no host, no idle
machines, no facility overhead) runs through the same chain with those factors set to neutral.
"""

import pytest

from project.engine import param_uncertain, run_projection
from project.params import param
from project.scenario import scenario_from_dict

US_2024 = 383.78  # g/kWh, data/national (OWID/Ember), lifecycle


def google_scenario(boundary="accelerator", kwh=None, pue=None, minimal=False):
    energy = {"kwh": kwh or param("google_prompt_accelerator_kwh"), "boundary": boundary}
    if pue:
        energy["pue"] = pue
    market = param("google_market_intensity_g_per_kwh")
    data = {
        "name": "google", "base_year": 2025, "start_year": 2025, "end_year": 2025, "target_year": 2025,
        "workloads": {"gemini": {"label": "Gemini", "requests_per_day": 1e9, "energy": energy}},
        "regions": {"all": {"pue": 1.0 if minimal else param("google_pue_2024"),
                            "wue_onsite_l_per_kwh": param("google_wue_l_per_it_kwh"),
                            "grid_intensity_g_per_kwh": US_2024, "clean_power_share": 1 - market / US_2024,
                            "decarbonisation_per_year": 0.0}},
    }
    if minimal:
        data["boundary"] = {"production_factor": 1.0, "host_ratio": 0.0, "idle_ratio": 0.0}
    return scenario_from_dict(data)


def _world_row(scenario):
    pu = run_projection(scenario).per_unit
    return pu[pu["region"] == "World"].iloc[0]


@pytest.fixture(scope="module")
def prompt():
    return _world_row(google_scenario())


@pytest.fixture(scope="module")
def minimal():
    return _world_row(google_scenario(minimal=True))


def test_boundary_factors_come_from_the_parameter_table():
    assert param_uncertain("boundary_host_ratio").value == pytest.approx(25 / 58, rel=0.01)
    assert param_uncertain("boundary_idle_ratio").value == pytest.approx(10 / 83, rel=0.01)


def test_energy_0_24_wh_from_0_10_wh(prompt):
    assert prompt["accelerator_wh"] == pytest.approx(0.10, rel=1e-9)
    assert prompt["facility_wh"] == pytest.approx(0.24, rel=0.02)


def test_facility_figure_round_trips_without_a_second_pue():
    pu = run_projection(google_scenario("facility", 0.00024, 1.09)).per_unit.iloc[0]
    assert pu["facility_wh"] == pytest.approx(0.24, rel=1e-9)
    assert pu["it_wh"] == pytest.approx(0.24 / 1.09, rel=1e-9)


def test_water_on_site(prompt, minimal):
    assert prompt["onsite_ml"] == pytest.approx(0.26, rel=0.02)
    # the minimal boundary: active accelerators only, no host, idle or overhead
    assert minimal["facility_wh"] == pytest.approx(0.10, rel=1e-9)
    assert minimal["onsite_ml"] == pytest.approx(0.12, rel=0.02)


def test_emissions_market_based_with_embodied(prompt, minimal):
    scope_1_3 = param("google_embodied_g_per_prompt")
    assert prompt["market_g"] == pytest.approx(0.023, rel=0.02)        # Scope 2 as reported
    assert prompt["market_g"] + scope_1_3 == pytest.approx(0.033, rel=0.02)  # "0.03 g"
    assert round(minimal["market_g"] + scope_1_3, 2) == 0.02
    assert minimal["market_g"] + scope_1_3 == pytest.approx(0.02, rel=0.05)
    # location-based on the US grid is several times the market-based figure
    assert prompt["location_g"] == pytest.approx(prompt["facility_wh"] * US_2024 / 1000, rel=1e-9)
    assert prompt["location_g"] > 3 * prompt["market_g"]
