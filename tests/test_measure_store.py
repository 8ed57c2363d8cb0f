"""The results store: atomic appends, torn-line repair, corrupt files, Parquet."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from measure.errors import MeasureError
from measure.store import ResultStore, read_records


def rec(i, key="k"):
    return {"trial_key": key, "repeat_index": i, "energy_j_per_inference": float(i),
            "config": {"task": "text_classification", "nested": {"a": i}}, "flags": ["x"],
            "metadata": {"gpus": [{"index": 0}]}}


def test_append_and_read(tmp_path):
    s = ResultStore(tmp_path / "out").open()
    for i in range(3):
        s.append(rec(i))
    assert [r["repeat_index"] for r in s.records()] == [0, 1, 2]
    assert s.done() == {("k", 0), ("k", 1), ("k", 2)}
    raw = s.jsonl.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 3


def test_torn_last_line_is_cut_and_kept(tmp_path):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    s.append(rec(1))
    with open(s.jsonl, "ab") as f:
        f.write(json.dumps(rec(2)).encode()[:25])  # a write torn by SIGKILL
    assert len(read_records(s.jsonl)) == 2  # the partial line is not a record
    s2 = ResultStore(tmp_path).open()  # opening repairs
    assert s2.jsonl.read_bytes().endswith(b"\n")
    assert len(s2.records()) == 2
    torn = list(tmp_path.glob("records.jsonl.torn-*"))
    assert len(torn) == 1 and torn[0].read_bytes().startswith(b'{"trial_key"')
    s2.append(rec(2))
    assert [r["repeat_index"] for r in s2.records()] == [0, 1, 2]


def test_corrupt_middle_line_is_an_error_and_nothing_changes(tmp_path):
    s = ResultStore(tmp_path).open()
    s.append(rec(0))
    with open(s.jsonl, "ab") as f:
        f.write(b"this is not json\n")
    s.append(rec(1))
    before = s.jsonl.read_bytes()
    with pytest.raises(MeasureError, match="line 2"):
        ResultStore(tmp_path).open().records()
    assert s.jsonl.read_bytes() == before


def test_non_record_json_is_an_error(tmp_path):
    p = tmp_path / "records.jsonl"
    p.write_text('{"hello": 1}\n')
    with pytest.raises(MeasureError, match="not a wattcast measurement record"):
        read_records(p)


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
