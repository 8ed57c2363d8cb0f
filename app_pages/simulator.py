"""The simulator page: scenario controls in the sidebar, results in the main column."""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import state
from project import app_support as sup
from project.compare import equivalences, headline, ranked_with
from project.export import excel_bytes
from project.national import world_electricity_twh
from project.scenario import scenario_to_toml
from project.sensitivity import tornado

T0 = time.perf_counter()
ss = st.session_state
SCENARIO_COLOR = "#0F766E"
BASELINE_COLOR = "#8A9499"
BASIS_TEXT = {
    "demand": ("Demand side", "usage of each task x measured energy per inference"),
    "supply": ("Supply side", "AI servers shipped x power x utilisation"),
    "top-down": ("Top-down", "data-centre electricity (IEA) x the share drawn by AI servers"),
}
VARIABLES = {
    "Electricity": ("Energy|Total", "Electricity", "TWh per year"),
    "Emissions": ("Emissions|Total", "Emissions", "Mt CO2e per year"),
    "Water": ("Water|Total", "On-site water", "billion litres per year"),
}

# ---------------------------------------------------------------------------
# Sidebar: controls

name, cfg = state.current()
preset = sup.preset(name)
controls = sup.controls_for(preset)
titles = state.preset_titles()


def _fmt_choice(c: sup.Control):
    p = c.path
    if p.endswith(".inferences_per_day"):
        return lambda v: f"{sup.fmt_count(v)} / day"
    if p.endswith(".energy.multiplier"):
        task = p.split(".")[1]
        base = sup.task_base_kwh(preset, task, cfg.get(sup.model_path(task)) or "")
        if np.isfinite(base):
            return lambda v: f"x{v:g} ({sup.fmt_sig(base * v * 1000)} Wh)"
        return lambda v: f"x{v:g}"
    if p.endswith("_kwh_per_generation"):
        return lambda v: f"{sup.fmt_sig(v / 1000)} MWh" if v else "none"
    if p.endswith("servers_shipped_per_year"):
        return lambda v: f"{sup.fmt_count(v)} / yr"
    return lambda v: f"{v:g} / yr"


def _on_country() -> None:
    iso = ss.get(sup_key("grid.country"))
    if iso:
        row = state.national().set_index("iso_code").loc[iso]
        ss[sup_key("grid.intensity_g_per_kwh")] = float(min(1000, round(row["intensity_g_per_kwh"])))


def _on_intensity() -> None:
    iso = ss.get(sup_key("grid.country"))
    if iso:
        ci = round(float(state.national().set_index("iso_code").loc[iso, "intensity_g_per_kwh"]))
        if round(ss[sup_key("grid.intensity_g_per_kwh")]) != ci:
            ss[sup_key("grid.country")] = ""


def sup_key(path: str) -> str:
    return state.CTL + path


def render(c: sup.Control) -> None:
    key = sup_key(c.path)
    if key not in ss:
        ss[key] = c.to_ui(cfg.get(c.path, c.default))
    label = f"{c.label} :gray[({c.unit})]" if c.kind not in ("year", "country", "model") else c.label
    if c.kind == "choice":
        if ss[key] not in c.options:
            ss[key] = sup._nearest(c.options, float(ss[key]))
        v = st.select_slider(label, options=c.options, key=key, help=c.help, format_func=_fmt_choice(c))
    elif c.kind == "model":
        task = c.path.split(".")[1]
        ref = preset.tasks[task].energy.reference
        energies = sup.model_energies(ref)
        mean_wh = sup.task_base_kwh(preset, task) * 1000
        if ss[key] not in c.options:
            ss[key] = ""
        v = st.selectbox(label, options=c.options, key=key, help=c.help,
                         format_func=lambda m: (f"Table 2 mean of all models ({sup.fmt_sig(mean_wh)} Wh)" if not m
                                                else f"{m} ({sup.fmt_sig(energies[m] * 1000)} Wh)"))
    elif c.kind == "country":
        nat = state.national().sort_values("country")
        names = dict(zip(nat["iso_code"], nat["country"] + " (" + nat["intensity_g_per_kwh"].round().astype(int)
                                                             .astype(str) + " g/kWh)"))
        opts = [""] + list(nat["iso_code"])
        if ss[key] not in opts:
            ss[key] = ""
        v = st.selectbox(label, options=opts, key=key, help=c.help, on_change=_on_country,
                         format_func=lambda k: names.get(k, "Preset value (no country)"))
    elif c.kind in ("int", "year"):
        v = st.slider(label, min_value=int(c.min), max_value=int(c.max), step=int(c.step or 1), key=key,
                      help=c.help)
    else:
        v = st.slider(label, min_value=float(c.min), max_value=float(c.max), step=float(c.step), key=key,
                      help=c.help, format=c.fmt,
                      on_change=_on_intensity if c.path == "grid.intensity_g_per_kwh" else "rerun")
    cfg[c.path] = c.from_ui(v)


with st.sidebar:
    st.markdown("#### :material/bolt: wattcast")
    st.caption("Move the assumptions; the projection reruns on every change. Each control's (?) names its source.")
    st.markdown("##### Scenario")
    st.selectbox(
        "Preset", options=list(titles), key="preset_select", on_change=state.on_preset_change,
        format_func=lambda n: f"{n}  ·  {BASIS_TEXT[titles[n][1]][0].lower()}",
        help="The shipped scenarios in data/scenarios/*.toml, each with its sources. Switching restores its figures.",
    )
    st.caption(titles[name][0])
    st.button("Reset to preset", on_click=state.reset_to_preset, icon=":material/restart_alt:",
              help="Put every control back to the preset's value.", width="stretch")
    by_path = {c.path: c for c in controls}
    render(by_path["target_year"])
    primary = [c for c in controls if c.primary and c.path != "target_year"]
    secondary = [c for c in controls if not c.primary]
    groups: dict[str, list[sup.Control]] = {}
    for c in primary:
        groups.setdefault(c.group, []).append(c)
    n_usage = sum(1 for g in groups if g.startswith("Usage"))
    for g, cs in groups.items():
        expanded = (not g.startswith("Usage")) or n_usage <= 3
        if g.startswith("Training"):
            expanded = False
        with st.expander(g, expanded=expanded):
            for c in cs:
                render(c)
    if secondary:
        other = "supply side (server fleet)" if preset.basis == "demand" else "demand side (task usage)"
        with st.expander(f"Comparison only: {other}", expanded=False):
            st.caption(f"These do not change the headline of a {BASIS_TEXT[preset.basis][0].lower()} preset; they "
                       "set the other estimate shown under *Demand side vs supply side*.")
            last = None
            for c in secondary:
                if c.group != last:
                    st.markdown(f"**{c.group}**")
                    last = c.group
                render(c)
    st.radio("Uncertainty band", options=list(state.SAMPLES), key="precision", horizontal=True,
             format_func=lambda k: f"{k} ({state.SAMPLES[k]:,} samples)",
             help="Latin-hypercube Monte Carlo over every parameter with a range (seed 0). 1,000 samples keep each "
                  "slider move fast; 5,000 give steadier 5th/95th percentiles.")

# ---------------------------------------------------------------------------
# Compute

out = state.safe_compute()
if out is None:
    st.stop()
state.sync_url()
result, baseline, scenario = out["result"], out["baseline"], out["scenario"]
year = scenario.target_year
T_COMPUTED = time.perf_counter()
h = headline(result, year)
hb = headline(baseline, year)

# ---------------------------------------------------------------------------
# Header and headline

for p in ss.pop("url_problems", []) or []:
    st.toast(f"Link ignored a setting: {p}", icon=":material/warning:")

st.markdown('<p class="wc-kicker">wattcast · AI inference electricity simulator</p>', unsafe_allow_html=True)
st.title("How much electricity, CO₂ and water does AI use?")
basis_name, basis_how = BASIS_TEXT[scenario.basis]
st.markdown(
    f'<p class="wc-lede"><b>{preset.title}.</b> {" ".join(preset.description.split())}</p>',
    unsafe_allow_html=True,
)
with st.container(horizontal=True, gap="small"):
    st.badge(f"{basis_name}: {basis_how}", icon=":material/functions:", color="primary")
    st.badge(f"Target year {year}", icon=":material/event:", color="gray")
    if out["measurement_tasks"]:
        st.badge(f"Energy per inference from {ss.get('measurement_source', 'measurement records')}: "
                 + ", ".join(out["measurement_tasks"]), icon=":material/upload:", color="orange")
    changed = sup.overrides_from_state(name, cfg)
    if changed:
        st.badge(f"{len(changed)} setting(s) changed from the preset", icon=":material/tune:", color="blue")

st.subheader(f"In {year}, under this scenario")
st.caption("Small print under each figure: the change against the preset as shipped. Hover (?) for ranges and "
           "sources.")
band = ""
if "twh_p5" in h:
    band = (f"90% range {sup.fmt_energy_twh(h['twh_p5'])} to {sup.fmt_energy_twh(h['twh_p95'])} "
            f"({out['samples']:,} Monte Carlo samples). ")
cols = st.columns(5)
cols[0].metric(f"Electricity in {year}", sup.fmt_energy_twh(h["twh"]),
               delta=sup.fmt_delta(h["twh"], hb["twh"], sup.fmt_energy_twh), delta_color="inverse", border=True,
               height="stretch",
               help=f"{band}Facility electricity (IT energy x PUE). {basis_name} estimate.")
co2_band = ""
if "mt_co2e_p5" in h:
    co2_band = f"90% range {sup.fmt_mass_mt(h['mt_co2e_p5'])} to {sup.fmt_mass_mt(h['mt_co2e_p95'])}. "
cols[1].metric("CO₂e emissions", sup.fmt_mass_mt(h["mt_co2e"]) + " CO₂e",
               delta=sup.fmt_delta(h["mt_co2e"], hb["mt_co2e"], sup.fmt_mass_mt), delta_color="inverse", border=True,
               height="stretch",
               help=f"{co2_band}Electricity x grid carbon intensity (location-based), with yearly decarbonisation.")
cols[2].metric("On-site water", sup.fmt_water_bl(h["water_billion_l"]),
               delta=sup.fmt_delta(h["water_billion_l"], hb["water_billion_l"], sup.fmt_water_bl),
               delta_color="inverse", border=True, height="stretch",
               help="IT energy x water use effectiveness (cooling water on site; water for power generation not "
                    "counted).")
cols[3].metric("Share of world", sup.fmt_share(h["share_of_world"]),
               delta=sup.fmt_delta(h["share_of_world"], hb["share_of_world"], sup.fmt_share), delta_color="inverse",
               border=True, height="stretch",
               help=f"Against world electricity demand in 2025: {world_electricity_twh():,.0f} TWh (Our World in Data).")
rank, rank_b = h["rank"], hb["rank"]
nearest = rank.nearest
RANK_TEXT = (f"Rank {rank.rank} of {rank.n_countries + 1}: {rank.rank - 1} of the {rank.n_countries} countries use "
             "more electricity")
cols[4].metric("About as much as", str(nearest["country"]),
               delta=(f"preset: {rank_b.nearest['country']}" if rank_b.nearest["country"] != nearest["country"]
                      else f"{sup.fmt_energy_twh(nearest['twh'])} ({int(nearest['year'])})"),
               delta_color="off", delta_arrow="off", border=True, height="stretch",
               help=f"The country whose yearly electricity use is closest: {nearest['country']}, "
                    f"{sup.fmt_energy_twh(nearest['twh'])} ({int(nearest['year'])}). {RANK_TEXT} (codecarbon / Our "
                    "World in Data / Ember, mostly 2022-23).")

# ---------------------------------------------------------------------------
# Trajectory

st.subheader("Year by year, with uncertainty")
var_col, log_col = st.columns([3, 1], vertical_alignment="center")
choice = var_col.segmented_control("Show", options=list(VARIABLES), default="Electricity", key="traj_var",
                                   label_visibility="collapsed") or "Electricity"
var, vlabel, vunit = VARIABLES[choice]
cur = sup.band_table(result, var, "Your scenario")
bas = sup.band_table(baseline, var, f"Preset ({name})")
traj = pd.concat([bas, cur], ignore_index=True)
factor, vunit = sup.unit_scale(traj["central"].max(), var)
traj[["central", "p5", "p95"]] *= factor
spread = sup.band_spread(cur)
log_y = log_col.toggle("Log scale", value=spread > 10, key=f"traj_log_{spread > 10}",
                       help="On by default when the 95th percentile is more than 10x the central value.")
yscale = alt.Scale(type="log") if log_y else alt.Scale(zero=True)
if log_y:
    traj = traj[traj["central"] > 0]
domain = [f"Preset ({name})", "Your scenario"]
colors = alt.Scale(domain=domain, range=[BASELINE_COLOR, SCENARIO_COLOR])
LEGEND = alt.Legend(title=None, orient="top", symbolType="stroke", symbolStrokeWidth=3, symbolOpacity=1)
x = alt.X("year:Q", title="Year", axis=alt.Axis(format="d", tickMinStep=1))
base_chart = alt.Chart(traj)
area = base_chart.mark_area(opacity=0.16).encode(
    x=x, y=alt.Y("p5:Q", title=f"{vlabel} ({vunit}{', log scale' if log_y else ''})", scale=yscale), y2="p95:Q",
    color=alt.Color("series:N", scale=colors, legend=LEGEND),
    tooltip=[alt.Tooltip("series:N"), alt.Tooltip("year:Q", format="d"),
             alt.Tooltip("p5:Q", title="5th percentile", format=",.4~g"),
             alt.Tooltip("p95:Q", title="95th percentile", format=",.4~g")])
line = base_chart.mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=28)).encode(
    x=x, y=alt.Y("central:Q", scale=yscale),
    color=alt.Color("series:N", scale=colors, legend=LEGEND),
    strokeDash=alt.StrokeDash("series:N", scale=alt.Scale(domain=domain, range=[[5, 4], [1, 0]]), legend=None),
    tooltip=[alt.Tooltip("series:N"), alt.Tooltip("year:Q", format="d"),
             alt.Tooltip("central:Q", title=f"{vlabel} ({vunit})", format=",.4~g")])
rule = alt.Chart(pd.DataFrame({"year": [year]})).mark_rule(color="#B45309", strokeDash=[2, 3]).encode(x="year:Q")
st.altair_chart((area + line + rule).properties(height=340), width="stretch")
st.caption(f"Lines: every parameter at its central (most likely) value. Shaded: 5th to 95th percentile of "
           f"{out['samples']:,} Latin-hypercube samples (seed {state.SEED}) over every parameter with a range; skewed "
           "ranges (e.g. 0.24 to 3 Wh per chatbot query around 0.3 Wh) put most of the band above the line. Dashed "
           f"grey: the preset as shipped. Dotted orange: target year {year}.")

# ---------------------------------------------------------------------------
# Breakdown and national rank

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Where the electricity goes")
    bd = sup.task_breakdown(result, year)
    bd = bd[bd["twh"] > 0]
    if len(bd):
        bfac, bunit = sup.unit_scale(bd["twh"].max(), "Energy")
        bd["value"] = bd["twh"] * bfac
        bd["label"] = bd["twh"].map(sup.fmt_energy_twh) + " (" + (bd["share"] * 100).round(1).astype(str) + "%)"
        bars = alt.Chart(bd).mark_bar(color=SCENARIO_COLOR, cornerRadiusEnd=3).encode(
            x=alt.X("value:Q", title=f"Electricity in {year} ({bunit})"),
            y=alt.Y("component:N", sort=list(bd["component"]), title=None,
                    axis=alt.Axis(labelLimit=260, labelOverlap=False)),
            color=alt.Color("kind:N", scale=alt.Scale(domain=["inference", "training"],
                                                      range=[SCENARIO_COLOR, "#B45309"]), legend=None),
            tooltip=[alt.Tooltip("component:N", title="Task"),
                     alt.Tooltip("value:Q", title=bunit.split()[0], format=",.4~g"),
                     alt.Tooltip("share:Q", title="Share", format=".1%")])
        text = bars.mark_text(align="left", dx=4, color="#1F2A2E").encode(text="label:N", color=alt.value("#1F2A2E"))
        st.altair_chart((bars + text).properties(height=max(150, 42 * len(bd))), width="stretch")
        if scenario.basis != "demand":
            st.caption(f"Demand-side tasks only, for comparison: the headline is the {basis_name.lower()} estimate.")
    else:
        st.info(f"This preset has no per-task usage: its headline is {basis_name.lower()} ({basis_how}), so there is "
                "no breakdown by task. The demand-side presets (baseline-2025, paper-2023) have one.")
with right:
    st.subheader("Among national electricity use")
    rk = ranked_with(h["twh"], label=f"AI, this scenario ({year})", k=4, include=list(scenario.compare_with))
    rk["who"] = np.where(rk["is_ai"], "AI (this scenario)", "Country")
    rk["text"] = rk["twh"].map(lambda v: sup.fmt_energy_twh(v))
    ysort = list(rk.sort_values("twh", ascending=False)["name"])
    enc = dict(
        x=alt.X("twh:Q", title="Electricity (TWh per year, log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("name:N", sort=ysort, title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
        tooltip=[alt.Tooltip("name:N", title=""), alt.Tooltip("twh:Q", title="TWh", format=",.4~g"),
                 alt.Tooltip("year:N", title="Data year")])
    rk["x0"] = float(rk["twh"].min()) / 3
    rk["size"] = np.where(rk["is_ai"], 320, 110)
    rk["year"] = rk["year"].astype(str).replace({"None": "", "nan": ""})
    stems = alt.Chart(rk).mark_rule(color="#C9D2D5", strokeWidth=2).encode(x="x0:Q", x2="twh:Q", y=enc["y"])
    who = alt.Scale(domain=["AI (this scenario)", "Country"], range=["#B45309", "#7C8A8F"])
    dots = alt.Chart(rk).mark_point(filled=True, opacity=1).encode(
        **enc, color=alt.Color("who:N", scale=who, legend=None), size=alt.Size("size:Q", scale=None, legend=None),
        shape=alt.Shape("who:N", scale=alt.Scale(domain=["AI (this scenario)", "Country"],
                                                 range=["diamond", "circle"]), legend=None))
    nt = alt.Chart(rk).mark_text(align="left", dx=10, color="#1F2A2E").encode(
        x="twh:Q", y=enc["y"], text="text:N")
    st.altair_chart((stems + dots + nt).properties(height=max(180, 32 * len(rk))), width="stretch")
    st.caption(f"About as much as {nearest['country']} ({sup.fmt_energy_twh(nearest['twh'])}, {int(nearest['year'])}). "
               f"{RANK_TEXT}. National totals: codecarbon's energy mix data (Our World in Data / Ember, mostly "
               "2022-23), plus the countries the preset cites.")

# ---------------------------------------------------------------------------
# Demand vs supply

st.subheader("Demand side vs supply side")
d_twh = result.value("Energy|Demand side", year)
s_twh = result.value("Energy|Supply side", year)
util = result.value("Utilisation|Reconciling", year)
c1, c2, c3 = st.columns([1, 1, 1])
has_demand = bool(result.compiled.tasks) or float(result.central["Energy|Training"].max()) > 0
has_supply = scenario.fleet.servers_shipped_per_year.value > 0
c1.metric("Demand side", sup.fmt_energy_twh(d_twh) if has_demand else "not modelled", border=True,
          help="Tasks' inferences x energy per inference x PUE, plus amortised training.")
c2.metric("Supply side", sup.fmt_energy_twh(s_twh) if has_supply else "not modelled", border=True,
          help="Installed AI servers x power x utilisation x 8,760 h x PUE.")
c3.metric("Reconciling utilisation",
          sup.fmt_share(util) if (has_demand and has_supply and np.isfinite(util)) else "n/a", border=True,
          help="Demand-side IT energy / fleet energy at full use: the fleet utilisation at which both estimates "
               "agree.")
sides = sup.sides_table(result)
sides = sides[sides["twh"] > 0]
if d_twh > 0 and s_twh > 0:
    ratio = s_twh / d_twh
    st.markdown(
        f"The two estimates answer different questions. Counting the tasks this scenario knows about gives "
        f"**{sup.fmt_energy_twh(d_twh)}**; counting the AI servers shipped gives **{sup.fmt_energy_twh(s_twh)}** "
        f"({sup.fmt_sig(ratio, 2)}x as much). They agree only if the fleet ran at **{sup.fmt_share(util)}** of its "
        "full power: the rest is usage this scenario does not count (frontier-model training, enterprise and "
        "internal workloads, other tasks) or idle capacity. Neither number is 'the' answer; the gap is the "
        "uncertainty.")
elif scenario.basis == "top-down":
    st.markdown("This preset is **top-down**: it starts from the IEA's data-centre electricity and an assumed AI "
                "share, with no task volumes or server counts, so there is no independent demand-side or supply-side "
                "figure to set beside it. The demand-side preset *baseline-2025* and the supply-side *devries-2027* "
                "give the other two views.")
else:
    missing = "supply side (no server fleet)" if s_twh == 0 else "demand side (no task usage)"
    st.markdown(f"This preset has no {missing}, so only one side can be shown.")
if len(sides) and sides["side"].nunique() > 1:
    sc = alt.Chart(sides).mark_line(strokeWidth=2.5, point=True).encode(
        x=alt.X("year:Q", title="Year", axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("twh:Q", title="Electricity (TWh per year, log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("side:N", title=None, legend=alt.Legend(orient="top", labelLimit=400),
                        scale=alt.Scale(range=[SCENARIO_COLOR, "#B45309", "#6D28D9"])),
        tooltip=[alt.Tooltip("side:N"), alt.Tooltip("year:Q", format="d"),
                 alt.Tooltip("twh:Q", title="TWh", format=",.4~g")])
    st.altair_chart(sc.properties(height=280), width="stretch")

# ---------------------------------------------------------------------------
# Per inference

st.subheader("What one inference costs")
eq = equivalences(result) if result.compiled.tasks else pd.DataFrame()
pue_c = result.compiled.params["facility.pue"].central
int_c = result.compiled.params["grid.intensity_g_per_kwh"].central
if len(eq):
    eq = eq.copy()
    eq["label"] = [scenario.tasks[t].label or lab for t, lab in zip(eq["task"], eq["label"])]
    eq_note = (f"Base year {scenario.base_year}, facility energy (PUE {pue_c:.2f}), grid {int_c:.0f} g CO₂e/kWh, "
               "central values.")
else:
    eq = sup.reference_equivalences(pue_c, int_c)
    eq_note = (f"This preset has no per-task usage, so these are the study's Table 2 means at this scenario's PUE "
               f"({pue_c:.2f}) and grid ({int_c:.0f} g CO₂e/kWh).")


PLURAL = {"query": "queries", "summary": "summaries", "search": "searches", "generated text": "texts"}


def _card(col, row, noun: str) -> None:
    with col.container(border=True, height="stretch"):
        st.markdown(f"**One {noun}** :gray[· {row['label']}]")
        st.markdown(f"<div style='font-size:1.75rem;line-height:1.3'>{sup.fmt_sig(row['wh_per_inference'])} Wh</div>",
                    unsafe_allow_html=True)
        st.markdown(f"{sup.fmt_sig(row['charges_per_inference'] * 100, 2)}% of a phone charge  \n"
                    f"{sup.fmt_sig(row['km_per_1000'], 2)} km by car per 1,000 {PLURAL.get(noun, noun + 's')}",
                    help="Phone charge: 0.012 kWh (US EPA before 2024, as in the study's first version; 0.022 kWh "
                         "since 2024). Car: 241.6 g CO₂ per km (the study's s4.1 equivalence).")


picks = []
for key, noun in (("image_generation", "image"), ("chatbot", "query"), ("llm_search", "search"),
                  ("text_generation", "generated text"), ("summarization", "summary")):
    hit = eq[eq["task"] == key]
    if len(hit):
        picks.append((hit.iloc[0], noun))
if picks:
    cc = st.columns(min(3, len(picks)))
    for col, (row, noun) in zip(cc, picks[:3]):
        _card(col, row, noun)
show = pd.DataFrame({
    "Task": eq["label"],
    "Wh / inference": eq["wh_per_inference"],
    "Phone charges (0.012 kWh)": eq["charges_per_inference"],
    "Phone charges (0.022 kWh)": eq["charges_per_inference_2024"],
    "g CO₂e / 1,000": eq["g_co2_per_1000"],
    "km by car / 1,000": eq["km_per_1000"],
})
st.dataframe(show, hide_index=True, width="stretch", column_config={
    "Task": st.column_config.TextColumn(width="medium"),
    **{c: st.column_config.NumberColumn(format="%.3g") for c in show.columns[1:]}})
st.caption(eq_note + " The study's SDXL run used 11.49 kWh per 1,000 images (its highest logged run).")

# ---------------------------------------------------------------------------
# Sensitivity

st.subheader(f"What drives the {year} total")
tor = tornado(result.compiled, "Energy|Total", year)
tor = tor[tor["swing"] > 0].head(10)
if len(tor):
    central_total = float(tor["central_total"].iloc[0])
    rows = []
    for _, r in tor.iterrows():
        rows.append({"label": r["label"], "end": "at its low value", "x": central_total, "x2": r["total_at_low"],
                     "value": r["low"], "unit": r["unit"], "swing": r["swing"]})
        rows.append({"label": r["label"], "end": "at its high value", "x": central_total, "x2": r["total_at_high"],
                     "value": r["high"], "unit": r["unit"], "swing": r["swing"]})
    td = pd.DataFrame(rows)
    tfac, tunit = sup.unit_scale(central_total, "Energy")
    td[["x", "x2"]] *= tfac
    order = list(tor["label"])
    tc = alt.Chart(td).mark_bar(height=16).encode(
        y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)),
        x=alt.X("x:Q", title=f"Electricity in {year} ({tunit}) when one parameter moves to its range end",
                scale=alt.Scale(zero=False)),
        x2="x2:Q",
        color=alt.Color("end:N", title=None, scale=alt.Scale(domain=["at its low value", "at its high value"],
                                                             range=["#5B8DB8", "#B45309"]),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("label:N", title="Parameter"), alt.Tooltip("end:N", title="Parameter"),
                 alt.Tooltip("value:Q", title="Value", format=",.4~g"), alt.Tooltip("unit:N", title="Unit"),
                 alt.Tooltip("x2:Q", title=f"Total ({tunit.split()[0]})", format=",.4~g")])
    cr = alt.Chart(pd.DataFrame({"x": [central_total * tfac]})).mark_rule(color="#1F2A2E").encode(x="x:Q")
    st.altair_chart((tc + cr).properties(height=max(160, 36 * len(tor))), width="stretch")
    st.caption(f"One at a time, each parameter with a range moves to its low and high end while the others stay "
               f"central (black line: {sup.fmt_energy_twh(central_total)}). Longest bars matter most.")
else:
    st.info("No parameter of this scenario carries a range, so nothing moves the total in a one-at-a-time test. "
            "The ranged presets (baseline-2025, the IEA cases) show a tornado here.")

# ---------------------------------------------------------------------------
# Lifecycle

st.subheader("Training vs inference over time")
life = sup.lifecycle_table(result)
be = sup.break_even(result.compiled)
paper = sup.paper_break_even().iloc[0]
has_training = float(result.central["Energy|Training"].max()) > 0
lc1, lc2 = st.columns([3, 2], gap="large")
with lc1:
    if has_training and float(result.central["Energy|Inference"].max()) > 0:
        lchart = alt.Chart(life[life["twh"] > 0]).mark_line(strokeWidth=2.5, point=True).encode(
            x=alt.X("year:Q", title="Year", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y("twh:Q", title="Electricity (TWh per year, log scale)", scale=alt.Scale(type="log")),
            color=alt.Color("component:N", title=None, legend=alt.Legend(orient="top"),
                            scale=alt.Scale(domain=["Inference", "Training + fine-tuning"],
                                            range=[SCENARIO_COLOR, "#B45309"])),
            tooltip=[alt.Tooltip("component:N"), alt.Tooltip("year:Q", format="d"),
                     alt.Tooltip("twh:Q", title="TWh", format=",.4~g")])
        st.altair_chart(lchart.properties(height=260), width="stretch")
        ratio = result.value("Energy|Inference", year) / result.value("Energy|Training", year)
        st.caption(f"In {year} inference uses {sup.fmt_sig(ratio, 2)}x the electricity of amortised training and "
                   f"fine-tuning ({sup.fmt_sig(scenario.lifecycle.generations_per_year.value)} model generations a "
                   "year).")
    else:
        st.info("This preset does not amortise training (no lifecycle section), so only the study's Table 5 "
                "break-even is shown.")
with lc2:
    life_kwh = (result.compiled.params["lifecycle.training_kwh_per_generation"].central
                + result.compiled.params["lifecycle.finetune_kwh_per_generation"].central)
    if has_training and len(be):
        st.markdown(f"**Break-even.** One model generation costs **{sup.fmt_sig(life_kwh / 1000)} MWh** to train and "
                    "fine-tune. Inference catches up after:")
        lines = []
        for _, r in be.iterrows():
            when = sup.fmt_duration_days(r["days_to_break_even"])
            lines.append(f"- **{r['label']}**: {sup.fmt_count(r['break_even_inferences'])} inferences "
                         f"({when} at {scenario.base_year} volume)")
        st.markdown("\n".join(lines))
    st.caption(f"Break-even = (training + fine-tuning kWh) / kWh per inference, both at IT load. The study's Table 5: "
               f"{paper['model']} ({paper['training_kwh']:,.0f} + {paper['finetuning_kwh']:,.0f} kWh) / "
               f"{paper['kwh_per_inference']:g} kWh = {paper['break_even_inferences']:,.0f} inferences.")

# ---------------------------------------------------------------------------
# Share and export

st.subheader("Share and export")
q = sup.encode_query(name, cfg)
base_url = (st.context.url or "").split("?")[0] if getattr(st.context, "url", None) else ""
if base_url and urlsplit(base_url).path == "":
    base_url += "/"
link = f"{base_url}?{urlencode(q)}"
st.markdown("This link reproduces the view (preset and every changed setting):")
st.code(link, language=None, wrap_lines=True)
slug = scenario.name if not changed else f"{scenario.name}-custom"
d1, d2, d3 = st.columns(3)
d1.download_button("Result table (CSV)", data=lambda: result.table.to_csv(index=False).encode(),
                   file_name=f"{slug}.csv", mime="text/csv", icon=":material/table:", width="stretch",
                   on_click="ignore", help="Tidy table: scenario, variable, region, unit, year, stat, value.")
d2.download_button("Result + assumptions (Excel)", data=lambda: excel_bytes(result), file_name=f"{slug}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   icon=":material/grid_on:", width="stretch", on_click="ignore",
                   help="Sheets: data, assumptions (every parameter with range and source), parameters, metadata.")
d3.download_button("Scenario (TOML)", data=lambda: scenario_to_toml(scenario).encode(), file_name=f"{slug}.toml",
                   mime="application/toml", icon=":material/description:", width="stretch", on_click="ignore",
                   help="Re-run it from the command line: wattcast project --scenario FILE")
note = f"`wattcast project --scenario {slug}.toml` reproduces these numbers from the command line."
if out["measurement_tasks"]:
    note += (" The TOML refers to measurement records by task (`energy = {measurements = ...}`): pass the same "
             "measurements to the command line.")
st.caption(note)

st.divider()
st.caption(
    "wattcast projects the electricity, emissions and water of AI inference from measured energy per inference "
    "(Luccioni, Jernite, Strubell, *Power Hungry Processing*, FAccT 2024) and published usage, fleet and data-centre "
    "figures. Every number, range and source is on the *Methodology and sources* page; the same engine runs from the "
    "command line (`wattcast project`).")
ss["timing_page_ms"] = (time.perf_counter() - T0) * 1000
