"""Measurement records: one schema, one validator, one reader, one CSV format.

Used by the store (``measure/store.py`` validates every record before appending it), by
``wattcast project --measurements`` (``project/measurements.py``) and by the app's
upload page, so all three accept and refuse the same things, and every refusal names the
file and line (JSONL, ``path:line``) or row (CSV, ``path row N``, header = row 1, as in a
spreadsheet).

Two kinds of input:

- **store records** (``records.jsonl`` / ``records.parquet`` written by ``wattcast
  measure``/``campaign``; schema in docs/architecture.md). :func:`validate_record` checks
  one. Records written before the schema was versioned carry no ``schema_version`` and are
  read as version 1; the store refuses to add version-2 records beside them.
- **measurement tables** (a CSV a person writes, or the study's own per-model table
  ``data/reference/paper_models.csv``). :func:`check_measurement_csv` reads one into the
  same record shape; fields a table does not state (backend, device, ...) stay ``None``
  and are reported as "not stated" wherever the records are used.

Energies are kWh per inference (per training sample for ``phase = finetune``). This module
imports neither torch nor streamlit.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from project.tasks import TASK_IDS, TASKS

#: version of the record layout the store writes; bump when a field changes meaning
SCHEMA_VERSION = 2
#: records written before versioning carry no ``schema_version``: they are this version
LEGACY_SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (LEGACY_SCHEMA_VERSION, SCHEMA_VERSION)

PHASES = ("inference", "finetune")
STATUSES = ("ok", "failed")
WEIGHTS = ("pretrained", "random-init")
#: how a component's energy was obtained (measure/backends.py)
ENERGY_METHODS = ("counter", "integrated-power", "estimate", "none")
#: joules per kWh (1,000 W x 3,600 s)
J_PER_KWH = 3.6e6
#: kWh per inference above this is refused as implausible (a unit mix-up or a broken counter):
#: about 100x the study's most energy-hungry model (SDXL: 0.0115 kWh per image, a node of 8 A100s,
#: Luccioni et al. 2023), or a 10 kW node busy 6 minutes on one inference; above it the number is a
#: unit mix-up (joules written as kWh) or a broken counter (a backwards reading taken as a wrap)
MAX_PLAUSIBLE_KWH = 1.0

#: nested fields: a dict in JSONL, JSON text in Parquet
JSON_FIELDS = ("config", "metadata", "extra", "phases")


class RecordError(ValueError):
    """A record, file or row that is not a valid measurement; the message names where."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


# ---------------------------------------------------------------------------------------
# Field checks (shared by store records and table rows)

_MISSING = object()


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _bad(field_name: str, what: str, value: Any, where: str) -> RecordError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return RecordError(f"field '{field_name}' {what}, got {shown}", where)


def _number(v: Any) -> float | None:
    """A real number (int, float or numpy number; not bool, not text), else None."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    return None


def _int_field(rec: dict, name: str, where: str, minimum: int, required: bool) -> None:
    v = rec.get(name, _MISSING)
    if v is _MISSING or _is_missing(v):
        if required:
            raise RecordError(f"field '{name}' is missing", where)
        rec[name] = None
        return
    x = _number(v)
    if x is None or not math.isfinite(x) or not x.is_integer() or x < minimum:
        what = "must be a non-negative integer" if minimum == 0 else f"must be an integer >= {minimum}"
        raise _bad(name, what, v, where)
    rec[name] = int(x)


def _str_field(rec: dict, name: str, where: str, required: bool,
               choices: tuple[str, ...] | None = None) -> None:
    v = rec.get(name, _MISSING)
    if v is _MISSING or _is_missing(v):
        if required:
            raise RecordError(f"field '{name}' is missing", where)
        rec[name] = None
        return
    if not isinstance(v, str) or not v.strip():
        raise _bad(name, "must be a non-empty text", v, where)
    if choices is not None and v not in choices:
        raise _bad(name, f"must be one of {', '.join(choices)}", v, where)


def _flags_field(rec: dict, where: str, required: bool) -> None:
    v = rec.get("flags", _MISSING)
    if v is _MISSING or v is None:
        if required:
            raise RecordError("field 'flags' is missing", where)
        rec["flags"] = []
        return
    if isinstance(v, np.ndarray):  # a list column read back from Parquet
        v = v.tolist()
    if isinstance(v, str):  # JSON text (hand-written Parquet)
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            raise _bad("flags", "must be a list of texts", v, where) from None
    if not isinstance(v, (list, tuple)) or not all(isinstance(f, str) for f in v):
        raise _bad("flags", "must be a list of texts", v, where)
    rec["flags"] = list(v)


def _energy_fields(rec: dict, where: str) -> None:
    """ok: a positive, finite, plausible kWh per inference; failed: a finite number or null."""
    name = "energy_kwh_per_inference"
    v = rec.get(name, _MISSING)
    if v is _MISSING:
        raise RecordError(f"field '{name}' is missing", where)
    x = _number(v)
    if rec["status"] != "ok":
        if not _is_missing(v) and (x is None or not math.isfinite(x)):
            raise _bad(name, "must be a finite number or null", v, where)
        rec[name] = None if _is_missing(v) else x
        return
    if x is None:
        raise _bad(name, "must be a number (kWh per inference)", v, where)
    if not math.isfinite(x) or x <= 0:
        raise _bad(name, "must be a positive finite number (kWh per inference)", v, where)
    if x > MAX_PLAUSIBLE_KWH:
        raise _bad(name, f"is implausible (above {MAX_PLAUSIBLE_KWH} kWh per inference): check the "
                   "unit (joules vs kWh) or the energy counter", v, where)
    rec[name] = x
    j = rec.get("energy_j_per_inference")
    if not _is_missing(j):
        jx = _number(j)
        if jx is None or not math.isfinite(jx) or abs(jx - x * J_PER_KWH) > 1e-6 * x * J_PER_KWH:
            raise _bad("energy_j_per_inference", f"must equal energy_kwh_per_inference x 3.6e6 "
                       f"({x * J_PER_KWH:.6g} J)", j, where)


#: boundary texts that include the data centre's overhead: the projection applies the region's
#: PUE itself, so such a figure would be counted with a second PUE
_FACILITY_WORDS = re.compile(r"facility|pue|data ?cent(?:er|re)|datacent(?:er|re)", re.IGNORECASE)


def facility_boundary(text: object) -> bool:
    """True when a boundary text says the energy includes facility overhead (PUE)."""
    return isinstance(text, str) and bool(_FACILITY_WORDS.search(text))


def _common(rec: dict, where: str, store: bool) -> None:
    if facility_boundary(rec.get("boundary")):
        raise RecordError(f"boundary {rec['boundary']!r} includes facility overhead (PUE): give energy at the "
                          "accelerator, server or IT boundary (divide by the PUE it includes); the projection "
                          "applies each region's PUE itself", where)
    _str_field(rec, "task", where, True, TASK_IDS)
    _str_field(rec, "model", where, True)
    _str_field(rec, "phase", where, store, PHASES)
    _str_field(rec, "status", where, store, STATUSES)
    rec["phase"] = rec["phase"] or "inference"
    rec["status"] = rec["status"] or "ok"
    _energy_fields(rec, where)
    for name in ("backend", "device", "dtype"):
        _str_field(rec, name, where, store)
    _str_field(rec, "weights", where, store, WEIGHTS)
    for c in ("gpu", "cpu", "ram"):
        _str_field(rec, f"{c}_method", where, False, ENERGY_METHODS)
    _int_field(rec, "batch_size", where, 1, store)
    _int_field(rec, "n_inferences", where, 1, store)
    _flags_field(rec, where, store)


def validate_record(rec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A store record, checked and normalised; raises :class:`RecordError` naming ``where``.

    Checks: a JSON object; ``schema_version`` 1 (absent) or 2; ``trial_key`` text;
    ``repeat_index`` an integer >= 0; ``task``, ``phase``, ``status`` and ``weights`` known
    values; ``energy_kwh_per_inference`` a positive finite number below
    :data:`MAX_PLAUSIBLE_KWH` for ``ok`` records (finite or null for ``failed``) and equal to
    ``energy_j_per_inference`` / 3.6e6 where both are given; ``batch_size`` and
    ``n_inferences`` integers >= 1; ``flags`` a list of texts. Unknown fields are kept.
    Returns a copy with ``schema_version`` filled in and integer fields as ``int``.
    """
    if not isinstance(rec, Mapping):
        raise RecordError("not a JSON object (a wattcast measurement record)", where)
    out = dict(rec)
    sv = out.get("schema_version", _MISSING)
    if sv is _MISSING or _is_missing(sv):
        out["schema_version"] = LEGACY_SCHEMA_VERSION
    else:
        x = _number(sv)
        if x is None or not x.is_integer() or int(x) not in SUPPORTED_SCHEMA_VERSIONS:
            raise _bad("schema_version", "must be one this wattcast reads "
                       f"({', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})", sv, where)
        out["schema_version"] = int(x)
    _int_field(out, "protocol_version", where, 1, False)
    _str_field(out, "trial_key", where, True)
    _int_field(out, "repeat_index", where, 0, True)
    _common(out, where, store=True)
    for name in JSON_FIELDS:
        v = out.get(name)
        if not _is_missing(v) and not isinstance(v, (dict, str)):
            raise _bad(name, "must be an object", v, where)
    return out


# ---------------------------------------------------------------------------------------
# Reading store files

def parse_jsonl(data: bytes, source: str) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Records of a ``records.jsonl``: (valid records, problems, torn).

    Each problem is ``"<source>:<line>: <reason>"``. A final line without newline is a
    write torn by a kill: it is not a record yet (the store cuts it off on open) and is
    reported only through ``torn``. Each record gets ``where = "<source>:<line>"``.
    """
    lines = data.split(b"\n")
    torn = bool(lines[-1].strip())
    recs: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, line in enumerate(lines[:-1], 1):
        if not line.strip():
            continue
        where = f"{source}:{i}"
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            problems.append(f"{where}: line {i} is not a JSON record (corrupt results file)")
            continue
        try:
            rec = validate_record(obj, where)
        except RecordError as e:
            problems.append(str(e))
            continue
        rec["where"] = where
        recs.append(rec)
    return recs, problems, torn


def _parquet_records(p: Path) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        df = pd.read_parquet(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a corrupt file
        raise RecordError(f"cannot read measurements ({type(e).__name__}: {e})", str(p)) from None
    recs, problems = [], []
    for i, row in enumerate(df.to_dict("records"), 1):
        where = f"{p} row {i}"
        try:
            rec = validate_record(row, where)
        except RecordError as e:
            problems.append(str(e))
            continue
        rec["where"] = where
        recs.append(rec)
    return recs, problems


def _read_file(p: Path) -> tuple[list[dict[str, Any]], list[str]]:
    if p.suffix in (".jsonl", ".json"):
        try:
            data = p.read_bytes()
        except OSError as e:
            raise RecordError(f"cannot read measurements: {e.strerror}", str(p)) from None
        recs, problems, _ = parse_jsonl(data, str(p))
        return recs, problems
    if p.suffix == ".parquet":
        return _parquet_records(p)
    if p.suffix in (".csv", ".tsv", ".txt"):
        try:
            data = p.read_bytes()
        except OSError as e:
            raise RecordError(f"cannot read measurements: {e.strerror}", str(p)) from None
        check = check_measurement_csv(data, str(p), select=False)
        if check.error:
            raise RecordError(check.error, str(p))
        bad = check.rejected[check.rejected["kind"] == "invalid"]
        problems = [f"{p} row {r['row']}: {r['reason']}" for r in bad.to_dict("records")]
        return check.records.to_dict("records"), problems
    raise RecordError("unsupported measurements file (expected .jsonl, .parquet or .csv)", str(p))


def record_files(path: Path) -> list[Path]:
    """The record files under a directory: each store's ``*.jsonl``, its Parquet only where
    no JSONL sits beside it (the JSONL is the source of truth)."""
    files = sorted(path.rglob("*.jsonl"))
    jsonl_dirs = {f.parent for f in files}
    return files + [f for f in sorted(path.rglob("*.parquet")) if f.parent not in jsonl_dirs]


def read_records(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Every valid record under ``path`` and every problem found, as ``(records, problems)``.

    ``path``: a store directory or a folder of stores (searched recursively: ``*.jsonl``,
    and ``*.parquet`` where no JSONL sits beside it), or one ``.jsonl``, ``.parquet`` or
    ``.csv`` file (a measurement table, :func:`check_measurement_csv`). Each problem names
    its file and line or row; the records that pass are returned (with a ``where`` column).
    A record is read once (:func:`drop_duplicates`): copies of one store are not counted twice.
    Raises :class:`RecordError` for a path that is missing, holds no record files or cannot
    be read.
    """
    p = Path(path)
    if not p.exists():
        raise RecordError("measurements path does not exist", str(p))
    if p.is_dir():
        files = record_files(p)
        if not files:
            raise RecordError("no measurement records (*.jsonl or *.parquet) found", str(p))
    else:
        files = [p]
    recs: list[dict[str, Any]] = []
    problems: list[str] = []
    for f in files:
        r, pr = _read_file(f)
        recs += r
        problems += pr
    recs, dropped = drop_duplicates(recs)
    return pd.DataFrame(recs), problems + dropped


def _fingerprint(rec: Mapping[str, Any]) -> tuple:
    """What tells two readings of one window from two windows."""
    return tuple(None if _is_missing(rec.get(k)) else rec.get(k)
                 for k in ("status", "energy_kwh_per_inference", "started_at", "ended_at"))


def drop_duplicates(recs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each record once: (kept records, a problem per record left out).

    A record is identified by its ``record_id`` (a UUID per window, measure/run.py); only a
    record without one falls back to ``(trial_key, repeat_index)``, which is unique within
    one store but not across stores (``trial_key`` hashes the config: the same config run on
    two machines has the same keys). An exact copy (same status, energy and times: the same
    store copied or read twice) is dropped quietly, as it loses nothing; any other record
    left out is listed, naming both places, so no measurement disappears silently.
    """
    seen: dict[tuple, dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    dropped: list[str] = []
    for r in recs:
        rid = r.get("record_id")
        if isinstance(rid, str) and rid.strip():
            key: tuple = ("record_id", rid)
        elif not _is_missing(r.get("trial_key")) and not _is_missing(r.get("repeat_index")):
            key = ("window", r["trial_key"], r["repeat_index"])
        else:
            kept.append(r)
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = r
            kept.append(r)
            continue
        if _fingerprint(first) == _fingerprint(r):
            continue  # the same window read twice
        what = (f"the same record_id {key[1]}" if key[0] == "record_id" else
                f"the same trial_key {key[1]} and repeat_index {key[2]}, and no record_id to tell them apart")
        dropped.append(f"{r.get('where', '?')}: left out: {what} as {first.get('where', '?')}, "
                       "with other values")
    return kept, dropped


# ---------------------------------------------------------------------------------------
# Measurement tables (CSV): the format the app's upload and `--measurements FILE.csv` share

#: energy columns -> factor to kWh per inference
ENERGY_COLUMNS: dict[str, float] = {
    "energy_kwh_per_inference": 1.0,
    "kwh_per_inference": 1.0,
    "wh_per_inference": 1e-3,
    "energy_j_per_inference": 1 / J_PER_KWH,
    "energy_kwh_per_1000": 1e-3,  # the study's per-model table (data/reference/paper_models.csv)
    "kwh_per_1000_inferences": 1e-3,
}
#: other names for the required columns (the study's table says model_id)
COLUMN_ALIASES = {"model_id": "model", "task_id": "task"}
#: optional columns carried into the records as they are
OPTIONAL_TEXT = ("status", "phase", "backend", "device", "device_name", "dtype", "weights",
                 "boundary", "gpu_method", "cpu_method", "ram_method", "source")
OPTIONAL_INT = ("batch_size", "n_inferences")
#: task names people write, beyond the ids and the study's labels: Hugging Face pipeline tags
TASK_ALIASES = {
    "fill_mask": "masked_lm", "masked_language_modelling": "masked_lm", "mlm": "masked_lm",
    "question_answering": "extractive_qa", "qa": "extractive_qa",
    "ner": "token_classification", "image_to_text": "image_captioning",
    "text_to_image": "image_generation", "summarisation": "summarization",
    "sentiment_analysis": "text_classification",
}
_TASK_LOOKUP = {**{t: t for t in TASK_IDS},
                **{re.sub(r"[\s\-]+", "_", label.lower()): t for t, label in TASKS.items()},
                **TASK_ALIASES}

UPLOAD_SCHEMA = (
    "Required columns: `task` (a task id such as image_generation, or its name such as "
    "\"Image Generation\"), `model` (or `model_id`), and one energy column: "
    "`energy_kwh_per_inference` (or `kwh_per_inference`), `wh_per_inference`, "
    "`energy_j_per_inference`, or `energy_kwh_per_1000` (the study's per-model table). "
    "Optional: `status` (only ok rows count), `phase` (only inference rows count), `backend`, "
    "`device`, `device_name`, `dtype`, `weights` (pretrained or random-init), `batch_size`, "
    "`n_inferences`, `boundary` (what the energy counts, e.g. gpu or gpu+cpu+ram; a figure that "
    "includes facility overhead (PUE) is refused: the projection applies the PUE), `source`. "
    "Comma-, semicolon- or tab-separated; with semicolons, decimal commas are read too."
)


@dataclass(frozen=True)
class CsvLimits:
    """What a measurement table may hold: checked before the table is parsed."""

    max_bytes: int = 5 * 1024 * 1024
    max_rows: int = 20_000
    max_columns: int = 200
    max_cells: int = 1_000_000


DEFAULT_LIMITS = CsvLimits()


def normalise_task(name: str) -> str | None:
    """A task id for a task id, the study's label or a pipeline tag ("Image Generation",
    "image-generation", "text-to-image" -> image_generation); None if unknown."""
    key = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return _TASK_LOOKUP.get(key)


def _column_name(c: str) -> str:
    c = re.sub(r"[\s\-]+", "_", str(c).strip().lower())
    return COLUMN_ALIASES.get(c, c)


@dataclass
class UploadCheck:
    """The outcome of checking a measurement table. Nothing in it raised.

    ``accepted``: the rows used (row, task, model, kwh_per_inference, + optional columns);
    ``rejected``: row, kind (``invalid``: the row fails the checks; ``left out``: valid but
    not used by the projection rules), reason, task, model; ``error``: a file-level problem
    (nothing accepted); ``summary``: per-task energy in the engine's format
    (project.measurements.OUTPUT_COLUMNS); ``records``: every valid row as a record;
    ``notes``: how the file was read (separator, decimal commas, task names normalised).
    """

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    error: str | None = None
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and len(self.accepted) > 0

    @property
    def invalid(self) -> pd.DataFrame:
        return self.rejected[self.rejected["kind"] == "invalid"]


ACCEPTED_COLUMNS = ["row", "task", "model", "kwh_per_inference"]
REJECTED_COLUMNS = ["row", "kind", "reason", "task", "model"]


def _empty_check(error: str, notes: list[str] | None = None) -> UploadCheck:
    return UploadCheck(pd.DataFrame(columns=ACCEPTED_COLUMNS), pd.DataFrame(columns=REJECTED_COLUMNS),
                       error, notes=notes or [])


def _sniff_delimiter(header: str) -> str:
    """The separator of a header line: the most frequent of , ; tab outside quotes."""
    counts = {d: 0 for d in (",", ";", "\t")}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _to_number(s: str, decimal_comma: bool) -> float | None:
    s = s.strip()
    if decimal_comma and "," in s and "." not in s:
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


def csv_template() -> bytes:
    """The measurement-table template (also shipped as ``data/measurements_template.csv``).

    Its rows are two of the study's own per-model figures (``data/reference/paper_models.csv``,
    Luccioni, Jernite, Strubell 2023: kWh per 1,000 inferences / 1,000, codecarbon on a node
    of 8 A100s, batch 1), so uploading it unchanged reproduces published numbers, not invented ones.
    """
    header = ["task", "model", "energy_kwh_per_inference", "status", "phase", "backend", "device",
              "device_name", "dtype", "weights", "batch_size", "n_inferences", "boundary", "source"]
    rows = [header]
    for task, model, dataset in (("text_classification", "distilbert-base-uncased-finetuned-sst-2-english", "imdb"),
                                 ("image_generation", "segmind/tiny-sd", None)):
        kwh, ds = _paper_value(task, model, dataset)
        rows.append([task, model, kwh, "ok", "inference", "codecarbon", "cuda", "8x NVIDIA A100",
                     "float32", "pretrained", "1", "1000", "gpu+cpu+ram (all GPUs of the node)",
                     f"Luccioni et al. 2023, data/reference/paper_models.csv ({ds})"])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _paper_value(task: str, model: str, dataset: str | None) -> tuple[str, str]:
    """(kWh per inference as text, dataset) of one model in the study's per-model table."""
    from project.paths import data_dir

    df = pd.read_csv(data_dir() / "reference" / "paper_models.csv")
    rows = df[(df["task"] == task) & (df["model_id"] == model)]
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    row = rows.iloc[0]
    return f"{float(row['energy_kwh_per_1000']) / 1000:.6g}", str(row["dataset"])


def check_measurement_csv(data: bytes | str, source: str = "upload", rules: Any = None,
                          limits: CsvLimits = DEFAULT_LIMITS, select: bool = True) -> UploadCheck:
    """Check a measurement table (CSV bytes) row by row; never raises on bad input.

    File-level problems (too large, too many rows, columns or cells, not UTF-8 text, not
    CSV, missing columns) come back in ``error``, checked before the table is parsed so a
    hostile file costs little. Each row is turned into a record and checked by the same
    rules as a store record (:func:`validate_record`'s field checks): known task (names are
    normalised), non-empty model, one positive finite plausible energy (several energy
    columns must agree within 1%), known status/phase/weights, integer batch size. With
    ``select`` (default), the valid rows then pass the projection's input rules
    (``project.measurements.Rules``; ``rules`` None = the defaults): rows left out (failed,
    finetune, CPU, fake, random-init, not comparable) are listed with their reason, and
    ``summary`` holds the per-task energy the projection would use.
    """
    notes: list[str] = []
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > limits.max_bytes:
        return _empty_check(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB.")
    if not raw.strip():
        return _empty_check("The file is empty.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _empty_check("The file is not UTF-8 text (is it an Excel file? Save it as CSV UTF-8).")
    header = text.lstrip("\r\n").split("\n", 1)[0]
    delim = _sniff_delimiter(header)
    n_cols = len(next(csv.reader([header], delimiter=delim), []))
    if n_cols > limits.max_columns:
        return _empty_check(f"The file has {n_cols:,} columns; the limit is {limits.max_columns:,}.")
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1) - 1  # upper bound on data rows
    if n_lines > limits.max_rows:
        return _empty_check(f"The file has about {n_lines:,} rows; the limit is {limits.max_rows:,}.")
    if n_lines * n_cols > limits.max_cells:
        return _empty_check(f"The file has about {n_lines * n_cols:,} cells; the limit is {limits.max_cells:,}.")
    decimal_comma = delim == ";"
    if delim != ",":
        notes.append("read as " + ("semicolon" if delim == ";" else "tab") + "-separated"
                     + (" (decimal commas accepted)" if decimal_comma else ""))
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                         skipinitialspace=True, engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _empty_check(f"The file could not be read as CSV: {first}", notes)
    cols = [_column_name(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        return _empty_check(f"Column(s) named twice: {', '.join(dup)}.", notes)
    df.columns = cols
    if len(df) == 0:
        return _empty_check("The file has a header but no rows.", notes)
    missing = [c for c in ("task", "model") if c not in df.columns]
    energy_cols = [c for c in ENERGY_COLUMNS if c in df.columns]
    if not energy_cols:
        missing.append("energy_kwh_per_inference (or kwh_per_inference, wh_per_inference, "
                       "energy_j_per_inference, energy_kwh_per_1000)")
    if missing:
        found = ", ".join(df.columns[:12]) + (" ..." if len(df.columns) > 12 else "")
        hint = ""
        if len(df.columns) == 1 and (";" in df.columns[0] or "\t" in df.columns[0]):
            hint = " The header looks like one column: is the separator a comma, semicolon or tab?"
        return _empty_check(f"Missing column(s): {', '.join(missing)}. Found: {found}.{hint}", notes)

    records, rejected, renamed = [], [], {}
    for i, r in enumerate(df.to_dict("records")):
        rowno = i + 2  # the header is row 1, as in a spreadsheet
        where = f"{source} row {rowno}"
        task_raw = str(r["task"]).strip()
        model = str(r["model"]).strip()
        try:
            records.append(_table_record(r, energy_cols, decimal_comma, where, source, rowno))
            if records[-1]["task"] != task_raw:
                renamed.setdefault((task_raw, records[-1]["task"]), []).append(rowno)
        except RecordError as e:
            rejected.append({"row": rowno, "kind": "invalid", "reason": e.reason, "task": task_raw,
                             "model": model})
    for (was, now), rows in renamed.items():
        notes.append(f"task {was!r} read as {now} (row{'s' if len(rows) > 1 else ''} "
                     f"{_rows_text(rows)})")
    rec_df = pd.DataFrame(records)
    check = UploadCheck(pd.DataFrame(columns=ACCEPTED_COLUMNS), pd.DataFrame(rejected, columns=REJECTED_COLUMNS),
                        None, records=rec_df, notes=notes)
    if not select:
        return check
    used_rows: set[int] = set()
    if len(rec_df):
        from project.measurements import Rules, select_measurements

        sel = select_measurements(records, rules or Rules(), require_usable=False)
        check.summary = sel.table
        used_rows = set(sel.used["row"]) if len(sel.used) else set()
        extra = [{"row": int(row), "kind": "left out", "reason": why, "task": task, "model": model}
                 for row, why, task, model in zip(sel.left_out.get("row", []), sel.left_out["reason"],
                                                  sel.left_out["task"], sel.left_out["model"])]
        check.rejected = pd.DataFrame(rejected + extra, columns=REJECTED_COLUMNS).sort_values(
            "row", kind="stable").reset_index(drop=True)
    acc = rec_df[rec_df["row"].isin(used_rows)] if len(rec_df) else rec_df
    if len(acc):
        keep = ["row", "task", "model", "energy_kwh_per_inference"] + [
            c for c in ("device", "device_name", "batch_size", "n_inferences", "backend", "dtype")
            if c in df.columns]
        check.accepted = acc[keep].rename(columns={"energy_kwh_per_inference": "kwh_per_inference"}
                                          ).reset_index(drop=True)
    else:
        check.error = "No row passed the checks (see the list of rows)."
    return check


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:5]))
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _table_record(r: dict[str, str], energy_cols: list[str], decimal_comma: bool, where: str,
                  source: str, rowno: int) -> dict[str, Any]:
    """One CSV row as a record (raises RecordError with the row's reason)."""
    task_raw = str(r["task"]).strip()
    task = normalise_task(task_raw)
    if task is None:
        import difflib

        key = re.sub(r"[\s\-]+", "_", task_raw.lower())
        close = difflib.get_close_matches(key, list(_TASK_LOOKUP), n=1, cutoff=0.6)
        hint = f" (did you mean {_TASK_LOOKUP[close[0]]}?)" if close else ""
        raise RecordError(f"unknown task {task_raw!r}{hint}", where)
    rec: dict[str, Any] = {"task": task, "model": str(r["model"]).strip() or None}
    values = {}
    for c in energy_cols:
        s = str(r[c]).strip()
        if s == "":
            continue
        x = _to_number(s, decimal_comma)
        if x is None:
            raise RecordError(f"{c} is not a number ({s!r})", where)
        if not math.isfinite(x) or x <= 0:
            raise RecordError(f"{c} must be a positive finite number (got {s})", where)
        values[c] = x * ENERGY_COLUMNS[c]
    for c in OPTIONAL_TEXT:
        s = str(r.get(c, "")).strip()
        rec[c] = s or None
    for c in ("status", "phase"):
        if rec[c] is not None:
            rec[c] = rec[c].lower()
    for c in OPTIONAL_INT:
        s = str(r.get(c, "")).strip()
        if s:
            x = _to_number(s, decimal_comma)
            rec[c] = x if x is not None else s  # text: the field check names it
    if rec.get("status", "ok") in (None, "ok"):
        if not values:
            raise RecordError("no energy value", where)
        ks = list(values.values())
        if max(ks) > min(ks) * 1.01:
            raise RecordError("energy columns disagree by more than 1%: " + ", ".join(
                f"{c} = {v:.4g} kWh" for c, v in values.items()), where)
    rec["energy_kwh_per_inference"] = next(iter(values.values()), None)
    try:
        _common(rec, where, store=False)
    except RecordError as e:
        raise RecordError(e.reason.replace("field ", "column ", 1), where) from None
    rec.update(row=rowno, where=where, trial_key=f"{source}#row{rowno}", repeat_index=0,
               record_kind="table")
    return rec
