"""The Streamlit app under AppTest (no browser): levers, pinned scenarios, the share link.

Each test drives the real page scripts; numbers are checked against the engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app_pages import compute, fmt  # noqa: E402
from app_pages import controls as C  # noqa: E402
from project.scenario import load_preset, preset_names  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app_pages" / "main.py")  # the page script app.py serves
SAMPLES = C.SAMPLES["standard"]


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return whole_page(at.run())


def in_first_paint(at: AppTest) -> bool:
    return "_headline_armed" in at.session_state and "_headline_painted" not in at.session_state


def whole_page(at: AppTest) -> AppTest:
    """A session's first run shows only the headline; in a browser a fragment timer 0.1 s later
    runs the whole page. AppTest has no timers: run again, as the timer would."""
    if in_first_paint(at):
        at.run()
        assert not in_first_paint(at)
    return at


def metric(at: AppTest, label_start: str):
    for m in at.metric:
        if m.label.startswith(label_start):
            return m
    raise AssertionError(f"no metric {label_start!r}: {[m.label for m in at.metric]}")


def energy(at: AppTest) -> str:
    return metric(at, "AI electricity").value


def query(at: AppTest) -> dict[str, list[str]]:
    return {k: at.query_params.get_all(k) if hasattr(at.query_params, "get_all") else at.query_params[k]
            for k in at.query_params}


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def engine_energy(name: str, cfg: dict | None = None, region: str = "World", year: int | None = None) -> str:
    s = C.build(name, {**C.default_cfg(name), **(cfg or {})})
    r = compute.run(s, SAMPLES)
    return fmt.energy(r.value("Energy", year or s.target_year, region=region))


def test_default_view_headline_is_the_median_with_its_range():
    at = app()
    ok(at)
    assert energy(at) == engine_energy("reference")
    m = metric(at, "AI electricity")
    assert m.label == "AI electricity, World, 2030" and m.delta.startswith("90% range ")
    assert metric(at, "Compared with").value.startswith("= ")
    assert any("What is counted" in md.value for md in at.markdown)
    assert len(at.get("vega_lite_chart")) >= 3
    assert at.query_params["preset"] in ("reference", ["reference"])


def test_first_run_of_a_session_shows_the_headline_alone_then_the_whole_page_with_the_same_numbers():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["preset"] = "reference"
    at.query_params["region"] = "chn"
    at.query_params["pue_cap"] = "1.2"
    at.run()
    ok(at)
    assert in_first_paint(at)
    first = [(m.label, m.value, m.delta) for m in at.metric]
    assert len(first) == 4 and first[0][0] == "AI electricity, China, 2030"
    assert any("What is counted" in md.value for md in at.markdown)
    # nothing else yet: no controls, no charts (the browser renders those after it has painted the cards)
    assert not at.sidebar.slider and not at.select_slider and not at.get("vega_lite_chart")
    assert at.query_params["pue_cap"] in ("1.2", ["1.2"])
    whole_page(at)
    ok(at)
    assert [(m.label, m.value, m.delta) for m in at.metric] == first
    assert at.select_slider(key="w:pue_cap").value == 1.2 and at.segmented_control(key="w:region").value == "chn"
    assert len(at.get("vega_lite_chart")) >= 3


def test_levers_move_the_headline_and_the_link():
    at = app()
    before = energy(at)
    at.select_slider(key="w:pue_cap").set_value(1.1).run()
    ok(at)
    assert energy(at) == engine_energy("reference", {"pue_cap": 1.1}) != before
    at.slider(key="w:policy.start").set_value(2028).run()
    ok(at)
    assert energy(at) == engine_energy("reference", {"pue_cap": 1.1, "policy.start": 2028})
    q = query(at)
    assert q["pue_cap"] in ("1.1", ["1.1"]) and q["policy.start"] in ("2028", ["2028"])
    # the savings-by-measure view appears once a measure is on, and splits the change
    at.radio(key="w:chartview").set_value("wedges").run()
    ok(at)
    assert any("Shapley" in c.value for c in at.caption)


def test_region_year_and_variable_choices():
    at = app()
    at.segmented_control(key="w:region").set_value("chn").run()
    ok(at)
    assert metric(at, "AI electricity").label == "AI electricity, China, 2030"
    assert energy(at) == engine_energy("reference", region="China")
    at.slider(key="w:year").set_value(2035).run()
    assert energy(at) == engine_energy("reference", {"year": 2035}, region="China", year=2035)
    at.radio(key="w:show").set_value("water").run()
    ok(at)
    assert query(at)["show"] in ("water", ["water"])


def test_pinned_scenarios_and_their_link_round_trip():
    at = app()
    at.select_slider(key="w:right_sizing").set_value(1.0).run()
    next(b for b in at.button if b.label == "Pin this scenario").click().run()
    at.selectbox(key="w:pin_add").set_value("iea-base").run()
    ok(at)
    pins = query(at)["pin"]
    assert pins == ["reference~right_sizing:1", "iea-base"]
    table = at.dataframe[0].value
    assert list(table["Scenario"])[0] == "This scenario" and len(table) == 3
    # a fresh session from the link: same pins, same headline
    link = {k: v for k, v in query(at).items()}
    at2 = AppTest.from_file(APP, default_timeout=120)
    for k, v in link.items():
        at2.query_params[k] = v
    whole_page(at2.run())
    ok(at2)
    assert energy(at2) == energy(at)
    assert query(at2)["pin"] == pins and len(at2.dataframe[0].value) == 3
    # unpin one
    next(b for b in at2.button if b.label.startswith("Unpin: IEA")).click().run()
    assert query(at2)["pin"] in (["reference~right_sizing:1"], "reference~right_sizing:1")


def test_bad_link_values_give_a_visible_plain_text_notice():
    at = app(preset="reference", right_sizing="1.7", pue_cap="abc",
             **{"[x](https://evil.example)": "1", "grid.country": "FRA"})
    assert not at.exception
    assert energy(at) == engine_energy("reference")  # nothing applied
    text = at.warning[0].value
    for named in ("right\\_sizing=1\\.7", "pue\\_cap=abc", "grid\\.country"):
        assert named in text, text
    assert "](" not in text and "https://" not in text
    assert at.select_slider(key="w:right_sizing").value is None


def test_back_and_forward_reload_the_view_from_the_link():
    at = app()
    at.select_slider(key="w:pue_cap").set_value(1.2).run()
    assert query(at)["pue_cap"] in ("1.2", ["1.2"])
    # the browser's Back restores the previous URL and reruns: the view follows it
    at.query_params.clear()
    at.query_params["preset"] = "reference"
    at.run()
    ok(at)
    assert at.select_slider(key="w:pue_cap").value is None
    assert energy(at) == engine_energy("reference")


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_renders_without_zeros_for_what_it_does_not_model(name):
    at = app(preset=name)
    ok(at)
    s = load_preset(name)
    assert energy(at) == engine_energy(name)
    r = compute.run(s, 0)
    water = metric(at, "Water consumed").value
    assert (water == fmt.NOT_MODELLED) == (not compute.modelled(r, "Water"))
    assert "0 L" not in water and not water.startswith("0 ")


def test_measurements_page_checks_pasted_rows_and_feeds_the_simulator():
    at = app(preset="paper-2023")
    at.switch_page("measurements.py").run()
    ok(at)
    at.text_area(key="m_paste").input("task;model;energy_kwh_per_inference\nImage Generation;tiny;0,0004\n"
                                      "image_gen;oops;1\n").run()
    assert not at.exception
    assert any("1 row(s) accepted" in s.value for s in at.success)
    assert any("Row" in str(list(d.value.columns)) for d in at.dataframe)
    at.toggle(key="m_use").set_value(True).run()
    at.switch_page("simulator.py").run()
    ok(at)
    assert any("your measurements" in i.value for i in at.info)
    assert query(at)["preset"] in ("paper-2023", ["paper-2023"])  # the view survived the page switch


def test_methodology_page_shows_backtest_tree_and_sources():
    at = app()
    at.switch_page("methodology.py").run()
    ok(at)
    heads = [h.value for h in at.header]
    assert "Back-test: the model against observed totals" in heads
    frames = [d.value for d in at.dataframe]
    assert any("Observed" in f.columns for f in frames)
    assert any("definition" in f.columns for f in frames)
    assert any("source" in f.columns and len(f) > 50 for f in frames)


# ---------------------------------------------------------------------------
# What the page says is what the engine computes; no Monte Carlo the page does not show


@pytest.fixture
def sampled_runs(monkeypatch):
    """The projections the pages compute, as (preset name, samples), from an empty run cache."""
    from app_pages import session

    calls: list[tuple[str, int]] = []
    for name in ("run", "run_shown"):
        fn = getattr(compute, name)

        def spy(scenario, samples, *a, _fn=fn, **kw):
            calls.append((scenario.name, samples))
            return _fn(scenario, samples, *a, **kw)

        monkeypatch.setattr(compute, name, spy)
    session._run.clear()
    yield calls
    session._run.clear()


def test_grid_country_options_show_the_intensity_the_engine_uses():
    at = app(grid="CHN")
    ok(at)
    s = C.build("reference", {**C.default_cfg("reference"), "grid": "CHN"})
    used = compute.run(s, 0).compiled.params["regions.CHN.grid_intensity_g_per_kwh"].central
    box = at.selectbox(key="w:grid")
    assert box.value == "CHN"
    assert f"China ({used:.0f} g CO₂e/kWh, 2024)" in box.options


def test_what_is_counted_is_the_central_run_and_its_parts_add_up():
    at = app(region="chn")
    ok(at)
    text = next(md.value for md in at.markdown if "What is counted" in md.value)
    r = compute.run(load_preset("reference"), 0)
    c = {v: r.value(v, 2030, "central", "China")
         for v in ("Energy", "Energy|Inference", "Energy|Training", "Energy|Unattributed", "Share|Attributed")}
    assert "central run" in text
    for v in ("Energy", "Energy|Inference", "Energy|Training", "Energy|Unattributed"):
        assert fmt.energy(c[v]) in text, (v, text)
    assert f"**{fmt.pct(c['Share|Attributed'])}**" in text
    assert energy(at) != fmt.energy(c["Energy"])  # the card keeps the Monte Carlo median


def test_default_comparison_country_comes_from_the_presets_central_run(sampled_runs):
    at = app(pue_cap="1.1")
    ok(at)
    mc = [(n, k) for n, k in sampled_runs if k > 0]
    assert mc == [("reference", SAMPLES)], sampled_runs  # one Monte Carlo: the scenario shown
    base = compute.run(load_preset("reference"), 0).value("Energy", 2030, "central")
    s = load_preset("reference")
    iso = compute.default_country(base, list(dict.fromkeys([*s.compare_with, *C.KNOWN_COUNTRIES])), 2024)
    assert metric(at, "Compared with").label == f"Compared with {compute.countries(2024).at[iso, 'country']}'s electricity"


def test_methodology_backtest_is_the_central_run_without_a_monte_carlo(sampled_runs):
    at = app()
    at.switch_page("methodology.py")
    sampled_runs.clear()
    at.run()
    ok(at)
    assert sampled_runs and all(k == 0 for _, k in sampled_runs), sampled_runs
    bt = next(d.value for d in at.dataframe if "Observed" in d.value.columns)
    want = compute.run(load_preset("reference"), 0).backtest
    assert sorted(bt["Modelled"].round(9)) == sorted(want["modelled"].round(9))
    assert any("central run of" in md.value for md in at.markdown)
