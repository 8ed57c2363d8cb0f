"""CLI output for pipes: identifiers never cut, --format json for machines."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from project.cli import app
from project.engine import run_projection
from project.national import COMPARISON_YEAR
from project.scenario import load_preset, preset_names

runner = CliRunner()


def test_presets_in_a_narrow_pipe_keep_every_name():
    env = {**os.environ, "COLUMNS": "40"}
    out = subprocess.run([sys.executable, "-m", "project.cli", "presets"], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert sum("devries" in line for line in out.splitlines()) == 2
    assert [line.split("\t")[0] for line in out.splitlines()] == preset_names()


def test_presets_table_on_a_narrow_terminal_keeps_every_name(monkeypatch):
    from rich.console import Console

    import project.cli as cli

    monkeypatch.setattr(cli, "console", Console(width=40, force_terminal=True, color_system=None, record=True))
    cli.presets(None)
    text = cli.console.export_text()
    for n in preset_names():
        assert n in text


def test_presets_json():
    res = runner.invoke(app, ["presets", "--format", "json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert [r["name"] for r in rows] == preset_names()
    ref = next(r for r in rows if r["name"] == "reference")
    assert ref["target_year"] == load_preset("reference").target_year and "fleet" in ref["models"]


def test_presets_refuses_unknown_format():
    res = runner.invoke(app, ["presets", "--format", "yaml"])
    assert res.exit_code == 2 and "yaml" in res.output


def test_project_json_summary_and_data():
    res = runner.invoke(app, ["project", "--preset", "devries-google-search", "--samples", "50", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    central = run_projection(load_preset("devries-google-search"))
    head = doc["headline"]
    assert head["comparison_year"] == COMPARISON_YEAR and head["rank"]["demand_year"] == COMPARISON_YEAR
    assert head["twh"] == pytest.approx(central.value("Energy"), rel=1e-5)  # no spread: p50 = central
    assert doc["compared_with"][0]["country"] == "Ireland" and doc["compared_with"][0]["year"] <= COMPARISON_YEAR
    assert doc["meta"]["samples"] == 50
    rows = [r for r in doc["data"] if r["variable"] == "Energy" and r["region"] == "World"]
    assert {r["year"] for r in rows} == set(central.scenario.years)


def test_project_table_in_a_pipe_keeps_labels(monkeypatch):
    env = {**os.environ, "COLUMNS": "40"}
    out = subprocess.run([sys.executable, "-m", "project.cli", "project", "--preset", "reference", "--samples", "0"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert "unattributed fleet use" in out and "market-based (alternative)" in out
