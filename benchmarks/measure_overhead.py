"""Overhead of the measurement window: the same tiny workload with and without it.

Variants, each timed ``--rounds`` times in interleaved order (median reported):

- ``bare``: the workload alone (N inferences of the tiny DistilBERT text classifier
  through the real transformers pipeline, batch 1, CPU)
- ``window+fake``: inside a measurement window on the fake backend (the window's own cost)
- ``window+codecarbon``: inside a window on the codecarbon backend (a codecarbon task:
  its periodic scheduler is paused while the task runs, as in the study)
- ``codecarbon-thread``: the workload while a codecarbon tracker's sampling thread runs
  (``tracker.start()``, ``measure_power_secs=--cc-interval``), no task

Target: the window adds <= 2 % (ratio <= 1.02). Usage:
    python benchmarks/measure_overhead.py [--n 1000] [--rounds 5] [--cc-interval 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="inferences per timing")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cc-interval", type=float, default=1.0, help="codecarbon measure_power_secs")
    ap.add_argument("--model", default="tiny-distilbert-sst2")
    args = ap.parse_args()

    import logging
    import warnings

    import torch

    from measure.backends import CodeCarbonBackend, FakeBackend
    from measure.config import make_config
    from measure.run import Trial
    from measure.window import Monitor, window

    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    cfg = make_config(task="text_classification", model=args.model, device="cpu",
                      n_inferences=args.n, backend="fake", count_flops=False)
    trial = Trial(cfg, FakeBackend())
    trial.work(20)  # warm the pipeline once so every variant starts warm

    fake_mon = Monitor(FakeBackend())
    cc = CodeCarbonBackend("USA", measure_power_secs=args.cc_interval)
    cc_mon = Monitor(cc)

    from codecarbon import OfflineEmissionsTracker

    def bare() -> None:
        trial.work(args.n)

    def in_window(mon):
        def f() -> None:
            with window(mon, "bench"):
                trial.work(args.n)
        return f

    def with_thread() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr = OfflineEmissionsTracker(country_iso_code="USA", save_to_file=False, log_level="error",
                                         measure_power_secs=args.cc_interval, allow_multiple_runs=True,
                                         tracking_mode="machine")
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        tr.start()
        t0 = time.perf_counter()
        trial.work(args.n)
        timings["codecarbon-thread"].append(time.perf_counter() - t0)  # start/stop excluded
        tr.stop()

    variants = {"bare": bare, "window+fake": in_window(fake_mon), "window+codecarbon": in_window(cc_mon),
                "codecarbon-thread": with_thread}
    timings: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            if name == "codecarbon-thread":
                fn()
                continue
            t0 = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - t0)
    cc.close()

    base = statistics.median(timings["bare"])
    print(f"workload: {args.n} x {args.model} text classification, batch 1, CPU "
          f"({os.cpu_count()} cores, torch {torch.__version__}), {args.rounds} rounds, median")
    print(f"{'variant':20} {'median s':>9} {'min s':>8} {'ratio':>7}")
    for name, ts in timings.items():
        med = statistics.median(ts)
        print(f"{name:20} {med:9.3f} {min(ts):8.3f} {med / base:7.3f}")
    worst = max(statistics.median(timings[k]) for k in ("window+fake", "window+codecarbon")) / base
    print(f"window overhead: {100 * (worst - 1):+.2f} % (target <= 2 %): "
          f"{'OK' if worst <= 1.02 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
