"""Each shipped reproduction preset reproduces its published figures within 2%; the model's
presets carry no published total as an input."""

import re

import pytest

from project.compare import equivalences, national_rank
from project.engine import run_projection
from project.paths import scenarios_dir
from project.scenario import apply_overrides, load_preset, preset_names


def close(actual, expected, rel=0.02):
    return actual == pytest.approx(expected, rel=rel)


def test_all_presets_load_and_run():
    names = preset_names()
    assert {"reference", "paper-2023", "devries-google-search", "devries-2027", "iea-base", "iea-lift-off",
            "iea-high-efficiency", "iea-headwinds"} <= set(names)
    for n in names:
        r = run_projection(load_preset(n), samples=100, seed=1)
        assert r.value("Energy") > 0, n


def test_paper_2023_image_generation_per_image():
    eq = equivalences(run_projection(load_preset("paper-2023"))).set_index("task")
    assert close(eq.at["image_generation", "wh_per_inference"], 2.907)  # Table 2
    assert round(eq.at["image_generation", "charges_per_inference"] * 100) == 24  # 24% of a 0.012 kWh charge


def test_paper_2023_sdxl_grams_and_km():
    eq = equivalences(run_projection(load_preset("paper-2023"))).set_index("task")
    assert close(eq.at["sdxl", "g_co2_per_1000"], 1594)
    assert close(eq.at["sdxl", "km_per_1000"], 6.5)
    assert close(eq.at["sdxl", "charges_per_inference_2024"] * 1000, 522)


def test_paper_2023_table2_all_tasks():
    expected = {"text_classification": 0.002, "extractive_qa": 0.003, "masked_lm": 0.003,
                "token_classification": 0.004, "image_classification": 0.007, "object_detection": 0.038,
                "text_generation": 0.047, "summarization": 0.049, "image_captioning": 0.063,
                "image_generation": 2.907}
    eq = equivalences(run_projection(load_preset("paper-2023"))).set_index("task")
    for task, kwh_per_1000 in expected.items():
        assert round(eq.at[task, "wh_per_inference"], 3) == pytest.approx(kwh_per_1000, abs=6e-4), task


def test_devries_google_search_29_3_twh_near_ireland():
    r = run_projection(load_preset("devries-google-search"))
    twh = r.value("Energy")
    assert close(twh, 29.3)
    assert close(r.value("Fleet|Energy"), 29.3)
    assert r.value("Share|Attributed") == pytest.approx(1.0, abs=0.01)  # the searches explain the whole fleet
    rank = national_rank(twh)
    names = set(rank.above["country"]) | set(rank.below["country"])
    assert "Ireland" in names or abs(rank.nearest["twh"] - twh) / twh < 0.25


@pytest.mark.parametrize("srv,expected", [(412.5, 85.4), (875.0, 134.0)])
def test_devries_2027_fleet(srv, expected):
    s = apply_overrides(load_preset("devries-2027"), [f"fleet.classes.a100.server_w_per_accelerator={srv}"])
    assert close(run_projection(s).value("Energy"), expected)


# Totals a preset must not type in: the published outputs the model is checked against.
PUBLISHED_TOTALS = ["415", "945", "1200", "1,200", "1700", "970", "700", "176", "183", "29.3", "85.4", "134"]


@pytest.mark.parametrize("name", [n for n in preset_names() if n not in ("paper-2023",)])
def test_no_published_total_is_an_input(name):
    text = (scenarios_dir() / f"{name}.toml").read_text(encoding="utf-8")
    body = re.sub(r'"""(.*?)"""', '""', text, flags=re.S)  # strings (sources, descriptions) may cite figures
    body = re.sub(r'"[^"\n]*"', '""', body)
    body = "\n".join(line.split("#")[0] for line in body.splitlines())
    numbers = set(re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w.])", body))
    assert not numbers & set(PUBLISHED_TOTALS), (name, numbers & set(PUBLISHED_TOTALS))
    assert "datacentres" not in body and "twh =" not in body
