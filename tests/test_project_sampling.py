"""The Monte Carlo numerics match the scipy/numpy routines they replace (project.model.sampling),
the fleet's matrix form matches per-class sums, and the float32 World-only Monte Carlo path
matches the float64 central path."""

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

import project.engine as eng
from project.model import fleet as fl
from project.model import sampling as sp
from project.scenario import apply_overrides, load_preset


@pytest.mark.parametrize("samples,d,block,threads", [(1, 3, 8, 1), (7, 20, 8, 2), (1000, 84, 8, 2), (1000, 84, 8, 1), (513, 5, 2, 3)])
def test_latin_hypercube_is_scipys_design(samples, d, block, threads):
    rng = np.random.default_rng(11)
    expected = np.empty((samples, d), dtype=np.float32)
    for j in range(0, d, block):
        k = min(block, d - j)
        expected[:, j:j + k] = qmc.LatinHypercube(d=k, rng=rng).random(samples)
    got = sp.latin_hypercube(samples, d, 11, block, threads)
    assert got.shape == (d, samples) and got.dtype == np.float32
    assert np.array_equal(got.T, expected)


DISTS = [
    stats.triang(c=0.3, loc=2.0, scale=5.0),
    stats.triang(c=0.0, loc=-0.1, scale=0.3),
    stats.triang(c=1.0, loc=1.0, scale=1e9),
    stats.uniform(loc=-3.0, scale=4.0),
    stats.loguniform(0.24, 3.0),
    stats.norm(loc=5.0, scale=2.0),
    stats.lognorm(s=0.8, scale=0.002),
    stats.truncnorm(-1.5, np.inf, loc=1.0, scale=0.5),   # no closed form here: scipy's own ppf
]


def test_inverse_cdf_matches_scipy_ppf():
    u = np.random.default_rng(3).random((len(DISTS), 5000)).astype(np.float32)
    u[:, :4] = [0.0, 1e-9, 0.99999999, 1.0]              # clipped to [1e-7, 1 - 1e-7]
    q = np.clip(u.astype(float), sp.EPS, 1 - sp.EPS)
    expected = np.array([d.ppf(q[i]) for i, d in enumerate(DISTS)])
    got = sp.inverse_cdf(DISTS, u)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    got32 = sp.inverse_cdf(DISTS, u, np.float32)
    assert got32.dtype == np.float32
    span = expected.max(axis=1, keepdims=True) - expected.min(axis=1, keepdims=True)
    assert (np.abs(got32 - expected) <= 1e-5 * span + 1e-6 * np.abs(expected)).all()


def test_ndtri_matches_scipy_special():
    from scipy import special

    p = np.concatenate([np.linspace(1e-7, 1 - 1e-7, 20001), np.logspace(-300, -1, 600), 1 - np.logspace(-16, -1, 300)])
    np.testing.assert_allclose(sp.ndtri(p), special.ndtri(p), rtol=1e-14, atol=1e-14)
    p32 = p[:20001].astype(np.float32)
    got = sp.ndtri(p32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, special.ndtri(p32.astype(float)).astype(np.float32), rtol=1e-6)


def test_dist_is_scipys_distribution_without_scipy_stats():
    """project.distributions.Dist: the same ppf and median as the frozen scipy object it names."""
    from project.distributions import Dist, frozen, lognormal_from_moments
    from project.scenario import Uncertain

    specs = [
        (Uncertain(value=3.5, low=2.0, high=7.0, distribution="triangular"), None),
        (Uncertain(value=1.0, low=-1.0, high=3.0, distribution="uniform"), None),
        (Uncertain(value=(0.24 * 3.0) ** 0.5, low=0.24, high=3.0, distribution="loguniform"), None),
        (Uncertain(value=5.0, low=5.0 - 1.6448536269514722 * 2, high=5.0 + 1.6448536269514722 * 2,
                   distribution="normal"), None),
        (Uncertain(value=1.0, std=0.5, distribution="normal"), 0.0),     # truncated at 0: scipy's ppf
        (Uncertain(value=0.002, low=0.001, high=0.004, distribution="lognormal"), None),
    ]
    dists = [frozen(u, lower) for u, lower in specs] + [lognormal_from_moments(0.05, 0.02)]
    names = [d.name for d in dists]
    assert names == ["triang", "uniform", "loguniform", "norm", "truncnorm", "lognorm", "lognorm"]
    q = np.array([1e-7, 0.05, 0.3, 0.5, 0.95, 1 - 1e-7])
    for d in dists:
        assert isinstance(d, Dist)
        ref = d.scipy()
        np.testing.assert_allclose(d.ppf(q), ref.ppf(q), rtol=1e-12)
        assert d.median() == pytest.approx(float(ref.median()), rel=1e-12)
        assert isinstance(d.ppf(0.5), float)


def test_projection_commands_do_not_import_scipy_stats():
    """About 1 s of import on these machines: only Sobol indices and the truncated normal need it."""
    import subprocess
    import sys

    code = ("import sys, project.cli, project.cli_compare, project.comparison;"
            "from project.engine import run_projection; from project.scenario import load_preset;"
            "run_projection(load_preset('reference'), samples=200);"
            "print(sorted(m for m in ('scipy.stats', 'scipy.special') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 20, 21, 999, 1000, 10_001])
def test_percentiles_equal_numpys_linear_percentiles(n):
    rng = np.random.default_rng(n)
    a = rng.lognormal(size=(6, n)).astype(np.float32)
    a[1] = 2.5                         # all ties
    a[2, : n // 2] = 1.0               # half ties
    a[3] = -a[3]
    a[4, 0] = np.nan                   # a row with no draws (World-only cell)
    expected = np.percentile(a.astype(float), [5, 50, 95], axis=1)
    expected[:, 4] = np.nan
    got = sp.percentiles(a.copy())
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)


def _installed_by_loops(c, total, scale, flops, refresh):
    """The per-class installed base as the engine computed it before the matrix form."""
    axes = c.fleet_axes
    grown = np.nonzero(axes.growth_mask)[0]
    out = {}
    for k, cname in enumerate(fl.CLASS_IDS):
        M = (c.vintage_refresh if refresh else c.vintage)[cname]
        fixed = (c.fixed_installed_refresh if refresh else c.fixed_installed)[cname]
        ship = total * axes.mix[k, grown][None, :]
        out[cname] = (fixed[None] + np.tensordot(ship, M[:, grown, :], axes=([1], [1]))) * scale[:, None, None]
    if refresh:
        deficit = sum((_installed_by_loops(c, total, scale, flops, False)[k] - out[k]) * flops[:, i, None, None]
                      for i, k in enumerate(fl.CLASS_IDS))
        out["b200"] = out["b200"] + np.maximum(deficit, 0.0) / flops[:, 3, None, None]
    return out


@pytest.mark.parametrize("refresh", [False, True])
def test_installed_basis_class_sums_equal_per_class_loops(refresh):
    s = load_preset("reference")
    if refresh:
        s = apply_overrides(s, {"policy.hardware_refresh": {"start_year": 2027, "lifetime_years": 3}})
    c = eng.compile_scenario(s)
    rng = np.random.default_rng(0)
    n, G = 7, int(c.fleet_axes.growth_mask.sum())
    total = rng.uniform(1e6, 3e7, size=(n, G))
    scale = rng.uniform(0.5, 2.0, size=n)
    flops = rng.uniform(100, 2000, size=(n, len(fl.CLASS_IDS)))
    w = rng.uniform(0, 1000, size=(n, len(fl.CLASS_IDS)))
    inst = _installed_by_loops(c, total, scale, flops, refresh)
    expected = sum(inst[k] * w[:, i, None, None] for i, k in enumerate(fl.CLASS_IDS))    # (n, R, Y)
    basis = fl.installed_basis(c.fleet_axes, c.vintage, c.fixed_installed, c.vintage_refresh,
                               c.fixed_installed_refresh, c.replacement, c.fixed_replacement)
    x = scale[None, :] * np.concatenate([np.ones((1, n)), total.T])                      # (J, n)
    got = basis.sum(x, w.T, flops.T)                                                       # (R, Y, n)
    np.testing.assert_allclose(got.transpose(2, 0, 1), expected, rtol=1e-12)
    world = basis.sum(x, w.T, flops.T, world=True)
    np.testing.assert_allclose(world[0].T, expected.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("preset", ["reference", "paper-2023", "policy-combined"])
def test_monte_carlo_chunk_matches_the_float64_evaluation(preset):
    """The Monte Carlo path (float32, only kept variables, World totals without regional
    arrays) gives the float64 evaluation's World and regional values to float32 precision."""
    c = eng.compile_scenario(load_preset(preset))
    vals = eng.sample_parameters(c, 300, seed=4)
    full = eng._evaluate(c, vals, 300)
    kept = eng._kept(c)
    want = {k: k in eng.REGIONAL_PERCENTILES for k in kept}
    fast = eng._evaluate(c, {k: v.astype(np.float32) for k, v in vals.items()}, 300, want=want, dtype=np.float32)
    assert set(fast) >= set(kept)
    for k in kept:
        assert fast[k].dtype == np.float32
        world = full[k].sum(axis=0)
        scale = np.abs(world).max()
        np.testing.assert_allclose(fast[k].sum(axis=0), world, rtol=2e-5, atol=2e-6 * scale, err_msg=k)
        if want[k]:
            np.testing.assert_allclose(fast[k], full[k], rtol=2e-5, atol=2e-6 * scale, err_msg=k)


def test_monte_carlo_is_the_same_on_one_thread_in_any_chunks_and_for_a_subset(monkeypatch):
    s = load_preset("reference")
    base = eng.run_projection(s, samples=700, seed=9)
    monkeypatch.setattr(eng, "MC_THREADS", 1)
    monkeypatch.setattr(eng, "CHUNK", 128)
    one = eng.run_projection(s, samples=700, seed=9)
    for k, q in base.percentiles.items():
        np.testing.assert_allclose(one.percentiles[k], q, rtol=1e-6, equal_nan=True, err_msg=k)
    sub = eng.run_projection(s, samples=700, seed=9, variables=["Water", "Energy|Inference", "Share|Attributed"])
    assert set(sub.percentiles) == {"Water", "Energy|Inference"}   # Share|Attributed is never sampled
    assert set(sub.central) == set(base.central)
    for k, q in sub.percentiles.items():
        np.testing.assert_allclose(q, base.percentiles[k], rtol=1e-6, equal_nan=True, err_msg=k)
    assert set(sub.table.loc[sub.table["stat"] != "central", "variable"]) == {"Water", "Energy|Inference"}
    assert eng.mc_memory_bytes(c := eng.compile_scenario(s), 10**6, ["Water"]) < eng.mc_memory_bytes(c, 10**6)


def test_a_failing_temporary_file_is_one_clear_message(monkeypatch):
    """Draws beyond KEEP_BYTES go to a temporary file; a full disk names the directory and the fix."""
    from project.scenario import ScenarioError

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(eng, "KEEP_BYTES", 1000)
    monkeypatch.setattr(eng.os, "pwrite", full)
    with pytest.raises(ScenarioError, match="temporary file.*No space left on device.*TMPDIR"):
        eng.run_projection(load_preset("reference"), samples=300, seed=1)
