"""From scenario `Uncertain` values to frozen scipy.stats distributions.

What `value` means, by distribution (the validator in `project.scenario.Uncertain`
enforces it, so the central run and the Monte Carlo describe the same belief):

| distribution | value      | low / high                    | support               |
|--------------|------------|-------------------------------|-----------------------|
| fixed        | the value  | ignored                       | the value             |
| uniform      | median     | bounds (value = midpoint)     | [low, high]           |
| triangular   | mode       | bounds (low <= value <= high) | [low, high]           |
| loguniform   | median     | bounds (value = sqrt(lo x hi))| [low, high]           |
| normal       | mean       | p5 / p95 (symmetric), or std  | truncated at the field's minimum (e.g. 0) |
| lognormal    | median     | p5 / p95 (value = geometric midpoint), or std (arithmetic, with value as mean) | (0, inf) |

A normal on a quantity with a lower bound (every non-negative quantity) is truncated
at that bound (`scipy.stats.truncnorm`), so no draw is negative.
"""

from __future__ import annotations

import math

from scipy import stats

#: z-score of the 95th percentile of a standard normal; low/high are read as p5/p95
Z95 = 1.6448536269514722


def lognormal_from_moments(mean: float, std: float):
    """A lognormal with the given arithmetic mean and standard deviation (same units)."""
    if not (mean > 0 and math.isfinite(mean)):
        raise ValueError(f"lognormal needs a positive finite mean, got {mean}")
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"lognormal needs a finite std >= 0, got {std}")
    if std == 0:
        return None
    sigma2 = math.log1p((std / mean) ** 2)
    mu = math.log(mean) - sigma2 / 2
    return stats.lognorm(s=math.sqrt(sigma2), scale=math.exp(mu))


def lognormal_median(dist) -> float:
    return float(dist.median())


def frozen(u, lower: float | None = None, upper: float | None = None):
    """The frozen scipy distribution for Uncertain `u`, or None when it is fixed (or degenerate).

    `lower`/`upper` are the physical bounds of the quantity (e.g. 0 for a count); a
    normal is truncated to them.
    """
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
        if not sd > 0:
            return None
        a = -math.inf if lower is None else (lower - u.value) / sd
        b = math.inf if upper is None else (upper - u.value) / sd
        if math.isinf(a) and math.isinf(b):
            return stats.norm(loc=u.value, scale=sd)
        return stats.truncnorm(a, b, loc=u.value, scale=sd)
    if d == "lognormal":
        if u.std is not None:
            return lognormal_from_moments(u.value, u.std)
        if hi <= lo:
            return None
        sigma = (math.log(hi) - math.log(lo)) / (2 * Z95)
        return stats.lognorm(s=sigma, scale=u.value)
    raise ValueError(f"unknown distribution {d!r}")  # pragma: no cover - validated upstream


def swing_bounds(u, dist) -> tuple[float, float]:
    """Low and high values for a one-at-a-time swing: the stated range, else p5 and p95."""
    if u.low is not None and u.high is not None:
        return float(u.low), float(u.high)
    return float(dist.ppf(0.05)), float(dist.ppf(0.95))
