"""From scenario `Uncertain` values to distributions (as scipy.stats would freeze them).

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

`Dist` holds a distribution as scipy's name, shape parameters, loc and scale, and computes
`ppf` with the same closed forms scipy uses (project/model/sampling.py; tests compare them
with scipy). `scipy.stats` is imported only when a caller needs the real frozen object
(`Dist.scipy()`: Sobol indices, the truncated normal's inverse CDF): importing it costs about
1 s on these machines, more than a whole `wattcast compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: z-score of the 95th percentile of a standard normal; low/high are read as p5/p95
Z95 = 1.6448536269514722

#: scipy.stats names with a closed-form inverse CDF in project.model.sampling
CLOSED_FORM = ("triang", "uniform", "loguniform", "norm", "lognorm")


@dataclass(frozen=True, eq=False)
class Dist:
    """A distribution in scipy.stats' terms: `name` (e.g. "triang"), shape parameters, loc, scale.

    `ppf` and `median` match the frozen scipy object's (`scipy()`), without importing scipy.stats
    for the kinds in CLOSED_FORM.
    """

    name: str
    shapes: tuple[float, ...]
    loc: float = 0.0
    scale: float = 1.0

    def scipy(self):
        """The frozen scipy.stats distribution."""
        from scipy import stats

        return getattr(stats, self.name)(*self.shapes, loc=self.loc, scale=self.scale)

    @cached_property
    def _frozen(self):
        return self.scipy()

    def ppf(self, q):
        """Inverse CDF at probability `q` (float or array), in the quantity's unit."""
        if self.name not in CLOSED_FORM:
            return self._frozen.ppf(q)
        from .model.sampling import closed_form_ppf

        qa = np.asarray(q, dtype=float)
        x = closed_form_ppf(self.name, qa.reshape(1, -1),
                            [np.array([[v]]) for v in (*self.shapes, self.loc, self.scale)]).reshape(qa.shape)
        return float(x) if x.ndim == 0 else x

    def median(self) -> float:
        return float(self.ppf(0.5))


def lognormal_from_moments(mean: float, std: float) -> Dist | None:
    """A lognormal with the given arithmetic mean and standard deviation (same units)."""
    if not (mean > 0 and math.isfinite(mean)):
        raise ValueError(f"lognormal needs a positive finite mean, got {mean}")
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"lognormal needs a finite std >= 0, got {std}")
    if std == 0:
        return None
    sigma2 = math.log1p((std / mean) ** 2)
    mu = math.log(mean) - sigma2 / 2
    return Dist("lognorm", (math.sqrt(sigma2),), 0.0, math.exp(mu))


def frozen(u, lower: float | None = None, upper: float | None = None) -> Dist | None:
    """The distribution for Uncertain `u`, or None when it is fixed (or degenerate).

    `lower`/`upper` are the physical bounds of the quantity (e.g. 0 for a count); a
    normal is truncated to them.
    """
    d = u.distribution
    if d == "fixed":
        return None
    lo, hi = u.low, u.high
    if d == "uniform":
        return Dist("uniform", (), lo, hi - lo) if hi > lo else None
    if d == "triangular":
        if hi <= lo:
            return None
        return Dist("triang", ((u.value - lo) / (hi - lo),), lo, hi - lo)
    if d == "loguniform":
        return Dist("loguniform", (lo, hi)) if hi > lo else None
    if d == "normal":
        sd = u.std if u.std is not None else (hi - lo) / (2 * Z95)
        if not sd > 0:
            return None
        a = -math.inf if lower is None else (lower - u.value) / sd
        b = math.inf if upper is None else (upper - u.value) / sd
        if math.isinf(a) and math.isinf(b):
            return Dist("norm", (), u.value, sd)
        return Dist("truncnorm", (a, b), u.value, sd)
    if d == "lognormal":
        if u.std is not None:
            return lognormal_from_moments(u.value, u.std)
        if hi <= lo:
            return None
        sigma = (math.log(hi) - math.log(lo)) / (2 * Z95)
        return Dist("lognorm", (sigma,), 0.0, u.value)
    raise ValueError(f"unknown distribution {d!r}")  # pragma: no cover - validated upstream


def swing_bounds(u, dist) -> tuple[float, float]:
    """Low and high values for a one-at-a-time swing: the stated range, else p5 and p95."""
    if u.low is not None and u.high is not None:
        return float(u.low), float(u.high)
    return float(dist.ppf(0.05)), float(dist.ppf(0.95))
