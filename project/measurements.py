"""Measurement records -> per-task energy distributions for the projection.

Reads the records that ``wattcast measure`` / ``wattcast campaign`` write (``records.jsonl``
and ``records.parquet``, schema in docs/architecture.md) by column name. Never imports
torch. Only ``status == "ok"`` and ``phase == "inference"`` records count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from project.tasks import TASK_IDS

REQUIRED_COLUMNS = ("task", "model", "status", "phase", "energy_kwh_per_inference")
OUTPUT_COLUMNS = ["task", "kwh_per_inference_mean", "kwh_per_inference_std", "n_records",
                  "n_models", "source"]


class _RecordsError(ValueError):
    """A bad measurements file, with a message naming it."""


def _read_jsonl(p: Path) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    lines = p.read_bytes().split(b"\n")
    # a final line without newline is a write torn by a kill: not a record yet
    for i, line in enumerate(lines[:-1], 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _RecordsError(f"{p}: line {i} is not a JSON record (corrupt measurements file)") from None
        if not isinstance(rec, dict):
            raise _RecordsError(f"{p}: line {i} is not a JSON object")
        rows.append(rec)
    return pd.DataFrame(rows)


def _read_file(p: Path) -> pd.DataFrame:
    try:
        if p.suffix == ".parquet":
            return pd.read_parquet(p)
        if p.suffix in (".jsonl", ".json"):
            return _read_jsonl(p)
        if p.suffix == ".csv":
            return pd.read_csv(p)
    except _RecordsError:
        raise
    except Exception as e:  # pyarrow / parser errors: a corrupt file
        raise ValueError(f"{p}: cannot read measurements ({type(e).__name__}: {e})") from None
    raise ValueError(f"{p}: unsupported measurements file (expected .jsonl, .parquet or .csv)")


def load_records(path: str | Path) -> pd.DataFrame:
    """All records under a directory (recursively) or in one file.

    In a directory, each store's ``records.jsonl`` is the source of truth; its
    ``records.parquet`` is read only where no JSONL sits beside it. Duplicates of
    ``(trial_key, repeat_index)`` (the same store read twice) are dropped.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: measurements path does not exist")
    if p.is_file():
        frames = [_read_file(p)]
    else:
        files = sorted(p.rglob("*.jsonl"))
        jsonl_dirs = {f.parent for f in files}
        files += [f for f in sorted(p.rglob("*.parquet")) if f.parent not in jsonl_dirs]
        if not files:
            raise ValueError(f"{p}: no measurement records (*.jsonl or *.parquet) found")
        frames = [_read_file(f) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise ValueError(f"{p}: measurement files hold no records")
    df = pd.concat(frames, ignore_index=True)
    if {"trial_key", "repeat_index"} <= set(df.columns):
        df = df.drop_duplicates(subset=["trial_key", "repeat_index"], keep="first")
    return df.reset_index(drop=True)


def task_energy_from_records(path_or_df: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Per-task energy distribution (kWh per inference) from measurement records.

    Returns one row per task with columns ``task, kwh_per_inference_mean,
    kwh_per_inference_std, n_records, n_models, source``. The mean and the sample standard
    deviation (ddof=1; 0 for a single record) pool every ok inference record of the task,
    as the study pooled its runs (reference/README.md, "Recomputation rule"). ``source``
    says ``measured: <backends>; <weights>``. Raises ``ValueError`` with a clear message for a
    missing, empty or corrupt path, or for records lacking required columns.
    """
    df = path_or_df.copy() if isinstance(path_or_df, pd.DataFrame) else load_records(path_or_df)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"measurement records lack column(s): {', '.join(missing)}")
    ok = df[(df["status"] == "ok") & (df["phase"] == "inference")].copy()
    ok["energy_kwh_per_inference"] = pd.to_numeric(ok["energy_kwh_per_inference"], errors="coerce")
    ok = ok[np.isfinite(ok["energy_kwh_per_inference"])]
    unknown = sorted(set(ok["task"]) - set(TASK_IDS))
    if unknown:
        raise ValueError(f"measurement records name unknown task(s): {', '.join(map(str, unknown))}")
    if ok.empty:
        raise ValueError("no usable measurement records (need status ok and phase inference)")
    rows = []
    for task in [t for t in TASK_IDS if t in set(ok["task"])]:
        g = ok[ok["task"] == task]
        x = g["energy_kwh_per_inference"].to_numpy(dtype=float)
        backends = sorted(set(g["backend"].astype(str))) if "backend" in g else []
        weights = sorted(set(g["weights"].astype(str))) if "weights" in g else []
        rows.append({
            "task": task,
            "kwh_per_inference_mean": float(x.mean()),
            "kwh_per_inference_std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "n_records": int(len(x)),
            "n_models": int(g["model"].nunique()),
            "source": "measured: " + ", ".join(backends or ["unknown backend"])
                      + "; " + ", ".join(weights or ["unknown weights"]),
        })
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def finetune_energy_from_records(path_or_df: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Per-(task, model) fine-tuning energy per training sample (kWh), from finetune records."""
    df = path_or_df.copy() if isinstance(path_or_df, pd.DataFrame) else load_records(path_or_df)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"measurement records lack column(s): {', '.join(missing)}")
    ft = df[(df["status"] == "ok") & (df["phase"] == "finetune")]
    cols = ["task", "model", "kwh_per_sample_mean", "kwh_per_sample_std", "n_records"]
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
