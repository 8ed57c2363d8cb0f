"""The results store: atomic appends, torn-line repair, corrupt files, Parquet, the shared record
validator, schema/protocol versions, one writer at a time, no temp files left after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from measure.config import PROTOCOL_VERSION
from measure.errors import MeasureError
from measure.store import LOCK, ResultStore, read_store_jsonl
from project.records import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent


def rec(i, key="k", **over):
    """A record as measure/run.py's build_record writes it (a test fixture, not a measurement)."""
    r = {"record_id": f"id-{key}-{i}", "trial_key": key, "repeat_index": i, "campaign": None,
         "phase": "inference", "task": "text_classification", "model": "tiny-distilbert-sst2",
         "weights": "random-init", "device": "cpu", "device_name": "test cpu", "dtype": "float32",
         "batch_size": 1, "n_inferences": 10, "warmup": 0,
         "energy_kwh_per_inference": (i + 1) * 1e-6, "energy_j_per_inference": (i + 1) * 3.6,
         "gpu_method": "none", "cpu_method": "estimate", "ram_method": "estimate",
         "backend": "fake", "flags": ["x"], "status": "ok",
         "config": {"task": "text_classification", "nested": {"a": i}}, "metadata": {"gpus": [{"index": 0}]},
         "extra": {}}
    r.update(over)
    return r


def test_append_and_read(tmp_path):
    s = ResultStore(tmp_path / "out").open()
    for i in range(3):
        s.append(rec(i))
    got = s.records()
    assert [r["repeat_index"] for r in got] == [0, 1, 2]
    assert {(r["schema_version"], r["protocol_version"]) for r in got} == {(SCHEMA_VERSION, PROTOCOL_VERSION)}
    assert s.done() == {("k", 0), ("k", 1), ("k", 2)}
    raw = s.jsonl.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 3


def test_torn_last_line_is_cut_and_kept(tmp_path):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    s.append(rec(1))
    with open(s.jsonl, "ab") as f:
        f.write(json.dumps(rec(2)).encode()[:25])  # a write torn by SIGKILL
    assert len(read_store_jsonl(s.jsonl)) == 2  # the partial line is not a record
    s2 = ResultStore(tmp_path).open()  # opening repairs
    assert s2.jsonl.read_bytes().endswith(b"\n")
    assert len(s2.records()) == 2
    torn = list(tmp_path.glob("records.jsonl.torn-*"))
    assert len(torn) == 1 and torn[0].read_bytes().startswith(b'{"record_id"')
    s2.append(rec(2))
    assert [r["repeat_index"] for r in s2.records()] == [0, 1, 2]


def test_corrupt_middle_line_is_an_error_and_nothing_changes(tmp_path):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    with open(s.jsonl, "ab") as f:
        f.write(b"this is not json\n")
    s.append(rec(1))
    before = s.jsonl.read_bytes()
    with pytest.raises(MeasureError, match=r"records\.jsonl:2: line 2 is not a JSON record"):
        ResultStore(tmp_path).open().records()
    assert s.jsonl.read_bytes() == before


# a line the store itself would never write: refused on read, naming file:line and the value
@pytest.mark.parametrize("line, needle", [
    ({"hello": 1}, "field 'trial_key' is missing"),
    (rec(1, repeat_index="r0"), "field 'repeat_index' must be a non-negative integer, got 'r0'"),
    (rec(1, repeat_index=-1), "field 'repeat_index' must be a non-negative integer, got -1"),
    (rec(1, repeat_index=True), "field 'repeat_index' must be a non-negative integer, got True"),
    (rec(1, energy_kwh_per_inference=-0.5), "field 'energy_kwh_per_inference' must be a positive finite .* got -0.5"),
    (rec(1, task="teleportation"), "field 'task' must be one of .* got 'teleportation'"),
    (rec(1, status="maybe"), "field 'status' must be one of ok, failed, got 'maybe'"),
    (rec(1, schema_version=99), "field 'schema_version' must be one this wattcast reads .* got 99"),
    ([1, 2], "not a JSON object"),
])
def test_store_reader_refuses_what_the_store_refuses(tmp_path, line, needle):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    with open(s.jsonl, "ab") as f:
        f.write((json.dumps(line) + "\n").encode())
    with pytest.raises(MeasureError, match=rf"records\.jsonl:2: {needle}"):
        read_store_jsonl(s.jsonl)


@pytest.mark.parametrize("over, needle", [
    ({"energy_kwh_per_inference": -0.5}, "positive finite number"),
    ({"energy_kwh_per_inference": 0.0}, "positive finite number"),
    ({"energy_kwh_per_inference": float("inf")}, "positive finite number"),
    ({"energy_kwh_per_inference": "0.5"}, "must be a number"),
    ({"energy_kwh_per_inference": 1.8e16 / 3.6e6, "energy_j_per_inference": 1.8e16}, "implausible"),
    ({"energy_j_per_inference": 99.0}, "must equal energy_kwh_per_inference x 3.6e6"),
    ({"repeat_index": "r0"}, "repeat_index"),
    ({"phase": "training"}, "field 'phase'"),
    ({"weights": "half"}, "field 'weights'"),
    ({"batch_size": 0}, "field 'batch_size' must be an integer >= 1, got 0"),
    ({"flags": "cpu-run"}, "field 'flags' must be a list"),
    ({"task": None}, "field 'task' is missing"),
])
def test_append_validates_and_writes_nothing_bad(tmp_path, over, needle):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    before = s.jsonl.read_bytes()
    with pytest.raises(MeasureError, match=needle) as e:
        s.append(rec(1, **over))
    assert "records.jsonl (new record)" in str(e.value) and "not written" in str(e.value)
    assert s.jsonl.read_bytes() == before


def test_failed_window_record_may_carry_no_energy(tmp_path):
    s = ResultStore(tmp_path).open()
    s.append(rec(0, status="failed", energy_kwh_per_inference=None, energy_j_per_inference=None,
                 flags=["failed:RuntimeError"]))
    assert s.records()[0]["status"] == "failed"


def test_consolidate_parquet_roundtrip(tmp_path):
    s = ResultStore(tmp_path).open()
    assert s.consolidate() is None
    for i in range(4):
        s.append(rec(i))
    p = s.consolidate()
    df = pd.read_parquet(p)
    assert len(df) == 4 and list(df["repeat_index"]) == [0, 1, 2, 3]
    assert json.loads(df["config"][2])["nested"] == {"a": 2}
    assert not list(tmp_path.glob(".*.tmp"))


def test_temp_files_of_a_killed_consolidation_are_cleaned(tmp_path, monkeypatch):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    (tmp_path / ".records.parquet.12345.tmp").write_bytes(b"half a parquet")  # left by a SIGKILL
    s.close()
    ResultStore(tmp_path).open()
    assert not list(tmp_path.glob(".*.tmp"))

    def broken(self, path, **kw):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError):
        s.consolidate()
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "records.parquet").exists()


def test_store_of_another_schema_or_protocol_version_is_refused(tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    old = {k: v for k, v in rec(0).items() if k not in ("schema_version", "protocol_version")}
    (legacy / "records.jsonl").write_text(json.dumps(old) + "\n")  # written before versioning
    with pytest.raises(MeasureError) as e:
        ResultStore(legacy).open()
    msg = str(e.value)
    assert "schema version 1, protocol version 0" in msg
    assert f"schema version {SCHEMA_VERSION}, protocol version {PROTOCOL_VERSION}" in msg
    assert "--out" in msg

    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "records.jsonl").write_text(json.dumps(rec(0, schema_version=SCHEMA_VERSION,
                                                        protocol_version=PROTOCOL_VERSION + 1)) + "\n")
    with pytest.raises(MeasureError, match=f"protocol version {PROTOCOL_VERSION + 1}; this wattcast writes"):
        ResultStore(newer).open()
    # the refusal released the lock: another process could take it
    assert ResultStore(newer).lock_path.exists()


HOLD = """
import sys, time
from measure.store import ResultStore
s = ResultStore(sys.argv[1]).open()
print("locked", flush=True)
time.sleep(120)
"""


def test_second_writer_is_refused_naming_store_and_pid(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "s")], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        with pytest.raises(MeasureError) as e:
            ResultStore(tmp_path / "s").open()
        msg = str(e.value)
        assert f"PID {holder.pid}" in msg and str(tmp_path / "s") in msg
        assert (tmp_path / "s" / LOCK).read_text().strip() == str(holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # a killed writer's lock is gone with it
    t0 = time.time()
    s = ResultStore(tmp_path / "s").open()
    assert time.time() - t0 < 5
    s.append(rec(0))
    assert len(s.records()) == 1


def test_lock_is_reentrant_within_a_process(tmp_path):
    a = ResultStore(tmp_path).open()
    b = ResultStore(tmp_path).open()  # the CLI reopens the store it holds (Ctrl-C path)
    b.close()
    a.append(rec(0))  # a still holds it
    a.close()
    with pytest.raises(MeasureError, match="not open"):
        a.append(rec(1))


# --------------------------------------------------------------------------- review of ae8f1b7

def test_numpy_numbers_are_written_as_numbers_and_the_store_reopens(tmp_path):
    """default=str wrote numpy numbers as text, which the validator refused on the next open."""
    import numpy as np

    s = ResultStore(tmp_path).open()
    s.append(rec(0, repeat_index=np.int64(0), batch_size=np.int64(1), energy_kwh_per_inference=np.float32(2e-6),
                 energy_j_per_inference=None, flops_per_inference=np.int64(12345),
                 gpu_power_w=np.float32(1.5)))
    s.close()
    line = json.loads(s.jsonl.read_text())
    assert line["energy_kwh_per_inference"] == pytest.approx(2e-6) and line["flops_per_inference"] == 12345
    assert isinstance(line["gpu_power_w"], float) and isinstance(line["batch_size"], int)
    again = ResultStore(tmp_path).open()  # the store reopens (and resumes)
    assert again.done() == {("k", 0)}


@pytest.mark.parametrize("field, value", [("gpu_power_w", float("nan")), ("extra", {"when": object()})])
def test_a_value_json_cannot_hold_is_one_error_naming_the_field(tmp_path, field, value):
    s = ResultStore(tmp_path).open()
    with pytest.raises(MeasureError, match=f"'{field}'") as e:
        s.append(rec(0, **{field: value}))
    assert "not written" in str(e.value)
    assert not s.jsonl.exists() or s.jsonl.read_bytes() == b""


def test_a_lock_error_other_than_held_is_one_message_and_leaks_no_fd(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        if op & fcntl.LOCK_EX:
            raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(MeasureError, match="No locks available") as e:
        ResultStore(tmp_path).open()
    assert LOCK in str(e.value)
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_store_reader_is_not_named_like_the_records_reader():
    """measure.store's JSONL reader returned a list under the name project.records' reader
    (a DataFrame and problems) has."""
    import measure
    import measure.store as ms

    assert not hasattr(ms, "read_records") and "read_records" not in measure.__all__
    assert measure.read_store_jsonl is ms.read_store_jsonl
