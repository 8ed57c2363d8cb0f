"""Wall times of scenario comparison and policy wedges (prints figures).

    python benchmarks/compare.py

Target (issue 15): `wattcast compare reference combined` prints its table in well under 2 s.
The command is timed end to end in a fresh process (Python start, imports, two projections
of 1,000 Monte Carlo samples, the table), with the CPU time it used (the machine is shared:
CPU time is the steadier figure), then its parts in this process.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time


def timeit(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def child(cmd: list[str], repeat: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time (user + sys), of a command in a fresh process."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"})
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    py = sys.executable
    rows = [
        ("wattcast compare reference combined", [py, "-m", "project.cli", "compare", "reference", "combined"], 2.0),
        ("  imports of the command (cli, engine, scipy.stats, export)",
         [py, "-c", "import project.cli, project.cli_compare, project.export"], None),
        ("  of which scipy.stats", [py, "-c", "import scipy.stats"], None),
        ("  python start only", [py, "-c", "pass"], None),
    ]
    print(f"{'fresh process':55s} {'median':>9s} {'best':>9s} {'CPU':>9s} {'target':>9s}")
    for name, cmd, target in rows:
        med, best, cpu = child(cmd, 5)
        flag = "" if target is None else ("  ok" if med <= target else "  OVER")
        tgt = f"<= {target:.1f} s" if target else ""
        print(f"{name:55s} {med:7.2f} s {best:7.2f} s {cpu:7.2f} s {tgt:>9s}{flag}")

    from project.comparison import compare
    from project.engine import run_projection
    from project.scenario import load_preset
    from project.wedges import lever_wedges, players

    ref, comb = load_preset("reference"), load_preset("policy-combined")
    run_projection(ref, samples=1000)  # warm caches (data files, scipy)
    all8 = load_preset("reference").model_copy(update={"name": "all-levers", "policy": {
        **comb.policy,
        "demand_management": {"start_year": 2027, "growth_cap": 0.2},
        "hardware_refresh": {"start_year": 2027, "lifetime_years": 4}}})
    parts = [
        ("compare(reference, combined), 1,000 samples", lambda: compare([ref, comb], samples=1000, seed=0), 5),
        ("compare(reference, combined), central runs", lambda: compare([ref, comb], samples=0), 5),
        (f"lever_wedges(reference, combined): {2 ** len(players(ref, comb))} runs",
         lambda: lever_wedges(ref, comb), 3),
        (f"lever_wedges, all 8 levers: {2 ** len(players(ref, all8))} runs", lambda: lever_wedges(ref, all8), 3),
    ]
    print(f"{'in process':55s} {'median':>9s} {'best':>9s}")
    for name, fn, repeat in parts:
        med, best = timeit(fn, repeat)
        print(f"{name:55s} {med:7.3f} s {best:7.3f} s")


if __name__ == "__main__":
    main()
