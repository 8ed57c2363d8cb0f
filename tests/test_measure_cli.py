"""`wattcast measure` / `wattcast campaign` through typer, and their error handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
import typer
from typer.testing import CliRunner

from measure.cli import register

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    return a


def invoke(app, *args):
    return runner.invoke(app, [str(a) for a in args])


TINY_ARGS = ["--task", "text_classification", "--model", "tiny-distilbert-sst2", "--device", "cpu",
             "--n", "2", "--repeats", "2", "--backend", "fake"]


def test_register_adds_the_commands(app):
    names = {c.name for c in app.registered_commands}
    assert names == {"measure", "campaign", "report"}


def test_importing_cli_does_not_import_torch():
    code = "import sys, measure.cli, project.measurements; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_measure_writes_records(app, tmp_path):
    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path)
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert rec["config"]["n_inferences"] == 2 and rec["backend"] == "fake"
    assert (tmp_path / "records.parquet").exists()


def test_measure_again_needs_resume(app, tmp_path):
    assert invoke(app, "measure", *TINY_ARGS, "--out", tmp_path).exit_code == 0
    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path)
    assert res.exit_code == 2 and "--resume" in res.output
    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path, "--resume")
    assert res.exit_code == 0
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args, needle", [
    (["--task", "translation", "--model", "tiny-gpt2", "--device", "cpu"], "field 'task'"),
    (["--task", "text_generation", "--model", "no-such-model", "--device", "cpu"], "unknown model 'no-such-model'"),
    (["--task", "text_generation", "--model", "org/some-hub-model", "--device", "cpu"], "nothing is downloaded"),
    (["--task", "text_generation", "--weights", "org/some-hub-model", "--device", "cpu"], "nothing is downloaded"),
    (["--task", "text_generation", "--device", "cpu"], "--weights"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--country", "XYZ"], "country_iso_code"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--tracking-mode", "gpu"], "field 'tracking_mode'"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--measure-power-secs", "0"], "field 'measure_power_secs'"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--inputs", "/nonexistent.jsonl",
      "--backend", "fake"], "input file or directory not found"),
    (["--task", "text_generation", "--model", "tiny-distilbert-sst2", "--device", "cpu"], "is for task"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cuda"], "CUDA is not available"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "tpu"], "field 'device'"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--dtype", "int3"], "field 'dtype'"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--backend", "nvml"], "measures GPUs"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--preset", "nope"], "unknown preset"),
    (["--task", "text_generation", "--model", "tiny-gpt2", "--device", "cpu", "--n", "0"], "field 'n_inferences'"),
])
def test_bad_input_exits_2_with_one_message(app, tmp_path, args, needle):
    res = invoke(app, "measure", *args, "--out", tmp_path / "o")
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o" / "records.jsonl").exists()


def test_nvml_unavailable_is_exit_2(app, tmp_path, monkeypatch):
    import measure.backends as b

    def no_nvml():
        raise b.MeasureError("NVML is not available: install nvidia-ml-py", "backend nvml")

    monkeypatch.setattr(b, "_import_pynvml", no_nvml)
    monkeypatch.setattr("measure.runners.check_device", lambda d: None)
    res = invoke(app, "measure", "--task", "text_classification", "--model", "tiny-distilbert-sst2",
                 "--device", "cuda", "--backend", "nvml", "--n", "1", "--repeats", "1", "--out", tmp_path)
    assert res.exit_code == 2 and "NVML is not available" in res.output


def test_corrupt_results_file_is_exit_2_and_untouched(app, tmp_path):
    assert invoke(app, "measure", *TINY_ARGS, "--out", tmp_path).exit_code == 0
    p = tmp_path / "records.jsonl"
    data = p.read_bytes().replace(b'"repeat_index"', b'"repeat_index', 1)
    p.write_bytes(data)
    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path, "--resume")
    assert res.exit_code == 2 and "line 1" in res.output and "corrupt" in res.output
    assert p.read_bytes() == data


CAMPAIGN = """
name = "t"
[defaults]
device = "cpu"
backend = "fake"
n_inferences = 2
repeats = 2
[[grid]]
task = "text_classification"
model = "tiny-distilbert-sst2"
batch_size = [1, 2]
dtype = ["float32", "bfloat16"]
[[grid]]
task = "masked_lm"
model = "tiny-bert-mlm"
"""


def test_campaign_grid_runs_and_resumes(app, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(CAMPAIGN)
    res = invoke(app, "campaign", f, "--dry-run")
    assert res.exit_code == 0 and "5 trial(s)" in res.output
    out = tmp_path / "out"
    res = invoke(app, "campaign", f, "--out", out)
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 10 and all(r["campaign"] == "t" for r in recs)
    assert {(r["batch_size"], r["dtype"]) for r in recs if r["task"] == "text_classification"} == {
        (1, "float32"), (2, "float32"), (1, "bfloat16"), (2, "bfloat16")}
    assert invoke(app, "campaign", f, "--out", out).exit_code == 2  # needs --resume
    res = invoke(app, "campaign", f, "--out", out, "--resume")
    assert res.exit_code == 0 and "10 window(s) already" in res.output
    assert len((out / "records.jsonl").read_text().splitlines()) == 10


@pytest.mark.parametrize("body, needle", [
    ("name = 't'\n[[grid]]\ntask = 'text_classification'\nmodel = 'tiny-distilbert-sst2'\nbatch = 3\n", "field 'batch'"),
    ("name = 't'\n", "[[grid]]"),
    ("name = 't'\ncolour = 1\n[[grid]]\ntask='masked_lm'\nmodel='tiny-bert-mlm'\n", "unknown top-level"),
    ("name = 't\n", "not valid TOML"),
    ("name = 't'\n[[grid]]\ntask = 'masked_lm'\nmodel = 'tiny-gpt2'\n[defaults]\ndevice='cpu'\n", "is for task"),
])
def test_bad_campaign_file_exits_2(app, tmp_path, body, needle):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    res = invoke(app, "campaign", f, "--out", tmp_path / "o")
    assert res.exit_code == 2, res.output
    assert needle in res.output and str(f) in res.output


def test_missing_campaign_file_exits_2(app, tmp_path):
    res = invoke(app, "campaign", tmp_path / "nope.toml")
    assert res.exit_code == 2 and "file not found" in res.output


def test_shipped_campaigns_and_presets_parse():
    from measure.config import load_campaign, preset_defaults

    for f in sorted((ROOT / "data" / "campaigns").glob("*.toml")):
        camp = load_campaign(f)
        assert camp.trials, f
    aes = preset_defaults("ai_energy_score")
    assert aes["warmup"] > 0 and aes["n_inferences"] == 1000 and aes["generation"]["num_inference_steps"] == 30
    mle = preset_defaults("ml_energy")
    assert mle["dtype"] == "float16" and mle["generation"]["num_inference_steps"] == 25
    study = preset_defaults("study")
    assert (study["batch_size"], study["warmup"], study["dtype"]) == (1, 0, "float32")


def test_defaults_reproduce_the_study():
    from measure.config import MeasureConfig

    c = MeasureConfig(task="text_generation", model="gpt2")
    assert (c.batch_size, c.warmup, c.dtype, c.n_inferences, c.repeats) == (1, 0, "float32", 1000, 10)
    assert c.generation.max_new_tokens == 10
    assert (c.generation.summary_max_length, c.generation.summary_min_length) == (15, 10)
    assert c.generation.num_inference_steps is None  # the pipeline's default: 50


def test_preset_option_applies(app, tmp_path):
    res = invoke(app, "measure", "--task", "text_classification", "--model", "tiny-distilbert-sst2",
                 "--device", "cpu", "--backend", "fake", "--preset", "ai_energy_score", "--n", "2",
                 "--repeats", "1", "--warmup", "1", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "records.jsonl").read_text().splitlines()[0])
    assert rec["config"]["preset"] == "ai_energy_score"
    assert rec["config"]["generation"]["num_inference_steps"] == 30


# --------------------------------------------------------------------------- review of ae8f1b7

def test_the_store_lock_is_released_after_a_run_and_after_a_refusal(app, tmp_path):
    """In-process: the lock stayed held until the process ended (a second campaign in one
    Python session, a notebook, the Ray driver, was refused by its own process's leftovers)."""
    from measure import store

    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert store._HELD == {}
    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path)  # needs --resume: refused
    assert res.exit_code == 2 and "--resume" in res.output
    assert store._HELD == {}


def test_interrupted_before_the_output_is_known_does_not_say_none(app, tmp_path, monkeypatch):
    def ctrl_c(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr("measure.config.load_campaign", ctrl_c)
    res = invoke(app, "campaign", tmp_path / "c.toml")
    assert res.exit_code == 130 and "None" not in res.output and "interrupted" in res.output


def test_interrupted_run_releases_the_lock_it_consolidated_with(app, tmp_path, monkeypatch):
    from measure import store
    from measure.executors import LocalExecutor

    real = LocalExecutor.events

    def stop_after_one(self, trials, done):
        for ev in real(self, trials, done):
            yield ev
            if ev.kind == "record":
                raise KeyboardInterrupt

    monkeypatch.setattr(LocalExecutor, "events", stop_after_one)
    res = invoke(app, "measure", *TINY_ARGS, "--out", tmp_path)
    assert res.exit_code == 130 and "--resume" in res.output
    assert (tmp_path / "records.parquet").exists() and store._HELD == {}
