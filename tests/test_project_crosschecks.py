"""Peer cross-check: stored EcoLogits ranges beside wattcast's per-request energy, no ecologits needed."""

import subprocess
import sys
from pathlib import Path

import pytest

from project.crosschecks import ecologits_table, llm_crosscheck, wattcast_wh_per_request
from project.engine import run_projection
from project.scenario import apply_overrides, load_preset

ROOT = Path(__file__).resolve().parents[1]


def test_stored_table_has_version_and_ranges():
    e = ecologits_table()
    assert len(e) >= 6 and e["ecologits_version"].astype(str).str.match(r"^\d+\.\d+").all()
    assert (e["energy_wh_min"] > 0).all() and (e["energy_wh_min"] <= e["energy_wh_max"]).all()
    assert set(e["wattcast_class"]) == {"small", "mid", "frontier"} and set(e["architecture"]) <= {"dense", "moe"}
    # the figure: EcoLogits 0.11.3 gives 0.67-1.11 Wh for a 500-token Gemini 2.5 Flash answer
    g = e.set_index("model").loc["gemini-2.5-flash"]
    assert g["output_tokens"] == 500 and g["energy_wh_min"] == pytest.approx(0.668, abs=0.01)
    assert g["energy_wh_max"] == pytest.approx(1.105, abs=0.01)


def test_ratio_is_ecologits_over_wattcast():
    t = llm_crosscheck()
    assert list(t["model"]) == list(ecologits_table()["model"])
    assert (t["ratio_low"] == t["ecologits_wh_low"] / t["wattcast_wh"]).all()
    assert (t["ratio_high"] == t["ecologits_wh_high"] / t["wattcast_wh"]).all()


def test_wattcast_side_is_the_reference_llm_workload():
    s = apply_overrides(load_preset("reference"), [
        "workloads.llm_text.llm.output_tokens=500", "workloads.llm_text.llm.input_tokens=0",
        "workloads.llm_text.llm.reasoning_share=0", "workloads.llm_text.llm.model_mix={frontier=1.0}",
        "workloads.llm_text.llm.moe_share=0.0"])
    pu = run_projection(s).per_unit
    want = pu[(pu.workload == "llm_text") & (pu.region == "World")]["facility_wh"].item()
    assert wattcast_wh_per_request("frontier", False) == pytest.approx(want)
    # size factors and MoE factor of the preset: frontier = 4 x mid, MoE = dense / 3.56
    assert wattcast_wh_per_request("frontier", False) == pytest.approx(4 * wattcast_wh_per_request("mid", False))
    assert wattcast_wh_per_request("mid", True) == pytest.approx(wattcast_wh_per_request("mid", False) / 3.56)


def test_runs_without_ecologits():
    code = ("import sys; sys.modules['ecologits'] = None; "
            "from project.crosschecks import llm_crosscheck; print(len(llm_crosscheck()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(ecologits_table())


def test_docs_table_names_the_stored_version():
    doc = (ROOT / "docs" / "crosschecks.md").read_text(encoding="utf-8")
    for v in set(ecologits_table()["ecologits_version"].astype(str)):
        assert f"EcoLogits {v}" in doc
    for m in ecologits_table()["model"]:
        assert m in doc
