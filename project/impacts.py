"""Per-unit impacts of each workload: energy at every boundary, emissions and water by kind.

Derived from a projection's own central results (so they follow the same conversion
chain as the totals): for workload w in region r and year y,

    IT kWh/unit       = the engine's IT-boundary energy per unit (after hardware, software and policy factors)
    facility kWh/unit = IT x PUE_r;  server = IT / (1 + idle);  accelerator = server / ((1 + host) x production)
    location g/unit   = facility x intensity_r;  market g/unit = facility x intensity_r x (1 - clean share_r)
    embodied g/unit   = IT x (Emissions|Embodied / Energy|IT)_r   (hardware emissions allocated by IT energy)
    on-site mL/unit   = IT x WUE_r;  off-site mL/unit = facility x water intensity of generation_r

World figures are activity-weighted over the regions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .variables import ACTIVITY_PREFIX, WORLD

COLUMNS = ["workload", "label", "region", "year", "accelerator_wh", "server_wh", "it_wh", "facility_wh",
           "location_g", "market_g", "embodied_g", "onsite_ml", "offsite_ml"]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def per_unit_impacts(result, year: int | None = None) -> pd.DataFrame:
    """One row per workload and region (World first) for `year` (default: the base year)."""
    c = result.compiled
    s = result.scenario
    year = s.base_year if year is None or year < s.start_year else year
    year = min(max(year, s.start_year), s.end_year)
    i = int(year - s.start_year)
    cen = result.central
    p = c.params
    pf = p["boundary.production_factor"].central
    host = p["boundary.host_ratio"].central
    idle = p["boundary.idle_ratio"].central
    regions = result.regions
    pue = _ratio(cen["Energy"][:, i], cen["Energy|IT"][:, i])
    from .variables import REGIONS

    pue_regional = np.array([np.nan] + [p[f"regions.{r}.pue"].central for r in REGIONS])
    pue = np.where(np.isfinite(pue), pue, pue_regional)
    intensity = _ratio(cen["Emissions|Location-based"][:, i], cen["Energy"][:, i]) * 1e3
    market = _ratio(cen["Emissions|Market-based"][:, i], cen["Energy"][:, i]) * 1e3
    embodied = _ratio(cen["Emissions|Embodied"][:, i], cen["Energy|IT"][:, i]) * 1e3
    wue = _ratio(cen["Water|On-site"][:, i], cen["Energy|IT"][:, i])
    off = _ratio(cen["Water|Off-site"][:, i], cen["Energy"][:, i])
    rows = []
    for w in c.workloads:
        act = cen[ACTIVITY_PREFIX + w.label][:, i]
        it_kwh = np.full(len(regions), float(result.unit_it_kwh[w.name][i]))
        fac_kwh = it_kwh * pue
        vals = {
            "it_wh": it_kwh * 1e3, "facility_wh": fac_kwh * 1e3,
            "server_wh": it_kwh / (1 + idle) * 1e3, "accelerator_wh": it_kwh / ((1 + idle) * (1 + host) * pf) * 1e3,
            "location_g": fac_kwh * intensity, "market_g": fac_kwh * market,
            "embodied_g": np.nan_to_num(it_kwh * embodied), "onsite_ml": it_kwh * wue * 1e3,
            "offsite_ml": fac_kwh * off * 1e3,
        }
        weights = act[1:] if act[1:].sum() > 0 else np.nan_to_num(cen["Energy|IT"][1:, i]) + 1e-30
        for j, region in enumerate(regions):
            row = {"workload": w.name, "label": w.label, "region": region, "year": year}
            for k, a in vals.items():
                if region == WORLD:
                    reg = a[1:]
                    ok = np.isfinite(reg) & (weights > 0)
                    row[k] = float((reg[ok] * weights[ok]).sum() / weights[ok].sum()) if ok.any() else float(a[0])
                else:
                    row[k] = float(a[j])
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
