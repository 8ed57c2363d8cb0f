"""Exports of the tidy result table: CSV, Parquet, Excel (data + assumptions) and JSON.

Every writer writes a temporary file beside the target and renames it into place, so a
failure never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .engine import ProjectionResult
from .params import parameter_table

FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "excel", ".json": "json"}


class ExportError(ValueError):
    """An output path wattcast cannot write."""


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
            "distribution": type(p.dist.dist).__name__.removesuffix("_gen") if p.dist is not None else "fixed",
            "source": p.source or result.compiled.energy_sources.get(p.path.split(".")[1], ""),
        }
        for p in result.compiled.params.values()
    ]
    return pd.DataFrame(rows)


def _metadata_table(result: ProjectionResult) -> pd.DataFrame:
    meta = dict(result.metadata)
    meta["title"] = result.scenario.title
    meta["sources"] = "; ".join(result.scenario.sources)
    return pd.DataFrame({"key": list(meta), "value": [str(v) for v in meta.values()]})


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    if not path.parent.exists():
        raise ExportError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_format(path: str | Path) -> str:
    """The format for an output path, from its suffix; ExportError if unsupported."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{path}: unsupported output format {suffix or '(none)'!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def write_result(result: ProjectionResult, path: str | Path) -> Path:
    """Write the result table in the format given by the suffix (.csv .parquet .xlsx .json)."""
    path = Path(path)
    fmt = export_format(path)
    table = result.table
    if fmt == "csv":
        _atomic(path, lambda p: table.to_csv(p, index=False))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        def w(p: Path) -> None:
            t = pa.Table.from_pandas(table, preserve_index=False)
            meta = {**(t.schema.metadata or {}), b"wattcast": json.dumps(result.metadata).encode()}
            pq.write_table(t.replace_schema_metadata(meta), p)

        _atomic(path, w)
    elif fmt == "excel":
        def w(p: Path) -> None:
            with pd.ExcelWriter(p, engine="openpyxl") as xw:
                table.to_excel(xw, sheet_name="data", index=False)
                assumptions_table(result).to_excel(xw, sheet_name="assumptions", index=False)
                parameter_table().reset_index(drop=True).to_excel(xw, sheet_name="parameters", index=False)
                _metadata_table(result).to_excel(xw, sheet_name="metadata", index=False)

        _atomic(path, w)
    else:
        def w(p: Path) -> None:
            doc = {
                "metadata": result.metadata,
                "assumptions": json.loads(assumptions_table(result).to_json(orient="records")),
                "data": json.loads(table.to_json(orient="records")),
            }
            p.write_text(json.dumps(doc, indent=1), encoding="utf-8")

        _atomic(path, w)
    return path


def excel_bytes(result: ProjectionResult) -> bytes:
    """The Excel export as bytes (for download buttons)."""
    with tempfile.TemporaryDirectory() as d:
        p = write_result(result, Path(d) / "result.xlsx")
        return p.read_bytes()


def read_result(path: str | Path) -> pd.DataFrame:
    """Read any export back into the tidy table (the data sheet for Excel)."""
    path = Path(path)
    fmt = export_format(path)
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "excel":
        return pd.read_excel(path, sheet_name="data")
    return pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))["data"])
