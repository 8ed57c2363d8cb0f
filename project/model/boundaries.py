"""Boundaries of a per-unit energy and the explicit conversions between them.

    accelerator  active accelerator energy, as benchmarks meter it (ML.ENERGY, AI Energy Score)
    server       x production_factor (achieved vs benchmark utilisation) x (1 + host_ratio)
                 (host CPU, DRAM, network of the active machines)
    it           x (1 + idle_ratio) (provisioned idle and standby machines): the fleet's IT load
    facility     x PUE (cooling, power conversion)

Anchor: Google (Aug 2025), median Gemini Apps text prompt, 0.24 Wh comprehensive: active
accelerators 58%, host CPU/DRAM 25%, idle machines 10%, overhead 8% (PUE 1.09), and 0.10 Wh
for active accelerators alone. Every figure is brought to the IT boundary once (`to_it`);
facility energy is IT energy x the PUE of the region serving it, so no value gets PUE twice.
"""

from __future__ import annotations

import numpy as np

ORDER = ("accelerator", "server", "it", "facility")


def to_it(kwh: np.ndarray, boundary: str, production_factor, host_ratio, idle_ratio, pue_measured=None) -> np.ndarray:
    """Energy per unit at `boundary` -> at the IT boundary (same unit)."""
    if boundary == "accelerator":
        return kwh * production_factor * (1.0 + host_ratio) * (1.0 + idle_ratio)
    if boundary == "server":
        return kwh * (1.0 + idle_ratio)
    if boundary == "it":
        return kwh
    if boundary == "facility":
        if pue_measured is None:
            raise ValueError("a facility-boundary energy needs the PUE it includes")
        return kwh / pue_measured
    raise ValueError(f"unknown boundary {boundary!r}; one of {', '.join(ORDER)}")

