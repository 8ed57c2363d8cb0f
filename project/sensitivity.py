"""What drives the target year's total: one-at-a-time swings and Sobol indices."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .engine import Compiled, evaluate


def tornado(c: Compiled, variable: str = "Energy", year: int | None = None) -> pd.DataFrame:
    """Swing each uncertain parameter to its low and high value, others at central.

    Returns one row per parameter: path, label, unit, low, high, central_total,
    total_at_low, total_at_high, swing (= |high - low| of the total), sorted by swing.
    All runs are evaluated in one vectorised call.
    """
    unc = c.uncertain
    year = c.scenario.target_year if year is None else year
    yi = int(year - c.scenario.start_year)
    if not unc:
        return pd.DataFrame(columns=["path", "label", "unit", "low", "high", "central_total",
                                     "total_at_low", "total_at_high", "swing"])
    n = 2 * len(unc) + 1
    values = {p.path: np.full(n, p.central) for p in unc}
    for i, p in enumerate(unc):
        values[p.path][2 * i + 1] = p.low
        values[p.path][2 * i + 2] = p.high
    out = evaluate(c, values, n, variables=[variable])[variable].sum(axis=1)[:, yi]
    rows = [
        {
            "path": p.path,
            "label": p.label,
            "unit": p.unit,
            "low": p.low,
            "high": p.high,
            "central_total": out[0],
            "total_at_low": out[2 * i + 1],
            "total_at_high": out[2 * i + 2],
        }
        for i, p in enumerate(unc)
    ]
    df = pd.DataFrame(rows)
    df["swing"] = (df["total_at_high"] - df["total_at_low"]).abs()
    return df.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


def sobol(c: Compiled, variable: str = "Energy", year: int | None = None,
          n: int = 1024, seed: int = 0) -> pd.DataFrame:
    """First-order and total Sobol indices of `variable` in `year` (scipy.stats.sobol_indices).

    `n` must be a power of two; the model is evaluated n x (d + 2) times. Returns columns
    path, label, first_order, total_order, sorted by total_order.
    """
    unc = c.uncertain
    year = c.scenario.target_year if year is None else year
    yi = int(year - c.scenario.start_year)
    if len(unc) < 2:
        raise ValueError("Sobol indices need at least two uncertain parameters")
    if seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed}")
    if n < 2 or n & (n - 1):
        raise ValueError(f"n must be a power of two, got {n}")

    def func(x: np.ndarray) -> np.ndarray:
        vals = {p.path: x[i] for i, p in enumerate(unc)}
        return evaluate(c, vals, x.shape[1], variables=[variable])[variable].sum(axis=1)[:, yi][None, :]

    from scipy import stats  # imported here: about 1 s, and only Sobol needs it

    res = stats.sobol_indices(func=func, n=n, dists=[p.dist.scipy() for p in unc], rng=np.random.default_rng(seed))
    df = pd.DataFrame(
        {
            "path": [p.path for p in unc],
            "label": [p.label for p in unc],
            "first_order": np.asarray(res.first_order).ravel(),
            "total_order": np.asarray(res.total_order).ravel(),
        }
    )
    return df.sort_values("total_order", ascending=False, kind="stable").reset_index(drop=True)
