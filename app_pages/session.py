"""Streamlit glue shared by the pages: the view in session state, the URL, cached runs.

The whole view is one `controls.View` in `st.session_state["view"]`. It is read from the
URL on a session's first run and again whenever the URL differs from what the app last
wrote (Back and Forward, or an edited link), so Back undoes a change. Widgets use keys
"w:<control key>" and write their values into the view; at the end of a run the view is
written to the URL (Streamlit pushes a browser history entry for each change).
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from project.engine import ProjectionResult
from project.scenario import ScenarioError

from . import compute
from . import controls as C
from . import fmt

W = "w:"


def _query() -> dict[str, list[str]]:
    return {k: [str(x) for x in st.query_params.get_all(k)] for k in st.query_params.keys()}


def _norm(q: dict[str, Any]) -> dict[str, list[str]]:
    return {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in q.items()}


def clear_widgets(keep: tuple[str, ...] = ()) -> None:
    for k in [k for k in st.session_state.keys() if str(k).startswith(W) and k not in keep]:
        del st.session_state[k]


def view(page: str = "simulator") -> C.View:
    """The current view. The simulator owns the URL: it (re)loads the view from the URL when
    the URL changed under the app (Back, Forward, an edited link). Coming back from another
    page, whose URL carries no settings, keeps the view (and writes it back to the URL)."""
    ss = st.session_state
    q = _query()
    last, ss["_page"] = ss.get("_page"), page
    if "view" in ss:
        if page != "simulator" or q == ss.get("_url"):
            return ss["view"]
        if not q and last not in (None, page):
            ss["_url"] = {}  # back from another page: write the view into the URL again
            return ss["view"]
    v, notes = C.decode(q)
    ss["view"] = v
    ss["notices"] = notes
    ss["_url"] = q                       # what the browser shows (bad values included)
    ss["_state"] = _norm(C.encode(v))    # the view it gave: the URL is rewritten only when this changes
    clear_widgets()
    return v


def write_url() -> None:
    """Write the view into the URL (only when it changed: each write is a history entry)."""
    ss = st.session_state
    q = _norm(C.encode(ss["view"]))
    if q != ss.get("_state") or (ss.get("_url") == {} and q):
        st.query_params.from_dict(q)
        ss["_url"] = ss["_state"] = q
        ss["notices"] = []


def set_preset(name: str) -> None:
    v = st.session_state["view"]
    v.preset = name
    v.cfg = C.default_cfg(name)
    clear_widgets()


def reset() -> None:
    v = st.session_state["view"]
    v.cfg = C.default_cfg(v.preset)
    clear_widgets()


def notices() -> None:
    """The link's problems, as one visible warning in plain text (never rendered as Markdown)."""
    notes = st.session_state.get("notices") or []
    if notes:
        body = "The link had settings this page could not use:  \n" + "  \n".join(
            "• " + fmt.plain(n) for n in notes[:8])
        if len(notes) > 8:
            body += f"  \n• and {len(notes) - 8} more"
        st.warning(body, icon=":material/link_off:")


# ---------------------------------------------------------------------------
# Cached runs (shared between sessions; results are read-only)


def _scenario(preset: str, overrides_json: str, measured_csv: str):
    """(scenario, per-task measurement table or None): the preset with the control overrides and,
    when the user switched their accepted upload on, its energy for the matching workloads."""
    import io

    import pandas as pd

    from project.engine import with_measured_energy
    from project.scenario import apply_overrides

    ov = json.loads(overrides_json)
    s = C.preset(preset)
    scen = apply_overrides(s, ov, origin="app") if ov else s
    table = None
    if measured_csv:
        table = pd.read_csv(io.StringIO(measured_csv))
        scen, _ = with_measured_energy(scen, table)
    return scen, table


@st.cache_resource(show_spinner=False, max_entries=96)
def _run(preset: str, overrides_json: str, samples: int, measured_csv: str = "", full: bool = False) -> ProjectionResult:
    scen, table = _scenario(preset, overrides_json, measured_csv)
    return (compute.run if full else compute.run_shown)(scen, samples, measurements=table)


def measured_csv() -> str:
    """The accepted upload's per-task table (CSV text) when the user switched it on, else ""."""
    ss = st.session_state
    summary = ss.get("upload_summary")
    if ss.get("use_upload") and summary is not None and len(summary):
        return summary.to_csv(index=False)
    return ""


def run(preset: str, cfg: dict[str, Any], samples: int, measured: bool = True, full: bool = False) -> ProjectionResult:
    """The projection of a preset with control values (ScenarioError if they do not validate);
    with the user's accepted measurements when they switched them on (and `measured`).
    `full`: every variable's percentiles and the tidy table (downloads, methodology); else the
    variables the page shows (compute.run_shown, same numbers, faster)."""
    ov = C.overrides(preset, cfg)
    return _run(preset, json.dumps(ov, sort_keys=True), samples, measured_csv() if measured else "", full)


def run_pin(pin: C.Pin, samples: int) -> ProjectionResult:
    return run(pin.preset, {**C.default_cfg(pin.preset), **pin.cfg}, samples, measured=False)


@st.cache_resource(show_spinner=False, max_entries=32)
def _wedges(preset: str, overrides_json: str, measured_csv: str = ""):
    from project.wedges import lever_wedges

    # as `_run`: the "with the measures" line uses the accepted upload
    scen, table = _scenario(preset, overrides_json, measured_csv)
    return lever_wedges(C.policy_off(scen), scen, variables=("Energy", "Emissions", "Water", "Power|Peak"),
                        measurements=table)


def wedges(preset: str, cfg: dict[str, Any]):
    """Each lever's share of the change from the scenario without measures to the scenario
    (with the user's accepted measurements when they switched them on, as `run`)."""
    return _wedges(preset, json.dumps(C.overrides(preset, cfg), sort_keys=True), measured_csv())


def safe(fn, *args):
    """fn(*args), or None after showing the scenario error in plain text."""
    try:
        return fn(*args)
    except ScenarioError as exc:
        st.error("These settings do not make a valid scenario:  \n" + fmt.plain(str(exc), 600),
                 icon=":material/error:")
        return None
