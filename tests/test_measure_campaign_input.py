"""Bad campaign files and options end in one message naming the value (exit 2), never a
traceback or a hang (issue 12, items 6 and 7). No torch needed: all fail before any model loads."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

import measure.config as mc
from measure.cli import register
from measure.config import MAX_TRIALS, load_campaign
from measure.errors import MeasureError

GOOD_GRID = '[[grid]]\ntask = "text_classification"\nmodel = "tiny-distilbert-sst2"\n'


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    return a


def invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def plain(text: str) -> str:
    return " ".join(text.split())


def said(needle: str, text: str) -> bool:
    """``re:PATTERN`` is a regular expression; anything else a literal part of the message."""
    import re

    return bool(re.search(needle[3:], text)) if needle.startswith("re:") else needle in text


# a 1 KB grid that expands to 900,000 trials (100 seeds x 100 batch sizes x 90 window sizes)
HUGE = ('name = "huge"\n[[grid]]\ntask = "text_classification"\nmodel = "tiny-distilbert-sst2"\n'
        f"seed = {list(range(100))}\nbatch_size = {list(range(1, 101))}\nn_inferences = {list(range(1, 91))}\n")


@pytest.mark.parametrize("toml, needle", [
    ('name = "x"\ngrid = ["a", "b"]\n', "'grid' item #1 is str 'a'; each [[grid]] must be a table with task and model"),
    ('name = "x"\n[grid]\ntask = "text_classification"\nmodel = "m"\n', "must be written [[grid]] (an array of tables), not [grid]"),
    ('name = "x"\n', "needs at least one [[grid]] table"),
    ('name = "x"\n[[grid]]\ntask = "text_classification"\nmodel = []\n', "[[grid]] #1: 'model' is an empty list"),
    ('name = "x"\npreset = 3\n' + GOOD_GRID, "field 'preset' must be a preset name, got 3"),
    ('name = "x"\ndefaults = 3\n' + GOOD_GRID, "'defaults' must be a table ([defaults]), got 3"),
    ('name = 7\n' + GOOD_GRID, "field 'name' must be a string, got 7"),
    ('name = "x"\n[defaults]\nseed = -1\n' + GOOD_GRID, "field 'seed': Input should be greater than or equal to 0, got -1"),
    ('name = "x"\n[defaults]\nbatch_size = "big"\n' + GOOD_GRID, "re:field 'batch_size': .* got 'big'"),
    (HUGE, f"the [[grid]] tables expand to 900,000 trials; the limit is {MAX_TRIALS:,}"),
])
def test_bad_campaign_is_one_message(app, tmp_path, toml, needle):
    f = tmp_path / "c.toml"
    f.write_text(toml)
    res = invoke(app, "campaign", f, "--dry-run")
    assert res.exit_code == 2, res.output
    assert said(needle, plain(res.output)), res.output
    assert str(f) in plain(res.output) and "Traceback" not in res.output


def test_huge_grid_is_refused_before_it_is_expanded(tmp_path, monkeypatch):
    f = tmp_path / "c.toml"
    f.write_text(HUGE)
    assert len(HUGE) < 2_000

    def no(*a, **k):
        raise AssertionError("a trial was built: the grid was expanded before the limit was checked")

    monkeypatch.setattr(mc, "make_config", no)
    with pytest.raises(MeasureError, match="900,000 trials"):
        load_campaign(f)
    with pytest.raises(MeasureError, match="900,000 trials; the limit is 1,000"):
        load_campaign(f, max_trials=1_000)


def test_grid_at_the_limit_expands(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('name = "x"\n' + GOOD_GRID + "seed = [0, 1, 2]\n")
    assert len(load_campaign(f, max_trials=3).trials) == 3
    with pytest.raises(MeasureError, match="expand to 3 trials; the limit is 2"):
        load_campaign(f, max_trials=2)


@pytest.mark.parametrize("args, needle", [
    (["--seed", "-1"], "field 'seed': Input should be greater than or equal to 0, got -1"),
    (["--seed", str(2**32)], f"field 'seed': Input should be less than or equal to {2**32 - 1}, got {2**32}"),
    (["--batch", "0"], "field 'batch_size': Input should be greater than or equal to 1, got 0"),
    (["--dtype", "float8"], "re:field 'dtype': .* got 'float8'"),
])
def test_measure_options_name_the_value(app, tmp_path, args, needle):
    res = invoke(app, "measure", "--task", "text_classification", "--model", "tiny-distilbert-sst2",
                 "--device", "cpu", "--out", tmp_path, *args)
    assert res.exit_code == 2, res.output
    assert said(needle, plain(res.output)), res.output
    assert not (tmp_path / "records.jsonl").exists()


def test_repeat_index_r0_in_a_store_is_file_and_line(app, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('name = "x"\n[defaults]\ndevice = "cpu"\nbackend = "fake"\n' + GOOD_GRID)
    out = tmp_path / "out"
    out.mkdir()
    good = {"trial_key": "k", "repeat_index": 0, "schema_version": 2, "protocol_version": 1,
            "task": "text_classification", "model": "m", "phase": "inference", "status": "ok",
            "energy_kwh_per_inference": 1e-6, "backend": "fake", "device": "cpu", "weights": "random-init",
            "dtype": "float32", "batch_size": 1, "n_inferences": 1, "flags": []}
    (out / "records.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "repeat_index": "r0"}) + "\n")
    before = (out / "records.jsonl").read_bytes()
    res = invoke(app, "campaign", f, "--out", out, "--resume")
    assert res.exit_code == 2, res.output
    assert f"{out / 'records.jsonl'}:2: field 'repeat_index' must be a non-negative integer, got 'r0'" in plain(res.output)
    assert "Traceback" not in res.output and (out / "records.jsonl").read_bytes() == before
