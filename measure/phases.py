"""Per-phase energy: prefill vs decode (text generation), denoise vs VAE decode (image generation).

Opt-in (``phases = true``, ``--phases``). A phase of one inference lasts 10-100 ms, below the
resolution of NVML's energy counter (updated about every 100 ms) and far below the 1 s
minimum window the backends ask for, so phases are not timed inside an inference. Instead,
after each measurement window of ``n`` full inferences, a second window runs ``m``
first-phase-only passes over the same inputs:

- text generation: ``prefill`` = generate exactly one new token (the prompt's forward pass,
  which yields that token); ``decode`` = full - prefill (the other new tokens).
- image generation: ``denoise`` = the pipeline with ``output_type="latent"`` (prompt encoding
  and every denoising step, no VAE decode); ``decode`` = full - denoise (VAE decode and
  post-processing).

``m`` is at least ``n`` and large enough that the phase window lasts the backend's minimum
window (from one batch of first-phase passes timed after the first window, outside any
window, so the first window stays a cold start), so both windows resolve on the counter.
The first phase carries its window's flags (``short-window`` ...), the second (a difference)
those of both windows; a difference below zero is kept and flagged ``phases-below-resolution``.
Windows are sequential, so every backend works, codecarbon and ``nvml+codecarbon`` included.
"""

from __future__ import annotations

import math
from typing import Any

#: task -> (first phase, measured directly; second phase, by difference)
PHASES: dict[str, tuple[str, str]] = {
    "text_generation": ("prefill", "decode"),
    "image_generation": ("denoise", "decode"),
}
#: a phase window aims at this multiple of the backend's minimum window (timing varies)
WINDOW_MARGIN = 1.5
#: at most this many first-phase passes per full inference in one phase window
MAX_PASSES_FACTOR = 200


def phase_passes(n: int, min_window_s: float, first_phase_s: float | None) -> int:
    """First-phase passes for a phase window: >= ``n`` and long enough for the backend.

    ``first_phase_s`` is the time of one first-phase pass (per inference), timed after the
    first window (:meth:`measure.run.Trial.plan_phases`); unknown or zero -> ``n``.
    """
    if not first_phase_s or first_phase_s <= 0 or min_window_s <= 0:
        return n
    need = math.ceil(WINDOW_MARGIN * min_window_s / first_phase_s)
    return int(min(max(n, need), n * MAX_PASSES_FACTOR))


def split_phases(task: str, full_energy_j: float | None, full_time_s: float, n_full: int,
                 first_energy_j: float | None, first_time_s: float, n_first: int,
                 first_flags: list[str], full_flags: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Per-inference energy and time of each phase from a full window and a first-phase window.

    Returns (``phases`` field of the record, record-level flags).
    """
    first, second = PHASES[task]
    e1 = None if first_energy_j is None else first_energy_j / n_first
    t1 = first_time_s / n_first
    e_full = None if full_energy_j is None else full_energy_j / n_full
    t_full = full_time_s / n_full
    e2 = None if e1 is None or e_full is None else e_full - e1
    flags: list[str] = []
    if "short-window" in first_flags or "short-window" in full_flags:
        flags.append("phases-short-window")
    if e1 is None:
        flags.append("phases-failed")
    if e2 is not None and e2 < 0:
        flags.append("phases-below-resolution")
    out: dict[str, Any] = {
        "method": "difference",
        first: {"energy_j_per_inference": e1, "time_s_per_inference": t1, "n_inferences": n_first,
                "window_s": first_time_s, "flags": list(first_flags)},
        second: {"energy_j_per_inference": e2, "time_s_per_inference": t_full - t1,
                 "n_inferences": n_full, "window_s": full_time_s,
                 # a difference of two windows carries the flags of both
                 "flags": list(dict.fromkeys([*full_flags, *first_flags])),
                 "derived": f"full - {first}"},
    }
    return out, flags
