"""The results store: ``records.jsonl`` appended atomically, consolidated to ``records.parquet``.

One writer at a time: :meth:`ResultStore.open` takes an exclusive ``flock`` on
``.wattcast-store.lock`` in the store (the file holds the writer's PID), held until
:meth:`ResultStore.close` or the process ends (a killed process releases it). A second
``wattcast campaign``/``measure`` on the same store gets a :class:`MeasureError` naming the
store and the PID, and the CLI exits 2 before running anything.

Each record is checked by ``project.records.validate_record`` (the validator the projection
and the app use), stamped with ``schema_version`` and ``protocol_version``, and written as
one ``os.write`` of one complete line to a file opened with ``O_APPEND``, then ``fsync``ed,
so a process killed at any moment leaves every earlier record intact and at most one partial
last line. Opening a store repairs that: a final line with no newline (a torn write) is cut
off and saved beside the store as ``records.jsonl.torn-<time>``; temp files left by a killed
consolidation are removed. A malformed line anywhere else is not guessed at: it raises
:class:`MeasureError` naming the file and line, and nothing is changed. A store holding
records of another schema or protocol version is refused (naming both versions), so records
measured differently are never pooled in one store.

``(trial_key, repeat_index)`` is unique in a store; :meth:`ResultStore.done` lists them so a
campaign resumes where it stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from measure.config import PROTOCOL_VERSION
from measure.errors import MeasureError
from project.records import SCHEMA_VERSION, RecordError, parse_jsonl, validate_record

JSONL = "records.jsonl"
PARQUET = "records.parquet"
LOCK = ".wattcast-store.lock"
#: nested columns stored as JSON text in Parquet (their keys vary between records)
JSON_COLUMNS = ("config", "metadata", "extra", "phases")
#: records written before protocol versioning carry no ``protocol_version``
LEGACY_PROTOCOL_VERSION = 0

#: realpath of a store dir -> [lock fd, open count]: the lock is per process, re-entrant
_HELD: dict[str, list[int]] = {}


def read_store_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Every record of one store's ``records.jsonl``, checked; a torn final line is skipped, any
    bad line raises :class:`MeasureError` (the store is not guessed at). To read records for
    use (several stores, Parquet, CSV tables, problems listed): ``project.records.read_records``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise MeasureError(f"cannot read results file: {e.strerror}", str(p)) from None
    recs, problems, _ = parse_jsonl(data, str(p))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MeasureError(f"{problems[0]}{more}; nothing was changed")
    for r in recs:
        del r["where"]
    return recs


def _plain(o: Any) -> Any:
    """``json.dumps`` default: numpy numbers as the Python numbers they hold; nothing else."""
    import numpy as np

    if isinstance(o, np.generic) and isinstance(o.item(), (int, float, bool)):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON")


def _json_line(rec: dict[str, Any], where: str) -> str:
    """One record as JSON text; a value JSON cannot hold (NaN, an object) raises
    :class:`MeasureError` naming its field, so the store never holds a line it would refuse."""
    try:
        return json.dumps(rec, default=_plain, allow_nan=False)
    except (TypeError, ValueError):
        pass
    for k, v in rec.items():
        try:
            json.dumps(v, default=_plain, allow_nan=False)
        except (TypeError, ValueError) as e:
            shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
            raise MeasureError(f"field '{k}' cannot be stored as JSON ({e}), got {shown}; the record "
                               "was not written", where) from None
    raise MeasureError("the record cannot be stored as JSON; it was not written", where)


def versions(rec: dict[str, Any]) -> tuple[int, int]:
    """(schema_version, protocol_version) of a checked record."""
    return int(rec["schema_version"]), int(rec.get("protocol_version") or LEGACY_PROTOCOL_VERSION)


class ResultStore:
    def __init__(self, out_dir: Path | str) -> None:
        self.dir = Path(out_dir)
        self.jsonl = self.dir / JSONL
        self.parquet = self.dir / PARQUET
        self.lock_path = self.dir / LOCK
        self._locked = False

    def exists(self) -> bool:
        return self.jsonl.exists() and self.jsonl.stat().st_size > 0

    def open(self) -> "ResultStore":
        """Create the store if needed, take its lock, clean up after a kill, check versions."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MeasureError(f"cannot create output directory: {e.strerror}", str(self.dir)) from None
        self._lock()
        try:
            for tmp in self.dir.glob(".*.tmp"):  # a consolidation killed half-way
                tmp.unlink(missing_ok=True)
            if self.jsonl.exists():
                self.repair()
                self.check_versions()
        except BaseException:
            self.close()
            raise
        return self

    # -- the one-writer lock ------------------------------------------------------------
    def _lock(self) -> None:
        if self._locked:
            return
        key = os.path.realpath(self.dir)
        held = _HELD.get(key)
        if held is not None:  # this process holds it already (another ResultStore object)
            held[1] += 1
            self._locked = True
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise MeasureError(f"cannot create the store's lock file: {e.strerror}", str(self.lock_path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise MeasureError(f"another wattcast process (PID {pid}) is writing to this store; wait for "
                               "it to finish (then --resume), or choose another --out", str(self.dir)) from None
        except OSError as e:  # ENOLCK on some network file systems, ...
            os.close(fd)
            raise MeasureError(f"cannot lock the store ({e.strerror or e}); put --out on a local disk",
                               str(self.lock_path)) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as e:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise MeasureError(f"cannot write the store's lock file: {e.strerror}", str(self.lock_path)) from None
        _HELD[key] = [fd, 1]
        self._locked = True

    def close(self) -> None:
        """Release the lock (idempotent); the process's last holder unlocks the file."""
        if not self._locked:
            return
        self._locked = False
        key = os.path.realpath(self.dir)
        held = _HELD.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            fcntl.flock(held[0], fcntl.LOCK_UN)
            os.close(held[0])

    def __enter__(self) -> "ResultStore":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # a store dropped without close() releases its share of the lock
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- contents -------------------------------------------------------------------------
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

    def check_versions(self) -> None:
        """Refuse a store whose records have another schema or protocol version than ours."""
        here = (SCHEMA_VERSION, PROTOCOL_VERSION)
        found = sorted({versions(r) for r in self.records()})
        other = [v for v in found if v != here]
        if other:
            theirs = "; ".join(f"schema version {s}, protocol version {p}" for s, p in other)
            raise MeasureError(f"holds records of {theirs}; this wattcast writes schema version "
                               f"{here[0]}, protocol version {here[1]}. Records measured differently "
                               "must not be pooled: choose another --out (or finish this store with "
                               "the wattcast that started it)", str(self.jsonl))

    def records(self) -> list[dict[str, Any]]:
        return read_store_jsonl(self.jsonl) if self.jsonl.exists() else []

    def done(self) -> set[tuple[str, int]]:
        return {(r["trial_key"], int(r["repeat_index"])) for r in self.records()}

    def append(self, record: dict[str, Any]) -> None:
        """Check, stamp with the versions, and append one record (one write + fsync)."""
        if not self._locked:
            raise MeasureError("append to a store that is not open (call open() first)", str(self.dir))
        rec = {**record, "schema_version": record.get("schema_version", SCHEMA_VERSION),
               "protocol_version": record.get("protocol_version", PROTOCOL_VERSION)}
        where = f"{self.jsonl} (new record)"
        try:
            rec = validate_record(rec, where)  # the checked, normalised copy is what is written
        except RecordError as e:
            raise MeasureError(f"{e}; the record was not written") from None
        if versions(rec) != (SCHEMA_VERSION, PROTOCOL_VERSION):
            raise MeasureError(f"a record of schema/protocol version {versions(rec)} cannot join a "
                               f"store of {(SCHEMA_VERSION, PROTOCOL_VERSION)}", str(self.jsonl))
        line = (_json_line(rec, where) + "\n").encode()
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
        try:
            df.to_parquet(tmp, index=False)
            os.replace(tmp, self.parquet)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
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
