"""The Streamlit app under AppTest (no browser): controls, presets, uploads, URL state."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from project import app_support as sup  # noqa: E402
from project.engine import run_projection  # noqa: E402
from project.scenario import load_preset, preset_names  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def metric(at: AppTest, label_start: str):
    for m in at.metric:
        if m.label.startswith(label_start):
            return m
    raise AssertionError(f"no metric {label_start!r}: {[m.label for m in at.metric]}")


def twh(at: AppTest) -> str:
    return metric(at, "Electricity in").value


def to_twh(text: str) -> float:
    v, unit = text.replace(",", "").split()
    return float(v) * {"TWh": 1, "GWh": 1e-3, "MWh": 1e-6}[unit]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_default_view_shows_the_preset_headline():
    at = app()
    no_exception(at)
    expected = run_projection(load_preset("baseline-2025")).value("Energy|Total")
    assert twh(at) == sup.fmt_energy_twh(expected)
    assert metric(at, "About as much as").value
    assert len(at.get("vega_lite_chart")) >= 6
    assert dict(at.query_params) == {"preset": ["baseline-2025"]} or at.query_params["preset"] == "baseline-2025"


@pytest.mark.parametrize("key, value, direction", [
    ("ctl:facility.pue", 1.8, +1),
    ("ctl:hardware.efficiency_gain_per_year", 40.0, -1),
    ("ctl:tasks.chatbot.growth_per_year", 100.0, +1),
])
def test_slider_moves_headline_in_the_right_direction(key, value, direction):
    at = app()
    before = to_twh(twh(at))
    at.slider(key=key).set_value(value).run()
    no_exception(at)
    after = to_twh(twh(at))
    assert (after - before) * direction > 0, (before, after)
    assert metric(at, "Electricity in").delta.startswith("+" if direction > 0 else "-")


def test_select_slider_and_emissions_follow_grid():
    at = app()
    co2 = metric(at, "CO₂e").value
    at.select_slider(key="ctl:tasks.chatbot.inferences_per_day").set_value(1e10).run()
    assert to_twh(twh(at)) > 1.0
    at.selectbox(key="ctl:grid.country").set_value("FRA").run()
    no_exception(at)
    assert at.slider(key="ctl:grid.intensity_g_per_kwh").value < 100
    assert metric(at, "CO₂e").value != co2
    assert at.query_params["grid.country"] == "FRA"


def test_switching_preset_restores_its_figures():
    at = app()
    at.slider(key="ctl:facility.pue").set_value(1.9).run()
    at.selectbox(key="preset_select").set_value("devries-2027").run()
    no_exception(at)
    expected = run_projection(load_preset("devries-2027")).value("Energy|Total")
    assert twh(at) == sup.fmt_energy_twh(expected)  # 85.4 TWh
    assert metric(at, "Electricity in").delta is None or metric(at, "Electricity in").delta == ""
    # the supply preset shows fleet sliders, not task sliders
    keys = {s.key for s in at.slider}
    assert "ctl:fleet.power_kw_per_server" in keys
    at.slider(key="ctl:fleet.power_kw_per_server").set_value(10.2).run()
    assert to_twh(twh(at)) == pytest.approx(134.0, rel=0.01)  # de Vries: DGX H100
    at.button[0].click().run()  # reset to preset
    assert twh(at) == sup.fmt_energy_twh(expected)
    at.selectbox(key="preset_select").set_value("baseline-2025").run()
    assert at.slider(key="ctl:facility.pue").value == pytest.approx(1.3)
    assert twh(at) == sup.fmt_energy_twh(run_projection(load_preset("baseline-2025")).value("Energy|Total"))


def test_every_preset_renders():
    at = app()
    for name in preset_names():
        at.selectbox(key="preset_select").set_value(name).run()
        no_exception(at)
        assert twh(at) == sup.fmt_energy_twh(run_projection(load_preset(name)).value("Energy|Total")), name


def test_query_params_round_trip():
    at = app(preset="baseline-2025", **{"facility.pue": "1.5", "target_year": "2033",
                                        "tasks.chatbot.inferences_per_day": "5e9"})
    no_exception(at)
    assert at.slider(key="ctl:facility.pue").value == pytest.approx(150 / 100)
    assert at.slider(key="ctl:target_year").value == 2033
    state = sup.default_state("baseline-2025")
    state.update({"facility.pue": 1.5, "target_year": 2033, "tasks.chatbot.inferences_per_day": 5e9})
    expected = run_projection(sup.build_scenario("baseline-2025", state)).value("Energy|Total")
    assert twh(at) == sup.fmt_energy_twh(expected)
    # the URL written back reproduces the same view in a new session
    q = {k: at.query_params[k] for k in at.query_params}
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in q.items()}
    assert q["facility.pue"] == "1.5" and q["target_year"] == "2033"
    at2 = app(**q)
    assert twh(at2) == twh(at)
    # moving a slider updates the URL
    at.slider(key="ctl:facility.pue").set_value(1.2).run()
    assert at.query_params["facility.pue"] in ("1.2", ["1.2"])


def test_bad_link_is_ignored_with_a_message():
    at = app(preset="no-such-preset", **{"facility.pue": "abc"})
    assert not at.exception
    assert twh(at) == sup.fmt_energy_twh(run_projection(load_preset("baseline-2025")).value("Energy|Total"))
    assert len(at.toast) >= 1


def test_bad_upload_shows_its_message_and_good_rows_drive_the_projection():
    at = app()
    before = to_twh(twh(at))
    at.switch_page("app_pages/measurements.py").run()
    no_exception(at)
    at.text_area(key="m_paste").input("task,model\nimage_generation,x\n").run()
    assert not at.exception
    assert any("Missing column" in e.value for e in at.error)
    at.text_area(key="m_paste").input(
        "task,model,kwh_per_inference\nimage_generation,tiny-model,0.00001\nimage_gen,oops,1\n").run()
    assert not at.exception
    assert any("1 row(s) rejected" in w.value for w in at.warning)
    assert any("unknown task" in str(v) for v in at.dataframe[-2].value["Reason"]) or \
        any("unknown task" in str(df.value.to_string()) for df in at.dataframe)
    at.toggle(key="m_use").set_value(True).run()
    at.switch_page("app_pages/simulator.py").run()
    no_exception(at)
    assert to_twh(twh(at)) < before  # image generation now at 0.01 Wh instead of 2.9 Wh


def test_methodology_page_lists_parameters_and_caveats():
    at = app()
    at.switch_page("app_pages/methodology.py").run()
    no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert "idle" in text and "constant" in text
    assert any(len(df.value) > 40 for df in at.dataframe)  # data/parameters.csv
    assert any("Supply side(y)" in c.value for c in at.code)


def test_project_records_page_and_toggle(tmp_path, monkeypatch):
    import json

    at = app()
    before = to_twh(twh(at))
    at.switch_page("app_pages/measurements.py").run()
    assert any("No measurement records yet" in i.value for i in at.info)
    store = tmp_path / "measurements" / "store1"
    store.mkdir(parents=True)
    with open(store / "records.jsonl", "w", encoding="utf-8") as f:
        for i, e in enumerate([1e-4, 2e-4]):
            f.write(json.dumps({"record_id": str(i), "trial_key": f"k{i}", "repeat_index": 0,
                                "task": "image_generation", "model": "tiny-sd", "status": "ok", "phase": "inference",
                                "energy_kwh_per_inference": e, "backend": "fake", "weights": "random-init"}) + "\n")
    monkeypatch.setattr(sup, "data_dir", lambda: tmp_path)
    at.run()
    no_exception(at)
    assert any("2 records" in c.value for c in at.caption)
    at.toggle(key="m_use_records").set_value(True).run()
    at.switch_page("app_pages/simulator.py").run()
    no_exception(at)
    assert to_twh(twh(at)) < before


def test_model_picker_changes_the_task_energy():
    at = app()
    before = to_twh(twh(at))
    at.selectbox(key="ctl:tasks.image_generation.energy.model").set_value(
        "stabilityai/stable-diffusion-xl-base-1.0").run()
    no_exception(at)
    assert to_twh(twh(at)) > before  # SDXL: 11.3 Wh per image vs the 2.9 Wh mean
    assert at.query_params["tasks.image_generation.energy.model"] in (
        "stabilityai/stable-diffusion-xl-base-1.0", ["stabilityai/stable-diffusion-xl-base-1.0"])
