"""How fast this machine runs plain Python right now, printed beside every benchmark's figures.

The VMs these benchmarks run on change speed by up to ~1.8x from one minute to the next
(shared hosts): the same 10 million-step Python loop at module level took 0.89-1.64 s within
one hour on 2026-12-03. A figure is comparable with another only at a similar probe time.
"""

from __future__ import annotations

import time


def probe(steps: int = 10_000_000) -> float:
    """Seconds for a `steps`-long Python loop of integer additions (best of 2)."""
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        s = 0
        for i in range(steps):
            s += i
        best = min(best, time.perf_counter() - t)
    return best


def line() -> str:
    return (f"host speed probe: a 10^7-step Python loop takes {probe():.2f} s "
            "(0.37-0.42 s on a quiet 2-core VM here, 2026-12)")
