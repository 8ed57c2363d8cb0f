"""project.records: the one validator and the one measurement-table (CSV) format shared by the
store, `wattcast project --measurements` and the app's upload (issues 12 and 16).

Energies in the tables below are made-up test values, except the study's own per-model table
(data/reference/paper_models.csv) and the template built from it."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from project.paths import data_dir
from project.records import (
    DEFAULT_LIMITS,
    SCHEMA_VERSION,
    CsvLimits,
    RecordError,
    check_measurement_csv,
    csv_template,
    normalise_task,
    read_records,
    validate_record,
)

HEADER = "task,model,kwh_per_inference\n"


def good(**over):
    r = {"trial_key": "k", "repeat_index": 0, "schema_version": SCHEMA_VERSION, "task": "text_classification",
         "model": "m", "phase": "inference", "status": "ok", "energy_kwh_per_inference": 1e-6,
         "backend": "nvml", "device": "cuda", "weights": "pretrained", "dtype": "float32", "batch_size": 1,
         "n_inferences": 10, "flags": []}
    r.update(over)
    return r


def test_validate_record_normalises_and_fills_the_version():
    out = validate_record({k: v for k, v in good(repeat_index=3.0).items() if k != "schema_version"}, "f:1")
    assert out["schema_version"] == 1 and out["repeat_index"] == 3 and isinstance(out["repeat_index"], int)
    import numpy as np

    parquet_like = validate_record(good(flags=np.array(["a", "b"]), batch_size=np.int64(2)), "f row 1")
    assert parquet_like["flags"] == ["a", "b"] and parquet_like["batch_size"] == 2


@pytest.mark.parametrize("over, needle", [
    ({"energy_kwh_per_inference": float("nan")}, "positive finite number"),
    ({"energy_kwh_per_inference": True}, "must be a number"),
    ({"energy_kwh_per_inference": 2.0}, "implausible (above 1.0 kWh per inference)"),
    ({"repeat_index": 1.5}, "field 'repeat_index' must be a non-negative integer, got 1.5"),
    ({"trial_key": ""}, "field 'trial_key' must be a non-empty text"),
    ({"n_inferences": "ten"}, "field 'n_inferences' must be an integer >= 1, got 'ten'"),
    ({"gpu_method": "guess"}, "field 'gpu_method' must be one of counter, integrated-power, estimate, none"),
    ({"config": [1]}, "field 'config' must be an object"),
    ({"protocol_version": 0}, "field 'protocol_version' must be an integer >= 1, got 0"),
])
def test_validate_record_names_where_field_and_value(over, needle):
    with pytest.raises(RecordError) as e:
        validate_record(good(**over), "store/records.jsonl:7")
    assert str(e.value).startswith("store/records.jsonl:7: ") and needle in str(e.value)


def test_read_records_returns_valid_records_and_every_problem(tmp_path):
    p = tmp_path / "s" / "records.jsonl"
    p.parent.mkdir()
    lines = [good(), good(repeat_index=1, energy_kwh_per_inference=-1), "nope", good(repeat_index=2)]
    p.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines) + '{"torn')
    df, problems = read_records(tmp_path)
    assert list(df["repeat_index"]) == [0, 2] and list(df["where"]) == [f"{p}:1", f"{p}:4"]
    assert problems == [f"{p}:2: field 'energy_kwh_per_inference' must be a positive finite number "
                        "(kWh per inference), got -1", f"{p}:3: line 3 is not a JSON record (corrupt results file)"]
    with pytest.raises(RecordError, match="does not exist"):
        read_records(tmp_path / "nowhere")


# -- the measurement table (CSV) ---------------------------------------------------------

def test_the_studys_own_per_model_table_is_accepted():
    data = (data_dir() / "reference" / "paper_models.csv").read_bytes()
    c = check_measurement_csv(data, "paper_models.csv")
    assert c.ok and c.error is None and c.rejected.empty
    assert len(c.accepted) == len(pd.read_csv(data_dir() / "reference" / "paper_models.csv")) == 417
    study = pd.read_csv(data_dir() / "reference" / "paper_models.csv")
    sd = c.summary.set_index("task").loc["image_generation"]
    expect = study[study["task"] == "image_generation"]["energy_kwh_per_1000"] / 1000
    assert sd["kwh_per_inference_mean"] == pytest.approx(expect.mean())
    assert sd["n_records"] == len(expect)


def test_template_is_the_shipped_file_and_reproduces_the_study():
    t = csv_template()
    assert (data_dir() / "measurements_template.csv").read_bytes() == t
    c = check_measurement_csv(t, "template")
    assert c.ok and c.rejected.empty and set(c.summary["task"]) == {"text_classification", "image_generation"}
    study = pd.read_csv(data_dir() / "reference" / "paper_models.csv").set_index(["task", "model_id", "dataset"])
    got = c.accepted.set_index("task")["kwh_per_inference"]
    assert got["image_generation"] == pytest.approx(
        study.loc[("image_generation", "segmind/tiny-sd", "diffusiondb"), "energy_kwh_per_1000"] / 1000, rel=1e-5)


def test_semicolons_with_decimal_commas_are_read():
    c = check_measurement_csv("task;model;kwh_per_inference\nImage Generation;sd;0,002\nimage_generation;sd;0,004\n")
    assert c.ok, (c.error, c.rejected)
    assert c.summary.iloc[0]["kwh_per_inference_mean"] == pytest.approx(0.003)
    assert "read as semicolon-separated (decimal commas accepted)" in c.notes
    assert "task 'Image Generation' read as image_generation (row 2)" in c.notes


@pytest.mark.parametrize("name, task", [
    ("Image Generation", "image_generation"), ("image-generation", "image_generation"),
    ("text-to-image", "image_generation"), ("Masked Language Modeling", "masked_lm"), ("fill-mask", "masked_lm"),
    ("extractive QA", "extractive_qa"), (" TEXT_CLASSIFICATION ", "text_classification"), ("teleport", None),
])
def test_task_names_are_normalised(name, task):
    assert normalise_task(name) == task


@pytest.mark.parametrize("row, reason", [
    ("text_gen,m,1e-5", "unknown task 'text_gen' (did you mean text_generation?)"),
    ("text_generation,,1e-5", "column 'model' is missing"),
    ("text_generation,m,abc", "kwh_per_inference is not a number ('abc')"),
    ("text_generation,m,-1e-5", "kwh_per_inference must be a positive finite number (got -1e-5)"),
    ("text_generation,m,0", "must be a positive finite number (got 0)"),
    ("text_generation,m,inf", "must be a positive finite number (got inf)"),
    ("text_generation,m,3.6", "implausible (above 1.0 kWh per inference): check the unit"),
    ("text_generation,m,", "no energy value"),
])
def test_bad_rows_have_clear_per_row_reasons(row, reason):
    c = check_measurement_csv(HEADER + "text_generation,ok-model,1e-5\n" + row + "\n", "up.csv")
    assert c.ok and len(c.accepted) == 1
    bad = c.rejected.set_index("row").loc[3]
    assert bad["kind"] == "invalid" and reason in bad["reason"], bad["reason"]


def test_rows_the_projection_does_not_use_are_listed_with_why():
    csv = ("task,model,kwh_per_inference,status,phase,device,backend,weights\n"
           "text_generation,a,1e-5,ok,inference,cuda,nvml,pretrained\n"
           "text_generation,a,2e-5,failed,inference,cuda,nvml,pretrained\n"
           "text_generation,a,2e-5,ok,finetune,cuda,nvml,pretrained\n"
           "text_generation,a,2e-5,ok,inference,cpu,codecarbon,pretrained\n"
           "text_generation,a,2e-5,ok,inference,cuda,fake,pretrained\n"
           "text_generation,a,2e-5,ok,inference,cuda,nvml,random-init\n"
           "text_generation,a,2e-5,ok,inference,cuda,nvml,half-trained\n")
    c = check_measurement_csv(csv, "up.csv")
    assert list(c.accepted["row"]) == [2]
    why = dict(zip(c.rejected["row"], zip(c.rejected["kind"], c.rejected["reason"])))
    assert why[3] == ("left out", "status failed")
    assert why[4][1].startswith("phase finetune")
    assert why[5] == ("left out", "measured on a CPU (--allow-cpu to use)")
    assert why[6][1].startswith("fake energy backend")
    assert why[7][1].startswith("random-init weights")
    assert why[8][0] == "invalid" and "column 'weights' must be one of pretrained, random-init" in why[8][1]
    from project.measurements import Rules

    allowed = check_measurement_csv(csv, "up.csv", rules=Rules(allow_cpu=True, allow_random_init=True))
    assert 7 in set(allowed.accepted["row"])


@pytest.mark.parametrize("data, error", [
    (b"", "The file is empty."),
    (b"\xff\xfe\x00t", "not UTF-8 text"),
    ("task,model\nx,y\n", "Missing column(s): energy_kwh_per_inference"),
    ("task\tmodel\tenergy\nx\ty\t1\n", "Missing column(s): energy_kwh_per_inference"),
    ("task,model,kwh_per_inference\n", "header but no rows"),
    ("task,model,Model,kwh_per_inference\nt,m,m,1\n", "Column(s) named twice: model"),
    ("task,model,kwh_per_inference\n" + "x,y,1\n" * (DEFAULT_LIMITS.max_rows + 1), "rows; the limit is 20,000"),
    (",".join(f"c{i}" for i in range(100_000)) + "\n" + "1," * 99_999 + "1\n", "100,000 columns; the limit is 200"),
    ("a" * (DEFAULT_LIMITS.max_bytes + 1), "the limit is 5 MB"),
])
def test_file_level_problems_and_limits(data, error):
    c = check_measurement_csv(data, "up.csv")
    assert not c.ok and error in c.error, c.error


def test_cell_limit_is_checked_before_parsing():
    csv = ",".join(["task", "model", "kwh_per_inference"] + [f"x{i}" for i in range(47)]) + "\n"
    csv += ("text_generation,m,1e-5" + ",0" * 47 + "\n") * 50
    assert check_measurement_csv(csv, "up.csv").ok
    c = check_measurement_csv(csv, "up.csv", limits=CsvLimits(max_cells=2_000))
    assert not c.ok and "2,500 cells; the limit is 2,000" in c.error


def test_one_column_semicolon_header_gets_a_hint():
    c = check_measurement_csv('"task;model;kwh"\n"a;b;1"\n', "up.csv")
    assert not c.ok and "is the separator a comma, semicolon or tab?" in c.error


def test_cli_and_upload_take_the_same_csv_the_same_way(tmp_path):
    """A table the upload check accepts gives the same per-task energy on the command line."""
    csv = ("task;model;kwh_per_inference;device;backend\nImage Generation;sd;0,002;cuda;nvml\n"
           "image_generation;sd;0,004;cuda;nvml\nimage_generation;sd;3,6;cuda;nvml\n")
    f = tmp_path / "m.csv"
    f.write_text(csv)
    upload = check_measurement_csv(csv, str(f))
    assert upload.ok and len(upload.invalid) == 1  # the 3.6 kWh row: implausible (joules as kWh?)
    from project.cli import app
    from project.measurements import select_measurements

    with pytest.raises(ValueError, match=rf"{re.escape(str(f))} row 4: .*implausible"):
        select_measurements(f)  # the CLI refuses a table with an invalid row, naming it
    f.write_text(csv.rsplit("image_generation;sd;3,6", 1)[0])
    sel = select_measurements(f)
    pd.testing.assert_frame_equal(sel.table, check_measurement_csv(f.read_bytes(), str(f)).summary)
    res = CliRunner().invoke(app, ["project", "-p", "paper-2023", "-n", "0", "-m", str(f)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "measurements: 2 of 2 record(s) used" in out and "measured energy used for: image_generation" in out
    assert "weights/device not stated" not in out and "weights not stated" in out


# -- several stores (review of ae8f1b7) ----------------------------------------------------

def _store(path, *recs):
    path.mkdir(parents=True)
    (path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_the_same_config_measured_on_two_machines_is_two_records(tmp_path):
    """trial_key hashes the config only: two stores of one config had equal keys, and one
    machine's records were dropped as 'duplicates'."""
    _store(tmp_path / "a", good(record_id="a0", device_name="A100", energy_kwh_per_inference=1e-6))
    _store(tmp_path / "b", good(record_id="b0", device_name="H100", energy_kwh_per_inference=2e-6))
    df, problems = read_records(tmp_path)
    assert sorted(df["device_name"]) == ["A100", "H100"] and problems == []


def test_a_copied_store_is_read_once_and_a_conflict_is_listed(tmp_path):
    r = good(record_id="x0", started_at="2025-01-01T00:00:00Z")
    _store(tmp_path / "a", r)
    _store(tmp_path / "b", r)  # a backup copy: the same window, read once, nothing lost
    _store(tmp_path / "c", {**r, "energy_kwh_per_inference": 5e-6})  # same id, other energy
    df, problems = read_records(tmp_path)
    assert list(df["record_id"]) == ["x0"] and df["energy_kwh_per_inference"].iloc[0] == 1e-6
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'c' / 'records.jsonl'}:1: left out: the same record_id x0")
    assert str(tmp_path / "a" / "records.jsonl") + ":1" in problems[0]


def test_records_without_record_id_fall_back_to_trial_and_repeat_and_say_what_was_dropped(tmp_path):
    _store(tmp_path / "a", good(energy_kwh_per_inference=1e-6))
    _store(tmp_path / "b", good(energy_kwh_per_inference=3e-6))
    df, problems = read_records(tmp_path)
    assert len(df) == 1 and len(problems) == 1 and "no record_id" in problems[0]


@pytest.mark.parametrize("text", ["facility", "facility (PUE 1.1)", "IT x PUE", "data centre", "datacenter meter"])
def test_a_facility_boundary_is_refused_so_no_pue_is_counted_twice(text):
    """The projection applies each region's PUE to measured energy: a figure that already holds
    facility overhead is refused, in records and in uploaded tables, naming the boundary."""
    from project.measurements import engine_boundary
    from project.records import RecordError, check_measurement_csv, facility_boundary

    assert facility_boundary(text)
    check = check_measurement_csv(f"task,model,energy_kwh_per_inference,boundary\nimage_generation,sd,0.001,{text}\n"
                                  .encode(), "t.csv")
    assert not check.ok and "facility overhead" in check.rejected.iloc[0]["reason"]
    with pytest.raises(ValueError, match="facility overhead"):
        engine_boundary(text)
    for ok in ("gpu", "gpu+cpu+ram", "server (wall meter)", "it", "accelerator"):
        assert not facility_boundary(ok)
        assert engine_boundary(ok) in ("accelerator", "server", "it")
