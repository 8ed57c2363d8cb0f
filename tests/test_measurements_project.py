"""project.measurements: records -> per-task energy distributions (no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from project.measurements import (
    OUTPUT_COLUMNS,
    break_even_inferences,
    finetune_energy_from_records,
    load_records,
    task_energy_from_records,
)

ROOT = Path(__file__).resolve().parent.parent


def rec(task, model, kwh, i, status="ok", phase="inference", key=None, backend="nvml"):
    return {"trial_key": key or f"{task}-{model}", "repeat_index": i, "task": task, "model": model,
            "status": status, "phase": phase, "energy_kwh_per_inference": kwh, "backend": backend,
            "weights": "pretrained", "config": {"task": task}, "flags": []}


def write_jsonl(p: Path, recs):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))


def sample():
    return [
        rec("text_classification", "a", 1e-6, 0), rec("text_classification", "a", 3e-6, 1),
        rec("text_classification", "b", 2e-6, 0),
        rec("text_classification", "b", 9.0, 1, status="failed"),
        rec("text_classification", "b", 7.0, 2, phase="finetune"),
        rec("image_generation", "sd", 1e-3, 0, backend="codecarbon"),
    ]


def test_distribution_pools_ok_inference_records(tmp_path):
    write_jsonl(tmp_path / "run1" / "records.jsonl", sample())
    df = task_energy_from_records(tmp_path)
    assert list(df.columns) == OUTPUT_COLUMNS
    tc = df.set_index("task").loc["text_classification"]
    assert tc["kwh_per_inference_mean"] == pytest.approx(2e-6)
    assert tc["kwh_per_inference_std"] == pytest.approx(np.std([1e-6, 3e-6, 2e-6], ddof=1))
    assert tc["n_records"] == 3 and tc["n_models"] == 2
    assert tc["source"] == "measured: nvml; pretrained"
    ig = df.set_index("task").loc["image_generation"]
    assert ig["kwh_per_inference_std"] == 0.0 and ig["n_records"] == 1
    assert list(df["task"]) == ["text_classification", "image_generation"]  # TASK_IDS order


def test_dataframe_and_single_file_inputs(tmp_path):
    df = pd.DataFrame(sample())
    assert len(task_energy_from_records(df)) == 2
    write_jsonl(tmp_path / "r.jsonl", sample())
    assert len(task_energy_from_records(tmp_path / "r.jsonl")) == 2
    recs = sample()
    pd.DataFrame([{**r, "config": json.dumps(r["config"])} for r in recs]).to_parquet(tmp_path / "r.parquet")
    assert task_energy_from_records(tmp_path / "r.parquet").equals(task_energy_from_records(tmp_path / "r.jsonl"))


def test_jsonl_and_its_parquet_are_not_double_counted(tmp_path):
    write_jsonl(tmp_path / "records.jsonl", sample())
    pd.DataFrame([{**r, "config": json.dumps(r["config"])} for r in sample()]).to_parquet(
        tmp_path / "records.parquet")
    assert task_energy_from_records(tmp_path).set_index("task").loc["text_classification", "n_records"] == 3


def test_duplicate_records_across_copies_dropped(tmp_path):
    write_jsonl(tmp_path / "a" / "records.jsonl", sample())
    write_jsonl(tmp_path / "b" / "records.jsonl", sample())
    assert task_energy_from_records(tmp_path).set_index("task").loc["text_classification", "n_records"] == 3


def test_torn_last_line_is_ignored(tmp_path):
    p = tmp_path / "records.jsonl"
    write_jsonl(p, sample())
    with open(p, "a") as f:
        f.write('{"trial_key": "x", "repeat_ind')
    assert len(load_records(tmp_path)) == len(sample())


@pytest.mark.parametrize("make, needle", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "no measurement records"),
    (lambda d: write_jsonl(d / "records.jsonl", []), "hold no records"),
    (lambda d: (d.mkdir(), (d / "records.jsonl").write_text("garbage\n{}\n")), "line 1"),
    (lambda d: (d.mkdir(), (d / "records.parquet").write_bytes(b"PAR1 not really")), "cannot read"),
    (lambda d: write_jsonl(d / "records.jsonl", [{"task": "text_classification"}]), "lack column"),
    (lambda d: write_jsonl(d / "records.jsonl", [rec("text_classification", "a", 1, 0, status="failed")]),
     "no usable"),
    (lambda d: write_jsonl(d / "records.jsonl", [rec("teleportation", "a", 1, 0)]), "unknown task"),
])
def test_bad_input_raises_valueerror(tmp_path, make, needle):
    d = tmp_path / "m"
    make(d)
    with pytest.raises(ValueError, match=needle):
        task_energy_from_records(d)


def test_finetune_and_break_even():
    ft = finetune_energy_from_records(pd.DataFrame(sample()))
    assert ft.to_dict("records") == [{"task": "text_classification", "model": "b",
                                      "kwh_per_sample_mean": 7.0, "kwh_per_sample_std": 0.0,
                                      "n_records": 1}]
    # the study's Table 5: BLOOMz-7B, (51,686 + 7,571) kWh / 1.0e-4 kWh per query = 592,570,000
    assert break_even_inferences(51_686 + 7_571, 1.0e-4) == pytest.approx(592_570_000)


def test_no_torch_import():
    code = "import sys, project.measurements; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_end_to_end_from_real_measure_records(tmp_path):
    """Records written by measure/ (fake backend) feed the projection's distributions."""
    pytest.importorskip("torch")
    from measure.backends import FakeBackend
    from measure.config import make_config
    from measure.run import run_trial
    from measure.store import ResultStore

    store = ResultStore(tmp_path).open()
    cfg = make_config(task="masked_lm", model="tiny-bert-mlm", device="cpu", n_inferences=4,
                      repeats=2, backend="fake", count_flops=False)
    fb = FakeBackend(script=[{"gpu_j": 0}, {"gpu_j": 36.0}, {"gpu_j": 36.0}, {"gpu_j": 108.0}])
    run_trial(cfg, store, backend=fb)
    store.consolidate()
    df = task_energy_from_records(tmp_path)
    row = df.set_index("task").loc["masked_lm"]
    assert row["kwh_per_inference_mean"] == pytest.approx((9.0 + 18.0) / 2 / 3.6e6)
    assert row["n_records"] == 2
