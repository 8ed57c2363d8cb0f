"""Methodology and sources: generated from the same files and code the numbers use."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import state
from project import app_support as sup
from project.export import assumptions_table
from project.national import CODECARBON_SOURCE
from project.params import parameter_table
from project.reference import PAPER_SOURCE

st.markdown('<p class="wc-kicker">wattcast · methodology and sources</p>', unsafe_allow_html=True)
st.title("How the numbers are made")
st.markdown(
    '<p class="wc-lede">Everything on this page is read from the files and code that compute the figures: '
    "<code>data/parameters.csv</code>, the scenario presets in <code>data/scenarios/</code>, the study's reference "
    "tables in <code>data/reference/</code>, and the projection engine (<code>project/engine.py</code>).</p>",
    unsafe_allow_html=True)

st.subheader("The projection")
st.markdown(
    "Each preset picks a **basis** for its headline: the **demand side** multiplies inferences by energy per "
    "inference, the **supply side** multiplies AI servers by their power and utilisation, and **top-down** multiplies "
    "data-centre electricity by the share drawn by AI. Per year *y* (dy = y - base year):")
st.code(sup.equations(), language=None)
st.markdown(
    "Every number with a range is sampled (Latin hypercube, seed 0) to give the 5th-95th percentile band; the "
    "tornado chart moves one ranged parameter at a time to its range ends. Moving a slider moves a parameter's "
    "central value and keeps the preset's range (widened to include the new value).")

st.subheader("Known caveats")
for c in sup.caveats():
    st.markdown(f"- {c}")

st.subheader("Parameters")
pt = parameter_table().reset_index(drop=True)
q = st.text_input("Filter parameters", key="meth_filter", placeholder="e.g. pue, bloomz, iea, check")
view = pt
if q.strip():
    mask = pd.Series(False, index=pt.index)
    for col in ("name", "unit", "source", "note"):
        mask |= pt[col].fillna("").astype(str).str.contains(q.strip(), case=False, regex=False)
    view = pt[mask]
st.dataframe(view, hide_index=True, width="stretch", height=min(38 * (len(view) + 1), 560),
             column_config={
                 "name": "Parameter", "value": st.column_config.NumberColumn("Value", format="%.6g"),
                 "unit": "Unit", "low": st.column_config.NumberColumn("Low", format="%.6g"),
                 "high": st.column_config.NumberColumn("High", format="%.6g"), "distribution": "Distribution",
                 "source": st.column_config.TextColumn("Source", width="large"),
                 "year": st.column_config.NumberColumn("Year", format="%d"), "note": "Note"})
st.caption(f"{len(view)} of {len(pt)} rows of data/parameters.csv. Rows whose note or source says 'check' were "
           "not confirmed from the primary text.")

st.subheader("The current scenario's assumptions")
out = state.safe_compute()
if out is not None:
    res = out["result"]
    st.markdown(f"**{res.scenario.title}** (`{res.scenario.name}`, basis: {res.scenario.basis}). Every number the "
                "engine uses for it, with its range and source; the Excel download carries the same sheet.")
    st.dataframe(assumptions_table(res), hide_index=True, width="stretch",
                 column_config={"value": st.column_config.NumberColumn(format="%.6g"),
                                "low": st.column_config.NumberColumn(format="%.6g"),
                                "high": st.column_config.NumberColumn(format="%.6g"),
                                "source": st.column_config.TextColumn(width="large")})
    if res.scenario.sources:
        st.markdown("Sources of this preset:\n" + "\n".join(f"- {s}" for s in res.scenario.sources))

st.subheader("Data sources")
st.markdown(
    f"- Energy per inference: {PAPER_SOURCE}; recomputed from the authors' CodeCarbon logs "
    "(`data/reference/PROVENANCE.md`).\n"
    f"- National electricity and grid intensity: {CODECARBON_SOURCE}, read from the installed codecarbon package "
    f"({len(state.national())} countries, mostly 2022-23).\n"
    "- World electricity 2025 and the countries the presets cite: Our World in Data "
    "(`data/national_crosscheck_2025.csv`).\n"
    "- Presets: `data/scenarios/*.toml`, each with its own sources (above).")
