"""The simulator page: levers in the sidebar; headline, one main chart, comparisons in the main column.

Order matters for speed: the headline is computed and drawn before any chart, so it changes
first after a slider press; chart-only choices (what to show, pinned scenarios, the country
compared with) rerun in fragments without recomputing the headline.
"""

from __future__ import annotations

import html
import math
import time
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import charts, compute, fmt, session, tables
from app_pages import controls as C

T0 = time.perf_counter()
ss = st.session_state
MARKS: dict[str, float] = {}


def mark(name: str) -> None:
    """Milliseconds since the run started, per stage (read by benchmarks/app_profile.py)."""
    MARKS[name] = (time.perf_counter() - T0) * 1000
    ss["timings"] = MARKS
V = session.view("simulator")
ctl = C.by_key(V.preset)
W = session.W


# ---------------------------------------------------------------------------
# Sidebar


def _nice_step(x: float) -> float:
    if not x > 0:
        return 1.0
    return float(10 ** math.floor(math.log10(x)) / 2)


def render(c: C.Control) -> None:
    """One control; its value goes into the view (model units)."""
    key = W + c.key
    cur = V.cfg.get(c.key, c.default)
    if c.kind == "select":
        okey = W + "opts:" + c.key
        if okey not in ss:
            ss[okey] = c.choices(cur)
        opts = ss[okey]
        if key not in ss or ss[key] not in opts:
            ss[key] = cur if cur in opts else c.default
        val = st.select_slider(c.label, options=opts, key=key, format_func=c.fmt, help=c.help)
    elif c.kind == "year":
        if key not in ss:
            ss[key] = int(min(max(cur, c.lo), c.hi))
        val = st.slider(c.label, min_value=int(c.lo), max_value=int(c.hi), step=1, key=key, help=c.help)
    elif c.kind == "number":
        if key not in ss:
            ss[key] = float(cur) / c.scale
        x = st.number_input(c.label, min_value=0.0, max_value=c.hi / c.scale, step=_nice_step(c.default / c.scale),
                            key=key, help=c.help, format="%g")
        val = C._clean(float(x) * c.scale)
    elif c.kind == "grid":
        from project.national import national_electricity

        # labelled by C.grid_label: the intensity the engine computes with, and its year
        opts = ["", "custom"] + list(national_electricity().sort_values("country")["iso_code"])
        if key not in ss:
            ss[key] = "custom" if isinstance(cur, float) else (cur if cur in opts else "")
        choice = st.selectbox(c.label, options=opts, key=key, help=c.help,
                              format_func=lambda k: "A value I type" if k == "custom" else C.grid_label(k))
        if choice == "custom":
            ckey = W + "grid_custom"
            if ckey not in ss:
                ss[ckey] = float(cur) if isinstance(cur, float) else 400.0
            val = C._clean(float(st.number_input("Grid carbon intensity (g CO₂e per kWh)", min_value=0.0,
                                                 max_value=2000.0, step=10.0, key=ckey)))
        else:
            val = choice
    else:  # pragma: no cover - every kind is handled above
        raise ValueError(c.kind)
    V.cfg[c.key] = val


def widget_values() -> None:
    """Copy the values the user just set (already in session state) into the view, so the
    headline is computed and sent before the sidebar's widgets are drawn."""
    for c in ctl.values():
        key = W + c.key
        if key not in ss:
            continue
        v = ss[key]
        if c.kind == "number":
            v = C._clean(float(v) * c.scale)
        elif c.kind == "grid" and v == "custom":
            v = C._clean(float(ss.get(W + "grid_custom", 400.0)))
        V.cfg[c.key] = v
    if W + "precision" in ss:
        V.precision = ss[W + "precision"]
    if W + "region" in ss:
        V.region = ss[W + "region"] or "world"


titles = {n: C.preset(n).title for n in C.preset_names()}


def sidebar() -> None:
    with st.sidebar:
        st.markdown("## Scenario")
        if W + "preset" not in ss:
            ss[W + "preset"] = V.preset
        st.selectbox("Starting point", options=list(titles), key=W + "preset", format_func=lambda n: titles[n],
                     on_change=lambda: session.set_preset(ss[W + "preset"]),
                     help="A shipped scenario (data/scenarios), each with its sources. Switching resets the controls.")
        # the box is a one-line text input that cuts long titles off: the whole title below it
        st.caption(titles.get(ss[W + "preset"], ""))
        render(ctl["year"])
        st.button("Reset the controls", on_click=session.reset, icon=":material/restart_alt:", width="stretch")

        st.markdown("## Policy measures")
        st.caption("Off by default. Each measure applies from the start year and ramps up over the phase-in.")
        render(ctl["policy.start"])
        render(ctl["policy.phase_in"])
        lever_controls = [c for c in ctl.values() if c.target and c.target[0] == "policy"]
        for c in lever_controls:
            render(c)
        demand = [c for c in ctl.values() if c.group == "Demand"]
        if demand:
            with st.expander("Demand and growth", icon=":material/trending_up:"):
                if C.preset(V.preset).fleet is not None:
                    st.caption("The installed accelerators set the total: more requests raise the share attributed to "
                               "the workloads, and the total only once they need more than the fleet provides. "
                               "Shipment growth moves the total.")
                for c in demand:
                    render(c)
        with st.expander("Advanced: facilities, grid, uncertainty", icon=":material/tune:"):
            for c in (c for c in ctl.values() if c.group == "Advanced"):
                render(c)
            if W + "precision" not in ss:
                ss[W + "precision"] = V.precision
            V.precision = st.radio("Monte Carlo samples", options=list(C.SAMPLES), key=W + "precision", horizontal=True,
                                   format_func=lambda k: f"{C.SAMPLES[k]:,}",
                                   help="Every parameter with a range is sampled (Latin hypercube, seed 0); the "
                                        "headline is the median and the band the 5th to 95th percentile. 5,000 samples "
                                        "give steadier percentiles; 1,000 keep each change fast.")


widget_values()

# ---------------------------------------------------------------------------
# Compute the current scenario first (the headline needs nothing else)

samples = C.SAMPLES[V.precision]
mark("start")
result = session.safe(session.run, V.preset, V.cfg, samples)
mark("computed")
session.write_url()
year = int(V.cfg.get("year", C.preset(V.preset).target_year))
region = C.REGIONS[V.region]

st.title("AI's electricity, emissions and water")
session.notices()
if result is None:
    st.button("Reset the controls", on_click=session.reset, key="reset_main", icon=":material/restart_alt:")
    sidebar()
    st.stop()

scenario = result.scenario
if session.measured_csv():
    st.info(f"Energy per request of the matching workloads comes from your measurements "
            f"({fmt.plain(ss.get('upload_source', 'upload'))}); switch this off on the Measurements page.",
            icon=":material/upload:")
if W + "region" not in ss:
    ss[W + "region"] = V.region
# A session's first run shows the headline and stops (see FIRST_PAINT below); the region buttons come
# with the second run, and a spacer of their height keeps the cards from moving when they do.
first_paint = not ss.get("_headline_painted")
if first_paint:
    st.html('<div class="wc-first-paint" aria-hidden="true"></div>')  # its height: app_pages/main.py
else:
    V.region = st.segmented_control("Region", options=list(C.REGIONS), key=W + "region",
                                    format_func=C.REGIONS.get, label_visibility="collapsed") or "world"
region = C.REGIONS[V.region]
H = compute.headline(result, year, region)
e = H.energy


def _range(f: compute.Figure) -> str:
    return f"90% range {fmt.span(f.variable, f.p5, f.p95)}" if f.has_range else "central estimate (no range)"


# the country compared with: the link's, else the one nearest the preset's own total (stable while
# the controls move). The preset's central run (samples=0) is enough to pick it: no second Monte Carlo,
# and none at all when this view is the preset itself (its central run is in `result`).
same = not C.changed(V.preset, V.cfg) and not session.measured_csv()
base_result = result if same else session.safe(session.run, V.preset, C.default_cfg(V.preset), 0, False)
cands = list(dict.fromkeys([*scenario.compare_with, *C.KNOWN_COUNTRIES]))
if base_result is not None and not V.cmp:
    ref_twh = base_result.value("Energy", min(max(year, base_result.scenario.start_year),
                                              base_result.scenario.end_year), "central", region)
    default_cmp = compute.default_country(ref_twh, cands, 2024)
else:
    default_cmp = V.cmp or "USA"
cmp_iso = V.cmp or default_cmp
share, cname, ctwh, cyear = compute.country_share(e.p50, cmp_iso, 2024)

cards = st.container(horizontal=True, gap="small", key="cards")
cols = [cards] * 4
cols[0].metric(f"AI electricity, {region}, {year}", fmt.energy(e.p50), delta=_range(e), delta_color="off",
               delta_arrow="off", border=True, height="stretch",
               help=f"Median of {H.samples:,} Monte Carlo samples. {H.counts}")
em = H.emissions
cols[1].metric(f"Emissions, {year}", fmt.emissions(em.p50) if em.modelled else fmt.NOT_MODELLED,
               delta=_range(em) if em.modelled else None, delta_color="off", delta_arrow="off", border=True,
               height="stretch", help="Location-based (the grid's average intensity) plus embodied emissions of "
                                      "the hardware. Market-based emissions are in the downloads.")
wa = H.water
cols[2].metric(f"Water consumed, {year}", fmt.water(wa.p50) if wa.modelled else fmt.NOT_MODELLED,
               delta=_range(wa) if wa.modelled else "this starting point has no water figures", delta_color="off",
               delta_arrow="off", border=True, height="stretch",
               help="On-site cooling water plus water consumed at the power plants that generate the electricity.")
cols[3].metric(f"Compared with {cname}'s electricity", f"= {fmt.pct(share)}",
               delta=f"{cname} used {fmt.energy(ctwh)} in {cyear}", delta_color="off", delta_arrow="off",
               border=True, height="stretch",
               help="Electricity demand of the country (Our World in Data / Ember). Change the country under "
                    "'Compared with countries' below.")

k = tables.counted(result, year, region)  # every number of this sentence from the central run: its parts add up
if H.has_fleet and math.isfinite(k.attributed_share):
    what = (f"**What is counted** (central run: every parameter at its central value; the cards show the Monte "
            f"Carlo median): the electricity of the installed AI accelerators at the data-centre meter, "
            f"{fmt.energy(k.total)}. Of it, **{fmt.pct(k.attributed_share)}** is attributed to the workloads "
            f"modelled here (inference {fmt.energy(k.inference)}, training {fmt.energy(k.training)}); the rest, "
            f"{fmt.energy(k.unattributed)}, is use of the installed fleet that no modelled workload explains.")
else:
    what = ("**What is counted** (central run: every parameter at its central value; the cards show the Monte "
            f"Carlo median): the electricity of the modelled workloads only, {fmt.energy(k.total)} (inference "
            f"{fmt.energy(k.inference)}" + (f", training {fmt.energy(k.training)}" if k.training else "")
            + "), at the data-centre meter. This starting point has no accelerator fleet, so use that no workload "
              "explains is not modelled.")
if math.isfinite(k.datacentres):
    what += f" All data centres, AI included: {fmt.energy(k.datacentres)}."
try:
    from project.national import world_electricity_twh

    what += f" That is {fmt.pct(k.total / world_electricity_twh(2024))} of the world's electricity demand in 2024."
except KeyError:
    pass
st.markdown(what)
mark("headline")
# FIRST_PAINT: a session's first run ends here, so the browser draws the headline before it loads and
# renders the widgets and charts (Streamlit loads each kind of element's code on first use, in page
# order: the cards waited about 1 s behind them on 2 cores; benchmarks/app_latency.py). The fragment's
# timer, which the browser runs 0.1 s later or once it is free, then runs the whole page; that run
# finds the projection in the cache. (AppTest has no timers: its tests run the page twice.)
if first_paint:
    @st.fragment(run_every=0.1)
    def _rest_of_page() -> None:
        if ss.get("_headline_armed"):  # called by the timer, not by this run
            ss["_headline_painted"] = True
            st.rerun(scope="app")
        ss["_headline_armed"] = True

    _rest_of_page()
    st.stop()
sidebar()
mark("sidebar widgets")


# ---------------------------------------------------------------------------
# The main chart (a fragment: its own choices rerun only it)


def share_link() -> str:
    base = ""
    try:
        base = (st.context.url or "").split("?")[0]
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        base = ""
    return f"{base}?{urlencode(C.encode(V), doseq=True)}"


@st.fragment
def main_chart() -> None:
    st.header("Year by year")
    c1 = c2 = st.container()
    if W + "show" not in ss:
        ss[W + "show"] = V.show
    V.show = c1.radio("Show", options=list(C.SHOW), key=W + "show", format_func=lambda k: C.SHOW[k][1],
                      horizontal=True) or "energy"
    has_levers = bool(C.overrides(V.preset, V.cfg).get("policy", scenario.policy))
    if has_levers:
        if W + "chartview" not in ss:
            ss[W + "chartview"] = V.view
        V.view = c2.radio(
            "View", options=list(C.VIEWS), key=W + "chartview",
            format_func={"trajectory": "With uncertainty", "wedges": "Savings by measure"}.get,
            horizontal=True,
            help="'Savings by measure' splits the change the measures make into each measure's share (exact "
                 "Shapley split of central runs).") or "trajectory"
    else:
        V.view = "trajectory"
    var, vlabel = C.SHOW[V.show]
    if var not in result.central or not compute.modelled(result, var):
        st.info(f"{vlabel}: not modelled by this starting point.", icon=":material/info:")
        session.write_url()
        return
    unit = fmt.axis_unit(var)
    if V.view == "wedges":
        _wedge_view(var, vlabel, unit)
    else:
        _trajectory_view(var, vlabel, unit)
    _pins()
    session.write_url()


def _trajectory_view(var: str, vlabel: str, unit: str) -> None:
    parts = [tables.band_table(result, var, region, "This scenario")]
    for p in V.pins:
        r = session.safe(session.run_pin, p, samples)
        if r is not None and var in r.central:
            parts.append(tables.band_table(r, var, region, C.pin_label(p)))
    bands = pd.concat(parts, ignore_index=True)
    refs = None
    if var in ("Energy", "Data Centres"):
        ymax = float(np.nanmax(np.r_[bands["p50"].to_numpy(), bands["p95"].to_numpy()]))
        refs = tables.reference_lines(ymax, [cmp_iso, *C.KNOWN_COUNTRIES], 2024)
        refs["label"] = [f"{n} {t:,.0f} TWh" for n, t in zip(refs["name"], refs["twh"])]
    title = f"{vlabel}, {region}: median and 90% range"
    desc = tables.describe_trajectory(bands, var, f"{vlabel}, {region}", year)
    chart = charts.trajectory(bands, unit, title, year, refs)
    st.vega_lite_chart(spec=chart, width="stretch", theme=None)
    note = ("Line: median of the Monte Carlo; band: 5th to 95th percentile. Dotted vertical line: the year shown."
            + (" Dashed lines: countries' electricity demand in 2024." if refs is not None and len(refs) else ""))
    st.caption(f"{desc} {note}")
    _downloads(chart, title, [f"{s}" for s in dict.fromkeys(bands["series"])])


def _wedge_view(var: str, vlabel: str, unit: str) -> None:
    if var == "Data Centres":
        st.info("Savings by measure are computed for AI electricity, emissions, water and peak power.")
        return
    w = session.safe(session.wedges, V.preset, V.cfg)
    if w is None:
        return
    w = w[(w["variable"] == var) & (w["region"] == region)]
    p = pd.DataFrame({"year": result.compiled.years.astype(int), "policy": result.central[var][
        result.regions.index(region)]})
    tot = w.groupby("year")["value"].sum().reindex(p["year"]).fillna(0.0).to_numpy()
    p["baseline"] = p["policy"] - tot
    order = (w[w["year"] == year].assign(a=lambda d: -d["value"]).sort_values("a", ascending=False)["label"]
             .drop_duplicates().tolist())
    rows = []
    for y, b in zip(p["year"], p["baseline"]):
        cum = 0.0
        g = w[w["year"] == y].set_index("label")["value"]
        for lab in order:
            s = -float(g.get(lab, 0.0))
            rows.append({"year": y, "label": lab, "hi": b - cum, "lo": b - cum - s, "saving": s})
            cum += s
    stack = pd.DataFrame(rows)
    lines = pd.concat([pd.DataFrame({"year": p["year"], "series": "Without the measures", "value": p["baseline"]}),
                       pd.DataFrame({"year": p["year"], "series": "With the measures", "value": p["policy"]})])
    desc = tables.describe_wedges(w.groupby(["year", "label"], as_index=False)["value"].sum(), var, year)
    title = f"{vlabel}, {region}: what each measure saves"
    chart = charts.wedges(stack, lines, unit, title)
    st.vega_lite_chart(spec=chart, width="stretch", theme=None)
    st.caption(f"{desc} Central runs (every parameter at its central value). Each band is one measure's share of "
               "the change, split exactly (Shapley values over the measures), so the bands add up to the gap "
               "between the two lines.")
    _downloads(chart, title, ["Without the measures (dashed) and with them (solid)"])


def _downloads(chart, title: str, series: list[str]) -> None:
    link = share_link()
    lines = ["Scenarios: " + "; ".join(series),
             f"Band: 5th to 95th percentile of {samples:,} Monte Carlo samples (seed 0); line: median.",
             f"What is counted: {H.counts}"]
    srcs = tables.source_list(result)[:6]
    fig = lambda: charts.export_chart(chart, title, lines, srcs, link)  # noqa: E731
    d1, d2 = st.columns(2)
    d1.download_button("Chart as PNG", data=lambda: charts.to_png(fig()), file_name="wattcast-chart.png",
                       mime="image/png", icon=":material/image:", on_click="ignore", width="stretch")
    d2.download_button("Chart as SVG", data=lambda: charts.to_svg(fig()), file_name="wattcast-chart.svg",
                       mime="image/svg+xml", icon=":material/draw:", on_click="ignore", width="stretch")


def _pin_current() -> None:
    pin = C.Pin(V.preset, C.changed(V.preset, V.cfg))
    if len(V.pins) < C.MAX_PINS and pin.token not in [q.token for q in V.pins]:
        V.pins.append(pin)


def _pin_added() -> None:
    name = ss.get(W + "pin_add")
    if name and len(V.pins) < C.MAX_PINS and name not in [q.token for q in V.pins]:
        V.pins.append(C.Pin(name, {}))
    ss[W + "pin_add"] = ""


def _unpin(i: int) -> None:
    if 0 <= i < len(V.pins):
        V.pins.pop(i)


def _pins() -> None:
    st.markdown("**Compare scenarios** (up to 3 pinned beside this one)")
    p1, p2 = st.columns([1, 2], vertical_alignment="bottom")
    full = len(V.pins) >= C.MAX_PINS
    p1.button("Pin this scenario", icon=":material/push_pin:", disabled=full, width="stretch", on_click=_pin_current)
    p2.selectbox("Add a starting point", options=[""] + list(titles), key=W + "pin_add", disabled=full,
                 format_func=lambda n: titles.get(n, "Add a starting point or policy package..."),
                 label_visibility="collapsed", on_change=_pin_added)
    if V.pins:
        rows = [("This scenario", result)]
        for p in V.pins:
            r = session.safe(session.run_pin, p, samples)
            if r is not None:
                rows.append((C.pin_label(p), r))
        st.dataframe(tables.pinned_table(rows, year, region), hide_index=True, width="stretch")
        for i, p in enumerate(list(V.pins)):
            st.button(f"Unpin: {C.pin_label(p)}", key=f"unpin{i}:{p.token}", icon=":material/close:",
                      on_click=_unpin, args=(i,))


main_chart()
mark("main chart")


# ---------------------------------------------------------------------------
# Countries and regions


st.header("Compared with countries")
all_names = compute.countries(2024)["country"].sort_values().to_dict()
cmp_opts = list(dict.fromkeys([*cands, *all_names]))
ss[W + "cmp"] = cmp_iso


def _on_cmp() -> None:
    pick = ss[W + "cmp"]
    V.cmp = "" if pick == default_cmp else pick


st.selectbox("Compare with", options=cmp_opts, key=W + "cmp", format_func=lambda k: all_names.get(k, k),
             on_change=_on_cmp,
             help="The country in the headline card: its electricity demand in 2024 (or its latest year). Until "
                  "you pick one, it is the country closest in size to the starting point's own total.")
ct = tables.country_table(e.p50, e.p5 if e.has_range else None, e.p95 if e.has_range else None,
                          f"AI, {region}, {year}", [cmp_iso, *C.KNOWN_COUNTRIES], 2024)
ct["end"] = ct[["twh", "hi"]].max(axis=1, skipna=True)
ct["label"] = ct["twh"].map(lambda t: f"{t:,.0f} TWh" if t >= 10 else fmt.energy(t))
cdesc = (f"AI electricity, {region}, {year}: median {fmt.energy(e.p50)} beside the electricity demand of "
         + ", ".join(f"{n} {t:,.0f} TWh" for n, t, k in zip(ct["name"], ct["twh"], ct["kind"]) if k == "Country")
         + " (2024).")
smallest = float(ct.loc[ct["kind"] == "Country", "twh"].min())
if e.p50 >= 0.01 * smallest:
    st.vega_lite_chart(spec=charts.countries(ct, "AI and countries' electricity"), width="stretch",
                       theme=None)
    st.caption(cdesc + " Linear scale; the black line on the AI bar is its 90% range. Countries: Our World in Data / "
                       "Ember, electricity demand (generation plus net imports).")
else:  # a bar under 1% of the shortest country's would not show: say it in words
    st.markdown(f"At {fmt.energy(e.p50)}, this total is {fmt.pct(e.p50 / smallest)} of the smallest of these "
                f"countries' electricity demand ({smallest:,.0f} TWh), too small to draw beside them. "
                f"It equals {fmt.pct(share)} of {cname}'s ({fmt.energy(ctwh)}, {cyear}).")

mark("countries")
st.header("By region")
rvar = C.SHOW[V.show][0] if V.show in ("energy", "emissions", "water", "peak") else "Energy"
if compute.modelled(result, rvar):
    rt = tables.regions_table(result, rvar, year)
    rt["end"] = rt[["p50", "p95"]].max(axis=1, skipna=True)
    rt["label"] = rt["p50"].map(lambda x: fmt.value(rvar, x))
    runit = fmt.axis_unit(rvar)
    rdesc = f"{C.SHOW[V.show][1] if rvar != 'Energy' else 'AI electricity'} in {year} by region, median: " + ", ".join(
        f"{r} {lab}" for r, lab in zip(rt["region"], rt["label"])) + "."
    st.vega_lite_chart(spec=charts.regions(rt, runit, f"By region, {year}"), width="stretch", theme=None)
    st.caption(rdesc + " Black lines: 90% range.")

# ---------------------------------------------------------------------------
# Share and export

st.header("Share and download")
link = share_link()
st.markdown("This link reproduces the view: starting point, every control, region, chart, pinned scenarios and "
            "precision.")
# a plain link, not st.code: the code block's syntax highlighter cost about 0.3 s of the browser's
# main thread on every page load (Chrome profile), delaying the headline
st.markdown(f'<p class="wc-link"><a href="{html.escape(link, quote=True)}">{html.escape(link)}</a></p>',
            unsafe_allow_html=True)
slug = scenario.name if not C.changed(V.preset, V.cfg) else f"{scenario.name}-custom"
d1, d2, d3 = st.columns(3)
def _full():
    return session.run(V.preset, V.cfg, samples, full=True)


def _csv() -> bytes:
    from project.export import csv_bytes

    return csv_bytes(_full())


d1.download_button("Results (CSV)", data=_csv, file_name=f"{slug}.csv",
                   mime="text/csv", icon=":material/table:", width="stretch", on_click="ignore",
                   help="IAMC table (model, scenario, region, variable, unit, year, value), as `wattcast project "
                        "--out x.csv` writes it; percentiles as variables ending in '|5.0th Percentile', "
                        "'|50.0th Percentile', '|95.0th Percentile'.")


def _excel() -> bytes:
    from project.export import excel_bytes

    return excel_bytes(_full())


def _toml() -> bytes:
    from project.scenario import scenario_to_toml

    return scenario_to_toml(scenario).encode()


d2.download_button("Results (Excel)", data=_excel, file_name=f"{slug}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", icon=":material/grid_on:",
                   width="stretch", on_click="ignore",
                   help="Sheets: data (the IAMC table), meta (seed, samples, sources), every assumption with its "
                        "range and source, parameters.")
d3.download_button("Scenario (TOML)", data=_toml, file_name=f"{slug}.toml", mime="application/toml",
                   icon=":material/description:", width="stretch", on_click="ignore",
                   help="Re-run it from the command line: wattcast project --scenario FILE")
st.caption(f"`wattcast project --scenario {slug}.toml` gives the same numbers from the command line.")
if result.warnings:
    with st.expander(f"Model notes ({len(result.warnings)})"):
        for wmsg in result.warnings:
            st.markdown("- " + fmt.plain(wmsg))
mark("page")
