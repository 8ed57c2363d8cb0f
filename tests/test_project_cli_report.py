"""`wattcast project` shows per-request impacts (issue 11): energy, emissions and water by kind."""

import json

from typer.testing import CliRunner

from project.cli import app

runner = CliRunner()


def test_per_request_table_in_the_summary():
    res = runner.invoke(app, ["project", "--preset", "reference"], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    assert "Per request, 2025, World" in res.output
    for col in ("Wh facility", "g market", "g embodied", "mL on-site", "mL off-site"):
        assert col in res.output
    assert "LLM Text" in res.output.split("Per request")[1]


def test_per_request_rows_in_json_match_the_result():
    res = runner.invoke(app, ["project", "--preset", "reference", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rows = [r for r in doc["per_unit"] if r["region"] == "World"]
    assert {r["workload"] for r in rows} == {"llm_text", "image_generation", "video_generation", "translation"}
    for r in rows:
        # the chain: accelerator <= server <= IT <= facility; market-based never above location-based
        assert 0 < r["accelerator_wh"] <= r["server_wh"] <= r["it_wh"] <= r["facility_wh"]
        assert r["market_g"] <= r["location_g"] + 1e-12
        assert r["onsite_ml"] > 0 and r["offsite_ml"] > 0
    llm = next(r for r in rows if r["workload"] == "llm_text")
    assert 1.0 < llm["facility_wh"] / llm["it_wh"] < 2.0  # one PUE between IT and the meter
