"""Wall times of the projection engine on the calibrated `reference` preset (prints figures).

    python benchmarks/projection.py            # every row
    python benchmarks/projection.py --quick    # without the Sobol rows

Targets (issue 10) on a 2-core machine: deterministic run <= 10 ms, 10,000-sample Monte
Carlo <= 150 ms, 100,000 samples <= 1 s; 1,000,000 samples are measured for peak memory
with `/usr/bin/time -v wattcast project -p reference --samples 1000000` instead.

The machine's load average is printed before and after: other processes on a 2-core
machine slow every row (the Monte Carlo uses two threads), so compare runs at similar load.
`cpu` is this process's CPU time (all threads), `median` and `best` are wall times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import host_speed  # benchmarks/ is on sys.path when this runs as a script

from project import engine
from project.engine import MC_THREADS, compile_scenario, run_projection
from project.scenario import load_preset
from project.sensitivity import sobol, tornado


def timeit(fn, repeat: int) -> tuple[float, float, float]:
    """(median wall, best wall, median CPU time) over `repeat` calls, seconds."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on this platform
        return "n/a"


def fresh_design() -> None:
    """Forget the small seeded designs the engine keeps (the next Monte Carlo draws its own)."""
    engine._small_design.cache_clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the Sobol rows")
    args = ap.parse_args()
    s = load_preset("reference")
    c = compile_scenario(s)
    run_projection(s, samples=1000)  # warm caches (data files, scipy)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, Monte Carlo threads {MC_THREADS}")
    print(f"scenario: {s.name}, {len(c.workloads)} workloads, 5 accelerator classes, 4 regions, years "
          f"{s.start_year}-{s.end_year}, {len(c.uncertain)} uncertain parameters, {len(c.variables())} variables")
    print(f"load average (1, 5, 15 min) before: {load_average()}")
    print(host_speed.line())
    rows = [
        ("load preset + compile + central run + table", lambda: run_projection(load_preset("reference")), 20, 0.010),
        ("compile + central run + table", lambda: run_projection(s), 20, 0.010),
        ("central run + table (compiled once)", lambda: run_projection(s, compiled=c), 50, 0.010),
        # each call draws its Latin hypercube afresh, as one `wattcast project` run does
        ("Monte Carlo 10,000 samples", lambda: fresh_design() or run_projection(s, samples=10_000, seed=1,
                                                                                compiled=c), 7, 0.150),
        ("Monte Carlo 10,000 samples, design reused", lambda: run_projection(s, samples=10_000, seed=1, compiled=c),
         7, None),
        ("Monte Carlo 100,000 samples", lambda: run_projection(s, samples=100_000, seed=1, compiled=c), 5, 1.0),
        ("tornado (one-at-a-time swings)", lambda: tornado(c), 50, None),
    ]
    if not args.quick:
        rows += [("Sobol indices, n=1024", lambda: sobol(c, n=1024, seed=0), 3, None),
                 ("Sobol indices, n=4096", lambda: sobol(c, n=4096, seed=0), 3, None)]
    print(f"{'benchmark':45s} {'median':>10s} {'best':>10s} {'cpu':>10s} {'target':>8s}")
    for name, fn, repeat, target in rows:
        med, best, cpu = timeit(fn, repeat)
        tgt = f"<= {target * 1000:.0f} ms" if target else ""
        flag = "" if target is None else ("  ok" if med <= target else "  OVER")
        print(f"{name:45s} {med * 1000:8.1f} ms {best * 1000:8.1f} ms {cpu * 1000:8.1f} ms {tgt:>8s}{flag}")
    print(f"load average (1, 5, 15 min) after: {load_average()}")
    print(host_speed.line())


if __name__ == "__main__":
    main()
