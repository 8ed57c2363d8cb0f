"""How long the app takes to react to a slider move.

Prints (1) the projection part of a rerun: build the scenario from the controls, run the
projection with the Monte Carlo band (1,000 samples, as the app does), the tornado and
the headline, in ms; and (2) the full AppTest rerun after a slider move (the whole page
script: controls, projection, charts), in ms. Usage: python benchmarks/app_rerun.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from project import app_support as sup  # noqa: E402
from project.compare import equivalences, headline  # noqa: E402
from project.engine import run_projection  # noqa: E402
from project.sensitivity import tornado  # noqa: E402

SAMPLES = 1000
REPEATS = 20


def projection_ms(preset: str, samples: int = SAMPLES) -> list[float]:
    state = sup.default_state(preset)
    times = []
    for i in range(REPEATS):
        state["facility.pue"] = 1.2 + 0.01 * (i % 10)
        t = time.perf_counter()
        sc = sup.build_scenario(preset, state)
        r = run_projection(sc, samples=samples, seed=0)
        headline(r)
        tornado(r.compiled)
        sup.break_even(r.compiled)
        if r.compiled.tasks:
            equivalences(r)
        times.append((time.perf_counter() - t) * 1000)
    return times


def apptest_ms() -> tuple[float, list[float]]:
    from streamlit.testing.v1 import AppTest

    t = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    first = (time.perf_counter() - t) * 1000
    times = []
    for i in range(10):
        v = 1.2 + 0.05 * (i % 8)
        t = time.perf_counter()
        at.slider(key="ctl:facility.pue").set_value(round(v, 2)).run()
        times.append((time.perf_counter() - t) * 1000)
        assert not at.exception, at.exception
    return first, times


def main() -> None:
    print(f"projection part of a rerun ({SAMPLES} samples, median of {REPEATS}):")
    for p in sup.preset_names():
        ts = projection_ms(p)
        print(f"  {p:24s} {statistics.median(ts):6.1f} ms  (max {max(ts):.1f})")
    first, ts = apptest_ms()
    print(f"full AppTest run, first (cold caches): {first:.0f} ms")
    print(f"full AppTest rerun after a slider move (baseline-2025, median of {len(ts)}): "
          f"{statistics.median(ts):.0f} ms (min {min(ts):.0f}, max {max(ts):.0f})")


if __name__ == "__main__":
    main()
