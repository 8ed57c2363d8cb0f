"""Per-phase windows inside a measurement window: prefill vs decode, denoise vs VAE decode.

Opt-in (``phases = true``). Each inference opens nested windows on the same backend, so only
backends whose windows can nest are used (NVML counters, the constant-power fake); with
codecarbon (one task at a time) the record is flagged ``phases-unsupported`` instead. A
phase boundary synchronises the GPU, which adds a little time to each inference.

- text generation: ``prefill`` runs from the call to the first logits (the prompt's forward
  pass), ``decode`` from there to the end (the new tokens, then detokenisation).
- image generation: ``denoise`` runs from the call (prompt encoding included) to the end of
  the last denoising step, ``decode`` from there to the end (VAE decode, post-processing).
"""

from __future__ import annotations

from typing import Any, Callable

from measure.window import Monitor

PHASES: dict[str, tuple[str, str]] = {
    "text_generation": ("prefill", "decode"),
    "image_generation": ("denoise", "decode"),
}


class PhaseRecorder:
    """Accumulates energy (J) and time (s) per phase over the inferences of one window."""

    def __init__(self, monitor: Monitor, sync: Callable[[], None]) -> None:
        self.monitor, self.sync = monitor, sync
        self.active = False
        self.current: str | None = None
        self.totals: dict[str, dict[str, float]] = {}
        self._n = 0

    def reset(self) -> None:
        self.totals = {}

    def start(self, phase: str) -> None:
        if not self.active:
            return
        self.sync()
        self._n += 1
        self.current = f"phase:{phase}:{self._n}"
        self.monitor.begin_window(self.current)
        self._phase = phase

    def stop(self) -> None:
        if not self.active or self.current is None:
            return
        self.sync()
        res = self.monitor.end_window(self.current)
        t = self.totals.setdefault(self._phase, {"energy_j": 0.0, "time_s": 0.0, "count": 0})
        t["energy_j"] += res.reading.total_j
        t["time_s"] += res.duration_s
        t["count"] += 1
        self.current = None

    def switch(self, phase: str) -> None:
        self.stop()
        self.start(phase)

    def per_inference(self, n: int) -> dict[str, dict[str, Any]]:
        return {p: {"energy_j_per_inference": v["energy_j"] / n, "time_s_per_inference": v["time_s"] / n}
                for p, v in self.totals.items()}


def first_logits_switch(recorder: PhaseRecorder, to_phase: str):
    """A transformers LogitsProcessor that switches phase at the first logits (end of prefill)."""
    from transformers import LogitsProcessor

    class _Switch(LogitsProcessor):
        def __init__(self) -> None:
            self.fired = False

        def __call__(self, input_ids, scores):
            if not self.fired:
                self.fired = True
                recorder.switch(to_phase)
            return scores

    return _Switch()
