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
    """(name, parameters) of a distribution (a project.distributions.Dist or a frozen scipy one)
    with a closed-form inverse CDF here, else ("scipy", ()). Parameters are scipy's own
    (shapes, loc, scale), so the closed forms below are scipy's `_ppf` x scale + loc."""
    from ..distributions import CLOSED_FORM, Dist

    if isinstance(dist, Dist):
        if dist.name not in CLOSED_FORM:
            return "scipy", ()
        return dist.name, (*map(float, dist.shapes), float(dist.loc), float(dist.scale))
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
            out[rows] = closed_form_ppf(kind, q, [p.astype(dtype) for p in params])
        return out


def inverse_cdf(dists: list, u: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Quantiles of frozen scipy distributions: row i of `u` (d, n) through `dists[i].ppf`,
    as (d, n) of `dtype` (see InverseCDF)."""
    return InverseCDF(dists)(u, dtype)


# Wichura (1988), Algorithm AS 241 (PPND16), Applied Statistics 37(3): 477-484: the standard normal
# quantile to about 1e-16 relative, as rational functions in three regions of p.
_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3, 1.3731693765509461125e4,
      4.5921953931549871457e4, 6.7265770927008700853e4, 3.3430575583588128105e4, 2.5090809287301226727e3)
_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3, 2.1213794301586595867e4,
      3.9307895800092710610e4, 2.8729085735721942674e4, 5.2264952788528545610e3)
_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0, 3.64784832476320460504e0,
      1.27045825245236838258e0, 2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4)
_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
      1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4, 1.05075007164441684324e-9)
_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0, 2.96560571828504891230e-1,
      2.65321895265761230930e-2, 1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
      7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7, 2.04426310338993978564e-15)


def _poly(c: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, c[-1])
    for k in c[-2::-1]:
        out = out * x + k
    return out


def ndtri(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile (scipy.special.ndtri) for p in (0, 1), in p's float dtype.

    Computed in float64 by AS 241 (tested against scipy to 1e-14): scipy.special is not
    imported for it, which keeps about 0.2 s off every command's start.
    """
    p = np.asarray(p)
    x = p.astype(np.float64)
    q = x - 0.5
    out = np.empty_like(x)
    central = np.abs(q) <= 0.425
    r = 0.180625 - q[central] ** 2
    out[central] = q[central] * _poly(_A, r) / _poly(_B, r)
    tail = ~central
    r = np.sqrt(-np.log(np.minimum(x[tail], 1.0 - x[tail])))
    near = r <= 5.0
    t = np.where(near, _poly(_C, r - 1.6) / _poly(_D, r - 1.6), _poly(_E, r - 5.0) / _poly(_F, r - 5.0))
    out[tail] = np.where(q[tail] < 0, -t, t)
    return out.astype(p.dtype if p.dtype.kind == "f" else np.float64, copy=False)


def closed_form_ppf(kind: str, q: np.ndarray, p: list[np.ndarray]) -> np.ndarray:
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
        x = ndtri(q)
    else:  # lognorm
        s, loc, scale = p
        x = np.exp(s * ndtri(q))
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
