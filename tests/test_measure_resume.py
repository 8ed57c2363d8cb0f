"""A campaign killed with SIGKILL mid-run resumes without losing or duplicating a record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parent.parent

CAMPAIGN = """
name = "killme"
[defaults]
device = "cpu"
backend = "fake"
n_inferences = 12
repeats = 12
count_flops = false
[defaults.inputs]
text_words = 150
[[grid]]
task = "text_classification"
model = "tiny-distilbert-sst2"
batch_size = [1, 2]
"""
TOTAL = 24


def count_lines(p: Path) -> int:
    try:
        return p.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def start(toml: Path, out: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "measure", "campaign", str(toml), "--out", str(out)]
    if resume:
        cmd.append("--resume")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_after(proc: subprocess.Popen, jsonl: Path, at_least: int, timeout: float = 120) -> int:
    t0 = time.time()
    while count_lines(jsonl) < at_least:
        if proc.poll() is not None:
            pytest.fail(f"campaign ended before the kill: {proc.stderr.read().decode()[-2000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail("campaign too slow to reach the kill point")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return count_lines(jsonl)


def test_sigkill_then_resume(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN)
    out = tmp_path / "out"
    jsonl = out / "records.jsonl"

    p = start(toml, out, resume=False)
    n1 = kill_after(p, jsonl, 3)
    assert p.returncode == -signal.SIGKILL
    assert 3 <= n1 < TOTAL, "the kill must land mid-campaign"

    p = start(toml, out, resume=True)
    n2 = kill_after(p, jsonl, n1 + 3)
    assert n1 < n2 < TOTAL

    p = start(toml, out, resume=True)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 0, stderr.decode()[-2000:]

    raw = jsonl.read_bytes()
    assert raw.endswith(b"\n")
    recs = [json.loads(line) for line in raw.splitlines()]  # none truncated
    keys = [(r["trial_key"], r["repeat_index"]) for r in recs]
    assert len(recs) == TOTAL
    assert len(set(keys)) == TOTAL  # none duplicated
    assert len({r["record_id"] for r in recs}) == TOTAL
    assert sorted(i for _, i in keys) == sorted(list(range(12)) * 2)
    assert all(r["status"] == "ok" for r in recs)
    # consolidated Parquet agrees with the JSONL
    import pandas as pd

    assert len(pd.read_parquet(out / "records.parquet")) == TOTAL


def test_ctrl_c_consolidates_and_says_how_to_resume(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN)
    out = tmp_path / "out"
    p = start(toml, out, resume=False)
    t0 = time.time()
    while count_lines(out / "records.jsonl") < 2:
        assert p.poll() is None and time.time() - t0 < 120
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr.decode()[-2000:]
    assert "--resume" in stderr.decode()
    n = count_lines(out / "records.jsonl")
    import pandas as pd

    assert len(pd.read_parquet(out / "records.parquet")) == n >= 2
