"""The results store: ``records.jsonl`` appended atomically, consolidated to ``records.parquet``.

Each record is written as one ``os.write`` of one complete line to a file opened with
``O_APPEND``, then ``fsync``ed, so a process killed at any moment leaves every earlier record
intact and at most one partial last line. Opening a store repairs that: a final line with
no newline (a torn write) is cut off and saved beside the store as
``records.jsonl.torn-<time>``. A malformed line anywhere else is not guessed at: it raises
:class:`MeasureError` naming the file and line, and nothing is changed.

``(trial_key, repeat_index)`` is unique in a store; :meth:`ResultStore.done` lists them so a
campaign resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from measure.errors import MeasureError

JSONL = "records.jsonl"
PARQUET = "records.parquet"
#: nested columns stored as JSON text in Parquet (their keys vary between records)
JSON_COLUMNS = ("config", "metadata", "extra", "phases")


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Every record of a JSONL file; a torn final line is skipped, any other bad line raises."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise MeasureError(f"cannot read results file: {e.strerror}", str(p)) from None
    # A final line without newline is a write torn by a kill: valid JSON or not, it is not
    # counted until ResultStore.repair cuts it off (keeping a copy).
    body = data.split(b"\n")[:-1]
    out = []
    for i, line in enumerate(body, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MeasureError(f"line {i} is not a JSON record (corrupt results file; "
                               "nothing was changed)", str(p)) from None
        if not isinstance(rec, dict) or "trial_key" not in rec or "repeat_index" not in rec:
            raise MeasureError(f"line {i} is not a wattcast measurement record", str(p))
        out.append(rec)
    return out


class ResultStore:
    def __init__(self, out_dir: Path | str) -> None:
        self.dir = Path(out_dir)
        self.jsonl = self.dir / JSONL
        self.parquet = self.dir / PARQUET

    def exists(self) -> bool:
        return self.jsonl.exists() and self.jsonl.stat().st_size > 0

    def open(self) -> "ResultStore":
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MeasureError(f"cannot create output directory: {e.strerror}", str(self.dir)) from None
        if self.jsonl.exists():
            self.repair()
        return self

    def repair(self) -> bool:
        """Cut a torn final line (keeping a copy of it); returns True if one was cut."""
        data = self.jsonl.read_bytes()
        if not data or data.endswith(b"\n"):
            return False
        keep = data.rfind(b"\n") + 1
        torn = self.dir / f"{JSONL}.torn-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        torn.write_bytes(data[keep:])
        with open(self.jsonl, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return True

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.jsonl) if self.jsonl.exists() else []

    def done(self) -> set[tuple[str, int]]:
        return {(r["trial_key"], int(r["repeat_index"])) for r in self.records()}

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str, allow_nan=False) + "\n").encode()
        fd = os.open(self.jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def consolidate(self) -> Path | None:
        """Write ``records.parquet`` from the JSONL (temp file + rename). None if no records."""
        recs = self.records()
        if not recs:
            return None
        df = records_frame(recs)
        tmp = self.parquet.with_name(f".{PARQUET}.{os.getpid()}.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, self.parquet)
        return self.parquet


def records_frame(records: Iterable[dict[str, Any]]):
    """Records as a DataFrame; nested objects become JSON text columns."""
    import pandas as pd

    rows = []
    for r in records:
        r = dict(r)
        for c in JSON_COLUMNS:
            if c in r and not isinstance(r[c], str):
                r[c] = json.dumps(r[c], sort_keys=True, default=str)
        rows.append(r)
    return pd.DataFrame(rows)
