"""project.measurements: records -> per-task energy for the projection (no torch).

Which records count (issue 13): by default only ok inference records from a real energy
reading on an accelerator with pretrained weights and no failure flag; fake, CPU and
random-init records only when allowed, and then named; only comparable records pooled.

Every record here is a TEST FIXTURE built through the shared validator with made-up
energies (device_name says so); none is a measurement.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from project.measurements import (
    OUTPUT_COLUMNS,
    Rules,
    break_even_inferences,
    finetune_energy_from_records,
    load_records,
    select_measurements,
    task_energy_from_records,
)
from project.records import RecordError, validate_record

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DEVICE = "FIXTURE GPU (synthetic test record, not a measurement)"


def rec(task, model, kwh, i, status="ok", phase="inference", key=None, backend="nvml+codecarbon",
        device="cuda", weights="pretrained", flags=(), batch=1, dtype="float32", gpu_method=None,
        cpu_method="estimate", ram_method="estimate", **over):
    """A store-shaped record (schema 2) passed through the validator: a labelled test fixture."""
    gpu_method = gpu_method or ("none" if device == "cpu" else "counter")
    key = key or f"{task}-{model}-{backend}-{device}"
    r = {"record_id": f"{key}-{i}", "trial_key": key,  # a record_id is unique per window (a UUID in real records)
         "repeat_index": i, "schema_version": 2, "protocol_version": 1, "campaign": "test-fixture",
         "task": task, "model": model, "status": status, "phase": phase, "energy_kwh_per_inference": kwh,
         "energy_j_per_inference": None if kwh is None else kwh * 3.6e6, "backend": backend, "device": device,
         "device_name": FIXTURE_DEVICE if device != "cpu" else "FIXTURE CPU (synthetic)",
         "weights": weights, "dtype": dtype, "batch_size": batch, "n_inferences": 100, "flags": list(flags),
         "gpu_method": gpu_method, "cpu_method": cpu_method,
         "ram_method": ram_method, "config": {"task": task, "whole_node": False}}
    r.update(over)
    return validate_record(r, "fixture")


def write_jsonl(p: Path, recs):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))


def sample():
    return [
        rec("text_classification", "a", 1e-6, 0), rec("text_classification", "a", 3e-6, 1),
        rec("text_classification", "b", 2e-6, 0),
        rec("text_classification", "b", None, 1, status="failed", flags=["failed:RuntimeError"]),
        rec("text_classification", "b", 7e-3, 2, phase="finetune"),
        rec("image_generation", "sd", 1e-3, 0, backend="nvml"),
    ]


def test_distribution_pools_ok_inference_records(tmp_path):
    write_jsonl(tmp_path / "run1" / "records.jsonl", sample())
    df = task_energy_from_records(tmp_path)
    assert list(df.columns) == OUTPUT_COLUMNS
    tc = df.set_index("task").loc["text_classification"]
    assert tc["kwh_per_inference_mean"] == pytest.approx(2e-6)
    assert tc["kwh_per_inference_std"] == pytest.approx(np.std([1e-6, 3e-6, 2e-6], ddof=1))
    assert tc["n_records"] == 3 and tc["n_models"] == 2
    assert tc["source"] == (f"measured: nvml+codecarbon; pretrained; {FIXTURE_DEVICE}; batch 1, float32, "
                            "boundary gpu+cpu+ram")
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


def bad_line(d: Path, **over):
    write_jsonl(d / "records.jsonl", [rec("text_classification", "a", 1e-6, 0),
                                      {**rec("text_classification", "a", 1e-6, 1), **over}])


@pytest.mark.parametrize("make, needle", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "no measurement records"),
    (lambda d: write_jsonl(d / "records.jsonl", []), "hold no records"),
    (lambda d: (d.mkdir(), (d / "records.jsonl").write_text("garbage\n{}\n")), r"records\.jsonl:1: line 1 is not a JSON"),
    (lambda d: (d.mkdir(), (d / "records.parquet").write_bytes(b"PAR1 not really")), "cannot read"),
    (lambda d: write_jsonl(d / "records.jsonl", [{"task": "text_classification"}]),
     r"records\.jsonl:1: field 'trial_key' is missing"),
    (lambda d: write_jsonl(d / "records.jsonl", [rec("text_classification", "a", None, 0, status="failed")]),
     "no usable measurement records: 1 status failed"),
    (lambda d: bad_line(d, task="teleportation"), r"records\.jsonl:2: field 'task' must be one of"),
    # the store refuses these, so --measurements does too (issue 12: -0.5 gave Energy -8.91 TWh)
    (lambda d: bad_line(d, energy_kwh_per_inference=-0.5, energy_j_per_inference=None),
     r"records\.jsonl:2: field 'energy_kwh_per_inference' must be a positive finite number .* got -0\.5"),
    (lambda d: bad_line(d, energy_kwh_per_inference=0, energy_j_per_inference=None), r"records\.jsonl:2: .*got 0"),
    (lambda d: bad_line(d, energy_kwh_per_inference="lots", energy_j_per_inference=None), r":2: .*must be a number"),
    (lambda d: bad_line(d, repeat_index="r0"), r"records\.jsonl:2: field 'repeat_index' .* got 'r0'"),
    (lambda d: bad_line(d, status="great"), r":2: field 'status'"),
])
def test_bad_input_raises_valueerror_naming_file_and_line(tmp_path, make, needle):
    d = tmp_path / "m"
    make(d)
    with pytest.raises(ValueError, match=needle):
        task_energy_from_records(d)


# -- which records count ----------------------------------------------------------------

def mixed_store():
    """good GPU records, and the kinds the projection must not take by default."""
    return [
        rec("image_generation", "sd", 2e-3, 0), rec("image_generation", "sd", 4e-3, 1),
        # the case: fake backend on CPU, labelled gpu_method counter
        rec("image_generation", "tiny-sd", 9e-2, 0, backend="fake", device="cpu", weights="random-init",
            flags=["cpu-run", "fake-energy", "random-init"], gpu_method="counter"),
        rec("image_generation", "tiny-sd", 8e-2, 0, backend="fake", device="cuda", flags=["fake-energy"],
            key="fake-gpu"),
        rec("image_generation", "sd", 5e-2, 0, backend="codecarbon", device="cpu", flags=["cpu-run"]),
        rec("image_generation", "sd-rand", 6e-2, 0, weights="random-init", flags=["random-init"]),
        rec("image_generation", "sd", 7e-2, 2, flags=["counter-wrapped"]),
        rec("image_generation", "sd", 7e-2, 3, flags=["short-window"]),
        rec("image_generation", "sd", 7e-2, 4, gpu_method="estimate"),
        rec("masked_lm", "bert", 1e-6, 0, backend="codecarbon", device="cpu", flags=["cpu-run"]),
    ]


@pytest.mark.parametrize("rules, used, named", [
    (Rules(), 2, None),
    (Rules(allow_fake=True), 3, "FAKE energy (--allow-fake)"),  # the fake-on-CPU one still needs --allow-cpu
    # a CPU record counts CPU+RAM only: allowed, but not pooled with the GPU records of its task
    (Rules(allow_cpu=True), 3, "CPU records (--allow-cpu)"),
    (Rules(allow_random_init=True), 3, "random-init weights (--allow-random-init)"),
    (Rules(True, True, True), 6, "FAKE energy (--allow-fake); CPU records (--allow-cpu); random-init"),
])
def test_rules_keep_fake_cpu_and_random_init_out_unless_allowed(rules, used, named):
    sel = select_measurements(pd.DataFrame(mixed_store()), rules)
    assert sel.table["n_records"].sum() == used == len(sel.used), sel.lines()
    assert len(sel.used) + len(sel.left_out) == len(mixed_store())
    sources = " | ".join(sel.table["source"])
    if named is None:
        assert list(sel.table["task"]) == ["image_generation"]
        assert sel.table.iloc[0]["kwh_per_inference_mean"] == pytest.approx(3e-3)
        assert "includes" not in sources
    else:
        assert named in sources
    reasons = " | ".join(sel.left_out["reason"])
    for flag in ("counter-wrapped", "short-window"):  # failure flags: never used
        assert f"failure flag {flag}" in reasons
    assert "GPU energy by 'estimate', not a hardware reading" in reasons
    if rules.allow_cpu:
        assert "not comparable with the pooled image_generation records (batch 1, float32, boundary " \
               "gpu+cpu+ram): batch 1, float32, boundary cpu+ram" in reasons


def test_default_reasons_are_specific():
    sel = select_measurements(pd.DataFrame(mixed_store()))
    reasons = dict(zip(sel.left_out["where"] + "/" + sel.left_out["model"], sel.left_out["reason"]))
    assert sorted(set(reasons.values())) == sorted({
        "fake energy backend: invented numbers (--allow-fake to use)",
        "measured on a CPU (--allow-cpu to use)",
        "random-init weights (--allow-random-init to use)",
        "failure flag counter-wrapped", "failure flag short-window",
        "GPU energy by 'estimate', not a hardware reading"})


def test_only_comparable_records_are_pooled():
    recs = [rec("text_generation", "m", 1e-4, i, key="b1") for i in range(3)] + [
        rec("text_generation", "m", 1e-5, i, key="b8", batch=8) for i in range(2)] + [
        rec("text_generation", "m", 5e-5, i, key="f16", dtype="float16") for i in range(2)] + [
        rec("text_generation", "m", 6e-5, 0, key="gpu", cpu_method="none", ram_method="none")] + [
        rec("text_generation", "m", 3e-4, 0, key="node", flags=["idle-gpus-included"])]
    sel = select_measurements(pd.DataFrame(recs))
    row = sel.table.iloc[0]
    assert row["n_records"] == 3 and row["kwh_per_inference_mean"] == pytest.approx(1e-4)
    assert "batch 1, float32, boundary gpu+cpu+ram" in row["source"]
    left = sorted(sel.left_out["reason"])
    assert len(left) == 6 and all(r.startswith("not comparable with the pooled text_generation records "
                                               "(batch 1, float32, boundary gpu+cpu+ram)") for r in left)
    assert any(r.endswith("batch 8, float32, boundary gpu+cpu+ram") for r in left)
    assert any(r.endswith("batch 1, float16, boundary gpu+cpu+ram") for r in left)
    assert any(r.endswith("boundary gpu") for r in left)
    assert any(r.endswith("boundary gpu+cpu+ram (all GPUs of the node)") for r in left)
    # equal groups: the study's protocol (batch 1, float32) is preferred
    tie = [rec("text_generation", "m", 1e-5, 0, key="x8", batch=8), rec("text_generation", "m", 1e-4, 0, key="x1")]
    assert select_measurements(pd.DataFrame(tie)).table.iloc[0]["kwh_per_inference_mean"] == pytest.approx(1e-4)


def test_nothing_usable_says_why():
    only_fake = [r for r in mixed_store() if "fake-energy" in r["flags"]]
    with pytest.raises(RecordError, match="no usable measurement records: .*fake energy backend"):
        select_measurements(pd.DataFrame(only_fake))


def test_finetune_and_break_even():
    ft = finetune_energy_from_records(pd.DataFrame(sample()))
    assert ft.to_dict("records") == [{"task": "text_classification", "model": "b",
                                      "kwh_per_sample_mean": 7e-3, "kwh_per_sample_std": 0.0,
                                      "n_records": 1}]
    # the study's Table 5: BLOOMz-7B, (51,686 + 7,571) kWh / 1.0e-4 kWh per query = 592,570,000
    assert break_even_inferences(51_686 + 7_571, 1.0e-4) == pytest.approx(592_570_000)


def test_no_torch_import():
    code = "import sys, project.measurements, project.records; print('torch' in sys.modules, 'streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# -- wattcast project --measurements -------------------------------------------------------

def cli(*args):
    from project.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def plain(text: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())


def test_cli_uses_only_good_records_by_default_and_says_so(tmp_path):
    """Issue 13's done-when: a folder of fake, CPU and good records -> only the good ones."""
    d = tmp_path / "m"
    recs = mixed_store()
    write_jsonl(d / "good" / "records.jsonl", recs[:2])
    write_jsonl(d / "fake" / "records.jsonl", recs[2:4])
    write_jsonl(d / "cpu" / "records.jsonl", [recs[4], recs[9]])
    base = cli("project", "-p", "paper-2023", "-n", "0")
    res = cli("project", "-p", "paper-2023", "-n", "0", "-m", d)
    assert base.exit_code == 0 and res.exit_code == 0, res.output
    out = plain(res.output)
    assert f"measurements: 2 of 6 record(s) used ({d})" in out
    assert "used for image_generation: 2 record(s) of 1 model(s); measured: nvml+codecarbon; pretrained" in out
    assert "left out 2: fake energy backend: invented numbers (--allow-fake to use) [image_generation]" in out
    assert "left out 2: measured on a CPU (--allow-cpu to use) [image_generation, masked_lm]" in out
    assert "measured energy used for: image_generation" in out
    assert "FAKE" not in out
    assert res.output != base.output

    res = cli("project", "-p", "paper-2023", "-n", "0", "-m", d, "--allow-fake", "--allow-cpu", "--allow-random-init")
    out = plain(res.output)
    assert res.exit_code == 0, res.output
    assert "measurements: 5 of 6 record(s) used" in out
    assert "includes FAKE energy (--allow-fake); CPU records (--allow-cpu); random-init weights" in out

    fake_only = tmp_path / "f"
    write_jsonl(fake_only / "records.jsonl", recs[2:4])
    res = cli("project", "-p", "paper-2023", "-n", "0", "-m", fake_only)
    assert res.exit_code == 2 and "no usable measurement records" in plain(res.output)
    assert "Traceback" not in res.output


@pytest.mark.parametrize("args, needle", [
    (["--allow-fake"], "need --measurements"),
    (["-m", "{bad}"], r"records\.jsonl:2: field 'energy_kwh_per_inference' must be a positive finite number"),
])
def test_cli_bad_measurements_exit_2(tmp_path, args, needle):
    bad_line(tmp_path / "bad", energy_kwh_per_inference=-0.5, energy_j_per_inference=None)
    args = [a.replace("{bad}", str(tmp_path / "bad")) for a in args]
    res = cli("project", "-p", "paper-2023", "-n", "0", *args)
    assert res.exit_code == 2, res.output
    assert re.search(needle, plain(res.output)) and "Traceback" not in res.output


def test_end_to_end_from_real_measure_records(tmp_path):
    """Records written by measure/ (fake backend, CPU, random-init) feed the projection only when
    all three are allowed, and say so."""
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
    with pytest.raises(ValueError, match="no usable measurement records"):
        task_energy_from_records(tmp_path)
    df = task_energy_from_records(tmp_path, Rules(True, True, True))
    row = df.set_index("task").loc["masked_lm"]
    assert row["kwh_per_inference_mean"] == pytest.approx((9.0 + 18.0) / 2 / 3.6e6)
    assert row["n_records"] == 2
    assert "FAKE energy" in row["source"] and "CPU records" in row["source"]


# -- what the projection does with a measured figure ------------------------------------------

def measured_run(recs, policy=None):
    """paper-2023 with image_generation switched to the records' energy (central run)."""
    from project.engine import run_projection, with_measured_energy
    from project.scenario import apply_overrides, load_preset

    table = select_measurements(pd.DataFrame(recs)).table
    s = load_preset("paper-2023")
    if policy is not None:
        s = apply_overrides(s, {"end_year": 2030, "policy": policy})
    s, switched = with_measured_energy(s, table)
    assert "image_generation" in switched
    return run_projection(s, samples=0, measurements=table), table


def test_a_gpu_only_record_gets_the_serving_host_and_idle_chain():
    """GPU-only energy is accelerator-boundary: the engine multiplies it by production_factor x
    (1 + host_ratio) x (1 + idle_ratio); GPU + CPU + RAM is server-boundary: x (1 + idle_ratio)."""
    server, t_server = measured_run([rec("image_generation", "sd", 2e-3, 0)])
    gpu, t_gpu = measured_run([rec("image_generation", "sd", 2e-3, 0, cpu_method="none", ram_method="none")])
    assert t_server.iloc[0]["boundary"] == "server" and t_gpu.iloc[0]["boundary"] == "accelerator"
    p = gpu.compiled.params
    chain = p["boundary.production_factor"].central * (1 + p["boundary.host_ratio"].central)
    assert chain > 1.5
    assert gpu.unit_it_kwh["image_generation"][0] == pytest.approx(server.unit_it_kwh["image_generation"][0] * chain)
    assert server.unit_it_kwh["image_generation"][0] == pytest.approx(
        2e-3 * (1 + p["boundary.idle_ratio"].central))
    # the table survives the app's CSV round trip with its boundary and batch size
    from io import StringIO

    back = pd.read_csv(StringIO(t_gpu.to_csv(index=False)))
    assert back.iloc[0]["boundary"] == "accelerator" and back.iloc[0]["batch_size"] == 1
    # a table that states the record's own boundary text is read the same way
    from project.engine import run_projection

    raw = t_gpu.assign(boundary="gpu")
    again = run_projection(gpu.scenario, samples=0, measurements=raw)
    assert again.unit_it_kwh["image_generation"][0] == gpu.unit_it_kwh["image_generation"][0]


def test_batching_applies_only_to_figures_measured_at_batch_one():
    policy = {"serving_efficiency": {"start_year": 2026, "batching_factor": 4.0}}
    one, t1 = measured_run([rec("image_generation", "sd", 2e-3, 0)], policy)
    b32, t32 = measured_run([rec("image_generation", "sd", 2e-3, 0, batch=32)], policy)
    assert t1.iloc[0]["batch_size"] == 1 and t32.iloc[0]["batch_size"] == 32
    i = 2030 - one.scenario.start_year
    e1, e32 = one.unit_it_kwh["image_generation"], b32.unit_it_kwh["image_generation"]
    assert e1[0] == pytest.approx(e32[0])                    # before the lever starts: the same figure
    assert e1[i] == pytest.approx(e32[i] / 4.0)              # batch 1: batched 4x
    assert "image_generation" not in b32.compiled.policy.batch_one
    assert "text_classification" in b32.compiled.policy.batch_one   # the study's references: batch 1
