"""Measurements page: the study's per-model data, the project's records, and uploads.

Uploads are checked by `project.records.check_measurement_csv`, the validator that
`wattcast project --measurements FILE.csv` uses, so the app and the command line accept
and refuse the same rows. Each file is checked once (cached by the SHA-256 of its bytes).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import charts, fmt, session, uploads
from app_pages import controls as C
from project.reference import paper_models, paper_task_energy
from project.tasks import TASKS

ss = st.session_state
V = session.view("measurements")

st.title("Energy per inference, model by model")
st.markdown("The projection's workloads rest on measured energy per request. Here are the study's per-model "
            "measurements, wattcast's own records, and a way to bring your own.")

# ---------------------------------------------------------------------------
# Study reference data

st.header("The study's per-model measurements")
pm = paper_models().copy()
TASK_ORDER = list(TASKS)
KIND = {"task_specific": "task-specific (fine-tuned)", "zero_shot": "multi-purpose (zero-shot)"}
pm["task_label"] = pm["task"].map(lambda t: TASKS.get(t, t))
pm["wh_per_inference"] = pm["energy_kwh_per_1000"].astype(float)  # kWh per 1,000 = Wh per inference
pm["kind"] = pm["setting"].map(lambda s: KIND.get(s, str(s).replace("_", " ")))
pm["jitter"] = np.random.default_rng(0).uniform(0, 1, len(pm))
f1, f2 = st.columns([3, 2])
tasks = f1.multiselect("Tasks", options=TASK_ORDER, default=[], format_func=lambda t: TASKS[t], key="m_tasks",
                       placeholder="All ten tasks")
search = f2.text_input("Model name contains", key="m_search", placeholder="e.g. bloomz, t5, diffusion")
view = pm[pm["task"].isin(tasks or TASK_ORDER)]
if search.strip():
    view = view[view["model_id"].str.contains(search.strip(), case=False, regex=False)]
if len(view):
    desc = (f"{len(view)} model and data-set rows: energy per inference from "
            f"{fmt.sig(view['wh_per_inference'].min())} Wh ({view.loc[view['wh_per_inference'].idxmin(), 'model_id']}) "
            f"to {fmt.sig(view['wh_per_inference'].max())} Wh "
            f"({view.loc[view['wh_per_inference'].idxmax(), 'model_id']}).")
    chart = alt.Chart(view).mark_circle(size=60, opacity=0.8).encode(
        x=alt.X("wh_per_inference:Q", title="Wh per inference (log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("task_label:N", title=None, sort=[TASKS[t] for t in TASK_ORDER],
                axis=alt.Axis(labelLimit=150, labelFontSize=11)),
        yOffset=alt.YOffset("jitter:Q"),
        color=alt.Color("kind:N", title=None, legend=alt.Legend(orient="top", direction="vertical"),
                        scale=alt.Scale(range=["#0F766E", "#B45309", "#6D28D9"])),
        tooltip=[alt.Tooltip("model_id:N", title="Model"), alt.Tooltip("task_label:N", title="Task"),
                 alt.Tooltip("dataset:N", title="Data set"),
                 alt.Tooltip("wh_per_inference:Q", title="Wh per inference", format=",.4~g"),
                 alt.Tooltip("n_runs:Q", title="Runs")],
    ).properties(title="Energy per inference of each model the study measured", description=desc,
                 height=420, width="container")
    st.altair_chart(chart.configure(**{k: v for k, v in charts.CONFIG.items()}), width="stretch")
    st.caption(desc + " Source: Luccioni, Jernite, Strubell, FAccT 2024, recomputed from the authors' CodeCarbon "
                      "logs (sashavor/co2_inference@9ae9895); model loading excluded; all 8 GPUs of the node summed, "
                      "batch size 1, no PUE.")
    with st.expander("The rows as a table"):
        st.dataframe(view[["task_label", "model_id", "dataset", "kind", "num_parameters", "wh_per_inference",
                           "n_runs"]].sort_values("wh_per_inference", ascending=False),
                     hide_index=True, width="stretch",
                     column_config={"task_label": "Task", "model_id": "Model", "dataset": "Data set", "kind": "Kind",
                                    "num_parameters": st.column_config.NumberColumn("Parameters", format="%,d"),
                                    "wh_per_inference": st.column_config.NumberColumn("Wh per inference",
                                                                                      format="%.4g"),
                                    "n_runs": "Runs"})
else:
    st.info("No rows match these filters.")

ref = paper_task_energy()
with st.expander("The study's Table 2: mean energy per task"):
    st.dataframe(pd.DataFrame({"Task": ref["label"], "Mean (Wh per inference)": ref["kwh_per_inference_mean"] * 1000,
                               "Std (Wh)": ref["kwh_per_inference_std"] * 1000, "Runs": ref["n_runs"],
                               "Note": ref["note"]}),
                 hide_index=True, width="stretch",
                 column_config={"Mean (Wh per inference)": st.column_config.NumberColumn(format="%.4g"),
                                "Std (Wh)": st.column_config.NumberColumn(format="%.4g")})

# ---------------------------------------------------------------------------
# Project records (only when there are any)

records, problems, where = uploads.project_records()
if records is not None and len(records):
    st.header("wattcast's own measurement records")
    st.caption(f"{len(records):,} records in {where}.")
    cols = [c for c in ("task", "model", "backend", "device_name", "dtype", "batch_size", "energy_kwh_per_inference")
            if c in records.columns]
    st.dataframe(records[cols], hide_index=True, width="stretch")
if problems:
    with st.expander(f"{len(problems)} record problem(s) in {where}"):
        st.text("\n".join(problems[:50]))

# ---------------------------------------------------------------------------
# Upload

st.header("Bring your own measurements")
st.markdown(uploads.schema_text())
lim = uploads.LIMITS
st.caption(f"Limits: {lim.max_bytes // 2**20} MB, {lim.max_rows:,} rows, {lim.max_columns:,} columns, "
           f"{lim.max_cells:,} cells. Each row is checked by the same rules as `wattcast project --measurements`; "
           "rows that fail are listed with the reason.")
st.download_button("Template (CSV)", data=uploads.template(), file_name="wattcast-measurements-template.csv",
                   mime="text/csv", icon=":material/download:", on_click="ignore",
                   help="Two rows of the study's own per-model figures, in the upload format.")
u1, u2 = st.columns(2, gap="large")
with u1:
    up = st.file_uploader("CSV file", type=["csv", "txt"], key="m_upload", max_upload_size=lim.max_bytes // 2**20,
                          help="UTF-8; comma-, semicolon- or tab-separated, with a header row.")
with u2:
    pasted = st.text_area("...or paste CSV text", key="m_paste", height=140,
                          placeholder="task,model,energy_kwh_per_inference\nimage_generation,my-sdxl-turbo,0.0009")
    st.button("Check pasted text", key="m_check", icon=":material/fact_check:")

data, source = None, None
if up is not None:
    data, source = up.getvalue(), up.name
elif pasted.strip():
    data, source = pasted.encode("utf-8"), "pasted text"

if data is not None:
    check = uploads.check(data, source)
    for n in check.notes:
        st.caption("Read: " + fmt.plain(n))
    if check.error:
        st.error(fmt.plain(check.error, 600), icon=":material/error:")
    n_bad = int((check.rejected["kind"] == "invalid").sum()) if len(check.rejected) else 0
    n_out = len(check.rejected) - n_bad
    if len(check.rejected):
        st.warning(f"{n_bad} row(s) rejected, {n_out} left out by the projection's rules; "
                   f"{len(check.accepted)} accepted.", icon=":material/rule:")
        st.dataframe(check.rejected.rename(columns={"row": "Row", "kind": "Why", "reason": "Reason", "task": "Task",
                                                    "model": "Model"}), hide_index=True, width="stretch")
    if check.ok:
        st.success(f"{len(check.accepted)} row(s) accepted from {fmt.plain(source)}.", icon=":material/check_circle:")
        summary = check.summary
        st.dataframe(summary.assign(wh=summary["kwh_per_inference_mean"] * 1000)[["task", "wh", "n_records",
                                                                                  "n_models"]],
                     hide_index=True, width="stretch",
                     column_config={"task": "Task", "wh": st.column_config.NumberColumn("Mean Wh per inference",
                                                                                        format="%.4g"),
                                    "n_records": "Rows", "n_models": "Models"})
        matches = uploads.matching_workloads(C.preset(V.preset), list(summary["task"]))
        if matches:
            st.markdown(f"In the current starting point, {', '.join(matches)} would use these figures.")
            use = st.toggle("Use my accepted rows in the simulator", key="m_use", value=bool(ss.get("use_upload")))
            ss["use_upload"] = use
            ss["upload_summary"] = summary if use else None
            ss["upload_source"] = source
        else:
            st.info("No workload of the current starting point uses these tasks (the study preset 'Power Hungry "
                    "Processing (2023)' has all ten).")
elif ss.get("use_upload") and ss.get("upload_summary") is not None:
    st.info("The simulator is using your earlier upload.")
    if st.button("Stop using my upload", key="m_stop"):
        ss["use_upload"] = False
        ss["upload_summary"] = None
        st.rerun()
