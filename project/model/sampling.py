"""Monte Carlo numerics: the Latin hypercube design, inverse CDFs of whole parameter groups at
once, and p5/p50/p95 of the kept draws.

Everything here is a faster equivalent of a scipy or numpy routine, tested against it
(tests/test_project_sampling.py):

- `latin_hypercube` draws exactly what `scipy.stats.qmc.LatinHypercube(d=k, rng=rng).random(n)`
  draws block by block, but writes each column contiguously (float32, (d, n)) instead of
  building float64 (n, d) temporaries;
- `inverse_cdf` evaluates the closed-form `ppf` of scipy's triangular, uniform, loguniform,
  normal and lognormal distributions for all parameters of a kind in one array operation
  (84 separate `ppf` calls cost more than the model); other distributions call scipy;
- `percentiles` selects the order statistics with one-position `np.partition` calls:
  numpy's partition with several positions is 10-40x slower than the separate calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import special

#: u is clipped to [EPS, 1 - EPS] before an inverse CDF (float32 values, as the design)
EPS = np.float32(1e-7)
Q = (0.05, 0.5, 0.95)


# ---------------------------------------------------------------------------
# Latin hypercube


def latin_hypercube(samples: int, d: int, seed: int, block: int, threads: int = 1) -> np.ndarray:
    """Seeded Latin hypercube on [0, 1): (d, samples) float32, one row per parameter.

    The same numbers as `qmc.LatinHypercube(d=k, rng=rng).random(samples)` for successive
    blocks of k <= `block` columns from one `np.random.default_rng(seed)`: scipy spawns a
    child generator per block, draws uniforms (samples, k), shuffles 1..samples once per
    column and returns (perm - u) / samples. The strata are shuffled as float64 here (a
    shuffle's random draws do not depend on the dtype, so the permutation is the same) to
    skip scipy's integer-to-float pass; `random` equals `uniform(0, 1)` bit for bit. Each
    block has its own generator, so blocks can be drawn on `threads` threads (numpy's
    shuffle releases the GIL).
    """
    rng = np.random.default_rng(seed)
    out = np.empty((d, samples), dtype=np.float32)
    strata = np.arange(1, samples + 1, dtype=np.float64)
    starts = range(0, d, block)
    # as scipy.stats.qmc does with a Generator: one child per block, spawned in block order
    children = [np.random.Generator(type(rng.bit_generator)(rng.bit_generator.seed_seq.spawn(1)[0]))
                for _ in starts]

    def fill(j: int, child: np.random.Generator) -> None:
        k = min(block, d - j)
        u = child.random(size=(samples, k))
        x = np.empty(samples)
        for i in range(k):
            x[:] = strata
            child.shuffle(x)
            x -= u[:, i]
            x /= samples
            out[j + i] = x

    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fill, starts, children))
    else:
        for j, child in zip(starts, children):
            fill(j, child)
    return out


# ---------------------------------------------------------------------------
# Inverse CDFs


def _kind(dist) -> tuple[str, tuple[float, ...]]:
    """(name, parameters) of a frozen scipy distribution with a closed-form inverse CDF here,
    else ("scipy", ()). Parameters are scipy's own (shapes, loc, scale), so the closed forms
    below are scipy's `_ppf` x scale + loc."""
    name = dist.dist.name
    if name not in ("triang", "uniform", "loguniform", "reciprocal", "norm", "lognorm"):
        return "scipy", ()
    shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)  # scipy's own parsing
    return ("loguniform" if name == "reciprocal" else name), (*map(float, shapes), float(loc), float(scale))


class InverseCDF:
    """Quantiles of a fixed list of frozen scipy distributions: row i of u (d, n) through
    `dists[i].ppf`, with the rows grouped by kind once (Monte Carlo chunks reuse it)."""

    def __init__(self, dists: list):
        self.dists = dists
        kinds: dict[str, tuple[list[int], list[tuple[float, ...]]]] = {}
        for i, dist in enumerate(dists):
            kind, p = _kind(dist)
            kinds.setdefault(kind, ([], []))
            kinds[kind][0].append(i)
            kinds[kind][1].append(p)
        # kind -> (rows, per-row parameters as (k, 1) columns)
        self.groups = [(kind, np.array(rows), [np.array(col)[:, None] for col in zip(*ps)])
                       for kind, (rows, ps) in kinds.items()]

    def __call__(self, u: np.ndarray, dtype=np.float64) -> np.ndarray:
        """(d, n) of `dtype`. u is clipped to [EPS, 1 - EPS] (EPS = 1e-7) so no draw sits on an
        infinite tail. Rows of one kind are computed together, in `dtype` (float32 for
        Monte Carlo chunks: the design is float32 already)."""
        dtype = np.dtype(dtype)
        out = np.empty(u.shape, dtype=dtype)
        for kind, rows, params in self.groups:
            q = u[rows].astype(dtype, copy=False)          # a copy (fancy indexing): clipped in place
            np.clip(q, EPS, 1 - EPS, out=q)
            if kind == "scipy":
                for j, i in enumerate(rows):
                    out[i] = self.dists[i].ppf(q[j].astype(float))
                continue
            out[rows] = _closed_form(kind, q, [p.astype(dtype) for p in params])
        return out


def inverse_cdf(dists: list, u: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Quantiles of frozen scipy distributions: row i of `u` (d, n) through `dists[i].ppf`,
    as (d, n) of `dtype` (see InverseCDF)."""
    return InverseCDF(dists)(u, dtype)


def _closed_form(kind: str, q: np.ndarray, p: list[np.ndarray]) -> np.ndarray:
    """scipy's `_ppf` of `kind` x scale + loc, for (k, n) probabilities and (k, 1) parameters."""
    if kind == "triang":
        c, loc, scale = p
        x = np.where(q < c, np.sqrt(c * q), 1 - np.sqrt((1 - c) * (1 - q)))
    elif kind == "uniform":
        loc, scale = p
        x = q
    elif kind == "loguniform":
        a, b, loc, scale = p
        x = np.exp(np.log(a) + q * (np.log(b) - np.log(a)))
    elif kind == "norm":
        loc, scale = p
        x = special.ndtri(q)
    else:  # lognorm
        s, loc, scale = p
        x = np.exp(s * special.ndtri(q))
    return x * scale + loc


# ---------------------------------------------------------------------------
# Percentiles


def percentiles(a: np.ndarray) -> np.ndarray:
    """p5, p50, p95 along the last axis, as `np.percentile(a, [5, 50, 95], axis=-1)` (linear
    interpolation) but faster; rows whose first value is NaN give NaN.

    `a` is (..., n) and is PARTITIONED IN PLACE when it is a C-contiguous array (callers pass
    draws they no longer need; otherwise a copy is made). Returns float64 (3, ...).
    """
    n = a.shape[-1]
    lead = a.shape[:-1]
    flat = a.reshape(-1, n)      # a view when `a` is contiguous
    out = np.full((3, flat.shape[0]), np.nan)
    ok = ~np.isnan(flat[:, 0])
    if not ok.any() or n == 0:
        return out.reshape((3,) + lead)
    part = flat if ok.all() else flat[ok]
    pos = np.array(Q) * (n - 1)
    lo = np.floor(pos).astype(int)
    frac = pos - lo
    below, above = _order_statistics(part, [int(k) for k in lo])
    out[:, ok] = below.T.astype(float) * (1 - frac[:, None]) + above.T.astype(float) * frac[:, None]
    return out.reshape((3,) + lead)


def _order_statistics(part: np.ndarray, ks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Values of rank k and k + 1 (0-based, capped at n - 1) in each row, for ascending `ks`.

    Partitions `part` (rows, n) in place: first at the middle rank over the whole row, then
    each outer rank within its side only. After a row is partitioned at rank k, every value
    right of k is >= it, so the value of rank k + 1 is the minimum of the values between k
    and the next partitioned rank (inclusive).
    """
    n = part.shape[1]
    mid = len(ks) // 2
    order = [mid, *range(mid - 1, -1, -1), *range(mid + 1, len(ks))]   # middle first, then outwards
    done: list[int] = []                                               # ranks partitioned so far
    for i in order:
        k = ks[i]
        left = max([d for d in done if d < k], default=-1) + 1
        right = min([d for d in done if d > k], default=n)
        if k not in done:
            seg = part[:, left:right]
            seg.partition(k - left, axis=1)
            done.append(k)
    done.sort()
    below = np.stack([part[:, k] for k in ks], axis=1)
    above = []
    for k in ks:
        if k + 1 >= n:
            above.append(part[:, k])
            continue
        nxt = min([d for d in done if d > k], default=n - 1)
        above.append(part[:, k + 1:nxt + 1].min(axis=1))
    return below, np.stack(above, axis=1)
