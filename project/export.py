"""Exports in the IAMC format: CSV, Excel, Parquet and JSON that pyam reads as they are.

Data layout (the IAMC long format; `layout="wide"` puts one column per year instead):

    model, scenario, region, variable, unit, year, value

- `model` is "wattcast <version>" (`model_name()`); `scenario` the scenario's name.
- Monte Carlo percentiles are **variable suffixes, AR6-style**: `Energy|5.0th Percentile`,
  `Energy|50.0th Percentile`, `Energy|95.0th Percentile`. The plain variable (`Energy`) is
  the central run (every parameter at its central value): its children sum to it, which
  percentiles do not. The headline the app and CLI show is the 50.0th percentile when sampled.
- Excel: sheets `data`, `meta` (one row per model and scenario: seed, samples, sources...;
  pyam's `IamDataFrame(path)` loads it as `meta`), `assumptions` and `parameters`.
  JSON: {"layout", "meta", "assumptions", "parameters", "data"}, each a list of records. Parquet: the data
  table, meta records in the schema metadata under `wattcast`. CSV: the data table only.

Safety: string cells of CSV and Excel lose control characters, and a cell that starts with
= + - @, tab or CR gets a leading apostrophe so no spreadsheet runs it as a formula (numbers
are untouched). Every writer checks the target first (`check_output_path`), writes a
temporary file beside it with the mode the umask gives, and renames it into place: a failure
leaves the old file and no temporary file; temporary files left by a killed writer are
removed by the next write to the same target.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .engine import STATS, ProjectionResult
from .params import parameter_table

FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "excel", ".json": "json"}
LAYOUTS = ("long", "wide")
IAMC_INDEX = ["model", "scenario", "region", "variable", "unit"]
IAMC_COLUMNS = [*IAMC_INDEX, "year", "value"]
#: engine statistic -> variable suffix (AR6 database convention); "central" has none
PERCENTILE_SUFFIX = {s: f"|{float(s[1:]):.1f}th Percentile" for s in STATS}  # p5 -> |5.0th Percentile
PERCENTILE_NOTE = ("Monte Carlo percentiles are variable suffixes (|5.0th, |50.0th, |95.0th Percentile, AR6 "
                   "style); the plain variable is the central run")


class ExportError(ValueError):
    """An output path wattcast cannot write (the message names it)."""


def model_name() -> str:
    """The IAMC `model` of every export: "wattcast <installed version>"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"wattcast {version('wattcast')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "wattcast"


# ---------------------------------------------------------------------------
# Tables


def iamc_table(result: ProjectionResult, scenario: str | None = None, model: str | None = None) -> pd.DataFrame:
    """The result as an IAMC long table (columns IAMC_COLUMNS), percentiles as suffixes."""
    t = result.table
    suffix = t["stat"].astype(str).map({"central": "", **PERCENTILE_SUFFIX})
    if suffix.isna().any():
        raise ValueError(f"unknown statistics in the result: {sorted(set(t['stat'][suffix.isna()]))}")
    return pd.DataFrame({
        "model": model or model_name(),
        "scenario": scenario or result.scenario.name,
        "region": t["region"].astype(str).to_numpy(),
        "variable": (t["variable"].astype(str) + suffix).to_numpy(),
        "unit": t["unit"].astype(str).to_numpy(),
        "year": t["year"].astype(int).to_numpy(),
        "value": t["value"].astype(float).to_numpy(),
    })


def to_wide(table: pd.DataFrame) -> pd.DataFrame:
    """IAMC long -> wide (one column per year, in order; rows in first-seen order)."""
    keys = table[IAMC_INDEX].drop_duplicates()
    wide = table.pivot(index=IAMC_INDEX, columns="year", values="value")
    wide = wide.reindex(pd.MultiIndex.from_frame(keys)).reset_index()
    wide.columns = [c if isinstance(c, str) else int(c) for c in wide.columns]
    return wide


def to_long(table: pd.DataFrame) -> pd.DataFrame:
    """IAMC wide (year columns as ints or digit strings) -> long; a long table is returned as is."""
    if "year" in table.columns:
        return table
    years = [c for c in table.columns if str(c).isdigit()]
    long = table.reset_index(drop=True).rename_axis("_row").reset_index().melt(
        id_vars=["_row", *IAMC_INDEX], value_vars=years, var_name="year", value_name="value")
    long["year"] = long["year"].astype(int)
    long = long.dropna(subset=["value"]).sort_values(["_row", "year"], kind="stable")  # row by row, as written
    return long.reset_index(drop=True)[IAMC_COLUMNS]


def assumptions_table(result: ProjectionResult) -> pd.DataFrame:
    """Every scenario parameter with its central value, range, distribution and source."""
    rows = [
        {
            "parameter": p.path,
            "label": p.label,
            "unit": p.unit,
            "value": p.central,
            "low": p.low,
            "high": p.high,
            "distribution": p.dist.name if p.dist is not None else "fixed",
            "source": p.source or result.compiled.energy_sources.get(p.path.split(".")[1], ""),
        }
        for p in result.compiled.params.values()
    ]
    return pd.DataFrame(rows)


def meta_table(result: ProjectionResult, scenario: str | None = None, model: str | None = None) -> pd.DataFrame:
    """One row of pyam `meta` indicators: model, scenario, then how the result was made."""
    s = result.scenario
    md = result.metadata
    row = {
        "model": model or model_name(),
        "scenario": scenario or s.name,
        "preset": s.name,
        "title": s.title,
        "samples": int(result.samples),
        "seed": np.nan if result.seed is None else int(result.seed),  # no seed: central run only
        "headline": "50.0th Percentile" if result.percentiles else "central",
        "percentiles": PERCENTILE_NOTE,
        "start_year": int(s.start_year),
        "end_year": int(s.end_year),
        "target_year": int(s.target_year),
        "counts": str(md.get("counts", "")),
        "sources": "; ".join(s.sources),
        "warnings": "; ".join(str(w) for w in md.get("warnings", [])),
    }
    return pd.DataFrame([row])


# ---------------------------------------------------------------------------
# Safety: formula injection, control characters, output paths, temporary files

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A string cell made inert for spreadsheets (control characters removed, formula-leading
    characters behind an apostrophe); any other value is returned unchanged."""
    if not isinstance(value, str):
        return value
    v = _CONTROL.sub("", value)
    return "'" + v if v.startswith(_FORMULA_LEAD) else v


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """`safe_cell` on every string cell (and string column name) of `df`; numbers stay numbers."""
    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].map(safe_cell).astype(object)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def export_format(path: str | Path) -> str:
    """The format for an output path, from its suffix; ExportError if unsupported."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{path}: unsupported output format {suffix or '(none)'!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def check_output_path(path: str | Path) -> Path:
    """Check that `path` can be written before anything is computed: a known suffix, not a
    directory, a parent folder that exists, is a folder and takes new files. ExportError
    (naming the path and the reason) otherwise."""
    path = Path(path)
    export_format(path)
    if path.is_dir():
        raise ExportError(f"{path}: is a directory; give a file name such as {path / 'result.csv'}")
    parent = path.parent
    if not parent.exists():
        up = parent
        while not up.exists() and up != up.parent:
            up = up.parent
        if up.exists() and not up.is_dir():
            raise ExportError(f"{path}: {up} is a file, not a folder")
        raise ExportError(f"{path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise ExportError(f"{path}: {parent} is a file, not a folder")
    try:  # os.access is wrong for root and for read-only mounts: try the real thing
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write in folder {parent} ({exc.strerror or exc})") from None
    return path


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _sweep_stale(path: Path) -> None:
    """Remove temporary files of `path` left by writers that no longer run (killed mid-write)."""
    pat = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
    for p in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        m = pat.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            p.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    """`name` with glob metacharacters bracketed, so it matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write `path` all or nothing: `write(tmp)` fills a temporary file beside it, which gets the
    mode a new file gets (the umask's) and is renamed into place. On any failure the old file
    stays and the temporary file is removed; ones left by a killed writer of the same target
    are removed first. Any file type (the exports, scripts' data files, docs)."""
    path = Path(path)
    _sweep_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a new file gets what the umask says
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    atomic_write(check_output_path(path), write)


# ---------------------------------------------------------------------------
# Writers


def json_records(df: pd.DataFrame) -> list[dict]:
    """JSON-ready records: NaN -> null, numpy scalars -> Python."""
    clean = df.astype(object).where(df.notna(), None)
    return [{str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in clean.to_dict(orient="records")]


def write_table(table: pd.DataFrame, path: str | Path, meta: pd.DataFrame | None = None, *,
                layout: str = "long", sheets: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write an IAMC long table (IAMC_COLUMNS, one or many scenarios) in the format of the suffix.

    `meta`: pyam meta indicators, one row per (model, scenario), those two columns first
    (Excel sheet `meta`, JSON `meta`, Parquet schema metadata; not in CSV). `sheets`: extra
    tables (Excel sheets, JSON keys), e.g. {"assumptions": ..., "parameters": ...}.
    `layout`: "long" or "wide" (years as columns). ExportError for a path or layout it
    cannot write; the target is replaced atomically.
    """
    if layout not in LAYOUTS:
        raise ExportError(f"layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
    missing = [c for c in IAMC_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"write_table needs an IAMC long table; missing columns {missing}")
    path = Path(path)
    fmt = export_format(path)
    table = table[IAMC_COLUMNS].reset_index(drop=True)
    if table.duplicated(subset=[*IAMC_INDEX, "year"]).any():
        d = table[table.duplicated(subset=[*IAMC_INDEX, "year"], keep=False)].iloc[0]
        raise ValueError(f"duplicate rows for {d['scenario']} / {d['region']} / {d['variable']} / {d['year']}")
    data = to_wide(table) if layout == "wide" else table
    meta = meta if meta is not None else table[["model", "scenario"]].drop_duplicates().reset_index(drop=True)
    sheets = dict(sheets or {})
    if fmt == "csv":
        _atomic(path, lambda p: safe_frame(data).to_csv(p, index=False))
    elif fmt == "excel":
        def w(p: Path) -> None:
            with pd.ExcelWriter(p, engine="openpyxl") as xw:
                safe_frame(data).to_excel(xw, sheet_name="data", index=False)
                safe_frame(meta).to_excel(xw, sheet_name="meta", index=False)
                for name, df in sheets.items():
                    safe_frame(df).to_excel(xw, sheet_name=name, index=False)

        _atomic(path, w)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        def w(p: Path) -> None:
            t = pa.Table.from_pandas(data.rename(columns=str), preserve_index=False)
            doc = {"layout": layout, "meta": json_records(meta)}
            pq.write_table(t.replace_schema_metadata({**(t.schema.metadata or {}),
                                                      b"wattcast": json.dumps(doc).encode()}), p)

        _atomic(path, w)
    else:
        doc = {"layout": layout, "meta": json_records(meta),
               **{name: json_records(df) for name, df in sheets.items()}, "data": json_records(data)}
        text = json.dumps(doc, indent=1, allow_nan=False)
        _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


def _parameters_sheet() -> pd.DataFrame:
    return parameter_table().reset_index(drop=True)


def write_results(results: Sequence[ProjectionResult], path: str | Path, *, layout: str = "long",
                  names: Sequence[str] | None = None, extra_rows: pd.DataFrame | None = None) -> Path:
    """One export with a scenario per result (`names` overrides the scenario names, which must
    be distinct). The assumptions sheet gets a `scenario` column. `extra_rows`: IAMC long
    rows (IAMC_COLUMNS) added to the data, e.g. the `Wedge|...` rows of `wattcast compare --wedges`."""
    if not results:
        raise ValueError("write_results: no results to write")
    names = list(names) if names is not None else [r.scenario.name for r in results]
    if len(names) != len(results):
        raise ValueError(f"write_results: {len(names)} names for {len(results)} results")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExportError(f"{path}: scenario names must differ within one export; repeated: {', '.join(dup)}")
    model = model_name()
    parts = [iamc_table(r, n, model) for r, n in zip(results, names)]
    table = pd.concat(parts + ([extra_rows[IAMC_COLUMNS]] if extra_rows is not None else []), ignore_index=True)
    meta = pd.concat([meta_table(r, n, model) for r, n in zip(results, names)], ignore_index=True)
    assumptions = pd.concat([assumptions_table(r).assign(scenario=n) for r, n in zip(results, names)],
                            ignore_index=True)
    assumptions = assumptions[["scenario", *[c for c in assumptions.columns if c != "scenario"]]]
    return write_table(table, path, meta, layout=layout,
                       sheets={"assumptions": assumptions, "parameters": _parameters_sheet()})


def write_result(result: ProjectionResult, path: str | Path, *, layout: str = "long") -> Path:
    """Write one result (IAMC table, meta, assumptions, parameters) in the format of the suffix."""
    return write_table(iamc_table(result), path, meta_table(result), layout=layout,
                       sheets={"assumptions": assumptions_table(result), "parameters": _parameters_sheet()})


def csv_bytes(result: ProjectionResult) -> bytes:
    """The CSV export (IAMC long table, formula-safe cells) as bytes: what `--out x.csv` writes."""
    return safe_frame(iamc_table(result)).to_csv(index=False).encode("utf-8")


def excel_bytes(result: ProjectionResult) -> bytes:
    """The Excel export as bytes (for download buttons)."""
    with tempfile.TemporaryDirectory() as d:
        p = write_result(result, Path(d) / "result.xlsx")
        return p.read_bytes()


# ---------------------------------------------------------------------------
# Readers


def read_result(path: str | Path) -> pd.DataFrame:
    """Read any export back as an IAMC long table (the `data` sheet for Excel; wide -> long)."""
    path = Path(path)
    fmt = export_format(path)
    if fmt == "csv":
        df = pd.read_csv(path)
    elif fmt == "parquet":
        df = pd.read_parquet(path)
    elif fmt == "excel":
        df = pd.read_excel(path, sheet_name="data")
    else:
        df = pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))["data"])
    return to_long(df)


def read_meta(path: str | Path) -> pd.DataFrame:
    """The meta indicators of an Excel, JSON or Parquet export (CSV carries none)."""
    path = Path(path)
    fmt = export_format(path)
    if fmt == "excel":
        return pd.read_excel(path, sheet_name="meta")
    if fmt == "json":
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))["meta"])
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pd.DataFrame(json.loads(pq.read_schema(path).metadata[b"wattcast"])["meta"])
    raise ExportError(f"{path}: a CSV export carries no meta table; use .xlsx, .json or .parquet")
