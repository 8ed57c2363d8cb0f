"""The app's Streamlit-free modules (app_pages/fmt, controls, compute, tables, charts, uploads).

No browser, no Streamlit: the view state, the share link and its notices, what each
control changes in the scenario, and that no control position or link value breaks a run.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_pages import charts, compute, fmt, tables, uploads
from app_pages import controls as C
from project.engine import run_projection
from project.national import country_lookup
from project.scenario import ScenarioError, load_preset, preset_names

ROOT = Path(__file__).resolve().parent.parent
PURE = ("fmt", "controls", "compute", "tables", "charts", "uploads")


def test_pure_modules_do_not_import_streamlit():
    for name in PURE:
        tree = ast.parse((ROOT / "app_pages" / f"{name}.py").read_text(encoding="utf-8"))
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(m.split(".")[0] == "streamlit" for m in mods), name


def test_app_support_left_the_model_package():
    assert not (ROOT / "project" / "app_support.py").exists()


# ---------------------------------------------------------------------------
# Formatting


@pytest.mark.parametrize("fn, x, out", [
    (fmt.energy, 667.7, "668 TWh"), (fmt.energy, 1187.2, "1,187 TWh"), (fmt.energy, 0.0123, "12.3 GWh"),
    (fmt.emissions, 0.5, "500 kt CO₂e"), (fmt.water, 3106.2, "3.11 billion m³"), (fmt.water, 247.0, "247 million m³"),
    (fmt.pct, 0.0257, "2.6%"), (fmt.pct, 18.82, "1,882%"), (fmt.count, 2.5e9, "2.5 billion"),
])
def test_formatters(fn, x, out):
    assert fn(x) == out


def test_span_shares_the_unit():
    assert fmt.span("Energy", 498.3, 909.6) == "498–910 TWh"
    assert fmt.span("Energy", 0.5, 2.0) == "500 GWh – 2.00 TWh"


def test_plain_text_defuses_markdown_links_images_and_directives():
    s = fmt.plain("[click](https://evil.example/x) ![i](https://evil.example/a.png) :red[big] <b>x</b> www.evil.example")
    for bad in ("](", "![", ":red[", "<b>", "https://", "www."):
        assert bad not in s, (bad, s)
    assert "click" in s and "evil" in s  # the characters are still there, as text
    assert len(fmt.plain("x" * 1000, 80)) <= 160


# ---------------------------------------------------------------------------
# Controls -> scenario


def test_levers_map_to_the_policy_section():
    cfg = C.default_cfg("reference")
    cfg.update({"right_sizing": 0.5, "pue_cap": 1.2, "policy.start": 2027, "policy.phase_in": 2})
    s = C.build("reference", cfg)
    assert s.policy["right_sizing"] == {"share_moved": 0.5, "start_year": 2027, "phase_in_years": 2}
    assert s.policy["facility_standards"] == {"pue_cap": 1.2, "start_year": 2027, "phase_in_years": 2}
    cfg["right_sizing"] = None
    assert "right_sizing" not in C.build("reference", cfg).policy


def test_a_preset_lever_keeps_its_own_timing_until_the_timing_moves():
    name = "iea-high-efficiency"
    cfg = C.default_cfg(name)
    assert cfg["pue_cap"] == 1.15 and cfg["policy.start"] == 2025
    cfg["standard"] = 3
    s = C.build(name, cfg)
    assert s.policy["facility_standards"] == C.preset(name).policy["facility_standards"]
    assert s.policy["efficiency_standard"]["min_stars"] == 3
    cfg["policy.start"] = 2030
    assert C.build(name, cfg).policy["facility_standards"]["start_year"] == 2030
    cfg2 = C.default_cfg(name)
    cfg2["pue_cap"] = None
    assert "facility_standards" not in C.build(name, cfg2).policy


def _energy(name: str, cfg: dict, var: str = "Energy") -> float:
    return run_projection(C.build(name, cfg), samples=0).value(var)


@pytest.mark.parametrize("key, value, direction, var", [
    ("pue_cap", 1.1, -1, "Energy"), ("growth_cap", 0.0, -1, "Energy"), ("batching", 3.0, -1, "Energy"),
    ("lifetime", 3.0, 0, "Energy"), ("shipments.growth", 0.3, +1, "Energy"), ("reasoning", 0.5, +1, "Energy"),
    ("pue", 1.8, +1, "Energy"), ("utilisation", 0.9, +1, "Energy"),
    # the fleet sets the total: more requests raise the attributed part, not the total
    ("llm_text.growth", 1.0, +1, "Energy|Inference"), ("llm_text.requests", 1e10, +1, "Energy|Inference"),
    ("clean_power", 1.0, -1, "Emissions|Market-based"), ("wue_cap", 0.1, -1, "Water|On-site"),
])
def test_each_control_moves_its_outcome_the_documented_way(key, value, direction, var):
    base = C.default_cfg("reference")
    before = _energy("reference", base, var)
    after = _energy("reference", {**base, key: value}, var)
    if direction == 0:
        assert math.isfinite(after)
    else:
        assert (after - before) * direction > 0, (key, before, after)


def test_grid_country_is_used_for_the_emissions_it_shows():
    """?grid=FRA: every region computes with France's intensity; the old key is named, not used."""
    view, notes = C.decode({"preset": "reference", "grid": "FRA"})
    assert view.cfg["grid"] == "FRA" and not notes
    r = run_projection(C.build(view.preset, view.cfg), samples=0)
    fra = float(country_lookup("FRA", 2024)["intensity_g_per_kwh"])
    for reg in ("USA", "CHN", "EUR", "ROW"):
        assert r.compiled.params[f"regions.{reg}.grid_intensity_g_per_kwh"].central == pytest.approx(fra)
    assert C.grid_label("FRA").startswith("France (")
    view, notes = C.decode({"preset": "reference", "grid.country": "FRA"})
    assert view.cfg["grid"] == "" and any("grid.country" in n for n in notes)
    # a custom number replaces the country; the label says what is computed
    view, _ = C.decode({"preset": "paper-2023", "grid": "250"})
    r = run_projection(C.build(view.preset, view.cfg), samples=0)
    assert r.compiled.params["regions.USA.grid_intensity_g_per_kwh"].central == 250
    assert C.grid_label(250.0) == "Custom: 250 g CO₂e/kWh"


# ---------------------------------------------------------------------------
# Share links


def test_link_round_trip_with_pins_and_view():
    v = C.View(preset="reference", region="chn", show="water", view="wedges", cmp="JPN", precision="precise")
    v.cfg = C.default_cfg("reference")
    v.cfg.update({"right_sizing": 0.25, "llm_text.requests": 7.5e9, "grid": "FRA", "year": 2033})
    v.pins = [C.Pin("iea-base", {"pue_cap": 1.2}), C.Pin("devries-2027")]
    q = C.encode(v)
    back, notes = C.decode(q)
    assert not notes
    assert back == v
    assert q["pin"] == ["iea-base~pue_cap:1.2", "devries-2027"]


@pytest.mark.parametrize("params, expect", [
    ({"preset": "nope"}, "preset=nope"),
    ({"right_sizing": "1.7"}, "right_sizing=1.7 is out of range"),
    ({"pue_cap": "abc"}, "pue_cap=abc is not a number"),
    ({"pue_cap": "nan"}, "not a finite number"),
    ({"year": "2031.5"}, "not a whole year"),
    ({"year": "2099"}, "year=2099 is out of range"),
    ({"region": "mars"}, "region=mars"),
    ({"cmp": "XXX"}, "cmp=XXX"),
    ({"grid": "Atlantis"}, "grid=Atlantis"),
    ({"pin": ["reference~pue_cap:9"]}, "pinned scenario"),
    ({"pin": ["reference"] * 4}, "kept the first 3"),
    ({"zzz": "1"}, "unknown setting zzz"),
    ({"video_generation.requests": "5e9"}, "video_generation.requests=5e9 is out of range"),
])
def test_bad_link_values_are_named_and_not_used(params, expect):
    v, notes = C.decode({"preset": "reference", **params} if "preset" not in params else params)
    assert any(expect in n for n in notes), notes
    d = C.default_cfg(v.preset)
    assert {k: v.cfg[k] for k in d} == d or "pin" in params


def test_unknown_key_names_a_control_of_another_preset():
    _, notes = C.decode({"preset": "devries-2027", "right_sizing": "0.5"})
    assert any("no such control" in n for n in notes)


def test_an_off_grid_value_in_range_is_kept_and_shown():
    v, notes = C.decode({"preset": "reference", "right_sizing": "0.33"})
    assert not notes and v.cfg["right_sizing"] == 0.33
    assert 0.33 in C.by_key("reference")["right_sizing"].choices(0.33)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(C._all_keys() | C.VIEW_KEYS | {"x", "grid.country"})),
                       st.one_of(_text, st.floats(allow_nan=True).map(str), st.lists(_text, max_size=4)),
                       max_size=6))
def test_fuzzed_links_never_raise(params):
    v, notes = C.decode(params)
    assert all(isinstance(n, str) for n in notes)
    try:
        C.build(v.preset, v.cfg)
    except ScenarioError:
        pytest.fail(f"a decoded link built an invalid scenario: {params}")
    C.encode(v)


# ---------------------------------------------------------------------------
# Every control position runs (issue 12, item 4)


@pytest.mark.parametrize("name", ["reference", "paper-2023", "devries-2027"])
def test_every_position_of_every_control_runs(name):
    base = C.default_cfg(name)
    for c in C.controls_for(name):
        if c.kind == "select":
            values = c.choices()
        elif c.kind == "year":
            values = [int(c.lo), int(c.hi)]
        elif c.kind == "number":
            values = [0.0, c.default * 10]
        else:
            values = ["", "FRA", 0.0, 2000.0]
        for v in values:
            r = run_projection(C.build(name, {**base, c.key: v}), samples=0)
            assert np.isfinite(r.value("Energy")), (c.key, v)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_combinations_of_lever_positions_run(data):
    cfg = C.default_cfg("reference")
    for c in C.controls_for("reference"):
        if c.kind == "select" and data.draw(st.booleans()):
            cfg[c.key] = data.draw(st.sampled_from(c.choices()))
    r = run_projection(C.build("reference", cfg), samples=50)
    assert np.isfinite(r.value("Energy")) and r.value("Energy", stat="p5") <= r.value("Energy", stat="p95")


# ---------------------------------------------------------------------------
# Numbers and tables


def test_run_gives_the_engines_numbers():
    s = load_preset("reference")
    a = run_projection(s, samples=300, seed=0)
    b = compute.run(s, 300)
    assert set(b.percentiles) == set(a.percentiles)
    for k in a.percentiles:
        np.testing.assert_array_equal(a.percentiles[k], b.percentiles[k])
    assert b.value("Energy") == a.value("Energy")


def test_headline_says_not_modelled_for_water_set_to_zero():
    r = compute.run(load_preset("paper-2023"), 100)
    h = compute.headline(r, 2023)
    assert not h.water.modelled and h.energy.modelled
    r = compute.run(load_preset("reference"), 200)
    h = compute.headline(r, 2030, "China")
    assert h.energy.has_range and h.energy.p5 < h.energy.p50 < h.energy.p95
    assert h.attributed_share == pytest.approx(r.value("Share|Attributed", 2030, region="China"))


def test_default_country_is_nearest_on_a_log_scale_and_stable():
    assert compute.default_country(500, ["USA", "DEU", "IRL"], 2024) == "DEU"
    assert compute.default_country(35, ["USA", "DEU", "IRL"], 2024) == "IRL"
    share, name, twh, year = compute.country_share(502.32, "DEU", 2024)
    assert name == "Germany" and year == 2024 and share == pytest.approx(502.32 / twh)


def test_reference_lines_fit_the_chart_and_do_not_crowd():
    refs = tables.reference_lines(1100, ["JPN", "USA", "BRA", "DEU", "FRA", "GBR"], 2024)
    assert list(refs["name"])[:1] == ["Japan"] and "United States" not in set(refs["name"])
    gaps = np.diff(sorted(refs["twh"]))
    assert (gaps > 0.07 * 1100).all()


def test_band_table_and_description():
    r = compute.run(load_preset("reference"), 200)
    b = tables.band_table(r, "Energy", "World", "This scenario")
    assert (b["p5"] <= b["p50"] + 1e-9).all() and (b["p50"] <= b["p95"] + 1e-9).all()
    text = tables.describe_trajectory(b, "Energy", "AI electricity, World", 2030)
    assert "90% range" in text and "2030" in text


def test_chart_export_carries_title_scenarios_sources_and_link():
    r = compute.run(load_preset("reference"), 100)
    b = tables.band_table(r, "Energy", "World", "This scenario")
    ch = charts.trajectory(b, "TWh per year", "AI electricity, World", 2030)
    fig = charts.export_chart(ch, "AI electricity, World", ["Scenarios: This scenario", "Band: 5th-95th"],
                              ["IEA (2025)"], "http://localhost/?preset=reference&pue_cap=1.2")
    svg = charts.to_svg(fig).decode()
    for text in ("AI electricity, World", "Scenarios: This scenario", "IEA (2025)", "pue_cap=1.2"):
        assert text in svg.replace("&amp;", "&"), text
    png = charts.to_png(fig, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_equations_come_from_the_engine():
    eq = tables.equations()
    assert "Energy" in eq and "PUE" in eq and "=" in eq and len(eq.splitlines()) >= 5


def test_backtest_and_variable_tree_tables():
    r = compute.run(load_preset("reference"), 0)
    bt = tables.backtest_table(r)
    assert len(bt) >= 5 and bt["Error"].str.contains("calibrated").any()
    vt = tables.variable_tree(r)
    row = vt.set_index("variable").loc["Energy"]
    assert row["unit"] == "TWh/yr" and "Inference" in row["sum of"] and row["definition"]


# ---------------------------------------------------------------------------
# Uploads


def test_upload_is_validated_once_per_content():
    data = b"task;model;energy_kwh_per_inference\nImage Generation;m;0,0009\n"
    n = uploads.validations
    a = uploads.check(data, "a.csv")
    b = uploads.check(data, "a.csv")
    assert a is b and uploads.validations == n + 1
    assert a.ok and list(a.summary["task"]) == ["image_generation"]


def test_upload_limits_columns_and_cells_before_parsing():
    wide = (",".join(f"c{i}" for i in range(100_000)) + "\n").encode()
    chk = uploads.check(wide, "wide.csv")
    assert chk.error and "columns" in chk.error


def test_template_is_accepted_and_matches_the_study_preset():
    chk = uploads.check(uploads.template(), "template.csv")
    assert chk.ok
    assert uploads.matching_workloads(C.preset("paper-2023"), list(chk.summary["task"]))


def test_every_preset_has_controls_and_defaults_that_build():
    for name in preset_names():
        cfg = C.default_cfg(name)
        assert C.overrides(name, cfg) == {}
        assert C.build(name, cfg) is C.preset(name)


def test_the_page_run_shows_exactly_the_full_runs_numbers():
    for name, cfg in (("reference", {"pue_cap": 1.2, "right_sizing": 0.5}), ("paper-2023", {}),
                      ("devries-2027", {"lifetime": 4.0})):
        s = C.build(name, {**C.default_cfg(name), **cfg})
        full = run_projection(s, samples=400, seed=0)
        shown = compute.run_shown(s, 400)
        assert set(shown.percentiles) == set(compute.SHOWN) & set(full.percentiles)
        for v in compute.SHOWN:
            if v in full.percentiles:
                np.testing.assert_array_equal(shown.percentiles[v], full.percentiles[v], err_msg=v)
        for k in full.central:
            np.testing.assert_array_equal(shown.central[k], full.central[k], err_msg=k)
        assert shown.warnings == full.warnings


# ---------------------------------------------------------------------------
# What the page says matches what the engine computes (review of ae8f1b7)


@pytest.mark.parametrize("iso", ["CHN", "UKR"])
def test_grid_label_shows_the_intensity_and_year_the_engine_computes_with(iso):
    """China's latest row (2025) differs from the 2024 value the engine uses; Ukraine has no
    2024 intensity, so the engine takes an earlier year and the label must say which."""
    from project.engine import GRID_BASE_YEAR
    from project.national import national_table

    r = run_projection(C.build("reference", {**C.default_cfg("reference"), "grid": iso}), samples=0)
    used = r.compiled.params["regions.USA.grid_intensity_g_per_kwh"].central
    rows = national_table()
    rows = rows[(rows["iso_code"] == iso) & rows["carbon_intensity_g_per_kwh"].notna()
                & (rows["year"] <= GRID_BASE_YEAR)]
    year = int(rows["year"].max())
    assert (year == 2024) == (iso == "CHN")
    assert C.grid_label(iso) == f"{country_lookup(iso)['country']} ({used:.0f} g CO₂e/kWh, {year})"


def test_every_grid_country_option_is_the_engines_value_year_and_name():
    """The grid options are labelled from one pass over the national table: each must be what
    the engine's grid_intensity_of gives that country (value, year and name)."""
    from project.engine import GRID_BASE_YEAR
    from project.model.regions import grid_intensity_of
    from project.national import national_electricity

    for iso in national_electricity()["iso_code"]:
        name, g, year = C.grid_intensity(iso)
        value, source = grid_intensity_of(iso, GRID_BASE_YEAR)
        assert (g, source.startswith(f"{name} {year}, ")) == (value, True), (iso, name, g, year, source)


@pytest.mark.parametrize("name, region", [("reference", "World"), ("reference", "China"), ("paper-2023", "World")])
def test_what_is_counted_parts_add_up_in_the_central_run(name, region):
    s = load_preset(name)
    r = compute.run_shown(s, 200)
    k = tables.counted(r, s.target_year, region)
    assert k.total == r.value("Energy", s.target_year, "central", region)
    assert k.inference + k.training + k.unattributed == pytest.approx(k.total, rel=1e-12)
    if s.fleet is not None:
        assert k.attributed_share * k.total == pytest.approx(k.inference + k.training, rel=1e-12)
    assert k.total != r.value("Energy", s.target_year, region=region) or name == "paper-2023"  # not the median


def test_chart_axis_units_are_the_models_units():
    assert [fmt.axis_unit(C.SHOW[k][0]) for k in C.SHOW] == [
        "TWh per year", "Mt CO₂e per year", "million m³ per year", "TWh per year", "GW"]


def test_matching_workloads_follows_the_engines_rule_for_references_and_measured_tasks():
    from project.engine import with_measured_energy

    s = C.preset("paper-2023")
    tasks = ["image_generation", "text_classification"]
    assert uploads.matching_workloads(s, tasks) == [s.workloads[w].label or w
                                                   for w in with_measured_energy(s, pd.DataFrame({"task": tasks}))[1]]
    # a workload already switched to measured records (energy.measurements) still matches its task
    measured, switched = with_measured_energy(s, pd.DataFrame({"task": ["image_generation"]}))
    assert measured.workloads[switched[0]].energy.measurements == "image_generation"
    assert uploads.matching_workloads(measured, ["image_generation"]) == uploads.matching_workloads(s, ["image_generation"])
    assert uploads.matching_workloads(s, ["no_such_task"]) == []


def test_charts_keep_axes_readable():
    """Bar axes about one tick per 100 px (Vega's default crowded 28 labels at 1440 px); the wedge
    chart's years end at the data's last year; country labels on the trajectory sit on a white
    outline so they stay readable over the band."""
    ct = tables.country_table(673, 497, 901, "AI, World, 2030", ["USA", *C.KNOWN_COUNTRIES], 2024)
    ct["end"], ct["label"] = ct["twh"], ct["twh"].map(str)
    axis = charts.countries(ct, "t")["layer"][0]["encoding"]["x"]["axis"]
    assert axis["tickCount"] == {"expr": "ceil(width / 100)"}
    lines = pd.DataFrame({"year": [2020, 2035], "series": "With the measures", "value": [1.0, 2.0]})
    stack = pd.DataFrame({"year": [2020, 2035], "label": "x", "lo": [0.0, 1.0], "hi": [1.0, 2.0], "saving": 1.0})
    x = charts.wedges(stack, lines, "TWh per year", "t")["layer"][0]["encoding"]["x"]
    assert x["scale"] == {"domain": [2020, 2035], "nice": False}
    bands = pd.DataFrame({"year": [2020, 2035], "series": "s", "p50": [1.0, 900.0], "p5": np.nan, "p95": np.nan})
    refs = pd.DataFrame({"name": ["Brazil"], "twh": [760.0], "label": ["Brazil 760 TWh"]})
    texts = [ly["mark"] for ly in charts.trajectory(bands, "TWh", "t", 2030, refs)["layer"]
             if ly["mark"].get("type") == "text"]
    assert [m.get("stroke") for m in texts] == ["white", None]


def test_nice_ceiling_moves_in_coarse_steps():
    assert [charts.nice_ceiling(x) for x in (0.9, 1.0, 1.01, 7.3, 727, 1001, 2.6e-3)] == \
        pytest.approx([0.9, 1.0, 1.25, 8.0, 800.0, 1250.0, 3e-3])
    assert charts.nice_ceiling(0.0) == charts.nice_ceiling(float("nan")) == 1.0
    xs = np.geomspace(1e-3, 1e4, 500)
    assert all(1.0 <= charts.nice_ceiling(x) / x <= 1.25 + 1e-9 for x in xs)


def test_chart_specs_stay_the_same_when_only_the_figures_move():
    """A slider press changes the numbers; the spec (less its data, and the value axis's end, which
    moves in coarse steps: test above) must not change, or the browser rebuilds the chart instead of
    updating its data (about 80 ms per chart on 2 cores)."""

    def spec_only(spec: dict) -> str:
        text = json.dumps({k: v for k, v in spec.items() if k not in ("datasets", "data")}, sort_keys=True)
        return re.sub(r'"domain": \[0, [0-9.e+-]+\]', '"domain": [0, END]', text)

    r1 = compute.run(load_preset("reference"), 200)
    r2 = compute.run(C.build("reference", {**C.default_cfg("reference"), "pue_cap": 1.3}), 200)
    assert r1.value("Energy", 2030) != r2.value("Energy", 2030)
    specs = []
    for r in (r1, r2):
        b = tables.band_table(r, "Energy", "World", "This scenario")
        refs = tables.reference_lines(float(b["p95"].max()), ["BRA", *C.KNOWN_COUNTRIES], 2024)
        refs["label"] = refs["name"]
        e = r.value("Energy", 2030)
        ct = tables.country_table(e, 0.8 * e, 1.2 * e, "AI", ["BRA", *C.KNOWN_COUNTRIES], 2024)
        ct["end"], ct["label"] = ct["twh"], ct["twh"].map(str)
        rt = tables.regions_table(r, "Energy", 2030)
        rt["end"], rt["label"] = rt["p95"], rt["p50"].map(str)
        specs.append([spec_only(charts.trajectory(b, "TWh per year", "AI electricity, World", 2030, refs)),
                      spec_only(charts.countries(ct, "AI and countries' electricity")),
                      spec_only(charts.regions(rt, "TWh per year", "By region, 2030"))])
    assert specs[0] == specs[1]
    # the order of the bars is data (rank), not spec: a reordering keeps the spec
    ct2 = ct.iloc[::-1].reset_index(drop=True)
    assert spec_only(charts.countries(ct2, "t")) == spec_only(charts.countries(ct, "t"))
