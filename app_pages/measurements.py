"""Measurements page: the study's per-model data, the project's records, and CSV upload."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import state
from project import app_support as sup
from project.tasks import TASKS

ss = st.session_state
TASK_ORDER = list(TASKS)

st.markdown('<p class="wc-kicker">wattcast · measurements</p>', unsafe_allow_html=True)
st.title("Energy per inference, model by model")
st.markdown(
    '<p class="wc-lede">The projection starts from measured energy per inference. Here are the study\'s 417 '
    "per-model measurements (88 models, 10 tasks, one 8 x A100 node), the project's own measurement records, and a "
    "way to bring your own.</p>", unsafe_allow_html=True)

# ---------------------------------------------------------------------------
# Study reference data

st.subheader("The study's per-model measurements")
pm = state.models_reference()
pm = pm.assign(task_label=pm["task"].map(lambda t: TASKS.get(t, t)),
               wh_per_inference=pm["energy_kwh_per_1000"].astype(float))  # kWh per 1,000 = Wh per inference
f1, f2, f3 = st.columns([3, 2, 2])
tasks = f1.multiselect("Tasks", options=TASK_ORDER, default=[], format_func=lambda t: TASKS[t],
                       key="m_tasks", placeholder="All ten tasks")
settings = sorted(pm["setting"].dropna().unique())
KIND = {"task_specific": "task-specific (fine-tuned)", "zero_shot": "multi-purpose (zero-shot)"}
pm["kind"] = pm["setting"].map(lambda s: KIND.get(s, s.replace("_", " ")))
pm["jitter"] = np.random.default_rng(0).uniform(0, 1, len(pm))
setting = f2.multiselect("Model kind", options=settings, default=[], key="m_setting", placeholder="All models",
                         format_func=lambda s: KIND.get(s, s.replace("_", " ")),
                         help="task-specific: fine-tuned for one task; multi-purpose: zero-shot generative models.")
search = f3.text_input("Model name contains", key="m_search", placeholder="e.g. bloomz, t5, diffusion")
view = pm[pm["task"].isin(tasks or TASK_ORDER) & pm["setting"].isin(setting or settings)]
if search.strip():
    view = view[view["model_id"].str.contains(search.strip(), case=False, regex=False)]
if len(view):
    chart = alt.Chart(view).mark_circle(size=70, opacity=0.75).encode(
        x=alt.X("wh_per_inference:Q", title="Energy per inference (Wh, log scale; = kWh per 1,000 inferences)",
                scale=alt.Scale(type="log")),
        y=alt.Y("task_label:N", title=None, sort=[TASKS[t] for t in TASK_ORDER], axis=alt.Axis(labelLimit=220)),
        yOffset=alt.YOffset("jitter:Q"),
        color=alt.Color("kind:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(range=["#0F766E", "#B45309", "#6D28D9"])),
        tooltip=[alt.Tooltip("model_id:N", title="Model"), alt.Tooltip("task_label:N", title="Task"),
                 alt.Tooltip("dataset:N", title="Dataset"),
                 alt.Tooltip("wh_per_inference:Q", title="Wh per inference", format=",.4~g"),
                 alt.Tooltip("num_parameters:Q", title="Parameters", format=",.0f"),
                 alt.Tooltip("n_runs:Q", title="Runs")],
    )
    st.altair_chart(chart.properties(height=420), width="stretch")
    st.caption(f"{len(view)} of {len(pm)} model x dataset rows. Source: Luccioni, Jernite, Strubell, FAccT 2024, "
               "recomputed from the authors' CodeCarbon logs (sashavor/co2_inference@9ae9895); model loading "
               "excluded. Caveats: all 8 GPUs of the node were summed (idle power included); CPU and RAM power are "
               "CodeCarbon constants (RAM is 36-44% of each task's energy); batch size 1; PUE 1.0.")
    with st.expander("Table of the selected rows"):
        st.dataframe(
            view[["task_label", "model_id", "dataset", "setting", "num_parameters", "wh_per_inference", "n_runs"]]
            .sort_values("wh_per_inference", ascending=False),
            hide_index=True, width="stretch",
            column_config={"task_label": "Task", "model_id": "Model", "dataset": "Dataset", "setting": "Kind",
                           "num_parameters": st.column_config.NumberColumn("Parameters", format="%,d"),
                           "wh_per_inference": st.column_config.NumberColumn("Wh per inference", format="%.4g"),
                           "n_runs": "Runs"})
else:
    st.info("No rows match these filters.")

ref = state.task_reference()
with st.expander("The study's Table 2: mean energy per task (what the presets use)"):
    st.dataframe(
        pd.DataFrame({"Task": ref["label"], "Mean (kWh per 1,000)": ref["kwh_per_inference_mean"] * 1000,
                      "Std (kWh per 1,000)": ref["kwh_per_inference_std"] * 1000,
                      "Paper mean (as printed)": ref["paper_mean_kwh_per_1000"], "Runs": ref["n_runs"],
                      "Note": ref["note"]}),
        hide_index=True, width="stretch",
        column_config={"Mean (kWh per 1,000)": st.column_config.NumberColumn(format="%.4g"),
                       "Std (kWh per 1,000)": st.column_config.NumberColumn(format="%.4g")})

# ---------------------------------------------------------------------------
# Project records

st.subheader("wattcast's own measurement records")
records, msg = state.project_records()
if records is None:
    st.info(f"{msg} Records appear here once `wattcast measure` or `wattcast campaign` has written them "
            "(`data/measurements/`, one JSON object per measurement window).", icon=":material/hourglass_empty:")
else:
    try:
        per_task = sup.project_task_energy(records)
    except Exception as exc:  # noqa: BLE001 - the records are another component's output
        per_task = None
        st.warning(f"The records could not be summarised: {exc}")
    st.caption(msg)
    rec = records.copy()
    if "status" in rec.columns:
        rec = rec[rec["status"] == "ok"]
    rec["wh_per_inference"] = rec["energy_kwh_per_inference"].astype(float) * 1000
    if len(rec):
        rc = alt.Chart(rec).mark_circle(size=70, opacity=0.8, color="#6D28D9").encode(
            x=alt.X("wh_per_inference:Q", title="Energy per inference (Wh, log scale)", scale=alt.Scale(type="log")),
            y=alt.Y("task:N", title=None),
            tooltip=[c for c in ("model", "task", "device_name", "dtype", "batch_size", "wh_per_inference")
                     if c in rec.columns])
        st.altair_chart(rc.properties(height=max(160, 40 * rec["task"].nunique())), width="stretch")
    if per_task is not None and len(per_task):
        st.dataframe(per_task, hide_index=True, width="stretch")
        if st.toggle("Use these records in the simulator", key="m_use_records",
                     help="Replaces the energy per inference of the matching scenario tasks, as an upload does."):
            ss["upload_summary"] = per_task
            ss["use_upload"] = True
            ss["measurement_source"] = "wattcast's measurement records"
        elif ss.get("measurement_source") == "wattcast's measurement records":
            ss["use_upload"] = False

# ---------------------------------------------------------------------------
# Upload

st.subheader("Bring your own measurements")
st.markdown(sup.UPLOAD_SCHEMA)
st.markdown(
    f"Limit {sup.MAX_UPLOAD_BYTES // (1024 * 1024)} MB and {sup.MAX_UPLOAD_ROWS:,} rows. Each row is checked; bad "
    "rows are listed with the reason and left out. **How accepted rows drive the projection:** their mean energy per "
    "inference (per task, with their spread as a lognormal range) replaces the preset's energy for every scenario "
    "task whose id or Table 2 reference is the same task (in *paper-2023* all ten tasks match; in *baseline-2025*, "
    "`image_generation` and `summarization`). The task keeps its usage and its model-mix multiplier.")
u1, u2 = st.columns([1, 1], gap="large")
with u1:
    up = st.file_uploader("CSV file", type=["csv"], key="m_upload",
                          max_upload_size=sup.MAX_UPLOAD_BYTES // (1024 * 1024),
                          help="UTF-8 CSV with a header row.")
with u2:
    pasted = st.text_area("...or paste CSV text", key="m_paste", height=140,
                          placeholder="task,model,kwh_per_inference\nimage_generation,my-sdxl-turbo,0.0009")
    st.button("Check pasted text", key="m_check", icon=":material/fact_check:")

data, source = None, None
if up is not None:
    try:
        data, source = up.getvalue(), f"upload: {up.name}"
    except Exception as exc:  # noqa: BLE001
        st.error(f"The file could not be read: {exc}")
elif pasted.strip():
    data, source = pasted, "upload: pasted text"

if data is not None:
    check = sup.check_measurements_csv(data, source=source)
    ss["upload_check"] = check
    if check.error and not len(check.accepted):
        st.error(check.error, icon=":material/error:")
    if len(check.rejected):
        st.warning(f"{len(check.rejected)} row(s) rejected; {len(check.accepted)} accepted.", icon=":material/rule:")
        st.dataframe(check.rejected.rename(columns={"row": "Row", "reason": "Reason", "task": "Task",
                                                   "model": "Model"}), hide_index=True, width="stretch")
    if check.ok:
        st.success(f"{len(check.accepted)} row(s) accepted from {source.removeprefix('upload: ')}.",
                   icon=":material/check_circle:")
        summary = check.summary
        st.dataframe(summary.assign(wh_mean=summary["kwh_per_inference_mean"] * 1000)[
            ["task", "wh_mean", "n_records", "n_models"]], hide_index=True, width="stretch",
            column_config={"task": "Task", "wh_mean": st.column_config.NumberColumn("Mean Wh per inference",
                                                                                    format="%.4g"),
                           "n_records": "Rows", "n_models": "Models"})
        name = ss.get("preset", state.DEFAULT_PRESET)
        matches = sup.matching_tasks(sup.preset(name), list(summary["task"]))
        ss["upload_summary_candidate"] = summary
        if matches:
            st.markdown("In the current preset (**" + name + "**) these tasks would use your numbers: "
                        + ", ".join(f"`{k}` <- {v}" for k, v in matches.items()) + ".")
        else:
            st.markdown(f"No task of the current preset (**{name}**) matches the uploaded tasks; switch to "
                        "*paper-2023* (all ten tasks) or *baseline-2025* in the simulator.")
        use = st.toggle("Use my accepted rows in the simulator", key="m_use",
                        value=bool(ss.get("use_upload")))
        ss["use_upload"] = use
        ss["upload_summary"] = summary if use else ss.get("upload_summary")
        if use:
            ss["measurement_source"] = "your uploaded measurements"
        if use:
            st.caption("Switched on: the Simulator page now uses these numbers (a badge there says so).")
else:
    if ss.get("use_upload") and ss.get("upload_summary") is not None:
        st.info("The simulator is using your earlier upload. Upload again to change it, or switch it off here.")
        if st.button("Stop using my upload", key="m_stop"):
            ss["use_upload"] = False
            ss["upload_summary"] = None
            st.rerun()
