"""A campaign killed with SIGKILL mid-run resumes without losing or duplicating a record; two
campaigns on one store: one runs, the other exits 2 naming the store and the writer's PID."""

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
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
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
    assert not list(out.glob(".*.tmp"))  # nothing half-written left behind


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


LONG_CAMPAIGN = CAMPAIGN.replace("n_inferences = 12\nrepeats = 12", "n_inferences = 24\nrepeats = 20")
LONG_TOTAL = 40


def test_two_campaigns_on_one_store_one_runs_the_other_exits_2(tmp_path):
    """Issue 12: the "already holds records" check was check-then-act, so two campaigns on one
    store (with --resume, or on a fresh store) both ran and wrote every window twice."""
    toml = tmp_path / "c.toml"
    toml.write_text(LONG_CAMPAIGN)
    out = tmp_path / "out"
    a, b = start(toml, out, resume=True), start(toml, out, resume=True)  # at once, on a fresh store
    try:
        t0 = time.time()
        while a.poll() is None and b.poll() is None:
            assert time.time() - t0 < 180, "neither campaign ended"
            time.sleep(0.05)
        loser, winner = (a, b) if a.poll() is not None else (b, a)
        err = loser.stderr.read().decode()
        assert loser.returncode == 2, err[-2000:]
        said = " ".join(err.split())
        assert f"another wattcast process (PID {winner.pid}) is writing to this store" in said
        assert str(out) in said and "Traceback" not in err
        _, werr = winner.communicate(timeout=300)
        assert winner.returncode == 0, werr.decode()[-2000:]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()
    recs = [json.loads(line) for line in (out / "records.jsonl").read_bytes().splitlines()]
    keys = [(r["trial_key"], r["repeat_index"]) for r in recs]
    assert len(keys) == len(set(keys)) == LONG_TOTAL  # each key once
