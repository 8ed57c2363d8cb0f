"""Altair charts of the app and their PNG/SVG export (no Streamlit here).

Every chart has a title and a `description` (Vega-Lite's accessible summary), text in
colours with at least 4.5:1 contrast on white, and axes that start at zero (linear).
`export_chart` adds what a figure needs outside the app: the scenarios, what the band is,
the sources and the share link; `to_png`/`to_svg` render it offline with vl-convert.
"""

from __future__ import annotations

import textwrap

import altair as alt
import pandas as pd

INK = "#1F2A2E"      # 14:1 on white
MUTED = "#4B5563"    # 7.6:1 on white
GRID = "#E5E7EB"
#: series colours: current scenario first, then up to three pinned ones (colour-blind safe)
PALETTE = ["#0F766E", "#B45309", "#6D28D9", "#1D4ED8"]
REF = "#6B7280"
FONT = "Source Sans Pro, Helvetica, Arial, sans-serif"


def _config(chart: alt.Chart) -> alt.Chart:
    return (chart
            .configure(font=FONT)
            .configure_axis(labelColor=INK, titleColor=INK, gridColor=GRID, domainColor=MUTED, tickColor=MUTED,
                            labelFontSize=12, titleFontSize=12)
            .configure_legend(labelColor=INK, titleColor=INK, labelFontSize=12, labelLimit=360)
            .configure_title(color=INK, subtitleColor=MUTED, fontSize=15, subtitleFontSize=12, anchor="start")
            .configure_view(strokeWidth=0))


def trajectory(bands: pd.DataFrame, unit: str, title: str, description: str, target_year: int,
               refs: pd.DataFrame | None = None, height: int = 360) -> alt.LayerChart:
    """Median lines with their 90% band for each series, dashed country lines, the year shown.

    `bands`: year, series, p50, p5, p95 (band drawn where p5/p95 are finite); series order =
    colour order. `refs`: name, twh (horizontal reference lines, labelled at the right end).
    """
    order = list(dict.fromkeys(bands["series"]))
    colors = alt.Scale(domain=order, range=PALETTE[: len(order)])
    x = alt.X("year:Q", title=None, axis=alt.Axis(format="d", tickMinStep=1, labelFlush=True))
    y_max = float(pd.concat([bands["p50"], bands["p95"]]).max(skipna=True) or 1.0)
    if refs is not None and len(refs):
        y_max = max(y_max, float(refs["twh"].max()))
    y = alt.Y("p50:Q", title=unit, scale=alt.Scale(zero=True, domain=[0, y_max * 1.08], nice=False))
    legend = alt.Legend(title=None, orient="top", direction="vertical", symbolType="stroke", symbolStrokeWidth=3,
                        labelLimit=520)
    base = alt.Chart(bands)
    band = base.transform_filter("isValid(datum.p5) && isValid(datum.p95)").mark_area(opacity=0.16).encode(
        x=x, y=alt.Y("p5:Q", scale=alt.Scale(zero=True, domain=[0, y_max * 1.08], nice=False), title=unit),
        y2="p95:Q", color=alt.Color("series:N", scale=colors, legend=None),
        tooltip=[alt.Tooltip("series:N", title="Scenario"), alt.Tooltip("year:Q", format="d"),
                 alt.Tooltip("p5:Q", title="5th percentile", format=",.4~g"),
                 alt.Tooltip("p95:Q", title="95th percentile", format=",.4~g")])
    line = base.mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=24)).encode(
        x=x, y=y, color=alt.Color("series:N", scale=colors, legend=legend, sort=order),
        tooltip=[alt.Tooltip("series:N", title="Scenario"), alt.Tooltip("year:Q", format="d"),
                 alt.Tooltip("p50:Q", title="median", format=",.4~g")])
    layers = [band, line]
    if refs is not None and len(refs):
        r = alt.Chart(refs)
        layers.append(r.mark_rule(color=REF, strokeDash=[4, 4], strokeWidth=1).encode(y="twh:Q"))
        layers.append(r.mark_text(align="right", baseline="bottom", dy=-3, color=MUTED, fontSize=11).encode(
            y="twh:Q", x=alt.value("width"), text="label:N"))
    rule = alt.Chart(pd.DataFrame({"year": [target_year]})).mark_rule(color=MUTED, strokeDash=[2, 3]).encode(x="year:Q")
    layers.append(rule)
    return alt.layer(*layers).properties(title=title, description=description, height=height, width="container")


def wedges(stack: pd.DataFrame, lines: pd.DataFrame, unit: str, title: str, description: str,
           height: int = 360) -> alt.LayerChart:
    """Policy wedges: the saving of each lever stacked between the policy and the baseline.

    `stack`: year, label, lo, hi (one band per lever, signed contributions stacked from the
    policy line up to the baseline); `lines`: year, series ("Without the measures", "With
    the measures"), value.
    """
    order = list(dict.fromkeys(stack["label"]))
    pal = ["#0F766E", "#B45309", "#6D28D9", "#1D4ED8", "#BE185D", "#4D7C0F", "#0369A1", "#92400E", "#475569"]
    x = alt.X("year:Q", title=None, axis=alt.Axis(format="d", tickMinStep=1))
    area = alt.Chart(stack).mark_area(opacity=0.55, line=False).encode(
        x=x, y=alt.Y("lo:Q", title=unit, scale=alt.Scale(zero=True)), y2="hi:Q",
        color=alt.Color("label:N", title="Saving from", scale=alt.Scale(domain=order, range=pal[: len(order)]),
                        legend=alt.Legend(orient="top", direction="vertical", labelLimit=400)),
        tooltip=[alt.Tooltip("label:N", title="Measure"), alt.Tooltip("year:Q", format="d"),
                 alt.Tooltip("saving:Q", title=f"saving ({unit})", format=",.4~g")])
    ln = alt.Chart(lines).mark_line(strokeWidth=2.5, color=INK).encode(
        x=x, y="value:Q", strokeDash=alt.StrokeDash("series:N", legend=alt.Legend(title=None, orient="top"),
                                                    scale=alt.Scale(range=[[6, 4], [1, 0]])),
        tooltip=[alt.Tooltip("series:N", title=""), alt.Tooltip("year:Q", format="d"),
                 alt.Tooltip("value:Q", title=unit, format=",.4~g")])
    return alt.layer(area, ln).properties(title=title, description=description, height=height, width="container")


def countries(df: pd.DataFrame, title: str, description: str) -> alt.LayerChart:
    """Horizontal bars on a linear scale: the AI total (with its 90% range) beside countries.

    `df`: name, twh, lo, hi, kind ("AI"/"Country"), label (text at the bar end)."""
    order = list(df["name"])
    y = alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=150, labelColor=INK))
    color = alt.Color("kind:N", scale=alt.Scale(domain=["AI", "Country"], range=["#B45309", "#64748B"]), legend=None)
    bars = alt.Chart(df).mark_bar(height={"band": 0.7}).encode(
        x=alt.X("twh:Q", title="TWh per year", scale=alt.Scale(zero=True)), y=y, color=color,
        tooltip=[alt.Tooltip("name:N", title=""), alt.Tooltip("twh:Q", title="TWh", format=",.4~g")])
    err = alt.Chart(df[df["lo"].notna()]).mark_rule(color=INK, strokeWidth=1.5).encode(x="lo:Q", x2="hi:Q", y=y)
    text = alt.Chart(df).mark_text(align="left", dx=4, color=INK, fontSize=11).encode(
        x=alt.X("end:Q"), y=y, text="label:N")
    return alt.layer(bars, err, text).properties(title=title, description=description,
                                                 height=70 + 30 * len(df), width="container")


def regions(df: pd.DataFrame, unit: str, title: str, description: str) -> alt.LayerChart:
    """Bars by region (median) with the 90% range as a line. `df`: region, p50, p5, p95, label."""
    y = alt.Y("region:N", sort=list(df["region"]), title=None, axis=alt.Axis(labelLimit=120))
    bars = alt.Chart(df).mark_bar(color=PALETTE[0], height={"band": 0.7}).encode(
        x=alt.X("p50:Q", title=unit, scale=alt.Scale(zero=True)), y=y,
        tooltip=[alt.Tooltip("region:N", title=""), alt.Tooltip("p50:Q", title="median", format=",.4~g"),
                 alt.Tooltip("p5:Q", title="5th percentile", format=",.4~g"),
                 alt.Tooltip("p95:Q", title="95th percentile", format=",.4~g")])
    err = alt.Chart(df[df["p5"].notna()]).mark_rule(color=INK, strokeWidth=1.5).encode(x="p5:Q", x2="p95:Q", y=y)
    text = alt.Chart(df).mark_text(align="left", dx=4, color=INK, fontSize=11).encode(x="end:Q", y=y, text="label:N")
    return alt.layer(bars, err, text).properties(title=title, description=description,
                                                 height=70 + 36 * len(df), width="container")


def styled(chart) -> alt.TopLevelMixin:
    """A chart with the app's text colours and fonts (for display)."""
    return _config(chart)


def export_chart(chart, title: str, lines: list[str], sources: list[str], link: str, width: int = 900):
    """The chart as a stand-alone figure: title, one subtitle line per scenario/range note,
    and a footer with the sources and the share link (wrapped to the figure's width)."""
    wrap = max(60, width // 6)
    sub = [s for line in lines for s in textwrap.wrap(line, wrap)]
    foot = [s for line in ["Sources: " + "; ".join(sources)] for s in textwrap.wrap(line, wrap)][:8]
    foot += textwrap.wrap(f"Link: {link}", wrap, break_long_words=True) if link else []
    foot.append("Made with wattcast.")
    body = chart.properties(width=width, title=alt.TitleParams(text=title, subtitle=sub))
    footer = alt.Chart(pd.DataFrame({"line": foot, "i": range(len(foot))})).mark_text(
        align="left", baseline="top", color=MUTED, fontSize=10).encode(
        y=alt.Y("i:O", axis=None), text="line:N", x=alt.value(0)).properties(width=width, height=14 * len(foot))
    return _config(alt.vconcat(body, footer, spacing=18).properties(background="white", padding=16))


def to_png(chart, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_json(), scale=scale)


def to_svg(chart) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json()).encode("utf-8")
