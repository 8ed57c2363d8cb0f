"""Bounded growth paths (vectorised over samples)."""

from __future__ import annotations

import numpy as np


def grow(x0: np.ndarray, rate: np.ndarray, dy: np.ndarray, ceiling: np.ndarray | None = None) -> np.ndarray:
    """x(dy) from x0 at yearly `rate`; logistic towards `ceiling` when given.

    Shapes broadcast: x0, rate, ceiling (n, 1) and dy (1, Y) -> (n, Y), or samples-last
    (1, n) and (Y, 1) -> (Y, n) as the engine evaluates. With a ceiling K the path is
    K / (1 + (K / x0 - 1) exp(-r dy)), r = ln(1 + rate), which starts at x0 with growth
    `rate` and never passes K. A base at or above the ceiling is held at K (the ceiling is a
    physical bound; a sampled base can exceed a sampled ceiling): otherwise the path would
    diverge, and turn negative, on the years before the base year.
    """
    r = np.log1p(rate)
    if ceiling is None:
        with np.errstate(over="ignore"):
            return x0 * np.exp(r * dy)
    positive = x0 > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(positive, np.maximum(ceiling / np.where(positive, x0, 1.0) - 1.0, 0.0), 0.0)
        out = ratio * np.exp(-r * dy)       # then in place: 1 + ..., ceiling / ...
        out += 1.0
        np.divide(ceiling, out, out=out)
    return out if positive.all() else np.where(positive, out, 0.0)
