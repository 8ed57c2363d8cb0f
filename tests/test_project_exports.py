"""Exports: IAMC tables (model, scenario, region, variable, unit, year, value) in CSV, Parquet,
Excel (data, meta, assumptions, parameters) and JSON, long or wide, read back equal; pyam
loads them as they are."""

import json
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from project.cli import app
from project.engine import run_projection
from project.export import (IAMC_COLUMNS, PERCENTILE_SUFFIX, ExportError, assumptions_table, iamc_table, read_meta,
                            read_result, to_wide, write_result, write_results, write_table)
from project.scenario import apply_overrides, load_preset, load_scenario, preset_names, scenario_to_toml

FORMATS = [".csv", ".parquet", ".xlsx", ".json"]
PYAM_SKIP = ("pyam-iamc is not installed: installing it (or nomenclature-iamc) here would downgrade pandas 3 to "
             "2.3 (their dependencies pin pandas < 3), so it is not in the [test] extra; docs/exports.md says how "
             "to run these checks in their own environment")


@pytest.fixture(scope="module")
def result():
    return run_projection(load_preset("reference"), samples=300, seed=5)


@pytest.fixture(scope="module")
def central():
    return run_projection(load_preset("devries-2027"), samples=0)


@pytest.mark.parametrize("layout", ["long", "wide"])
@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip(tmp_path, result, suffix, layout):
    p = write_result(result, tmp_path / f"r{suffix}", layout=layout)
    back = read_result(p)
    pd.testing.assert_frame_equal(back, iamc_table(result), check_dtype=False, rtol=1e-12)
    assert [x.name for x in tmp_path.iterdir()] == [p.name]


def test_iamc_columns_and_model(result):
    t = iamc_table(result)
    assert list(t.columns) == IAMC_COLUMNS
    assert set(t["model"]) == {f"wattcast {version('wattcast')}"}
    assert set(t["scenario"]) == {"reference"}
    assert not t.duplicated(subset=IAMC_COLUMNS[:-1]).any()


def test_percentiles_are_ar6_variable_suffixes(result):
    t = iamc_table(result).set_index(["region", "variable", "year"])["value"]
    y = result.scenario.target_year
    assert t[("World", "Energy", y)] == pytest.approx(result.value("Energy", y, "central"))
    vals = [t[("World", "Energy" + PERCENTILE_SUFFIX[s], y)] for s in ("p5", "p50", "p95")]
    assert vals == pytest.approx([result.value("Energy", y, s) for s in ("p5", "p50", "p95")])
    assert vals[0] < vals[1] < vals[2]
    assert PERCENTILE_SUFFIX == {"p5": "|5.0th Percentile", "p50": "|50.0th Percentile", "p95": "|95.0th Percentile"}
    # variables without Monte Carlo percentiles carry none
    assert ("World", "Fleet|Shipments|50.0th Percentile", y) not in t.index


def test_central_run_has_no_percentile_variables(central):
    assert not iamc_table(central)["variable"].str.contains("Percentile").any()


def test_wide_layout_has_a_column_per_year(tmp_path, result):
    p = write_result(result, tmp_path / "w.csv", layout="wide")
    wide = pd.read_csv(p)
    years = [str(y) for y in result.scenario.years]
    assert list(wide.columns) == ["model", "scenario", "region", "variable", "unit", *years]
    row = wide[(wide.region == "World") & (wide.variable == "Energy")].iloc[0]
    assert row[str(result.scenario.target_year)] == pytest.approx(result.value("Energy", stat="central"))


def test_excel_sheets_meta_and_assumptions(tmp_path, result):
    p = write_result(result, tmp_path / "r.xlsx")
    sheets = pd.read_excel(p, sheet_name=None)
    assert list(sheets) == ["data", "meta", "assumptions", "parameters"]
    meta = sheets["meta"].iloc[0]
    assert list(sheets["meta"].columns[:2]) == ["model", "scenario"] and len(sheets["meta"]) == 1
    assert meta["seed"] == 5 and meta["samples"] == 300 and meta["headline"] == "50.0th Percentile"
    assert "ML.ENERGY" in meta["sources"] and "Percentile" in meta["percentiles"]
    a = sheets["assumptions"].set_index("parameter")
    assert a.at["regions.USA.pue", "value"] == pytest.approx(1.4)
    assert "LBNL" in a.at["regions.USA.pue", "source"]
    assert a.at["regions.USA.grid_intensity_g_per_kwh", "value"] == pytest.approx(383.78)
    assert len(sheets["parameters"]) >= 40 and sheets["parameters"]["source"].notna().all()


@pytest.mark.parametrize("suffix", [".xlsx", ".json", ".parquet"])
def test_meta_travels_with_every_format_but_csv(tmp_path, result, suffix):
    m = read_meta(write_result(result, tmp_path / f"r{suffix}")).iloc[0]
    assert m["seed"] == 5 and m["samples"] == 300 and m["scenario"] == "reference"


def test_csv_has_no_meta(tmp_path, result):
    with pytest.raises(ExportError, match="CSV"):
        read_meta(write_result(result, tmp_path / "r.csv"))


def test_json_is_strict_json(tmp_path, central):
    text = write_result(central, tmp_path / "r.json").read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert set(doc) == {"layout", "meta", "assumptions", "parameters", "data"}
    assert doc["meta"][0]["seed"] is None and doc["meta"][0]["samples"] == 0


def test_assumptions_cover_every_parameter(result):
    assert set(assumptions_table(result)["parameter"]) == set(result.compiled.params)


def test_unsupported_format_and_layout(tmp_path, result):
    with pytest.raises(ExportError, match="docx"):
        write_result(result, tmp_path / "r.docx")
    with pytest.raises(ExportError, match="layout"):
        write_result(result, tmp_path / "r.csv", layout="tall")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, result, monkeypatch):
    target = tmp_path / "r.csv"
    target.write_text("old content")

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError):
        write_result(result, target)
    assert target.read_text() == "old content"
    assert [x.name for x in tmp_path.iterdir()] == ["r.csv"]


def test_many_scenarios_in_one_export(tmp_path, result, central):
    p = write_results([result, central], tmp_path / "both.xlsx", names=["ref", "dv"])
    data = read_result(p)
    assert list(dict.fromkeys(data["scenario"])) == ["ref", "dv"]
    meta = read_meta(p)
    assert list(meta["scenario"]) == ["ref", "dv"] and list(meta["preset"]) == ["reference", "devries-2027"]
    a = pd.read_excel(p, sheet_name="assumptions")
    assert a.columns[0] == "scenario" and set(a["scenario"]) == {"ref", "dv"}
    with pytest.raises(ExportError, match="repeated: reference"):
        write_results([result, result], tmp_path / "dup.csv")
    assert not (tmp_path / "dup.csv").exists()


def test_write_table_refuses_duplicate_rows(tmp_path, central):
    t = iamc_table(central)
    with pytest.raises(ValueError, match="duplicate rows"):
        write_table(pd.concat([t, t.head(1)]), tmp_path / "d.csv")
    with pytest.raises(ValueError, match="missing columns"):
        write_table(central.table, tmp_path / "d.csv")


def test_to_wide_keeps_row_order(central):
    t = iamc_table(central)
    w = to_wide(t)
    keys = t[["region", "variable"]].drop_duplicates()
    assert list(zip(w["region"], w["variable"])) == list(zip(keys["region"], keys["variable"]))


def test_scenario_toml_round_trip(tmp_path):
    for name in preset_names():
        s = load_preset(name)
        p = tmp_path / f"{name}.toml"
        p.write_text(scenario_to_toml(s))
        assert load_scenario(p) == s


def test_cli_writes_each_format_and_layout(tmp_path, central):
    runner = CliRunner()
    want = central.value("Energy", 2027, "central")
    for suffix in FORMATS:
        for layout in ("long", "wide"):
            out = tmp_path / f"r-{layout}{suffix}"
            res = runner.invoke(app, ["project", "--preset", "devries-2027", "--samples", "50", "--out", str(out),
                                      "--layout", layout])
            assert res.exit_code == 0, res.output
            t = read_result(out)
            v = t[(t.variable == "Energy") & (t.region == "World") & (t.year == 2027)]["value"].item()
            assert v == pytest.approx(want, rel=1e-9)
            assert t["variable"].str.endswith("|50.0th Percentile").any()


def test_cli_refuses_unknown_layout(tmp_path):
    res = CliRunner().invoke(app, ["project", "--preset", "devries-2027", "--samples", "0",
                                   "--out", str(tmp_path / "r.csv"), "--layout", "tall"])
    assert res.exit_code == 2 and "tall" in res.output
    assert not (tmp_path / "r.csv").exists()


# ---------------------------------------------------------------------------
# pyam (pyam-iamc): every format loads with no extra arguments


@pytest.mark.parametrize("layout", ["long", "wide"])
@pytest.mark.parametrize("suffix", FORMATS)
def test_pyam_loads_every_format(tmp_path, result, suffix, layout):
    pyam = pytest.importorskip("pyam", reason=PYAM_SKIP)
    p = write_result(result, tmp_path / f"r{suffix}", layout=layout)
    if suffix in (".csv", ".xlsx"):
        df = pyam.IamDataFrame(p)
    elif suffix == ".parquet":
        df = pyam.IamDataFrame(pd.read_parquet(p))
    else:
        df = pyam.IamDataFrame(pd.DataFrame(json.loads(p.read_text())["data"]))
    assert df.model == [f"wattcast {version('wattcast')}"] and df.scenario == ["reference"]
    assert df.extra_cols == []
    ts = df.filter(variable="Energy", region="World").timeseries()
    assert ts[result.scenario.target_year].item() == pytest.approx(result.value("Energy", stat="central"))
    if suffix == ".xlsx":
        assert df.meta.loc[(df.model[0], "reference"), "seed"] == 5


def test_pyam_aggregation_check_passes(tmp_path, result):
    pyam = pytest.importorskip("pyam", reason=PYAM_SKIP)
    from project.variables import REGIONS, TREE

    df = pyam.IamDataFrame(write_result(result, tmp_path / "r.csv"))
    for parent, children in TREE.items():
        assert df.check_aggregate(parent, components=children) is None, parent
        assert df.check_aggregate_region(parent, region="World", subregions=list(REGIONS.values())) is None, parent


def test_values_are_finite(result):
    assert np.isfinite(iamc_table(result)["value"]).all()


def test_override_keeps_name_in_export(tmp_path):
    s = apply_overrides(load_preset("devries-2027"), ["name=my-run"])
    p = write_result(run_projection(s), tmp_path / "r.csv")
    assert set(pd.read_csv(p)["scenario"]) == {"my-run"}
