"""Wall times of the projection engine (prints figures; targets from issue 3).

    python benchmarks/projection.py

Targets on a 2-core machine: deterministic run (10 tasks, 2024-2035) <= 10 ms, because the
app recomputes on every slider move; 100,000 Monte Carlo samples <= 1 s.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

from project.engine import compile_scenario, run_projection
from project.scenario import load_preset, scenario_from_dict
from project.sensitivity import sobol, tornado
from project.tasks import TASK_IDS


def ten_task_scenario():
    """baseline-2025's ranges over all ten tasks of the study, 2024-2035."""
    base = load_preset("baseline-2025").model_dump(exclude_none=True)
    tasks = {}
    for i, t in enumerate(TASK_IDS):
        tasks[t] = {
            "inferences_per_day": {"value": 1e8 * (i + 1), "low": 5e7 * (i + 1), "high": 2e8 * (i + 1)},
            "growth_per_year": {"value": 0.2, "low": 0.0, "high": 0.5},
            "energy": {"reference": t},
        }
    base.update(name="bench-10-tasks", tasks=tasks, start_year=2024, end_year=2035, target_year=2030)
    return scenario_from_dict(base)


def timeit(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    s = ten_task_scenario()
    c = compile_scenario(s)
    data = s.model_dump(exclude_none=True)
    run_projection(s, samples=1000)  # warm caches (data files, scipy)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scenario: {len(c.tasks)} tasks, years {s.start_year}-{s.end_year}, {len(c.uncertain)} uncertain parameters")
    rows = [
        ("validate dict + compile + central run + table", lambda: run_projection(scenario_from_dict(data)), 50, 0.010),
        ("compile + central run + table", lambda: run_projection(s), 50, 0.010),
        ("central run + table (compiled once)", lambda: run_projection(s, compiled=c), 200, 0.010),
        ("Monte Carlo 10,000 samples", lambda: run_projection(s, samples=10_000, seed=1, compiled=c), 10, None),
        ("Monte Carlo 100,000 samples", lambda: run_projection(s, samples=100_000, seed=1, compiled=c), 5, 1.0),
        ("tornado (one-at-a-time swings)", lambda: tornado(c), 50, None),
        ("Sobol indices, n=1024", lambda: sobol(c, n=1024, seed=0), 3, None),
        ("Sobol indices, n=4096", lambda: sobol(c, n=4096, seed=0), 3, None),
    ]
    print(f"{'benchmark':45s} {'median':>10s} {'best':>10s} {'target':>8s}")
    for name, fn, repeat, target in rows:
        med, best = timeit(fn, repeat)
        tgt = f"<= {target * 1000:.0f} ms" if target else ""
        flag = "" if target is None else ("  ok" if med <= target else "  OVER")
        print(f"{name:45s} {med * 1000:8.1f} ms {best * 1000:8.1f} ms {tgt:>8s}{flag}")


if __name__ == "__main__":
    main()
