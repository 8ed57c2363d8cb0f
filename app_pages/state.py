"""Session state shared by the pages: preset, control values, URL sync, cached runs.

The whole view is `st.session_state["preset"]` plus `st.session_state["cfg"]` (dotted
path -> value in model units). Widgets use keys "ctl:<path>" and copy their values
into cfg after each render, so the state survives page switches (widgets that are not
rendered lose their own state) and can be written to the URL.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from project import app_support as sup
from project.engine import ProjectionResult, run_projection
from project.national import national_electricity
from project.reference import paper_models, paper_task_energy
from project.scenario import Scenario, ScenarioError, preset_names

DEFAULT_PRESET = "baseline-2025"
SEED = 0
SAMPLES = {"standard": 1000, "precise": 5000}
CTL = "ctl:"


# ---------------------------------------------------------------------------
# Cached data loading


@st.cache_data(show_spinner=False)
def national() -> pd.DataFrame:
    return national_electricity().copy()


@st.cache_data(show_spinner=False)
def models_reference() -> pd.DataFrame:
    return paper_models().copy()


@st.cache_data(show_spinner=False)
def task_reference() -> pd.DataFrame:
    return paper_task_energy().copy()


@st.cache_data(show_spinner=False)
def preset_titles() -> dict[str, tuple[str, str]]:
    """name -> (title, basis) for the preset picker."""
    return {n: (sup.preset(n).title, sup.preset(n).basis) for n in preset_names()}


@st.cache_resource(show_spinner=False)
def baseline_result(name: str, samples: int) -> ProjectionResult:
    """The preset as shipped (read-only, shared between sessions)."""
    return run_projection(sup.preset(name), samples=samples, seed=SEED)


@st.cache_data(show_spinner=False, max_entries=8)
def _project_records(signature: tuple) -> tuple[pd.DataFrame | None, str]:
    return sup.load_project_records()


def project_records() -> tuple[pd.DataFrame | None, str]:
    """The project's records, re-read whenever a record file changes (cached otherwise)."""
    return _project_records(sup.records_signature())


# ---------------------------------------------------------------------------
# State


def init_state() -> None:
    """On a session's first run, read the view from the URL (or the default preset)."""
    ss = st.session_state
    if "cfg" in ss:
        return
    params = {k: st.query_params.get(k) for k in st.query_params.keys()}
    name, cfg, problems = sup.decode_query(params, DEFAULT_PRESET)
    ss["preset"] = name
    ss["preset_select"] = name
    ss["cfg"] = cfg
    ss["url_problems"] = problems
    ss.setdefault("precision", "standard")


def clear_widgets() -> None:
    for k in [k for k in st.session_state.keys() if str(k).startswith(CTL)]:
        del st.session_state[k]


def on_preset_change() -> None:
    ss = st.session_state
    ss["preset"] = ss["preset_select"]
    ss["cfg"] = sup.default_state(ss["preset"])
    clear_widgets()


def reset_to_preset() -> None:
    ss = st.session_state
    ss["cfg"] = sup.default_state(ss["preset"])
    clear_widgets()


def current() -> tuple[str, dict[str, Any]]:
    return st.session_state["preset"], st.session_state["cfg"]


def measurement_tasks(scenario: Scenario) -> dict[str, str]:
    """Scenario tasks driven by accepted uploaded rows (when the user switched that on)."""
    ss = st.session_state
    summary = ss.get("upload_summary")
    if not ss.get("use_upload") or summary is None or not len(summary):
        return {}
    return sup.matching_tasks(scenario, list(summary["task"]))


def compute() -> dict[str, Any]:
    """Build and run the current scenario; returns the pieces the pages show, with timings."""
    name, cfg = current()
    samples = SAMPLES[st.session_state.get("precision", "standard")]
    t0 = time.perf_counter()
    base = sup.preset(name)
    mtasks = measurement_tasks(base)
    measurements = st.session_state.get("upload_summary") if mtasks else None
    scenario = sup.build_scenario(name, cfg, mtasks)
    result = run_projection(scenario, samples=samples, seed=SEED, measurements=measurements)
    t1 = time.perf_counter()
    baseline = baseline_result(name, samples)
    st.session_state["timing_projection_ms"] = (t1 - t0) * 1000
    return {"name": name, "cfg": cfg, "scenario": scenario, "result": result, "baseline": baseline,
            "samples": samples, "measurement_tasks": mtasks, "measurements": measurements}


def sync_url() -> None:
    """Write the view into the URL so a copied link reproduces it."""
    name, cfg = current()
    q = sup.encode_query(name, cfg)
    now = {k: st.query_params.get(k) for k in st.query_params.keys()}
    if now != q:
        st.query_params.from_dict(q)


def safe_compute() -> dict[str, Any] | None:
    try:
        return compute()
    except ScenarioError as exc:
        st.error(f"These settings do not make a valid scenario:\n\n{exc}")
        st.button("Reset to the preset", on_click=reset_to_preset)
        return None
