"""Wall times of the projection engine on the calibrated `reference` preset (prints figures).

    python benchmarks/projection.py

Targets (issue 10) on a 2-core machine: deterministic run <= 10 ms, 10,000-sample Monte
Carlo <= 150 ms, 100,000 samples <= 1 s; 1,000,000 samples are measured for peak memory
with `/usr/bin/time -v wattcast project -p reference --samples 1000000` instead.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

from project.engine import compile_scenario, run_projection
from project.scenario import load_preset
from project.sensitivity import sobol, tornado


def timeit(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    s = load_preset("reference")
    c = compile_scenario(s)
    run_projection(s, samples=1000)  # warm caches (data files, scipy)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scenario: {s.name}, {len(c.workloads)} workloads, 5 accelerator classes, 4 regions, years "
          f"{s.start_year}-{s.end_year}, {len(c.uncertain)} uncertain parameters, {len(c.variables())} variables")
    rows = [
        ("load preset + compile + central run + table", lambda: run_projection(load_preset("reference")), 20, 0.010),
        ("compile + central run + table", lambda: run_projection(s), 20, 0.010),
        ("central run + table (compiled once)", lambda: run_projection(s, compiled=c), 50, 0.010),
        ("Monte Carlo 10,000 samples", lambda: run_projection(s, samples=10_000, seed=1, compiled=c), 5, 0.150),
        ("Monte Carlo 100,000 samples", lambda: run_projection(s, samples=100_000, seed=1, compiled=c), 3, 1.0),
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
