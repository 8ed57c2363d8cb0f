"""Methodology and sources: generated from the data and code that make the numbers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import session, tables
from app_pages import controls as C
from project.engine import COUNTS_SENTENCE
from project.national import SOURCE as NATIONAL_SOURCE
from project.reference import PAPER_SOURCE

V = session.view("methodology")

st.title("How the numbers are made")
st.markdown("Everything on this page is read from the files and code that compute the figures: the scenario "
            "presets in `data/scenarios/`, the fleet and regional data in `data/fleet/`, the observations in "
            "`data/observations.csv` and the engine in `project/engine.py` (equations in `docs/model.md`).")
# the central run only (samples=0): the back-test compares it, and the tree and sources need no
# percentiles, so no Monte Carlo runs on this page
result = session.safe(session.run, V.preset, V.cfg, 0, False, True)

st.header("What is counted")
st.markdown(COUNTS_SENTENCE)
st.code(tables.equations(), language=None)

if result is not None:
    st.header("Back-test: the model against observed totals")
    bt = tables.backtest_table(result)
    if len(bt):
        mine = " with the controls as you set them" if C.changed(V.preset, V.cfg) else ""
        st.markdown(f"Modelled (central run of *{C.preset(V.preset).title}*{mine}) against observed data-centre "
                    "electricity. The 2024 World total is the calibration target; every other row is out of sample.")
        st.dataframe(bt, hide_index=True, width="stretch",
                     column_config={"Observed": st.column_config.NumberColumn("Observed (TWh)", format="%.1f"),
                                    "Modelled": st.column_config.NumberColumn("Modelled (TWh)", format="%.1f"),
                                    "Source": st.column_config.TextColumn(width="large")})
    else:
        st.info("This starting point does not cover an observed year or variable (no back-test rows).")

    st.header("The variables and what they mean")
    vt = tables.variable_tree(result)
    vt["variable"] = ["\u2003" * d + v.split("|")[-1] if d else v for v, d in zip(vt["variable"], vt["depth"])]
    st.dataframe(vt[["variable", "unit", "definition", "sum of"]], hide_index=True, width="stretch",
                 column_config={"variable": "Variable", "unit": "Unit",
                                "definition": st.column_config.TextColumn("Definition", width="large"),
                                "sum of": "Sum of"})
    st.caption("Indented variables are parts of the one above; World is the sum of the four regions.")

    st.header("Every number of this scenario and its source")
    src = tables.sources_table(result)
    q = st.text_input("Filter", key="meth_filter", placeholder="e.g. pue, shipments, check")
    if q.strip():
        mask = pd.Series(False, index=src.index)
        for col in ("parameter", "path", "source"):
            mask |= src[col].fillna("").astype(str).str.contains(q.strip(), case=False, regex=False)
        src = src[mask]
    st.dataframe(src, hide_index=True, width="stretch", height=420,
                 column_config={"parameter": "Parameter", "path": "Path",
                                "value": st.column_config.NumberColumn("Value", format="%.4g"),
                                "low": st.column_config.NumberColumn("Low", format="%.4g"),
                                "high": st.column_config.NumberColumn("High", format="%.4g"),
                                "unit": "Unit", "source": st.column_config.TextColumn("Source", width="large")})
    st.caption(f"{len(src)} parameters. A range is sampled in the Monte Carlo; 'check' in a source marks a figure "
               "not yet confirmed from the primary text.")
    if result.scenario.sources:
        st.markdown("**Sources of this starting point**\n\n" + "\n".join(f"- {s}" for s in result.scenario.sources))

st.header("Data sources")
st.markdown(f"- Energy per inference of the study's tasks: {PAPER_SOURCE}.\n"
            f"- National electricity demand and grid intensity: {NATIONAL_SOURCE}.\n"
            "- Accelerator fleet, regional split, PUE and WUE: `data/fleet/SOURCES.md`.\n"
            "- Observed and projected data-centre electricity: `data/observations.csv`.")
