"""Peer cross-check: EcoLogits' per-request energy beside wattcast's LLM per-request assumptions.

EcoLogits (GenAI Impact) estimates the energy of one LLM request from the model's active
parameters, the output tokens and the request latency, at the data-centre meter (PUE
included). `scripts/crosscheck_ecologits.py` computed its ranges once, for a 500-token answer
from small, mid-size and frontier models, and stored them with the EcoLogits version in
`data/crosschecks/ecologits_llm.csv`; the product reads that file and does not need ecologits.

wattcast's side is computed here, now, from the reference preset's LLM workload with the
same request: 500 output tokens, no prompt tokens (EcoLogits counts none), reasoning off, one
model class (`small`, `mid`, `frontier`) and the model's architecture (dense: MoE share 0;
mixture of experts: MoE share 1). Its facility energy per request in the base year (World,
central run; `ProjectionResult.per_unit`) is set beside EcoLogits' range: `ratio_low`/`ratio_high`
= EcoLogits / wattcast (above 1: EcoLogits estimates more).
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from .paths import data_dir

PRESET = "reference"
WORKLOAD = "llm_text"
OUTPUT_TOKENS = 500


def ecologits_table() -> pd.DataFrame:
    """The stored EcoLogits figures (one row per model; energy in Wh per request)."""
    return pd.read_csv(data_dir() / "crosschecks" / "ecologits_llm.csv")


@lru_cache(maxsize=16)
def wattcast_wh_per_request(model_class: str, moe: bool, output_tokens: int = OUTPUT_TOKENS) -> float:
    """wattcast's facility Wh for one `output_tokens` answer from `model_class` (dense or MoE)."""
    from .engine import run_projection
    from .scenario import apply_overrides, load_preset

    p = f"workloads.{WORKLOAD}.llm"
    s = apply_overrides(load_preset(PRESET), [
        f"{p}.output_tokens={int(output_tokens)}", f"{p}.input_tokens=0", f"{p}.reasoning_share=0",
        f"{p}.model_mix={{{model_class}=1.0}}", f"{p}.moe_share={1.0 if moe else 0.0}"])
    pu = run_projection(s).per_unit
    row = pu[(pu["workload"] == WORKLOAD) & (pu["region"] == "World")].iloc[0]
    return float(row["facility_wh"])


def llm_crosscheck() -> pd.DataFrame:
    """EcoLogits' range and wattcast's figure per model, with the ratio EcoLogits / wattcast.

    Columns: provider, model, wattcast_class, architecture, active_params_b, output_tokens,
    ecologits_wh_low, ecologits_wh_high, wattcast_wh, ratio_low, ratio_high, ecologits_version.
    """
    e = ecologits_table()
    w = [wattcast_wh_per_request(c, a == "moe", int(t))
         for c, a, t in zip(e["wattcast_class"], e["architecture"], e["output_tokens"])]
    out = e[["provider", "model", "wattcast_class", "architecture", "active_params_b", "output_tokens",
             "energy_wh_min", "energy_wh_max", "ecologits_version"]].rename(
        columns={"energy_wh_min": "ecologits_wh_low", "energy_wh_max": "ecologits_wh_high"})
    out.insert(8, "wattcast_wh", w)
    out.insert(9, "ratio_low", out["ecologits_wh_low"] / out["wattcast_wh"])
    out.insert(10, "ratio_high", out["ecologits_wh_high"] / out["wattcast_wh"])
    return out
