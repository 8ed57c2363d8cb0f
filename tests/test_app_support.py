"""Plain functions behind the app (project.app_support): no Streamlit needed."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from project import app_support as sup
from project.engine import run_projection
from project.scenario import load_scenario, preset_names, scenario_to_toml


def test_paper_break_even_matches_table5():
    be = sup.paper_break_even().set_index("model")
    assert be.loc["BLOOMz-7B", "break_even_inferences"] == pytest.approx(592_570_000)


def test_scenario_break_even_from_lifecycle_and_energy():
    sc = sup.build_scenario("baseline-2025", sup.default_state("baseline-2025"))
    be = sup.break_even(run_projection(sc).compiled).set_index("task")
    # chatbot: (59,257 + 0) kWh / 0.0003 kWh per query
    assert be.loc["chatbot", "break_even_inferences"] == pytest.approx(59257 / 0.0003)
    assert be.loc["chatbot", "days_to_break_even"] == pytest.approx(59257 / 0.0003 / 2.5e9)


@pytest.mark.parametrize("name", preset_names())
def test_controls_follow_the_basis(name):
    sc = sup.preset(name)
    primary = {c.path for c in sup.controls_for(sc) if c.primary}
    if sc.basis == "demand":
        assert any(p.startswith("tasks.") for p in primary)
        assert not any(p.startswith("fleet.") for p in primary)
    elif sc.basis == "supply":
        assert "fleet.servers_shipped_per_year" in primary
        assert not any(p.startswith("tasks.") for p in primary)
    else:
        assert "datacentres.ai_share_multiplier" in primary
    for c in sup.controls_for(sc):
        assert c.unit and c.help, c.path
    # the preset's own values give back the preset
    assert sup.overrides_from_state(name, sup.default_state(name)) == {}
    assert sup.build_scenario(name, sup.default_state(name)) == sc


def test_query_round_trip_and_bad_entries():
    state = sup.default_state("baseline-2025")
    state.update({"facility.pue": 1.5, "tasks.chatbot.inferences_per_day": 5e9, "target_year": 2033,
                  "grid.country": "FRA", "grid.intensity_g_per_kwh": 56.0})
    q = sup.encode_query("baseline-2025", state)
    assert q["preset"] == "baseline-2025" and q["facility.pue"] == "1.5"
    name, back, problems = sup.decode_query(q, "baseline-2025")
    assert (name, problems) == ("baseline-2025", [])
    assert sup.overrides_from_state(name, back) == sup.overrides_from_state("baseline-2025", state)
    assert sup.overrides_from_state(name, back)["grid.country"] == "FRA"
    name, back, problems = sup.decode_query(
        {"preset": "nope", "facility.pue": "abc", "fleet.utilisation": "0.2", "bogus": "1"}, "baseline-2025")
    assert name == "baseline-2025" and len(problems) == 3
    assert back["fleet.utilisation"] == 0.2
    # out-of-range values are clamped into the control's domain
    _, back, _ = sup.decode_query({"preset": "baseline-2025", "facility.pue": "9"}, "baseline-2025")
    assert back["facility.pue"] == 2.0


def test_exported_toml_is_a_valid_scenario(tmp_path):
    state = sup.default_state("baseline-2025")
    state.update({"facility.pue": 1.2, "grid.country": "FRA", "grid.intensity_g_per_kwh": 56.0})
    sc = sup.build_scenario("baseline-2025", state)
    p = tmp_path / "s.toml"
    p.write_text(scenario_to_toml(sc), encoding="utf-8")
    back = load_scenario(p)
    assert back == sc
    assert run_projection(back).value("Energy|Total") == pytest.approx(run_projection(sc).value("Energy|Total"))


def test_upload_checks_rows_and_summarises():
    csv = ("task,model,energy_j_per_inference,status\n"
           "image_generation,sdxl-turbo,3600,ok\n"
           "image_generation,sdxl,7200,ok\n"
           "image_gen,x,1,ok\n"
           "text_generation,gpt2,abc,ok\n"
           "text_generation,gpt2,-1,ok\n"
           "text_generation,gpt2,50,failed\n"
           "text_generation,,50,ok\n"
           "text_generation,big,3.6e12,ok\n")
    c = sup.check_measurements_csv(csv)
    assert c.error is None and c.ok
    assert list(c.accepted["row"]) == [2, 3]
    reasons = dict(zip(c.rejected["row"], c.rejected["reason"]))
    assert "unknown task 'image_gen'" in reasons[4] and "image_generation" in reasons[4]
    assert "not a number" in reasons[5]
    assert "positive" in reasons[6]
    assert "status" in reasons[7]
    assert "model is empty" in reasons[8]
    assert "implausible" in reasons[9]
    s = c.summary.set_index("task")
    assert s.loc["image_generation", "kwh_per_inference_mean"] == pytest.approx(0.0015)
    assert s.loc["image_generation", "n_records"] == 2 and s.loc["image_generation", "n_models"] == 2


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\xff\xfe\x00\x00garbage", "not UTF-8"),
    (b"task,model\nimage_generation,x\n", "Missing column"),
    (b"task,model,kwh_per_inference\n", "no rows"),
    (b"a" * (sup.MAX_UPLOAD_BYTES + 1), "limit"),
])
def test_upload_file_level_errors(data, message):
    c = sup.check_measurements_csv(data)
    assert not c.ok and message in c.error


def test_upload_drives_projection():
    c = sup.check_measurements_csv("task,model,kwh_per_inference\nimage_generation,tiny,0.0001\n")
    sc0 = sup.preset("baseline-2025")
    matches = sup.matching_tasks(sc0, list(c.summary["task"]))
    assert matches == {"image_generation": "image_generation"}
    sc = sup.build_scenario("baseline-2025", sup.default_state("baseline-2025"), matches)
    r0, r = run_projection(sc0), run_projection(sc, measurements=c.summary)
    assert r.value("Energy|Inference|image_generation") < r0.value("Energy|Inference|image_generation") / 10
    assert r.value("Energy|Inference|chatbot") == pytest.approx(r0.value("Energy|Inference|chatbot"))


def test_formatting_and_tables():
    assert sup.fmt_count(2.5e9) == "2.5 billion"
    assert sup.fmt_energy_twh(0.956) == "956 GWh"
    assert sup.fmt_delta(2.0, 1.0, sup.fmt_energy_twh).startswith("+100%")
    assert sup.fmt_delta(1.0, 1.0, sup.fmt_energy_twh) is None
    assert sup.fmt_duration_days(math.inf) == "never"
    r = run_projection(sup.preset("baseline-2025"), samples=64)
    bd = sup.task_breakdown(r)
    assert bd["share"].sum() == pytest.approx(1.0)
    assert bd["twh"].sum() == pytest.approx(r.value("Energy|Demand side"))
    band = sup.band_table(r)
    assert (band["p95"] >= band["p5"]).all()
    assert len(sup.caveats()) >= 6 and "idle" in " ".join(sup.caveats())
    assert "Supply side(y)" in sup.equations()
    assert isinstance(sup.reference_equivalences(1.0, 100.0), pd.DataFrame)


def test_project_records_empty_and_present(tmp_path, monkeypatch):
    monkeypatch.setattr(sup, "data_dir", lambda: tmp_path)
    records, msg = sup.load_project_records()
    assert records is None and "No measurement records yet" in msg
    store = tmp_path / "measurements" / "run1"
    store.mkdir(parents=True)
    rows = [
        {"record_id": str(i), "trial_key": f"k{i}", "repeat_index": 0, "task": "image_generation",
         "model": m, "status": "ok", "phase": "inference", "energy_kwh_per_inference": e, "backend": "fake",
         "weights": "random-init"}
        for i, (m, e) in enumerate([("tiny-sd", 0.001), ("tiny-sd", 0.003), ("tiny-sdxl", 0.002)])
    ]
    (store / "records.jsonl").write_text("".join(pd.Series(rows).map(lambda r: __import__("json").dumps(r) + "\n")))
    records, msg = sup.load_project_records()
    assert records is not None and len(records) == 3, msg
    per_task = sup.project_task_energy(records).set_index("task")
    assert per_task.loc["image_generation", "kwh_per_inference_mean"] == pytest.approx(0.002)
    assert per_task.loc["image_generation", "n_models"] == 2
    (store / "records.jsonl").write_text("{not json\n")
    records, msg = sup.load_project_records()
    assert records is None and "could not be read" in msg


def test_model_mix_picks_a_study_model():
    state = sup.default_state("baseline-2025")
    models = sup.model_energies("image_generation")
    assert len(models) >= 5 and list(models.values()) == sorted(models.values())
    state[sup.model_path("image_generation")] = "segmind/tiny-sd"
    state["tasks.image_generation.energy.multiplier"] = 2.0
    sc = sup.build_scenario("baseline-2025", state)
    assert sc.tasks["image_generation"].energy.kwh_per_inference.value == pytest.approx(models["segmind/tiny-sd"])
    assert sc.tasks["image_generation"].energy.multiplier.value == 2.0
    name, back, problems = sup.decode_query(sup.encode_query("baseline-2025", state), "baseline-2025")
    assert problems == [] and sup.build_scenario(name, back) == sc
    _, _, problems = sup.decode_query({"preset": "baseline-2025", sup.model_path("image_generation"): "nope"},
                                      "baseline-2025")
    assert problems and "unknown model" in problems[0]
