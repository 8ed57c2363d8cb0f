"""Policy levers: each moves the outcomes in its documented direction by a hand-computed amount.

Small scenarios without a fleet keep the arithmetic visible (Energy = requests x energy per
unit x PUE); the two supply-side levers use a one-class fleet or the reference preset.
"""

import copy

import numpy as np
import pytest

from project.engine import run_projection
from project.policy import star_factor
from project.scenario import ScenarioError, apply_overrides, load_preset, scenario_from_dict

REG = {"pue": 1.5, "wue_onsite_l_per_kwh": 1.8, "grid_intensity_g_per_kwh": 400, "decarbonisation_per_year": 0.0,
       "water_offsite_l_per_kwh": 2.0}
BASE = {
    "name": "t", "base_year": 2025, "start_year": 2025, "end_year": 2030, "target_year": 2030,
    "workloads": {"chat": {"requests_per_day": 1e8, "energy": {"kwh": 0.0003, "boundary": "it"}}},
    "regions": {"all": REG},
}
LLM = {"requests_per_day": 1e9, "llm": {"output_tokens": 500, "j_per_output_token": 0.3, "reasoning_share": 0.1,
                                        "reasoning_energy_multiplier": 25, "moe_share": 0.5, "moe_factor": 3.56}}
SUMM = {"requests_per_day": 1e9, "energy": {"reference": "summarization"},
        "multipurpose_share": 0.3, "multipurpose_ratio": 2.67}


def scen(policy=None, workloads=None, **top):
    d = copy.deepcopy(BASE)
    if workloads is not None:
        d["workloads"] = workloads
    d.update(top)
    if policy:
        d["policy"] = policy
    return scenario_from_dict(d)


def ratio(policy, var="Energy", year=2030, workloads=None, region="World"):
    """policy / no-policy value of `var` (central run)."""
    off = run_projection(scen(None, workloads)).value(var, year, region=region)
    on = run_projection(scen(policy, workloads)).value(var, year, region=region)
    return on / off


def test_efficiency_standard_moves_requests_to_rated_models():
    # Summarization, task-specific models (mean over data sets, kWh/1,000): 0.0275, 0.0318,
    # 0.0320, 0.0499, 0.0582, 0.0641, 0.0647, 0.0653. Five equal bands from 0.0275 to 0.0653
    # (width 0.00756): 3+ stars are the first four (<= 0.0502) -> mean 0.0353 / 0.0494 = 0.718.
    assert star_factor("summarization", 3) == pytest.approx(0.718, abs=1e-3)
    assert star_factor("summarization", 1) == 1.0
    w = {"s": {"requests_per_day": 1e9, "energy": {"reference": "summarization"}}}
    pol = {"efficiency_standard": {"start_year": 2027, "min_stars": 3}}
    assert ratio(pol, workloads=w) == pytest.approx(star_factor("summarization", 3), rel=1e-9)
    assert ratio(pol, year=2026, workloads=w) == 1.0  # before the start year
    # phase-in over 3 years: a quarter of the effect in the start year
    ramped = {"efficiency_standard": {"start_year": 2027, "phase_in_years": 3, "min_stars": 3}}
    assert ratio(ramped, year=2027, workloads=w) == pytest.approx(1 - 0.25 * (1 - 0.718), abs=1e-3)
    # stricter ratings cut more, never less
    k = [star_factor("text_generation", s) for s in range(1, 6)]
    assert k == sorted(k, reverse=True) and k[-1] < 0.6


def test_right_sizing_moves_multipurpose_requests_to_task_specific_models():
    # share 0.3 at 2.67x; half of it moved: (0.85 + 0.15 x 2.67) / (0.7 + 0.3 x 2.67) = 0.83311
    pol = {"right_sizing": {"start_year": 2026, "share_moved": 0.5}}
    assert ratio(pol, workloads={"s": SUMM}) == pytest.approx(1.2505 / 1.501, rel=1e-9)
    # moving every request leaves the task-specific energy: 1 / 1.501
    full = {"right_sizing": {"start_year": 2026, "share_moved": 1.0}}
    assert ratio(full, workloads={"s": SUMM}) == pytest.approx(1 / 1.501, rel=1e-9)


def test_reasoning_by_default_raises_llm_energy():
    # output energy only: (1 - t + 25 t) / (1 - 0.1 + 25 x 0.1) with t the target share
    on = {"reasoning_default": {"start_year": 2026, "reasoning_share": 0.5}}
    assert ratio(on, workloads={"llm": LLM}) == pytest.approx(13.0 / 3.4, rel=1e-9)
    off = {"reasoning_default": {"start_year": 2026, "reasoning_share": 0.02}}
    assert ratio(off, workloads={"llm": LLM}) == pytest.approx(1.48 / 3.4, rel=1e-9)


def test_serving_efficiency_batching_quantisation_and_moe():
    w = {"llm": LLM, "s": {"requests_per_day": 1e9, "energy": {"reference": "summarization"}}}
    pol = {"serving_efficiency": {"start_year": 2026, "batching_factor": 4, "quantisation_factor": 1.25}}
    # the study's batch-1 figure: / (4 x 1.25)
    assert ratio(pol, "Energy|Inference|S", workloads=w) == pytest.approx(1 / 5, rel=1e-9)
    # ML.ENERGY per-token figures are at the largest batch already: quantisation only
    assert ratio(pol, "Energy|Inference|Llm", workloads=w) == pytest.approx(1 / 1.25, rel=1e-9)
    listed = {"serving_efficiency": {"start_year": 2026, "batching_factor": 4, "workloads": ["llm"]}}
    assert ratio(listed, "Energy|Inference|Llm", workloads=w) == pytest.approx(1 / 4, rel=1e-9)
    assert ratio(listed, "Energy|Inference|S", workloads=w) == 1.0
    # MoE share 0.5 -> 1 at 3.56x: (1 / 3.56) / (0.5 + 0.5 / 3.56) = 0.43860
    moe = {"serving_efficiency": {"start_year": 2026, "moe_share": 1.0}}
    assert ratio(moe, workloads={"llm": LLM}) == pytest.approx((1 / 3.56) / (0.5 + 0.5 / 3.56), rel=1e-9)


def test_clean_power_procurement_lowers_market_based_emissions_only():
    pol = {"clean_power": {"start_year": 2026, "phase_in_years": 1, "procurement_share": 0.8}}
    r = run_projection(scen(pol))
    loc = r.value("Emissions|Location-based", 2030)
    assert r.value("Emissions|Market-based", 2030) == pytest.approx(0.2 * loc, rel=1e-9)
    assert r.value("Emissions|Market-based", 2026) == pytest.approx((1 - 0.4) * r.value("Emissions|Location-based", 2026))
    assert ratio(pol, "Emissions") == 1.0 and ratio(pol, "Energy") == 1.0


def test_clean_power_siting_moves_new_capacity_to_the_cleanest_region():
    base = load_preset("reference")
    pol = apply_overrides(base, {"policy.clean_power": {"start_year": 2027, "siting_share": 0.5}})
    rb, rp = run_projection(base), run_projection(pol)
    # shipments in 2030: Europe (EU-27: 211 g/kWh in 2024, the lowest) gets s x (1 - 0.5) + 0.5
    s = rb.value("Fleet|Shipments", 2030, region="Europe") / rb.value("Fleet|Shipments", 2030)
    assert rp.value("Fleet|Shipments", 2030) == pytest.approx(rb.value("Fleet|Shipments", 2030), rel=1e-12)
    assert rp.value("Fleet|Shipments", 2030, region="Europe") / rp.value("Fleet|Shipments", 2030) == \
        pytest.approx(s * 0.5 + 0.5, rel=1e-9)
    assert rp.value("Fleet|Shipments", 2026, region="Europe") == rb.value("Fleet|Shipments", 2026, region="Europe")
    assert rp.value("Emissions|Location-based", 2030) < rb.value("Emissions|Location-based", 2030)


def test_facility_standards_cap_pue_and_wue():
    pol = {"facility_standards": {"start_year": 2026, "phase_in_years": 3, "pue_cap": 1.2, "wue_cap": 0.5}}
    # ramp 1/4 in 2026: PUE 1.5 - 0.25 x 0.3 = 1.425; full from 2029: 1.2
    assert ratio(pol, year=2026) == pytest.approx(1.425 / 1.5, rel=1e-9)
    assert ratio(pol) == pytest.approx(1.2 / 1.5, rel=1e-9)
    assert ratio(pol, "Water|On-site") == pytest.approx(0.5 / 1.8, rel=1e-9)  # on IT energy: PUE drops out
    assert ratio(pol, "Water|Off-site") == pytest.approx(1.2 / 1.5, rel=1e-9)
    per_region = {"facility_standards": {"start_year": 2026, "pue_cap": {"USA": 1.2}}}
    assert ratio(per_region, region="United States") == pytest.approx(0.8, rel=1e-9)
    assert ratio(per_region, region="Europe") == 1.0
    assert ratio({"facility_standards": {"start_year": 2026, "pue_cap": 2.0}}) == 1.0  # a cap above PUE: no change


def test_demand_management_caps_growth():
    w = {"chat": {"requests_per_day": 1e8, "growth": {"rate": 0.5}, "energy": {"kwh": 0.0003, "boundary": "it"}},
         "other": {"requests_per_day": 1e8, "growth": {"rate": 0.5}, "energy": {"kwh": 0.0003, "boundary": "it"}}}
    pol = {"demand_management": {"start_year": 2027, "growth_cap": 0.1, "workloads": ["chat"]}}
    # from 2027 on at most +10%/yr instead of +50%/yr: 2030 is (1.1 / 1.5)^3 of the baseline
    assert ratio(pol, "Activity|Inference|Chat", workloads=w) == pytest.approx((1.1 / 1.5) ** 3, rel=1e-9)
    assert ratio(pol, "Activity|Inference|Chat", year=2027, workloads=w) == 1.0
    assert ratio(pol, "Activity|Inference|Other", workloads=w) == 1.0
    assert ratio(pol, "Energy", workloads=w) == pytest.approx((1 + (1.1 / 1.5) ** 3) / 2, rel=1e-9)


def fleet_scenario(policy=None):
    d = {"name": "f", "base_year": 2025, "start_year": 2020, "end_year": 2026, "target_year": 2026,
         "regions": {"all": {**REG, "pue": 1.2}},
         "fleet": {"history": False, "mid_year": True, "region_shares": {"USA": 1.0},
                   "classes": {"h100": {"lifetime_years": 5, "utilisation": 0.5},
                               "b200": {"utilisation": 0.5}}}}
    # one year of shipments: 1 million H100-class in 2020, none later (zeros stop the growth path)
    d["fleet"]["shipments"] = {"h100": {y: (1e6 if y == 2020 else 0.0) for y in range(2020, 2027)}}
    if policy:
        d["policy"] = policy
    return scenario_from_dict(d)


def test_hardware_refresh_replaces_old_accelerators_with_newest_compute():
    off = run_projection(fleet_scenario())
    on = run_projection(fleet_scenario({"hardware_refresh": {"start_year": 2023, "lifetime_years": 2}}))
    # 2024: the 2020 H100s (age 4 < 5) serve in the baseline; the refresh retired them at age 2
    # and put B200s with the same peak compute in place: 1e6 x 989 / 2250 TFLOPS
    b200 = 1e6 * 989 / 2250
    assert off.value("Fleet|Installed Accelerators", 2024) == pytest.approx(1.0)
    assert on.value("Fleet|Installed Accelerators|H100-class", 2024) == 0.0
    assert on.value("Fleet|Installed Accelerators|B200-class", 2024) == pytest.approx(b200 / 1e6)
    # IT energy = units x (TDP + server) x (idle + (1 - idle) x u) x 8,760 h
    pavg = lambda tdp, srv: (tdp + srv) * (0.25 + 0.75 * 0.5)  # noqa: E731
    assert off.value("Energy|IT", 2024) == pytest.approx(1e6 * pavg(700, 575) * 8760 / 1e12)
    assert on.value("Energy|IT", 2024) == pytest.approx(b200 * pavg(1000, 787.5) * 8760 / 1e12)
    assert on.value("Energy", 2024) < off.value("Energy", 2024)
    # embodied: the same kg amortised over 2 years instead of 5 on fewer units
    assert on.value("Emissions|Embodied", 2024) == pytest.approx(b200 * 463 / 2 / 1e9)
    assert off.value("Emissions|Embodied", 2024) == pytest.approx(1e6 * 463 / 5 / 1e9)
    # before the start year nothing changes
    assert on.value("Energy", 2022) == off.value("Energy", 2022)


@pytest.mark.parametrize("start, shipped", [
    (2023, {2023: 1.0}),               # the 2020 H100s (age 3) retire at once in the start year
    (2021, {2022: 0.5, 2023: 0.5}),    # they retire mid-year at age 2.5, as they reach the new lifetime
])
def test_hardware_refresh_ships_the_replacements(start, shipped):
    """Fleet|Shipments counts the newest-class units that replace the retired compute, once,
    in the years the early retirements happen: 1e6 x 989 / 2250 B200s for 1e6 H100s."""
    off = run_projection(fleet_scenario())
    on = run_projection(fleet_scenario({"hardware_refresh": {"start_year": start, "lifetime_years": 2}}))
    b200 = 1e6 * 989 / 2250 / 1e6
    extra = on.central["Fleet|Shipments"][0] - off.central["Fleet|Shipments"][0]
    expected = np.array([shipped.get(y, 0.0) * b200 for y in on.scenario.years])
    np.testing.assert_allclose(extra, expected, rtol=1e-12, atol=1e-15)
    assert off.central["Fleet|Shipments"][0].sum() == pytest.approx(1.0)   # the 2020 shipments only


def test_hardware_refresh_longer_than_class_life_changes_nothing():
    # a longer "refresh" must not bring units retired before the start year back
    off = run_projection(fleet_scenario())
    on = run_projection(fleet_scenario({"hardware_refresh": {"start_year": 2025, "lifetime_years": 8}}))
    assert np.allclose(on.central["Fleet|Installed Accelerators"], off.central["Fleet|Installed Accelerators"])
    assert np.allclose(on.central["Fleet|Shipments"], off.central["Fleet|Shipments"])


@pytest.mark.parametrize("policy, words", [
    ({"magic": {"start_year": 2026}}, ["policy.magic", "unknown lever"]),
    ({"clean_power": {"start_year": 2026, "procurement_share": 1.5}}, ["procurement_share", "1.5", "out of range"]),
    ({"serving_efficiency": {"start_year": 2026, "quantisation_factor": 4}}, ["quantisation_factor", "[1.0, 1.3]"]),
    ({"right_sizing": {"share_moved": 0.5}}, ["right_sizing", "start_year"]),
    ({"demand_management": {"start_year": 2026, "growth_cap": 0.1, "phase_in_years": 3}},
     ["demand_management.phase_in_years"]),
    ({"facility_standards": {"start_year": 2026, "pue_cap": {"MARS": 1.1}}}, ["pue_cap", "MARS"]),
    ({"facility_standards": {"start_year": 2026, "pue_kap": 1.1}}, ["pue_kap", "unknown setting"]),
])
def test_bad_levers_give_one_message(policy, words):
    with pytest.raises(ScenarioError) as e:
        scen(policy)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_unknown_workload_in_a_lever_is_named():
    pol = {"demand_management": {"start_year": 2026, "growth_cap": 0.1, "workloads": ["chatbot"]}}
    with pytest.raises(ScenarioError, match="chatbot"):
        run_projection(scen(pol))
