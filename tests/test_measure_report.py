"""`wattcast report`: records beside the study's per-model rows and published figures."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import typer
from typer.testing import CliRunner

from measure.cli import register
from measure.report import build_report, study_rows

runner = CliRunner()


@pytest.fixture(scope="module")
def cpu_campaign(tmp_path_factory):
    """A CPU campaign on tiny models (fake energy), two tasks, two windows each."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("diffusers")
    from measure.backends import FakeBackend
    from measure.config import make_config
    from measure.run import run_trial
    from measure.store import ResultStore

    out = tmp_path_factory.mktemp("campaign")
    store = ResultStore(out).open()
    for task, model in (("text_classification", "tiny-distilbert-sst2"), ("image_generation", "tiny-sd")):
        cfg = make_config(task=task, model=model, device="cpu", n_inferences=2, repeats=2, backend="fake",
                          campaign="tiny", inputs={"image_size": [64, 48]},
                          generation={"num_inference_steps": 2})
        run_trial(cfg, store, backend=FakeBackend())
    store.consolidate()
    return out


def test_study_terms_are_kept_apart():
    s = study_rows()
    assert (s["gpu8_j"] + s["cpu_const_j"] + s["ram_const_j"]).sub(s["energy_j"]).abs().max() < 1e-6 * s["energy_j"].max()
    # the CPU and RAM terms are codecarbon's constants times time (data/reference/paper_constants.csv)
    assert (s["cpu_const_j"] / s["time_s"]).median() == pytest.approx(42.5, rel=0.02)
    assert (s["ram_const_j"] / s["time_s"]).median() == pytest.approx(430.8, rel=0.02)
    sdxl = s[s["model"] == "stabilityai/stable-diffusion-xl-base-1.0"]
    assert sdxl["energy_j"].mean() == pytest.approx(11.293 * 3600, rel=0.01)  # 11.29 kWh per 1,000 images


def test_report_renders_for_a_cpu_campaign(cpu_campaign, tmp_path):
    paths = build_report(cpu_campaign, tmp_path / "rep")
    md = paths["markdown"].read_text()
    page = paths["html"].read_text()
    for needle in ("Your records beside the study", "tiny-distilbert-sst2", "tiny-sd",
                   "ran on a CPU", "fake energy backend: not a measurement", "tiny test configuration",
                   "2 diffusion steps (study: 50)", "ML.ENERGY", "AI Energy Score"):
        assert needle in md and needle in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    pytest.importorskip("vl_convert")
    assert page.count("<svg") >= 3  # charts inlined: the page works offline
    for name in ("energy_by_task", "component_shares", "diffusion"):
        assert (tmp_path / "rep" / "charts" / f"{name}.svg").read_text().startswith("<svg")
        assert f"charts/{name}.svg" in md


def test_report_compares_per_trial_means(cpu_campaign, tmp_path):
    from measure.report import load_records, summarise

    recs, problems = load_records(cpu_campaign)
    assert not problems
    s = summarise(recs).set_index("model")
    ok = recs[recs["model"] == "tiny-sd"]
    assert s.loc["tiny-sd", "energy_j"] == pytest.approx(ok["energy_j_per_inference"].mean())
    assert s.loc["tiny-sd", "windows_used"] == 2
    assert "fake-energy" in s.loc["tiny-sd", "flags"]


def test_report_renders_the_studys_rows_alone(tmp_path):
    paths = build_report(None, tmp_path)
    md = paths["markdown"].read_text()
    assert "Your records" not in md
    table = md.split("## The study's per-model rows, by task")[1]
    for task in ("text_classification", "image_generation", "summarization"):
        assert task in table
    assert "969" in md and "Chung et al." in md  # ML.ENERGY's SDXL on H100, with its source


def test_report_command(tmp_path, cpu_campaign):
    app = typer.Typer()
    register(app)
    res = runner.invoke(app, ["report", str(cpu_campaign), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "report.html").exists()
    res = runner.invoke(app, ["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r2").exists()


def test_report_reads_parquet_too(cpu_campaign, tmp_path):
    paths = build_report(cpu_campaign / "records.parquet", tmp_path)
    assert "tiny-sd" in paths["markdown"].read_text()


# --------------------------------------------------------------------------- review of ae8f1b7

def test_report_reads_energy_of_a_measurement_table(tmp_path):
    """A CSV table (which read_records accepts) states kWh only: J/inf came out blank."""
    from measure.report import load_records, summarise

    p = tmp_path / "t.csv"
    p.write_text("task,model,energy_kwh_per_inference\ntext_classification,m,1e-6\ntext_classification,m,3e-6\n")
    s = summarise(load_records(p)[0])
    assert s["energy_j"].tolist() == [pytest.approx(3.6), pytest.approx(10.8)]
    assert s["windows_used"].tolist() == [1, 1]


def test_report_averages_the_windows_the_projection_would_use(tmp_path):
    """A short-window record is left out of the projection; the report averaged it in."""
    import json

    from measure.report import load_records, summarise

    base = {"trial_key": "k", "task": "text_classification", "model": "m", "phase": "inference",
            "status": "ok", "backend": "fake", "device": "cpu", "weights": "random-init", "dtype": "float32",
            "batch_size": 1, "n_inferences": 2, "schema_version": 2, "protocol_version": 1}
    recs = [{**base, "record_id": "a", "repeat_index": 0, "energy_kwh_per_inference": 1e-6,
             "flags": ["fake-energy", "cpu-run", "random-init"]},
            {**base, "record_id": "b", "repeat_index": 1, "energy_kwh_per_inference": 9e-6,
             "flags": ["fake-energy", "cpu-run", "short-window"]},
            {**base, "record_id": "c", "repeat_index": 2, "energy_kwh_per_inference": None, "status": "failed",
             "flags": ["failed:RuntimeError"]}]
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    s = summarise(load_records(tmp_path)[0]).iloc[0]
    assert s["energy_j"] == pytest.approx(3.6)  # fake, CPU and random-init still render
    assert (s["windows_used"], s["windows_left_out"]) == (1, 2)


def _app():
    app = typer.Typer()
    register(app)
    return app


def test_a_report_that_cannot_be_written_is_one_message(tmp_path):
    (tmp_path / "r" / "report.md").mkdir(parents=True)  # a directory where the file goes
    res = runner.invoke(_app(), ["report", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "Traceback" not in res.output and res.exception.__class__ is SystemExit
    assert "report.md" in res.output
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]


def test_a_chart_renderer_failure_is_one_message(tmp_path, monkeypatch):
    vlc = pytest.importorskip("vl_convert")

    def broken(spec):
        raise ValueError("Deno error")

    monkeypatch.setattr(vlc, "vegalite_to_svg", broken)
    res = runner.invoke(_app(), ["report", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "Deno error" in res.output and res.exception.__class__ is SystemExit
