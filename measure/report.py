"""``wattcast report``: measurement records beside the study's per-model rows and peer figures.

Writes ``report.md``, ``report.html`` (self-contained: charts inlined as SVG, no scripts, no
network) and ``charts/*.svg`` into one directory. The charts are altair specifications
rendered offline by ``vl-convert-python`` (the ``[measure]`` extra); without it the report
says so and keeps its tables.

What is compared, per inference, in joules:

- **your records**, one row per trial (mean and standard deviation over the windows the
  projection would use: ``ok`` and no failure flag such as ``short-window``, by
  ``project.measurements.exclusion``; fake, CPU and random-init records are shown, marked),
  with the boundary each one measured (GPU / CPU / RAM and how) and its flags;
- **the study** (Luccioni, Jernite, Strubell 2023; ``data/reference/paper_models.csv``): its
  total split into the three terms it adds up, which are not alike: the GPU term is the sum of
  all 8 A100s of the node (one ran the model, seven idled), the CPU term is codecarbon's
  constant 42.5 W and the RAM term a constant 430.8 W, both times the run's duration
  (``paper_constants.csv``): constants, not measurements;
- **peer figures** (``data/reference/peer_figures.csv``): ML.ENERGY's GPU-only joules per
  image on A100 and H100, each with its source and year.

Every comparison lists the protocol differences that separate the numbers. This module does
not import torch.
"""

from __future__ import annotations

import html
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from measure.errors import MeasureError
from project.measurements import Rules, exclusion
from project.paths import data_dir
from project.records import J_PER_KWH
from project.tasks import TASK_IDS

#: the projection's rules for which windows count, with fake, CPU and random-init records let in:
#: the report shows those (marked in its protocol differences) so a test campaign still renders
REPORT_RULES = Rules(allow_fake=True, allow_cpu=True, allow_random_init=True)
#: the study's protocol, as data/reference/PROVENANCE.md and docs/measure.md state it
STUDY_PROTOCOL = {
    "device": "8 x NVIDIA A100 80GB (one node), 1 GPU used",
    "batch_size": 1, "warmup": 0, "dtype": "float32", "n_inferences": 1000, "repeats": 10,
    "boundary": "all 8 GPUs (NVML via codecarbon 2.3.1) + CPU constant 42.5 W + RAM constant 430.8 W",
    "steps": "pipeline default (50)", "inputs": "1,000 dataset rows per (model, data set)",
}
PEER_PROTOCOLS = [
    {"benchmark": "ML.ENERGY (diffusion)", "device": "one A100 or H100", "batch_size": "1 (and 16)",
     "dtype": "float16", "steps": "25", "boundary": "GPU only (NVML energy counter)",
     "source": "data/reference/peer_figures.csv"},
    {"benchmark": "AI Energy Score", "device": "one H100", "batch_size": "1", "dtype": "model default",
     "steps": "30 (diffusion)", "boundary": "GPU only; 1,000 samples, 10 repeats, warm-up",
     "source": "Hugging Face, 2025 (protocol only: no per-model figures in wattcast's sources yet)"},
]
COMPONENTS = ("gpu", "cpu", "ram")


# --------------------------------------------------------------------------- data

def study_rows() -> pd.DataFrame:
    """The study's per-model rows, per inference in J, with its three terms apart."""
    p = data_dir() / "reference" / "paper_models.csv"
    df = pd.read_csv(p)
    out = pd.DataFrame({
        "task": df["task"], "setting": df["setting"], "model": df["model_id"], "dataset": df["dataset"],
        "energy_j": df["energy_kwh_per_1000"] * J_PER_KWH / 1000,
        "time_s": df["duration_s_per_1000"] / 1000,
    })
    out["gpu8_j"] = out["energy_j"] * df["gpu_energy_share"]
    out["cpu_const_j"] = out["energy_j"] * df["cpu_energy_share"]
    out["ram_const_j"] = out["energy_j"] * df["ram_energy_share"]
    out["gpu8_power_w"] = df["gpu_power_w_implied_8gpu_sum"]
    return out


def peer_figures() -> pd.DataFrame:
    return pd.read_csv(data_dir() / "reference" / "peer_figures.csv")


def _json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def load_records(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Valid records under ``path`` (a store directory, a folder of stores or one file)."""
    from project.records import RecordError, read_records

    try:
        df, problems = read_records(path)
    except RecordError as e:
        raise MeasureError(e.reason, e.where) from None
    if not len(df):
        raise MeasureError("no valid measurement records" + (f" ({problems[0]})" if problems else ""),
                           str(path))
    for c in ("config", "metadata", "extra", "phases", "inputs_source"):
        if c in df.columns:
            df[c] = df[c].map(_json)
    return df, problems


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)


def usable(records: pd.DataFrame) -> pd.Series:
    """True for each record the projection would use (:data:`REPORT_RULES`), in its own phase."""
    return pd.Series([exclusion(r, REPORT_RULES, phase=r.get("phase") or "inference") is None
                      for r in records.to_dict("records")], index=records.index, dtype=bool)


def summarise(records: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: means (J per inference) over the windows the projection would use
    (:func:`usable`), the boundary and the flags."""
    rows = []
    use = usable(records)
    for key, g in records.groupby("trial_key", sort=False):
        ok = g[use.loc[g.index]]
        first = g.iloc[0]
        cfg = first.get("config") if isinstance(first.get("config"), dict) else {}
        steps = (cfg.get("generation") or {}).get("num_inference_steps")
        # kWh is the one energy field every record has (a measurement table states no joules)
        j = pd.to_numeric(_col(ok, "energy_kwh_per_inference"), errors="coerce") * J_PER_KWH
        row: dict[str, Any] = {
            "trial_key": key, "task": first["task"], "model": first["model"],
            "model_source": first.get("model_source"), "weights": first.get("weights"),
            "device": first.get("device"), "device_name": first.get("device_name"),
            "backend": first.get("backend"), "dtype": first.get("dtype"),
            "batch_size": first.get("batch_size"), "warmup": first.get("warmup"),
            "n_inferences": first.get("n_inferences"), "steps": steps,
            "whole_node": cfg.get("whole_node"), "windows_used": len(ok), "windows_left_out": len(g) - len(ok),
            "energy_j": j.mean() if len(ok) else math.nan,
            "energy_j_std": j.std(ddof=1) if len(ok) > 1 else math.nan,
            "time_s": pd.to_numeric(_col(ok, "time_s_per_inference"), errors="coerce").mean(),
            "flops": pd.to_numeric(_col(ok, "flops_per_inference"), errors="coerce").mean(),
            "j_per_flop": pd.to_numeric(_col(ok, "energy_j_per_flop"), errors="coerce").mean(),
            "emissions_g": pd.to_numeric(_col(ok, "emissions_g_per_inference"), errors="coerce").mean(),
        }
        for c in COMPONENTS:
            row[f"{c}_j"] = pd.to_numeric(_col(ok, f"{c}_energy_j_per_inference"), errors="coerce").mean()
            row[f"{c}_w"] = pd.to_numeric(_col(ok, f"{c}_power_w"), errors="coerce").mean()
            m = _col(g, f"{c}_method").dropna()
            row[f"{c}_method"] = m.iloc[0] if len(m) else "none"
        flags: dict[str, int] = {}
        for fl in g["flags"]:
            for f in (list(fl) if fl is not None else []):
                flags[f] = flags.get(f, 0) + 1
        row["flags"] = ", ".join(f if n == len(g) else f"{f} ({n}/{len(g)})" for f, n in sorted(flags.items()))
        row["boundary"] = " + ".join(f"{c.upper()} ({row[f'{c}_method']})" for c in COMPONENTS
                                     if row[f"{c}_method"] != "none") or "none"
        if row["backend"] == "fake":
            row["boundary"] = "fake energy (not measured)"
        row["tiny"] = row["model"] in _tiny_models()
        rows.append(row)
    return pd.DataFrame(rows)


def _tiny_models() -> set[str]:
    from measure.models import list_models

    return {m["name"] for m in list_models() if m["tiny"]}


def protocol_differences(t: pd.Series) -> list[str]:
    """How one trial's protocol differs from the study's (empty when it matches)."""
    d = []
    if t.get("tiny"):
        d.append("a tiny test configuration (data/model_configs/tiny), not the real model's size")
    if t["device"] == "cpu":
        d.append(f"ran on a CPU ({t['device_name']}), the study on A100 GPUs")
    elif t.get("device_name"):
        d.append(f"GPU {t['device_name']} (study: A100 80GB)")
    if t["batch_size"] != 1:
        d.append(f"batch {t['batch_size']} (study: 1)")
    if t["warmup"]:
        d.append(f"{t['warmup']} warm-up inferences (study: none)")
    if t["dtype"] != "float32":
        d.append(f"{t['dtype']} (study: float32)")
    if t["task"] == "image_generation" and t["steps"] is not None and not pd.isna(t["steps"]):
        d.append(f"{int(t['steps'])} diffusion steps (study: 50)")
    if not t.get("whole_node"):
        d.append("the GPU used only (study: all 8 GPUs of the node summed)")
    if t["cpu_method"] != "estimate" or t["ram_method"] != "estimate":
        d.append(f"boundary {t['boundary']} (study: GPUs + constant CPU and RAM estimates)")
    if t["weights"] == "random-init":
        d.append("random-init weights (outputs are noise; generation runs to its maximum length)")
    if t["backend"] == "fake":
        d.append("fake energy backend: not a measurement")
    return d


# --------------------------------------------------------------------------- charts

def _svg(name: str, chart: Any) -> str | None:
    """The chart as SVG; None without vl-convert; a renderer failure is a MeasureError."""
    try:
        import vl_convert as vlc
    except ImportError:
        return None
    try:
        return vlc.vegalite_to_svg(chart.to_json())
    except Exception as e:  # noqa: BLE001 - vl-convert raises ValueError/RuntimeError from its engine
        raise MeasureError(f"vl-convert could not render the chart {name!r}: {type(e).__name__}: {e}",
                           "report") from None


def charts(summary: pd.DataFrame, study: pd.DataFrame, peers: pd.DataFrame) -> dict[str, Any]:
    """Altair charts: energy by task (log), component shares, diffusion beside ML.ENERGY."""
    import altair as alt

    ts = study[study["setting"] == "task_specific"]
    pts = [pd.DataFrame({"task": ts["task"], "label": ts["model"], "energy_j": ts["energy_j"],
                         "source": "study: total, 8 x A100 node (per model and data set)"})]
    if len(summary):
        ok = summary[summary["energy_j"] > 0]
        pts.append(pd.DataFrame({"task": ok["task"], "label": ok["model"] + " (" + ok["device"] + ")",
                                 "energy_j": ok["energy_j"],
                                 "source": "your records: " + ok["boundary"]}))
    data = pd.concat(pts, ignore_index=True)
    out: dict[str, Any] = {}
    out["energy_by_task"] = alt.Chart(data, title="Energy per inference by task (log scale)").mark_point(
        filled=True, opacity=0.7, size=45).encode(
        x=alt.X("energy_j:Q", scale=alt.Scale(type="log"), title="J per inference"),
        y=alt.Y("task:N", sort=list(TASK_IDS), title=None),
        color=alt.Color("source:N", legend=alt.Legend(orient="bottom", labelLimit=420, columns=1)),
        shape="source:N", tooltip=["task", "label", "energy_j", "source"],
    ).properties(width=520, height=300)

    comp = []
    means = ts.groupby("task")[["gpu8_j", "cpu_const_j", "ram_const_j"]].mean()
    for task, r in means.iterrows():
        tot = r.sum()
        for c, lab in (("gpu8_j", "GPU (8 summed)"), ("cpu_const_j", "CPU (constant 42.5 W)"),
                       ("ram_const_j", "RAM (constant 430.8 W)")):
            comp.append({"row": f"study: {task}", "component": lab, "share": r[c] / tot})
    for _, t in summary.iterrows():
        parts = {c: t[f"{c}_j"] for c in COMPONENTS if pd.notna(t[f"{c}_j"]) and t[f"{c}_j"] > 0}
        tot = sum(parts.values())
        for c, v in parts.items():
            comp.append({"row": f"yours: {t['task']} {t['model']}", "component":
                         f"{c.upper()} ({t[f'{c}_method']})", "share": v / tot})
    out["component_shares"] = alt.Chart(pd.DataFrame(comp), title="What each total is made of").mark_bar().encode(
        x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%"), title="share of the total"),
        y=alt.Y("row:N", title=None, sort=None),
        color=alt.Color("component:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=300)),
        tooltip=["row", "component", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=520)

    diff = [pd.DataFrame({"label": peers["model"] + " on " + peers["hardware"] + " b" +
                          peers["batch_size"].fillna(1).astype(int).astype(str),
                          "energy_j": peers["value"], "source": "ML.ENERGY: GPU only, fp16, 25 steps"})
            [(peers["task"] == "image_generation").to_numpy()]]
    sd = ts[ts["task"] == "image_generation"].groupby("model")[["energy_j", "gpu8_j"]].mean().reset_index()
    diff.append(pd.DataFrame({"label": sd["model"], "energy_j": sd["energy_j"],
                              "source": "study: total, 8 x A100 node, fp32, 50 steps"}))
    diff.append(pd.DataFrame({"label": sd["model"], "energy_j": sd["gpu8_j"],
                              "source": "study: GPU term (8 A100s summed)"}))
    if len(summary):
        mine = summary[(summary["task"] == "image_generation") & (summary["energy_j"] > 0)]
        diff.append(pd.DataFrame({"label": mine["model"] + " (" + mine["device"] + ")",
                                  "energy_j": mine["energy_j"], "source": "your records"}))
    out["diffusion"] = alt.Chart(pd.concat(diff, ignore_index=True),
                                 title="Image generation: J per image (log scale)").mark_point(
        filled=True, size=55).encode(
        x=alt.X("energy_j:Q", scale=alt.Scale(type="log"), title="J per image"),
        y=alt.Y("label:N", title=None, sort="x", axis=alt.Axis(labelLimit=420)),
        color=alt.Color("source:N", legend=alt.Legend(orient="bottom", columns=1, labelLimit=400)),
        shape="source:N", tooltip=["label", "energy_j", "source"],
    ).properties(width=480)
    return out


# --------------------------------------------------------------------------- writing

def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        return f"{v:.3g}" if a < 1e-2 or a >= 1e5 else f"{v:,.3f}".rstrip("0").rstrip(".")
    return str(v)


def _md_table(df: pd.DataFrame) -> str:
    if not len(df):
        return "_(none)_\n"
    cols = list(df.columns)
    esc = lambda s: _fmt(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _html_table(df: pd.DataFrame) -> str:
    if not len(df):
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _study_match(t: pd.Series, study: pd.DataFrame) -> pd.DataFrame:
    ids = {str(t["model"]), str(t.get("model_source") or "")}
    # shipped configs name the Hub id; the study logged ids like runwayml/stable-diffusion-v1-5
    ids |= {i.split(" (formerly ")[-1].rstrip(")") for i in ids if "(formerly" in i}
    ids |= {i.split(" (")[0] for i in ids}
    short = {i.split("/")[-1] for i in ids if i}
    m = study[(study["task"] == t["task"]) & (study["model"].isin(ids) | study["model"].str.split("/").str[-1].isin(short))]
    return m


def build_report(records_path: Path | None, out_dir: Path, title: str | None = None) -> dict[str, Path]:
    """Write the report; returns the paths written. ``records_path`` None = the study alone."""
    study = study_rows()
    peers = peer_figures()
    problems: list[str] = []
    summary = pd.DataFrame()
    if records_path is not None:
        records, problems = load_records(Path(records_path))
        summary = summarise(records)
    out_dir = Path(out_dir)
    try:
        (out_dir / "charts").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MeasureError(f"cannot create report directory: {e.strerror}", str(out_dir)) from None

    title = title or ("Measurements beside the study and published figures" if len(summary)
                      else "The study's per-model figures beside published figures")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    svgs = {name: _svg(name, ch) for name, ch in charts(summary, study, peers).items()}
    for name, svg in svgs.items():
        if svg is not None:
            _write(out_dir / "charts" / f"{name}.svg", svg)

    sections: list[tuple[str, str, pd.DataFrame | None, str | None]] = []  # (heading, text, table, chart)
    intro = (f"Generated {when} by `wattcast report`"
             + (f" from {records_path} ({len(summary)} trial(s))." if records_path is not None
                else " with no records: the study's own rows and published figures only."))
    if problems:
        intro += f" {len(problems)} record(s) could not be read; the first: {problems[0]}"
    sections.append(("", intro, None, None))
    if len(summary):
        tab = summary[["task", "model", "weights", "device_name", "backend", "dtype", "batch_size",
                       "windows_used", "windows_left_out", "energy_j", "energy_j_std", "gpu_j", "cpu_j",
                       "ram_j", "gpu_w", "cpu_w", "time_s", "flops", "j_per_flop", "emissions_g", "flags"]].rename(
            columns={"energy_j": "J/inf", "energy_j_std": "sd", "gpu_j": "GPU J", "cpu_j": "CPU J",
                     "ram_j": "RAM J", "gpu_w": "GPU W", "cpu_w": "CPU W", "time_s": "s/inf", "flops": "FLOP/inf",
                     "j_per_flop": "J/FLOP", "emissions_g": "g CO2e/inf", "device_name": "device"})
        sections.append(("Your records", "Per trial: mean over the windows the projection would use "
                         "(`ok`, no failure flag such as `short-window`; fake, CPU and random-init "
                         "records shown here, marked below), per inference. "
                         "J/FLOP divides the energy of the device that ran the model only. "
                         "Flags with a count apply to some windows only.", tab, None))
        rows = []
        for _, t in summary.iterrows():
            m = _study_match(t, study)
            task_rows = study[(study["task"] == t["task"]) & (study["setting"] == "task_specific")]
            ref = m if len(m) else task_rows
            rows.append({
                "task": t["task"], "model": t["model"], "yours J/inf": t["energy_j"],
                "yours GPU J": t["gpu_j"],
                "study rows": f"{len(m)} of this model" if len(m) else f"none of this model; task's {len(task_rows)}",
                "study J/inf (median)": ref["energy_j"].median(),
                "study GPU-8 J": ref["gpu8_j"].median(), "study CPU+RAM const J":
                (ref["cpu_const_j"] + ref["ram_const_j"]).median(),
                "ratio yours/study": t["energy_j"] / ref["energy_j"].median() if len(ref) else math.nan,
                "protocol differences": "; ".join(protocol_differences(t)) or "none found",
            })
        sections.append(("Your records beside the study", "The study's total adds three unlike terms: "
                         "the GPU term sums all 8 A100s of its node (one ran the model), and the CPU and "
                         "RAM terms are constants (42.5 W and 430.8 W) times the run's duration. A "
                         "ratio far from 1 is expected where the protocol differs; read the last column.",
                         pd.DataFrame(rows), None))
    tm = study[study["setting"] == "task_specific"].groupby("task").agg(
        models=("model", "nunique"), rows=("model", "size"), median_j=("energy_j", "median"),
        min_j=("energy_j", "min"), max_j=("energy_j", "max"), gpu8_j=("gpu8_j", "median"),
        cpu_const_j=("cpu_const_j", "median"), ram_const_j=("ram_const_j", "median"),
        s_per_inf=("time_s", "median")).reindex(list(TASK_IDS)).reset_index()
    sections.append(("The study's per-model rows, by task",
                     "Luccioni, Jernite, Strubell 2023 (data/reference/paper_models.csv, recomputed from "
                     "the authors' codecarbon logs, sashavor/co2_inference@9ae9895): J per inference over "
                     "each task's models and data sets (task-specific models), with the total's three "
                     "terms apart (medians).", tm, "energy_by_task"))
    sections.append(("What each total is made of", "Shares of the study's total by term (task means) "
                     "and of yours by component, with the method behind each.", None, "component_shares"))
    pe = peers[["benchmark", "task", "model", "hardware", "batch_size", "dtype", "steps", "value", "unit",
                "boundary", "source", "year", "note"]]
    sections.append(("Published figures of other benchmarks", "GPU energy only. Set beside the study's "
                     "8-GPU totals at fp32 and 50 steps, these differ by more than the hardware.", pe,
                     "diffusion"))
    proto = pd.DataFrame([{"benchmark": "the study (Power Hungry Processing)", **{k: STUDY_PROTOCOL[k] for k in
                           ("device", "batch_size", "dtype", "steps", "boundary")},
                           "source": "data/reference/PROVENANCE.md"}] + PEER_PROTOCOLS)
    sections.append(("Protocols", "What each set of numbers measured.", proto, None))

    md = [f"# {title}\n"]
    body = []
    for head, text, table, chart in sections:
        if head:
            md.append(f"\n## {head}\n")
            body.append(f"<h2>{html.escape(head)}</h2>")
        md.append(text + "\n")
        body.append(f"<p>{_inline_code(html.escape(text))}</p>")
        if chart:
            if svgs.get(chart):
                md.append(f"\n![{chart}](charts/{chart}.svg)\n")
                body.append(f'<figure>{svgs[chart]}</figure>')
            else:
                note = "(chart not rendered: install vl-convert-python, part of the [measure] extra)"
                md.append(f"\n_{note}_\n")
                body.append(f"<p><em>{html.escape(note)}</em></p>")
        if table is not None:
            md.append("\n" + _md_table(table))
            body.append(_html_table(table))
    page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>" + "\n".join(body) + "</body></html>\n")
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    _write(paths["markdown"], "\n".join(md))
    _write(paths["html"], page)
    return paths


def _inline_code(s: str) -> str:
    parts = s.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _write(path: Path, text: str) -> None:
    """Temp file + rename: a reader never sees half a file; a failure is one MeasureError."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise MeasureError(f"cannot write the report: {e.strerror or e}", str(path)) from None


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}
figure{margin:1em 0}code{background:#f3f3f3;padding:0 3px}"""
