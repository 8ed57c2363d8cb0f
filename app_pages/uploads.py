"""Measurement uploads for the app: the shared validator, checked once per file (no Streamlit here).

The checks themselves are `project.records.check_measurement_csv` (bytes, rows, columns and
cells limited before parsing; the same rules as `wattcast project --measurements`). This
module adds what a page needs: a cache keyed by the SHA-256 of the bytes, so a file is
validated once however often the page reruns, and which workloads of a scenario would use
the accepted tasks.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import pandas as pd

from project.paths import data_dir
from project.records import DEFAULT_LIMITS, UPLOAD_SCHEMA, UploadCheck, check_measurement_csv, csv_template
from project.scenario import Scenario

LIMITS = DEFAULT_LIMITS
_CACHE: OrderedDict[str, UploadCheck] = OrderedDict()
_MAX_CACHED = 16
#: how many validations ran (tests check a rerun does not validate again)
validations = 0


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(data: bytes, source: str) -> UploadCheck:
    """The validator's verdict on `data`, computed once per distinct content (and source name)."""
    global validations
    key = digest(data) + "\0" + source
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    validations += 1
    out = check_measurement_csv(data, source=source, limits=LIMITS)
    _CACHE[key] = out
    if len(_CACHE) > _MAX_CACHED:
        _CACHE.popitem(last=False)
    return out


def schema_text() -> str:
    return UPLOAD_SCHEMA


def template() -> bytes:
    return csv_template()


def matching_workloads(scenario: Scenario, tasks: list[str]) -> list[str]:
    """Labels of the workloads that the accepted `tasks` would feed: those whose energy names one
    of them, as a study task (`reference`, Table 2) or as a measured task (`measurements`).

    The rule is the engine's own: the workloads `project.engine.with_measured_energy` switches.
    """
    from project.engine import with_measured_energy

    _, switched = with_measured_energy(scenario, pd.DataFrame({"task": list(tasks)}))
    return [scenario.workloads[w].label or w for w in switched]


def project_records() -> tuple[pd.DataFrame | None, list[str], str]:
    """The project's own records under data/measurements/ (records, problems, where)."""
    from project.records import RecordError, read_records, record_files

    folder = data_dir() / "measurements"
    where = "data/measurements/"
    if not folder.exists() or not record_files(folder):
        return None, [], where
    try:
        df, problems = read_records(folder)
    except RecordError as exc:
        return None, [str(exc)], where
    return df, problems, where
