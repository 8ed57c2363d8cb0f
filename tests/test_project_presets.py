"""Each shipped preset reproduces its published figures within 2%."""

import pytest

from project.compare import equivalences, national_rank
from project.engine import run_projection
from project.params import param
from project.scenario import apply_overrides, load_preset, preset_names


def close(actual, expected, rel=0.02):
    return actual == pytest.approx(expected, rel=rel)


def test_all_presets_load_and_run():
    names = preset_names()
    assert {"paper-2023", "devries-google-search", "devries-2027", "baseline-2025", "iea-base"} <= set(names)
    for n in names:
        r = run_projection(load_preset(n), samples=200, seed=1)
        assert r.value("Energy|Total") > 0, n


def test_paper_2023_image_generation_per_image():
    eq = equivalences(run_projection(load_preset("paper-2023"))).set_index("task")
    # 2.907 kWh per 1,000 images (Table 2)
    assert close(eq.at["image_generation", "wh_per_inference"], 2.907)
    # about 24% of a 0.012 kWh smartphone charge per image (arXiv v1 wording)
    assert close(eq.at["image_generation", "charges_per_inference"], 0.2423)
    assert round(eq.at["image_generation", "charges_per_inference"] * 100) == 24


def test_paper_2023_sdxl_grams_and_km():
    eq = equivalences(run_projection(load_preset("paper-2023"))).set_index("task")
    assert close(eq.at["sdxl", "g_co2_per_1000"], 1594)
    assert close(eq.at["sdxl", "km_per_1000"], 6.5)
    # 522 charges per 1,000 SDXL images at the FAccT version's 0.022 kWh per charge
    assert close(eq.at["sdxl", "charges_per_inference_2024"] * 1000, 522)


def test_paper_2023_table2_all_tasks():
    expected = {"text_classification": 0.002, "extractive_qa": 0.003, "masked_lm": 0.003,
                "token_classification": 0.004, "image_classification": 0.007, "object_detection": 0.038,
                "text_generation": 0.047, "summarization": 0.049, "image_captioning": 0.063,
                "image_generation": 2.907}
    eq = equivalences(run_projection(load_preset("paper-2023"))).set_index("task")
    for task, kwh_per_1000 in expected.items():
        # Table 2 is printed to 3 decimals: compare at that precision
        assert round(eq.at[task, "wh_per_inference"], 3) == pytest.approx(kwh_per_1000, abs=6e-4), task


def test_devries_google_search_29_3_twh_near_ireland():
    r = run_projection(load_preset("devries-google-search"))
    twh = r.value("Energy|Total")
    assert close(twh, 29.3)
    assert close(r.value("Energy|Demand side"), 29.3)
    assert r.value("Utilisation|Reconciling") == pytest.approx(1.0, abs=0.01)
    rank = national_rank(twh)
    # codecarbon's 2023 generation figures put Azerbaijan and Slovakia closer than Ireland
    # (31.4 TWh); Ireland is still among the three nearest above, within 10%.
    assert "Ireland" in set(rank.above["country"])
    ireland = rank.above.set_index("country").at["Ireland", "twh"]
    assert abs(ireland - twh) / ireland < 0.10


@pytest.mark.parametrize("kw,expected", [(6.5, 85.4), (10.2, 134.0)])
def test_devries_2027_fleet(kw, expected):
    s = apply_overrides(load_preset("devries-2027"), [f"fleet.power_kw_per_server={kw}"])
    r = run_projection(s)
    assert close(r.value("Energy|Total"), expected)


def test_devries_2027_beside_argentina_netherlands_sweden():
    low = run_projection(load_preset("devries-2027")).value("Energy|Total")
    high = run_projection(apply_overrides(load_preset("devries-2027"), ["fleet.power_kw_per_server=10.2"])).value(
        "Energy|Total")
    from project.national import country_lookup
    nld, arg, swe = (country_lookup(c)["twh"] for c in ("NLD", "ARG", "SWE"))
    # the range 85-134 TWh brackets the Netherlands and sits just below Argentina and Sweden
    assert low < nld < high < arg < swe
    assert high / swe > 0.75


@pytest.mark.parametrize("preset,year,twh", [
    ("iea-base", 2024, 415), ("iea-base", 2030, 945), ("iea-base", 2035, 1200),
    ("iea-lift-off", 2035, 1700), ("iea-high-efficiency", 2035, 970), ("iea-headwinds", 2035, 700),
])
def test_iea_datacentre_anchors(preset, year, twh):
    r = run_projection(load_preset(preset))
    assert close(r.value("Energy|Data centres", year), twh)
    assert 0 < r.value("Energy|Total", year) < r.value("Energy|Data centres", year)


def test_iea_world_share_2024_about_1_5_percent():
    from project.compare import share_of_world
    r = run_projection(load_preset("iea-base"))
    # 415 TWh over 2025 world demand: the IEA's "about 1.5%" is over 2024 demand
    assert share_of_world(r.value("Energy|Data centres", 2024)) == pytest.approx(0.013, abs=0.002)


def test_baseline_2025_chatbot_energy_matches_published_usage():
    s = load_preset("baseline-2025")
    r = run_projection(s)
    # 2.5 billion queries/day x 0.3 Wh x PUE 1.3 in 2025 (efficiency and growth start from 2025)
    expected = 2.5e9 * 365 * 0.0003 * 1.3 / 1e9
    assert close(r.value("Energy|Inference|chatbot", 2025), expected)
    assert param("chatbot_query_kwh") == pytest.approx(0.0003)
