"""Exports: CSV, Parquet, Excel (data + assumptions) and JSON read back equal."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from project.cli import app
from project.engine import run_projection
from project.export import ExportError, assumptions_table, read_result, write_result
from project.scenario import load_preset, load_scenario, scenario_to_toml


@pytest.fixture(scope="module")
def result():
    return run_projection(load_preset("baseline-2025"), samples=300, seed=5)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx", ".json"])
def test_round_trip(tmp_path, result, suffix):
    p = write_result(result, tmp_path / f"r{suffix}")
    back = read_result(p)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), result.table.reset_index(drop=True),
                                  check_dtype=False, rtol=1e-12)
    assert [x.name for x in tmp_path.iterdir()] == [p.name]


def test_excel_has_assumptions_with_sources(tmp_path, result):
    p = write_result(result, tmp_path / "r.xlsx")
    sheets = pd.read_excel(p, sheet_name=None)
    assert {"data", "assumptions", "parameters", "metadata"} <= set(sheets)
    a = sheets["assumptions"].set_index("parameter")
    assert a.at["facility.pue", "value"] == pytest.approx(1.3)
    assert "Uptime" in a.at["facility.pue", "source"]
    assert "Table 2" in a.at["tasks.image_generation.energy", "source"]
    meta = dict(zip(sheets["metadata"]["key"], sheets["metadata"]["value"]))
    assert meta["seed"] == "5" and meta["samples"] == "300"
    assert len(sheets["parameters"]) >= 40 and sheets["parameters"]["source"].notna().all()


def test_json_and_parquet_carry_seed(tmp_path, result):
    doc = json.loads(write_result(result, tmp_path / "r.json").read_text())
    assert doc["metadata"]["seed"] == 5
    import pyarrow.parquet as pq
    meta = json.loads(pq.read_schema(write_result(result, tmp_path / "r.parquet")).metadata[b"wattcast"])
    assert meta["seed"] == 5


def test_assumptions_cover_every_parameter(result):
    a = assumptions_table(result)
    assert set(a["parameter"]) == set(result.compiled.params)


def test_unsupported_format(tmp_path, result):
    with pytest.raises(ExportError):
        write_result(result, tmp_path / "r.docx")


def test_failed_write_leaves_nothing(tmp_path, result, monkeypatch):
    target = tmp_path / "r.csv"
    target.write_text("old content")

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError):
        write_result(result, target)
    assert target.read_text() == "old content"
    assert [x.name for x in tmp_path.iterdir()] == ["r.csv"]


def test_scenario_toml_round_trip(tmp_path):
    for name in ("baseline-2025", "devries-2027", "iea-base", "paper-2023"):
        s = load_preset(name)
        p = tmp_path / f"{name}.toml"
        p.write_text(scenario_to_toml(s))
        assert load_scenario(p) == s


def test_cli_writes_each_format(tmp_path):
    runner = CliRunner()
    for suffix in (".csv", ".parquet", ".xlsx", ".json"):
        out = tmp_path / f"r{suffix}"
        res = runner.invoke(app, ["project", "--preset", "devries-2027", "--samples", "50", "--out", str(out)])
        assert res.exit_code == 0, res.output
        t = read_result(out)
        v = t[(t.variable == "Energy|Total") & (t.stat == "central") & (t.year == 2027)]["value"].item()
        assert v == pytest.approx(85.41, rel=1e-3)


def test_cli_summary_mentions_nearest_countries():
    res = CliRunner().invoke(app, ["project", "--preset", "devries-google-search", "--samples", "0"])
    assert res.exit_code == 0
    assert "29.2" in res.output and "Ireland" in res.output and "just above" in res.output


def test_cli_presets_lists_all():
    res = CliRunner().invoke(app, ["presets"])
    assert res.exit_code == 0
    for n in ("paper-2023", "devries-2027", "baseline-2025"):
        assert n in res.output
