"""Supply side: accelerator shipments by class and year -> installed base by vintage and region
-> IT energy, peak power, embodied emissions, and the fleet's energy per unit of compute.

Stocks and flows (per class c, region r, year y; k = age in years):

    shipments S[c, y]            observed (data/fleet/shipments.csv) up to the last data year,
                                 then total T(y) grown from it (bounded) x class mix m[c, y]
    installed I[c, r, y]        = sum_k S[c, y-k] x share[r, y-k] x w_c(k)
    w_c(k)                       survival weight: mid-year installation counts k=0 at 1/2,
                                 retirement after the class lifetime L_c (linear over a year)
    P_max,c                      accelerator TDP + server overhead per accelerator (W)
    P_avg,c                      P_max,c x (idle_c + (1 - idle_c) x min(1, u_c x scale))
    IT energy E[r, y]           = sum_c I[c, r, y] x P_avg,c x 8,760 h
    peak power G[r, y]          = sum_c I[c, r, y] x P_max,c x PUE_r
    embodied M[r, y]            = sum_c I[c, r, y] x kg_c / L_c      (straight-line amortisation)

Shipments before the scenario's years matter through the installed base, so the fleet is
computed on an extended year axis and cut to the scenario's years at the end. Array axes:
(n, R, Y) for sampled results, (C, R, Yf, Y) for deterministic vintage matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..paths import data_dir
from ..variables import REGIONS

HOURS_PER_YEAR = 8760.0
CLASS_IDS: tuple[str, ...] = ("legacy_gpu", "a100", "h100", "b200", "asic")
CLASS_LABELS = {"legacy_gpu": "Legacy GPU", "a100": "A100-class", "h100": "H100-class",
                "b200": "B200-class", "asic": "TPU and ASIC"}


@lru_cache(maxsize=1)
def class_table() -> pd.DataFrame:
    """data/fleet/accelerator_classes.csv joined with class_compute.csv, indexed by class."""
    d = data_dir() / "fleet"
    a = pd.read_csv(d / "accelerator_classes.csv").set_index("class", drop=False)
    c = pd.read_csv(d / "class_compute.csv").set_index("class")
    missing = set(CLASS_IDS) - set(a.index)
    if missing:
        raise ValueError(f"data/fleet/accelerator_classes.csv: missing classes {sorted(missing)}")
    a["peak_tflops"] = c["peak_tflops_bf16_dense"]
    a["peak_tflops_low"] = c["low"]
    a["peak_tflops_high"] = c["high"]
    a["compute_source"] = c["source"]
    return a.loc[list(CLASS_IDS)]


@lru_cache(maxsize=1)
def shipments_table() -> pd.DataFrame:
    """data/fleet/shipments.csv as a (year x class) table of accelerators shipped (units)."""
    df = pd.read_csv(data_dir() / "fleet" / "shipments.csv")
    bad = set(df["class"]) - set(CLASS_IDS)
    if bad:
        raise ValueError(f"data/fleet/shipments.csv: unknown classes {sorted(bad)}")
    t = df.pivot_table(index="year", columns="class", values="units", aggfunc="sum").reindex(columns=list(CLASS_IDS))
    return t.fillna(0.0).sort_index()


@lru_cache(maxsize=1)
def regional_split_table() -> pd.DataFrame:
    """data/fleet/regional_split.csv as a (year x region) table of installation shares."""
    df = pd.read_csv(data_dir() / "fleet" / "regional_split.csv")
    t = df.pivot_table(index="year", columns="region", values="share", aggfunc="sum").reindex(columns=list(REGIONS))
    if t.isna().any().any():
        raise ValueError("data/fleet/regional_split.csv: every year needs a share for each of " + ", ".join(REGIONS))
    sums = t.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        raise ValueError(f"data/fleet/regional_split.csv: shares must sum to 1 per year, got {sums.to_dict()}")
    return t.sort_index()


def interp_rows(table: pd.DataFrame, years: np.ndarray) -> np.ndarray:
    """Rows of a year-indexed table interpolated linearly to `years`, held flat outside: (len(years), cols)."""
    return _interp(table.index.to_numpy(dtype=float), table.to_numpy(dtype=float), years)


def _interp(ks: np.ndarray, values: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Rows `values` (len(ks), cols) at sorted years `ks`, interpolated to `years`: (len(years), cols)."""
    return np.column_stack([np.interp(years, ks, values[:, j]) for j in range(values.shape[1])])


@lru_cache(maxsize=1)
def class_rows() -> dict[str, dict]:
    """class_table() as plain dicts by class (row lookups at compile time without pandas)."""
    return class_table().to_dict("index")


def survival_weights(lifetime: float, n_ages: int, mid_year: bool) -> np.ndarray:
    """Average share of a year's shipments in service at age k = 0..n_ages-1 (years).

    With mid-year installation the year of shipment counts 1/2 and the unit retires
    L years after installation (the last half-year at age L); otherwise it serves
    ages 0..L-1 fully. A fractional lifetime retires linearly within the year.
    """
    k = np.arange(n_ages, dtype=float)
    if mid_year:
        w = np.clip(lifetime + 0.5 - k, 0.0, 1.0)
        w[0] = min(0.5, lifetime)
        return w
    return np.clip(lifetime - k, 0.0, 1.0)


@dataclass
class FleetAxes:
    """The extended year axis of the fleet and the deterministic parts of its shipments."""

    years_full: np.ndarray        # (Yf,) first shipment year .. scenario end
    scen_index: np.ndarray        # (Y,) positions of the scenario years in years_full
    history: np.ndarray           # (C, Yf) shipments fixed by data or the scenario (units)
    growth_mask: np.ndarray       # (Yf,) 1 where the total grows from `anchor_total`
    anchor_year: int              # last year with fixed shipments
    anchor_total: float           # fixed shipments in the anchor year (all classes)
    mix: np.ndarray               # (C, Yf) class shares of grown shipments
    shares: np.ndarray            # (R, Yf) regional shares of installations


def fleet_axes(spec, start_year: int, end_year: int) -> FleetAxes:
    """Resolve shipments history, explicit shipments, class mix and regional shares."""
    if spec.history:
        table = shipments_table()
        hist_years, hist_units = table.index.astype(int).tolist(), table.to_numpy(dtype=float)   # (years, C)
    else:
        hist_years, hist_units = [], np.zeros((0, len(CLASS_IDS)))
    explicit_years = {y for d in spec.shipments.values() for y in d}
    first = min([*hist_years, *explicit_years, start_year - 10])
    years_full = np.arange(int(first), end_year + 1)
    yi = {int(y): i for i, y in enumerate(years_full)}
    H = np.zeros((len(CLASS_IDS), len(years_full)))
    for y, units in zip(hist_years, hist_units):
        if y in yi:
            H[:, yi[y]] = units
    for cname, d in spec.shipments.items():
        if cname not in CLASS_IDS:
            raise KeyError(f"fleet.shipments: unknown accelerator class {cname!r}; one of {', '.join(CLASS_IDS)}")
        for y, units in d.items():
            if y in yi:
                H[CLASS_IDS.index(cname), yi[y]] = units
    fixed_years = sorted(set(hist_years) | explicit_years)
    anchor_year = fixed_years[-1] if fixed_years else start_year
    anchor_total = float(H[:, yi[anchor_year]].sum()) if anchor_year in yi else 0.0
    growth_mask = (years_full > anchor_year).astype(float)
    # class mix of grown shipments: the anchor year's mix, then the scenario's mix path
    base_mix = H[:, yi[anchor_year]] / anchor_total if anchor_total > 0 else np.full(len(CLASS_IDS), 1 / len(CLASS_IDS))
    mix_rows = {anchor_year: dict(zip(CLASS_IDS, base_mix))}
    for y, m in spec.mix.items():
        unknown = set(m) - set(CLASS_IDS)
        if unknown:
            raise KeyError(f"fleet.mix.{y}: unknown accelerator class {sorted(unknown)}")
        mix_rows[y] = {c: m.get(c, 0.0) for c in CLASS_IDS}
    ks = sorted(mix_rows)
    mix = _interp(np.array(ks, dtype=float), np.array([[mix_rows[y][c] for c in CLASS_IDS] for y in ks]),
                  years_full).T
    mix = mix / mix.sum(axis=0, keepdims=True)
    if spec.region_shares is not None:
        shares = np.tile(np.array([spec.region_shares.get(r, 0.0) for r in REGIONS])[:, None], (1, len(years_full)))
    else:
        shares = interp_rows(regional_split_table(), years_full).T
    scen_index = np.array([yi[y] for y in range(start_year, end_year + 1)])
    return FleetAxes(years_full, scen_index, H, growth_mask, anchor_year, anchor_total, mix, shares)


def _in_service(yf: np.ndarray, ys: np.ndarray, lifetime: float, mid_year: bool,
                refresh: tuple[int, float] | None) -> np.ndarray:
    """W[y', y]: share of shipment year y' in service in year y (survival weights), (Yf, len(ys))."""
    age = ys[None, :] - yf[:, None]
    w = survival_weights(lifetime, len(yf) + 2, mid_year)
    W = np.where(age >= 0, w[np.clip(age, 0, len(w) - 1)], 0.0)
    if refresh is not None:
        start, life2 = refresh
        w2 = survival_weights(life2, len(yf) + 2, mid_year)
        W2 = np.where(age >= 0, w2[np.clip(age, 0, len(w2) - 1)], 0.0)
        W = np.where(ys[None, :] >= start, np.minimum(W, W2), W)
    return W


def vintage_matrix(axes: FleetAxes, lifetime: float, mid_year: bool,
                   refresh: tuple[int, float] | None = None) -> np.ndarray:
    """M[r, y', y] = share[r, y'] x w(y - y') for shipment year y' and scenario year y: (R, Yf, Y).

    `refresh` = (start year, lifetime): from that year on, units retire at the new age when
    it is shorter than `lifetime` (a later refresh never brings retired units back).
    """
    yf = axes.years_full
    W = _in_service(yf, yf[axes.scen_index], lifetime, mid_year, refresh)
    return axes.shares[:, :, None] * W[None, :, :]


def replacement_matrix(axes: FleetAxes, lifetime: float, mid_year: bool, refresh: tuple[int, float]) -> np.ndarray:
    """Units of shipment year y' retired early by `refresh` whose replacements are shipped in
    scenario year y, per unit shipped: (R, Yf, Y), regions as the vintage's installations.

    The early-retirement deficit of a vintage, D = w - w_refresh (in service without minus
    with the refresh), rises while its units retire early and falls back to 0 when they would
    have retired anyway; its replacements (which serve in the deficit's place, see
    InstalledBasis) are shipped as it rises: max(D[y] - D[y - 1], 0), so each unit retired
    early is replaced once, in the years its service stops.
    """
    yf = axes.years_full
    ys = yf[axes.scen_index]
    ext = np.concatenate([[ys[0] - 1], ys])
    D = _in_service(yf, ext, lifetime, mid_year, None) - _in_service(yf, ext, lifetime, mid_year, refresh)
    return axes.shares[:, :, None] * np.maximum(np.diff(D, axis=1), 0.0)[None, :, :]


@dataclass
class InstalledBasis:
    """Installed accelerators as a linear function of the shipment drivers, for class sums.

    Per class c, region r and scenario year y (G = the grown shipment years, drivers
    x = scale x (1, total_1, .., total_G), J = 1 + G):

        installed[c, r, y] = sum_j B[c, j, r, y] x[j],   B[c, 0] = fixed history (units),
                                                          B[c, 1 + g] = mix[c, g] x M_c[r, g, y]

    so a class sum with per-sample weights w[c, n] (power, embodied, ...) is one matrix
    product: sum_c w[c, n] installed[c, r, y, n] = B[(r, y), (c, j)] @ (w (x) x)[(c, j), n].
    That replaces C (R, Y, n) temporaries per weighted sum by a small (C x J, n) one.
    Arrays here are samples-last, as in the engine's evaluation.

    With the hardware-refresh lever every class retires on the refreshed vintages
    (B_refresh <= B), and the newest GPU class also replaces the compute the early
    retirements removed: extra = sum_c (tflops_c / tflops_new) x (B_c - B_refresh_c) @ x.
    Its weight rows are appended, w2[c, n] = w[new, n] x tflops_c / tflops_new against
    B - B_refresh. (B - B_refresh >= 0, so that deficit is never negative.) `Brep` is the
    same product for the replacements' shipments (`replacement_matrix` in place of M_c).
    """

    B: np.ndarray            # (R * Y, K), K = C x J, or 2 C x J with the refresh lever
    Bw: np.ndarray           # (Y, K): B summed over regions (World)
    regions: int
    refresh: bool
    newest: int              # index of the class that replaces retired compute
    Brep: np.ndarray | None = None   # (R * Y, C x J): replacement shipments (refresh lever only)

    def sum(self, x: np.ndarray, w: np.ndarray, tflops: np.ndarray | None = None, world: bool = False) -> np.ndarray:
        """sum_c w[c, n] x installed[c, ..., n]: drivers x (J, n), weights w (C, n) -> (R, Y, n),
        or (1, Y, n) World totals when `world`. `tflops` (C, n) is needed with the refresh lever."""
        p = (w[:, None, :] * x[None, :, :]).reshape(-1, max(w.shape[1], x.shape[1]))
        if self.refresh:
            w2 = w[self.newest:self.newest + 1] * tflops / tflops[self.newest:self.newest + 1]
            p = np.concatenate([p, (w2[:, None, :] * x[None, :, :]).reshape(-1, p.shape[1])])
        if world:
            return (self.Bw @ p)[None]
        return (self.B @ p).reshape(self.regions, -1, p.shape[1])

    def replacements(self, x: np.ndarray, tflops: np.ndarray) -> np.ndarray:
        """Newest-class accelerators shipped to replace the compute of those retired early by
        the hardware-refresh lever, (R, Y, n) units: sum_c tflops_c / tflops_new x Brep_c @ x."""
        ratio = tflops / tflops[self.newest:self.newest + 1]                  # (C, n)
        p = (ratio[:, None, :] * x[None, :, :]).reshape(-1, max(ratio.shape[1], x.shape[1]))
        return (self.Brep @ p).reshape(self.regions, -1, p.shape[1])


def installed_basis(axes: FleetAxes, vintage: dict[str, np.ndarray], fixed: dict[str, np.ndarray],
                    vintage_refresh: dict[str, np.ndarray] | None = None,
                    fixed_refresh: dict[str, np.ndarray] | None = None,
                    replacement: dict[str, np.ndarray] | None = None,
                    fixed_replacement: dict[str, np.ndarray] | None = None) -> InstalledBasis:
    """The stacked B of `InstalledBasis` from the per-class vintage matrices M_c (R, Yf, Y) and
    fixed installed bases (R, Y), float64; with the refresh lever also from the refreshed
    ones and the replacement matrices (`replacement_matrix`) with their fixed-history part."""

    def stack(vint: dict[str, np.ndarray], fix: dict[str, np.ndarray]) -> np.ndarray:
        grown = np.nonzero(axes.growth_mask)[0]
        blocks = []
        for k, cname in enumerate(CLASS_IDS):
            M = vint[cname]                                               # (R, Yf, Y)
            g = axes.mix[k, grown][None, :, None] * M[:, grown, :]         # (R, G, Y)
            blocks.append(np.concatenate([fix[cname][:, None, :], g], axis=1))   # (R, J, Y)
        return np.stack(blocks, axis=2)                                    # (R, J, C, Y)

    def rows(b: np.ndarray) -> np.ndarray:                                 # (R, Y, C, J): (c, j) as in `sum`
        R, J, C, Y = b.shape
        return np.ascontiguousarray(b.transpose(0, 3, 2, 1).reshape(R * Y, C * J))

    B = stack(vintage, fixed)
    refresh = bool(vintage_refresh)
    Brep = None
    if refresh:
        Br = stack(vintage_refresh, fixed_refresh)
        B = np.concatenate([Br, B - Br], axis=2)
        Brep = rows(stack(replacement, fixed_replacement)) if replacement else None
    R, J, C2, Y = B.shape
    return InstalledBasis(rows(B), np.ascontiguousarray(B.sum(axis=0).transpose(2, 1, 0).reshape(Y, C2 * J)), R,
                          refresh, CLASS_IDS.index("b200"), Brep)


def basis_as(b: InstalledBasis, dtype) -> InstalledBasis:
    """The same basis with its matrices cast to `dtype` (float32 for Monte Carlo chunks)."""
    return InstalledBasis(b.B.astype(dtype), b.Bw.astype(dtype), b.regions, b.refresh, b.newest,
                          None if b.Brep is None else b.Brep.astype(dtype))
