"""Measurement records -> per-task energy distributions for the projection.

Reads the records that ``wattcast measure`` / ``wattcast campaign`` write (``records.jsonl``
and ``records.parquet``) and measurement tables (CSV), all through ``project.records`` (one
validator: a line the store would refuse is refused here too, naming its file and line).
Never imports torch.

Which records the projection may use (:class:`Rules`; issue 13): by default only ``ok``
inference records without a failure flag, from a real energy reading (not the ``fake``
backend) on an accelerator (not a CPU run) with pretrained weights. Fake, CPU and
random-init records are used only when explicitly allowed, and the output then says so.
Within a task only comparable records are pooled: the same boundary (which components the
energy counts), batch size and dtype; the largest such group is used and the others are
listed as left out. :meth:`MeasuredEnergy.lines` says which records were used and why
the others were not.

The per-task table carries what the projection needs to use a figure right: ``boundary``,
the pooled records' boundary in the engine's terms (:func:`engine_boundary`: ``accelerator``
for GPU-only energy, to which the engine adds production utilisation, host and idle
machines; ``server`` when the host's CPU/RAM is counted), and ``batch_size`` (the policy's
batching lever applies only to figures measured at batch size 1).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from project.records import RecordError, read_records, validate_record
from project.tasks import TASK_IDS

OUTPUT_COLUMNS = ["task", "kwh_per_inference_mean", "kwh_per_inference_std", "n_records",
                  "n_models", "boundary", "batch_size", "source"]
#: flags that mean the window's number is not a measurement (measure/window.py, backends.py);
#: "counter-wrapped" marks records from older versions (today a counter that went backwards is
#: flagged "counter-reset"); kept so their records are still left out
FAILURE_FLAGS = ("counter-wrapped", "counter-reset", "short-window")
FAILURE_FLAG_PREFIX = "failed:"
#: GPU energy read from the hardware (NVML's energy counter, or its power integrated over time)
REAL_GPU_METHODS = ("counter", "integrated-power")
#: the study's protocol: preferred when two comparable groups of a task are equally large
STUDY_BATCH, STUDY_DTYPE = 1, "float32"
NOT_STATED = "not stated"


@dataclass(frozen=True)
class Rules:
    """What the projection may use beyond real, pretrained accelerator measurements."""

    allow_fake: bool = False  # the fake backend's invented energy (tests and demos only)
    allow_cpu: bool = False  # CPU runs (not representative of serving hardware)
    allow_random_init: bool = False  # random-init weights (the runtime of a real model, not its outputs)

    def options(self) -> list[str]:
        return [o for o, on in (("--allow-fake", self.allow_fake), ("--allow-cpu", self.allow_cpu),
                                ("--allow-random-init", self.allow_random_init)) if on]


def _flags(rec: Mapping[str, Any]) -> list[str]:
    f = rec.get("flags")
    if isinstance(f, np.ndarray):
        f = f.tolist()
    return list(f) if isinstance(f, (list, tuple)) else []


def _stated(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and v != ""


def is_fake(rec: Mapping[str, Any]) -> bool:
    b = rec.get("backend")
    return "fake-energy" in _flags(rec) or (_stated(b) and "fake" in str(b).split("+"))


def is_cpu(rec: Mapping[str, Any]) -> bool:
    return rec.get("device") == "cpu" or "cpu-run" in _flags(rec)


def is_random_init(rec: Mapping[str, Any]) -> bool:
    return rec.get("weights") == "random-init" or "random-init" in _flags(rec)


def exclusion(rec: Mapping[str, Any], rules: Rules = Rules(), phase: str = "inference") -> str | None:
    """Why the projection leaves this record out, or None if it may use it."""
    if rec.get("status") != "ok":
        return f"status {rec.get('status')}"
    if rec.get("phase") != phase:
        return f"phase {rec.get('phase')} (only {phase} records count here)"
    bad = [f for f in _flags(rec) if f in FAILURE_FLAGS or f.startswith(FAILURE_FLAG_PREFIX)]
    if bad:
        return f"failure flag {', '.join(bad)}"
    fake, cpu = is_fake(rec), is_cpu(rec)
    if fake and not rules.allow_fake:
        return "fake energy backend: invented numbers (--allow-fake to use)"
    if cpu and not rules.allow_cpu:
        return "measured on a CPU (--allow-cpu to use)"
    gm = rec.get("gpu_method")
    if not fake and not cpu and _stated(gm) and gm not in REAL_GPU_METHODS:
        return f"GPU energy by {gm!r}, not a hardware reading"
    if is_random_init(rec) and not rules.allow_random_init:
        return "random-init weights (--allow-random-init to use)"
    return None


def _whole_node(rec: Mapping[str, Any]) -> bool:
    cfg = rec.get("config")
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except json.JSONDecodeError:
            cfg = None
    return "idle-gpus-included" in _flags(rec) or (isinstance(cfg, dict) and bool(cfg.get("whole_node")))


def boundary(rec: Mapping[str, Any]) -> str:
    """What the energy counts: the components measured (``gpu+cpu+ram``, ``gpu``, ...), and
    whether every GPU of the node was summed; a table's ``boundary`` column as written."""
    if _stated(rec.get("boundary")):
        return str(rec["boundary"])
    parts = [c for c in ("gpu", "cpu", "ram") if _stated(rec.get(f"{c}_method")) and rec[f"{c}_method"] != "none"]
    if not parts:
        return NOT_STATED
    return "+".join(parts) + (" (all GPUs of the node)" if _whole_node(rec) else "")


def engine_boundary(text: str) -> str:
    """The projection's boundary (project.model.boundaries) of a record's or table's boundary
    text: ``accelerator``, ``server`` or ``it`` as written; ``accelerator`` when only GPU
    energy was counted (``gpu``, ``gpu (all GPUs of the node)``); otherwise ``server``: the
    host's CPU/RAM is counted (``gpu+cpu+ram``, ``cpu+ram``, the study's protocol) or the
    boundary is not stated (the study's protocol is assumed, and the source says so)."""
    from .records import facility_boundary

    if facility_boundary(text):  # the validator refuses these; never count a PUE twice
        raise ValueError(f"boundary {text!r} includes facility overhead (PUE): not a measured-energy boundary")
    t = str(text).strip().lower()
    if t in ("accelerator", "server", "it"):
        return t
    parts = set(re.split(r"[^a-z]+", re.sub(r"\(.*?\)", " ", t))) - {"", "only"}
    return "accelerator" if parts and parts <= {"gpu", "gpus", "accelerator", "accelerators"} else "server"


def comparable_key(rec: Mapping[str, Any]) -> tuple[str, str, str]:
    """(boundary, batch size, dtype): records pool only when these agree."""
    b = rec.get("batch_size")
    d = rec.get("dtype")
    return (boundary(rec), str(int(b)) if _stated(b) else NOT_STATED, str(d) if _stated(d) else NOT_STATED)


def describe_key(key: tuple[str, str, str]) -> str:
    """"batch 1, float32, boundary gpu+cpu+ram"; unstated parts named as such."""
    b, (batch, dtype) = key[0], key[1:]
    parts = [f"batch {batch}" if batch != NOT_STATED else None, dtype if dtype != NOT_STATED else None,
             f"boundary {b}" if b != NOT_STATED else None]
    missing = [n for n, v in zip(("batch", "dtype", "boundary"), parts) if v is None]
    return ", ".join([v for v in parts if v] + ([f"{'/'.join(missing)} not stated"] if missing else []))


def _group_order(item: tuple[tuple[str, str, str], int]) -> tuple:
    key, n = item
    return (-n, key[1] != str(STUDY_BATCH), key[2] != STUDY_DTYPE, key)


@dataclass
class MeasuredEnergy:
    """The per-task energy the projection takes, and the account of which records made it."""

    table: pd.DataFrame  # OUTPUT_COLUMNS, one row per task
    used: pd.DataFrame  # the records pooled
    left_out: pd.DataFrame  # where, task, model, reason
    rules: Rules = field(default_factory=Rules)
    label: str = "records"

    def lines(self) -> list[str]:
        """Plain-text account: what was used per task, what was left out and why."""
        n_all = len(self.used) + len(self.left_out)
        out = [f"measurements: {len(self.used)} of {n_all} record(s) used ({self.label})"]
        for row in self.table.to_dict("records"):
            out.append(f"  used for {row['task']}: {row['n_records']} record(s) of {row['n_models']} "
                       f"model(s); {row['source']}")
        if len(self.left_out):
            g = self.left_out.groupby("reason", sort=False)
            for reason, part in sorted(g, key=lambda kv: -len(kv[1])):
                tasks = ", ".join(sorted(set(part["task"].astype(str))))
                out.append(f"  left out {len(part)}: {reason} [{tasks}]")
        return out


def _source_text(g: list[dict[str, Any]], key: tuple[str, str, str], rules: Rules) -> str:
    """What the pooled records are: backends; weights; devices; batch, dtype, boundary."""
    def values(col: str) -> list[str]:
        return sorted({str(r.get(col)) for r in g if _stated(r.get(col))})

    stated, missing = [], []
    for col, name in (("backend", "backend"), ("weights", "weights"), ("device_name", "device")):
        v = values(col) or (values("device") if col == "device_name" else [])
        (stated.append(", ".join(v)) if v else missing.append(name))
    text = "measured: " + "; ".join(stated + [describe_key(key)])
    if missing:
        text += f"; {'/'.join(missing)} not stated"
    admitted = []
    if rules.allow_fake and any(is_fake(r) for r in g):
        admitted.append("FAKE energy (--allow-fake)")
    if rules.allow_cpu and any(is_cpu(r) for r in g):
        admitted.append("CPU records (--allow-cpu)")
    if rules.allow_random_init and any(is_random_init(r) for r in g):
        admitted.append("random-init weights (--allow-random-init)")
    return text + (" | includes " + "; ".join(admitted) if admitted else "")


def _records(source: str | Path | pd.DataFrame | list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Checked records as dicts (each with ``where``), and a label for messages."""
    if isinstance(source, list):  # from read_records / check_measurement_csv: already checked
        return source, "records"
    if isinstance(source, pd.DataFrame):
        rows = source.to_dict("records")
        if "where" in source.columns:  # from read_records: already checked
            return rows, "records"
        out = []
        for i, r in enumerate(rows, 1):  # anything else: checked as the store would
            rec = validate_record(r, f"records row {i}")
            rec["where"] = f"records row {i}"
            out.append(rec)
        return out, "records"
    return load_records(source).to_dict("records"), str(source)


def load_records(path: str | Path) -> pd.DataFrame:
    """Every record under a directory (recursively) or in one file, each checked.

    Raises ``ValueError`` (a :class:`~project.records.RecordError`) naming the file and line
    of the first invalid record, or saying the path is missing or holds no records.
    """
    df, problems = read_records(path)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise RecordError(problems[0] + more)
    if df.empty:
        raise RecordError("measurement files hold no records", str(path))
    return df


def select_measurements(source: str | Path | pd.DataFrame | list[dict[str, Any]], rules: Rules = Rules(),
                        require_usable: bool = True) -> MeasuredEnergy:
    """The records the projection may use, pooled per task (see the module docstring).

    ``source``: a path (:func:`load_records`), a DataFrame or a list of records. Returns a
    :class:`MeasuredEnergy`: ``table`` has one row per task with columns ``task,
    kwh_per_inference_mean, kwh_per_inference_std`` (sample std, ddof=1; 0 for one record)
    ``, n_records, n_models, boundary`` (:func:`engine_boundary` of the pooled records'),
    ``batch_size`` (theirs; missing when not stated) ``, source``; ``source`` names backends,
    weights, devices, batch, dtype and boundary as recorded, and any record admitted by an
    ``allow_*`` rule. Raises
    ``ValueError`` for an invalid record, or (with ``require_usable``) when no record is
    usable, saying why the records were left out.
    """
    recs, label = _records(source)
    if not recs:
        raise RecordError("no measurement records", label)
    left: list[tuple[dict[str, Any], str]] = []
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        why = exclusion(r, rules)
        if why is None:
            by_task.setdefault(r["task"], []).append(r)
        else:
            left.append((r, why))
    used: list[dict[str, Any]] = []
    rows = []
    for task in [t for t in TASK_IDS if t in by_task]:
        g = by_task[task]
        keys = [comparable_key(r) for r in g]
        counts: dict[tuple[str, str, str], int] = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        chosen = sorted(counts.items(), key=_group_order)[0][0]
        pooled = [r for r, k in zip(g, keys) if k == chosen]
        left += [(r, f"not comparable with the pooled {task} records ({describe_key(chosen)}): {describe_key(k)}")
                 for r, k in zip(g, keys) if k != chosen]
        used += pooled
        x = np.array([r["energy_kwh_per_inference"] for r in pooled], dtype=float)
        rows.append({
            "task": task,
            "kwh_per_inference_mean": float(x.mean()),
            "kwh_per_inference_std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "n_records": int(len(x)),
            "n_models": len({r["model"] for r in pooled}),
            "boundary": engine_boundary(chosen[0]),
            "batch_size": None if chosen[1] == NOT_STATED else int(chosen[1]),
            "source": _source_text(pooled, chosen, rules),
        })
    left_out = pd.DataFrame({"where": [str(r.get("where", "")) for r, _ in left],
                             "task": [str(r["task"]) for r, _ in left],
                             "model": [str(r["model"]) for r, _ in left],
                             "reason": [why for _, why in left]})
    if any("row" in r for r, _ in left):  # a measurement table: keep its row numbers
        left_out["row"] = [r.get("row") for r, _ in left]
    if not rows and require_usable:
        counts_by_reason = left_out["reason"].value_counts()
        why = "; ".join(f"{n} {r}" for r, n in counts_by_reason.items()) or "no records"
        raise RecordError(f"no usable measurement records: {why}", label)
    table = pd.DataFrame(rows, columns=OUTPUT_COLUMNS).astype({"batch_size": "Int64"})
    return MeasuredEnergy(table, pd.DataFrame(used), left_out, rules, label)


def task_energy_from_records(path_or_df: str | Path | pd.DataFrame, rules: Rules = Rules()) -> pd.DataFrame:
    """Per-task energy distribution (kWh per inference): ``select_measurements(...).table``."""
    return select_measurements(path_or_df, rules).table


def finetune_energy_from_records(source: str | Path | pd.DataFrame, rules: Rules = Rules()) -> pd.DataFrame:
    """Per-(task, model) fine-tuning energy per training sample (kWh), from finetune records
    that pass the same rules as inference records."""
    recs, _ = _records(source)
    cols = ["task", "model", "kwh_per_sample_mean", "kwh_per_sample_std", "n_records"]
    ft = pd.DataFrame([r for r in recs if exclusion(r, rules, phase="finetune") is None])
    if ft.empty:
        return pd.DataFrame(columns=cols)
    g = ft.groupby(["task", "model"])["energy_kwh_per_inference"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out.columns = cols
    out["kwh_per_sample_std"] = out["kwh_per_sample_std"].fillna(0.0)
    return out


def break_even_inferences(training_kwh: float | np.ndarray, kwh_per_inference: float | np.ndarray):
    """Inferences whose energy equals the training (+ fine-tuning) energy: the study's cost parity.

    Table 5 of the study: parity = (training + fine-tuning kWh) / inference kWh per query.
    """
    return np.asarray(training_kwh, dtype=float) / np.asarray(kwh_per_inference, dtype=float)
