#!/usr/bin/env python
"""Compute EcoLogits' per-request ranges for a 500-token LLM answer and store them in data/.

    pip install ecologits            # only this script needs it, never the product
    python scripts/crosscheck_ecologits.py          # writes data/crosschecks/ecologits_llm.csv
                                                    # and the table in docs/crosschecks.md

For each model below, `ecologits.tracers.utils.llm_impacts` gives energy (kWh, data-centre
meter, PUE included), GWP (kg CO2-equiv: usage at the world electricity mix + embodied) and
water consumption footprint (L) as min-max ranges, for OUTPUT_TOKENS output tokens and a
request latency of LATENCY_S seconds (EcoLogits bounds the generation time by it). The CSV
keeps the EcoLogits version and its warnings; `project.crosschecks.llm_crosscheck()` sets
them beside wattcast's own per-request energy (computed at run time) and docs/crosschecks.md
shows the table this script last wrote.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from project.crosschecks import OUTPUT_TOKENS, PRESET  # noqa: E402
from project.export import atomic_write  # noqa: E402

OUT = ROOT / "data" / "crosschecks" / "ecologits_llm.csv"
DOC = ROOT / "docs" / "crosschecks.md"
LATENCY_S = 10.0  # 500 tokens at 50 tokens/s
ZONE = "WOR"      # EcoLogits' world electricity mix
#: (provider, model, wattcast model class): small < ~30B active parameters, frontier = a
#: provider's flagship; the architecture (dense / MoE) comes from EcoLogits' model repository
MODELS = [
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "small"),
    ("openai", "gpt-4o-mini", "small"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-70B-Instruct", "mid"),
    ("google_genai", "gemini-2.5-flash", "mid"),
    ("openai", "gpt-4o", "mid"),
    ("openai", "gpt-5", "frontier"),
    ("google_genai", "gemini-2.5-pro", "frontier"),
    ("anthropic", "claude-opus-4-5", "frontier"),
]
BEGIN, END = "<!-- crosscheck table: begin -->", "<!-- crosscheck table: end -->"


def sig(x: float) -> float:
    """6 significant digits (EcoLogits' ranges carry no more meaning than that)."""
    return float(f"{x:.6g}")


def _range(v) -> tuple[float, float]:
    return (float(v.min), float(v.max)) if hasattr(v, "min") else (float(v), float(v))


def _params(arch) -> str:
    p = arch.parameters
    act = getattr(p, "active", p)
    lo, hi = _range(act)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def compute() -> pd.DataFrame:
    import ecologits
    from ecologits.model_repository import models
    from ecologits.tracers.utils import llm_impacts

    rows = []
    for provider, name, cls in MODELS:
        m = models.find_model(provider=provider, model_name=name)
        if m is None:
            raise SystemExit(f"EcoLogits {ecologits.__version__} does not know {provider}/{name}")
        r = llm_impacts(provider=provider, model_name=name, output_token_count=OUTPUT_TOKENS,
                        request_latency=LATENCY_S, electricity_mix_zone=ZONE)
        e, g, w = _range(r.energy.value), _range(r.gwp.value), _range(r.wcf.value)
        rows.append({
            "provider": provider, "model": name, "wattcast_class": cls,
            "architecture": "moe" if "moe" in str(m.architecture.type).lower() else "dense",
            "active_params_b": _params(m.architecture), "output_tokens": OUTPUT_TOKENS,
            "request_latency_s": LATENCY_S, "electricity_mix_zone": ZONE,
            "energy_wh_min": sig(e[0] * 1e3), "energy_wh_max": sig(e[1] * 1e3),
            "gwp_g_min": sig(g[0] * 1e3), "gwp_g_max": sig(g[1] * 1e3),
            "water_ml_min": sig(w[0] * 1e3), "water_ml_max": sig(w[1] * 1e3),
            "warnings": "; ".join(x.code for x in (r.warnings or [])),
            "ecologits_version": ecologits.__version__,
            "source": "EcoLogits (GenAI Impact), ecologits.tracers.utils.llm_impacts, computed by "
                      "scripts/crosscheck_ecologits.py",
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The docs table: EcoLogits range, wattcast figure, ratio."""
    versions = ", ".join(sorted(set(table["ecologits_version"].astype(str))))
    lines = [f"EcoLogits {versions}; {int(table['output_tokens'].iloc[0])} output tokens; wattcast: "
             f"`{PRESET}` preset, recomputed by project.crosschecks.llm_crosscheck().", "",
             "| model (EcoLogits) | active params (B) | wattcast class | EcoLogits Wh | wattcast Wh | "
             "EcoLogits / wattcast |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.model} ({r.architecture}) | {r.active_params_b} | {r.wattcast_class} | "
                     f"{r.ecologits_wh_low:.3g}-{r.ecologits_wh_high:.3g} | {r.wattcast_wh:.3g} | "
                     f"{r.ratio_low:.2g}-{r.ratio_high:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--doc-only", action="store_true", help="only rewrite the docs table from the stored CSV")
    args = ap.parse_args(argv)
    if not args.doc_only:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        table = compute()
        atomic_write(OUT, lambda p: table.to_csv(p, index=False))
        print(f"wrote {OUT}")
    from project.crosschecks import llm_crosscheck

    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    text = f"{head}{BEGIN}\n{markdown(llm_crosscheck())}\n{END}{tail}"
    atomic_write(DOC, lambda p: p.write_text(text, encoding="utf-8"))
    print(f"updated the table in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
