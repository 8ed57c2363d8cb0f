"""The parameter table (`data/parameters.csv`): every constant with its source and year."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from .paths import data_dir

COLUMNS = ["name", "value", "unit", "low", "high", "distribution", "source", "year", "note"]


@lru_cache(maxsize=1)
def parameter_table() -> pd.DataFrame:
    """All shipped parameters, indexed by name (a cached, read-only view: copy before editing)."""
    path = data_dir() / "parameters.csv"
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    if df["name"].duplicated().any():
        dup = df.loc[df["name"].duplicated(), "name"].tolist()
        raise ValueError(f"{path}: duplicated parameter names {dup}")
    return df.set_index("name", drop=False)


def param(name: str) -> float:
    """The central value of a shipped parameter."""
    table = parameter_table()
    if name not in table.index:
        raise KeyError(f"unknown parameter {name!r} (see data/parameters.csv)")
    return float(table.at[name, "value"])


def param_source(name: str) -> str:
    """'source (year)' for a shipped parameter."""
    row = parameter_table().loc[name]
    return f"{row['source']} ({int(row['year'])})"
