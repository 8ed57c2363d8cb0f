"""From scenario `Uncertain` values to frozen scipy.stats distributions."""

from __future__ import annotations

import math

from scipy import stats

from .scenario import Uncertain

#: z-score of the 95th percentile of a standard normal; low/high are read as p5/p95
Z95 = 1.6448536269514722


def lognormal_from_moments(mean: float, std: float):
    """A lognormal with the given arithmetic mean and standard deviation (same units)."""
    if mean <= 0:
        raise ValueError("lognormal needs a positive mean")
    if std <= 0:
        return None
    sigma2 = math.log1p((std / mean) ** 2)
    mu = math.log(mean) - sigma2 / 2
    return stats.lognorm(s=math.sqrt(sigma2), scale=math.exp(mu))


def frozen(u: Uncertain):
    """The frozen scipy distribution for `u`, or None when it is fixed (or degenerate)."""
    d = u.distribution
    if d == "fixed":
        return None
    lo, hi = u.low, u.high
    if d == "uniform":
        return stats.uniform(loc=lo, scale=hi - lo) if hi > lo else None
    if d == "triangular":
        if hi <= lo:
            return None
        return stats.triang(c=(u.value - lo) / (hi - lo), loc=lo, scale=hi - lo)
    if d == "loguniform":
        return stats.loguniform(lo, hi) if hi > lo else None
    if d == "normal":
        sd = u.std if u.std is not None else (hi - lo) / (2 * Z95)
        return stats.norm(loc=u.value, scale=sd) if sd > 0 else None
    if d == "lognormal":
        if u.std is not None:
            return lognormal_from_moments(u.value, u.std)
        if hi <= lo:
            return None
        mu = (math.log(lo) + math.log(hi)) / 2
        sigma = (math.log(hi) - math.log(lo)) / (2 * Z95)
        return stats.lognorm(s=sigma, scale=math.exp(mu))
    raise ValueError(f"unknown distribution {d!r}")  # pragma: no cover - validated upstream


def swing_bounds(u: Uncertain, dist) -> tuple[float, float]:
    """Low and high values for a one-at-a-time swing: the stated range, else p5 and p95."""
    if u.low is not None and u.high is not None:
        return float(u.low), float(u.high)
    return float(dist.ppf(0.05)), float(dist.ppf(0.95))
