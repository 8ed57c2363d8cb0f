"""Vega-Lite charts of the app and their PNG/SVG export (no Streamlit here).

The charts are Vega-Lite specifications written as plain dicts: building and serialising
the same charts with altair took 150-250 ms each on this machine, longer than the whole
projection, and a slider press redraws three of them. Every chart has a title, an accessible
label (Vega's `description`) that names it and points to the summary the page writes under it,
text in colours with at least 4.5:1 contrast on white, and linear axes from zero.

A chart's specification does not change when only its numbers do (the data travel as named
datasets, axis ends move in coarse steps, categories are ordered by a data field): Streamlit
then updates the data of the chart already drawn instead of building it again, which on 2
cores took about 80 ms of the browser's time per chart on every slider press.

`export_chart` adds what a figure needs outside the app (scenarios, what the band is,
sources, the share link); `to_png`/`to_svg` render it offline with vl-convert.
"""

from __future__ import annotations

import json
import math
import textwrap
from typing import Any

import pandas as pd

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
INK = "#1F2A2E"      # 14:1 on white
MUTED = "#4B5563"    # 7.6:1 on white
GRID = "#E5E7EB"
#: series colours: this scenario first, then up to three pinned ones (colour-blind safe)
PALETTE = ["#0F766E", "#B45309", "#6D28D9", "#1D4ED8"]
WEDGE_PALETTE = ["#0F766E", "#B45309", "#6D28D9", "#1D4ED8", "#BE185D", "#4D7C0F", "#0369A1", "#92400E", "#475569"]
FONT = "Source Sans Pro, Helvetica, Arial, sans-serif"
CONFIG: dict[str, Any] = {
    "font": FONT,
    "axis": {"labelColor": INK, "titleColor": INK, "gridColor": GRID, "domainColor": MUTED, "tickColor": MUTED,
             "labelFontSize": 12, "titleFontSize": 12, "titleFontWeight": "normal"},
    "legend": {"labelColor": INK, "titleColor": INK, "labelFontSize": 12, "labelLimit": 520},
    "title": {"color": INK, "subtitleColor": MUTED, "fontSize": 15, "subtitleFontSize": 12, "anchor": "start",
              "fontWeight": 600},
    "view": {"stroke": None},
}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN -> null)."""
    out = []
    for row in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        (v.item() if hasattr(v, "item") else v)) for k, v in row.items()})
    return out


def _spec(layers: list[dict], title: str, height: int, **extra) -> dict[str, Any]:
    # the accessible label holds no figures (they would change the spec on every press): the summary
    # with the figures is the text under the chart
    return {"$schema": SCHEMA, "title": title,
            "description": f"{title}. The figures are in the text under the chart.",
            "height": height, "width": "container", "config": CONFIG, "layer": layers, **extra}


#: axis ends are rounded up to one of these (times a power of ten), so they move in coarse steps
_NICE = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9 (times a power of ten) at or
    above `x` (> 0), so at most 25% above it; 1.0 for anything not positive and finite."""
    if not (x > 0 and math.isfinite(x)):
        return 1.0
    scale = 10.0 ** math.floor(math.log10(x))
    for m in _NICE:
        if m * scale >= x * (1 - 1e-12):
            return m * scale
    return 10.0 * scale


def trajectory(bands: pd.DataFrame, unit: str, title: str, target_year: int,
               refs: pd.DataFrame | None = None, height: int = 360) -> dict[str, Any]:
    """Median lines with their 90% band per series, dashed country lines, the year shown.

    `bands`: year, series, p50, p5, p95 (band where p5/p95 are finite); series order =
    colour order. `refs`: name, twh, label (horizontal lines labelled at the right end).
    """
    order = list(dict.fromkeys(bands["series"]))
    y_max = float(pd.concat([bands["p50"], bands["p95"]]).max(skipna=True) or 1.0)
    if refs is not None and len(refs):
        y_max = max(y_max, float(refs["twh"].max()))
    yscale = {"zero": True, "domain": [0, nice_ceiling(y_max * 1.08)], "nice": False}
    years = (int(bands["year"].min()), int(bands["year"].max()))
    x = {"field": "year", "type": "quantitative", "title": None,
         "scale": {"domain": list(years), "nice": False},
         "axis": {"format": "d", "tickMinStep": 1, "labelFlush": True}}
    legend = {"title": None, "orient": "bottom", "direction": "vertical", "symbolType": "stroke",
              "symbolStrokeWidth": 3, "symbolOpacity": 1, "symbolStrokeColor": {"expr": "scale('color', datum.value)"}}
    # one colour scale and one legend for bands and lines (a null legend on a layer would drop it)
    color = {"field": "series", "type": "nominal", "sort": order,
             "scale": {"domain": order, "range": PALETTE[: len(order)]}, "legend": legend}
    layers: list[dict] = [
        {"data": {"name": "bands"}, "transform": [{"filter": "isValid(datum.p5) && isValid(datum.p95)"}],
         "mark": {"type": "area", "opacity": 0.16},
         "encoding": {"x": x, "y": {"field": "p5", "type": "quantitative", "title": unit, "scale": yscale},
                      "y2": {"field": "p95"}, "color": color,
                      "tooltip": [{"field": "series", "title": "Scenario"}, {"field": "year", "format": "d"},
                                  {"field": "p5", "title": "5th percentile", "format": ",.4~g"},
                                  {"field": "p95", "title": "95th percentile", "format": ",.4~g"}]}},
        {"data": {"name": "bands"}, "mark": {"type": "line", "strokeWidth": 2.5, "point": {"size": 24}},
         "encoding": {"x": x, "y": {"field": "p50", "type": "quantitative", "title": unit, "scale": yscale},
                      "color": color,
                      "tooltip": [{"field": "series", "title": "Scenario"}, {"field": "year", "format": "d"},
                                  {"field": "p50", "title": "median", "format": ",.4~g"}]}},
    ]
    datasets = {"bands": _records(bands)}
    if refs is not None and len(refs):
        datasets["refs"] = _records(refs[["name", "twh", "label"]])
        layers.append({"data": {"name": "refs"}, "mark": {"type": "rule", "color": "#6B7280",
                                                          "strokeDash": [4, 4], "strokeWidth": 1},
                       "encoding": {"y": {"field": "twh", "type": "quantitative"}}})
        label = {"type": "text", "align": "right", "baseline": "bottom", "dy": -3, "fontSize": 11}
        at = {"y": {"field": "twh", "type": "quantitative"}, "x": {"value": "width"}, "text": {"field": "label"}}
        # a white outline first, so a label stays readable where the band or a line runs under it
        layers.append({"data": {"name": "refs"}, "mark": {**label, "color": "white", "stroke": "white",
                                                          "strokeWidth": 3, "strokeJoin": "round"}, "encoding": at})
        layers.append({"data": {"name": "refs"}, "mark": {**label, "color": MUTED}, "encoding": at})
    datasets["target"] = [{"year": int(target_year)}]
    layers.append({"data": {"name": "target"}, "mark": {"type": "rule", "color": MUTED, "strokeDash": [2, 3]},
                   "encoding": {"x": {"field": "year", "type": "quantitative"}}})
    return _spec(layers, title, height, datasets=datasets)


def wedges(stack: pd.DataFrame, lines: pd.DataFrame, unit: str, title: str, height: int = 360) -> dict[str, Any]:
    """Policy wedges: each measure's saving stacked down from the line without the measures.

    `stack`: year, label, lo, hi, saving (one band per measure); `lines`: year, series
    ("Without the measures", "With the measures"), value.
    """
    order = list(dict.fromkeys(stack["label"]))
    years = [int(lines["year"].min()), int(lines["year"].max())]
    x = {"field": "year", "type": "quantitative", "title": None, "scale": {"domain": years, "nice": False},
         "axis": {"format": "d", "tickMinStep": 1, "labelFlush": True}}
    layers = [
        {"data": {"name": "stack"}, "mark": {"type": "area", "opacity": 0.55},
         "encoding": {"x": x, "y": {"field": "lo", "type": "quantitative", "title": unit, "scale": {"zero": True}},
                      "y2": {"field": "hi"},
                      "color": {"field": "label", "type": "nominal", "title": "Saving from",
                                "scale": {"domain": order, "range": WEDGE_PALETTE[: len(order)]},
                                "legend": {"orient": "top", "direction": "vertical"}},
                      "tooltip": [{"field": "label", "title": "Measure"}, {"field": "year", "format": "d"},
                                  {"field": "saving", "title": f"saving ({unit})", "format": ",.4~g"}]}},
        {"data": {"name": "lines"}, "mark": {"type": "line", "strokeWidth": 2.5, "color": INK},
         "encoding": {"x": x, "y": {"field": "value", "type": "quantitative"},
                      "strokeDash": {"field": "series", "type": "nominal",
                                     "scale": {"domain": ["Without the measures", "With the measures"],
                                               "range": [[6, 4], [1, 0]]},
                                     "legend": {"title": None, "orient": "top"}},
                      "tooltip": [{"field": "series", "title": ""}, {"field": "year", "format": "d"},
                                  {"field": "value", "title": unit, "format": ",.4~g"}]}},
    ]
    return _spec(layers, title, height, datasets={"stack": _records(stack), "lines": _records(lines)})


def _bars(df: pd.DataFrame, value: str, lo: str, hi: str, cat: str, unit: str, title: str,
          color: dict, height: int) -> dict[str, Any]:
    df = df.assign(rank=range(len(df)))  # the rows' order, as data: the spec stays the same when it changes
    top = float(pd.to_numeric(df["end"], errors="coerce").max() or 1.0)
    y = {"field": cat, "type": "nominal", "sort": {"field": "rank", "op": "min"}, "title": None,
         "axis": {"labelLimit": 150, "labelColor": INK}}
    layers = [
        {"mark": {"type": "bar", "height": {"band": 0.7}},
         "encoding": {"x": {"field": value, "type": "quantitative", "title": unit,
                            # room for the value written after the longest bar
                            "scale": {"zero": True, "domain": [0, nice_ceiling(top * 1.3)], "nice": False},
                            # about one tick per 100 px (Vega's default, one per 40 px, crowded 28 labels)
                            "axis": {"tickCount": {"expr": "ceil(width / 100)"}}},
                      "y": y, "color": color,
                      "tooltip": [{"field": cat, "title": ""}, {"field": value, "title": unit, "format": ",.4~g"}]}},
        {"transform": [{"filter": f"isValid(datum.{lo})"}], "mark": {"type": "rule", "color": INK, "strokeWidth": 1.5},
         "encoding": {"x": {"field": lo, "type": "quantitative"}, "x2": {"field": hi}, "y": y}},
        {"mark": {"type": "text", "align": "left", "dx": 4, "color": INK, "fontSize": 11},
         "encoding": {"x": {"field": "end", "type": "quantitative"}, "y": y, "text": {"field": "label"}}},
    ]
    return _spec(layers, title, height, data={"values": _records(df)})


def countries(df: pd.DataFrame, title: str) -> dict[str, Any]:
    """Horizontal bars on a linear scale: the AI total (with its 90% range) beside countries.

    `df`: name, twh, lo, hi, kind ("AI"/"Country"), end (where the label goes), label."""
    color = {"field": "kind", "type": "nominal", "legend": None,
             "scale": {"domain": ["AI", "Country"], "range": ["#B45309", "#64748B"]}}
    return _bars(df, "twh", "lo", "hi", "name", "TWh per year", title, color, 70 + 30 * len(df))


def regions(df: pd.DataFrame, unit: str, title: str) -> dict[str, Any]:
    """Bars by region (median) with the 90% range as a line. `df`: region, p50, p5, p95, end, label."""
    return _bars(df, "p50", "p5", "p95", "region", unit, title, {"value": PALETTE[0]}, 70 + 36 * len(df))


def export_chart(spec: dict[str, Any], title: str, lines: list[str], sources: list[str], link: str,
                 width: int = 900) -> dict[str, Any]:
    """The chart as a stand-alone figure: title, one subtitle line per scenario/range note,
    and a footer with the sources and the share link (wrapped to the figure's width)."""
    wrap = max(60, width // 6)
    sub = [s for line in lines for s in textwrap.wrap(line, wrap)]
    foot = textwrap.wrap("Sources: " + "; ".join(sources), wrap)[:8]
    foot += textwrap.wrap(f"Link: {link}", wrap, break_long_words=True) if link else []
    foot.append("Made with wattcast.")
    body = {k: v for k, v in spec.items() if k not in ("$schema", "config", "datasets")}
    body.update(width=width, title={"text": title, "subtitle": sub})
    footer = {"data": {"values": [{"line": t, "i": i} for i, t in enumerate(foot)]},
              "mark": {"type": "text", "align": "left", "baseline": "top", "color": MUTED, "fontSize": 10},
              "encoding": {"y": {"field": "i", "type": "ordinal", "axis": None}, "text": {"field": "line"},
                           "x": {"value": 0}},
              "width": width, "height": 14 * len(foot)}
    return {"$schema": SCHEMA, "config": CONFIG, "background": "white", "padding": 16, "spacing": 18,
            "datasets": spec.get("datasets", {}), "vconcat": [body, footer],
            "resolve": {"legend": {"color": "independent", "strokeDash": "independent"}}}


def to_png(spec: dict[str, Any], scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(json.dumps(spec), scale=scale)


def to_svg(spec: dict[str, Any]) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(json.dumps(spec)).encode("utf-8")
