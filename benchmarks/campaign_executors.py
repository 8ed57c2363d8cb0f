"""Throughput of a campaign of many tiny trials: the local executor vs Ray with 2 CPUs.

The campaign: ``--trials`` trials of the tiny DistilBERT text classifier and tiny BERT
fill-mask model (distinct seeds, so distinct trials), ``--repeats`` windows of ``--n``
inferences each, fake energy backend (the energy backend is not what is compared). Each
variant runs ``--rounds`` times; the fastest round is reported (the least disturbed run).

- ``local``: the default executor in this process, one trial after another (torch uses
  every core). Measured after a warm-up trial, so torch/transformers imports are excluded.
- ``ray 2x1``: Ray with 2 CPUs, each trial asking 1 CPU, so two trials run at once (each
  with 1 torch thread). Ray's start-up is timed separately; ``cold`` is the first run after
  it (fresh workers), as one ``wattcast campaign --executor ray`` run would be.
- ``ray 1x2``: Ray with 2 CPUs, each trial asking both, so one trial at a time with the
  same thread count as ``local``: the difference from ``local`` is Ray's own overhead per
  trial (task submission, scheduling, shipping the config and the records, the worker's
  own model build). ``cold`` is the first run on fresh workers (which import torch and
  transformers); ``warm`` reuses them.

Usage:
    python benchmarks/campaign_executors.py [--trials 40] [--repeats 2] [--n 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def campaign_toml(trials: int, repeats: int, n: int) -> str:
    half = trials // 2
    return f"""
name = "bench"
[defaults]
device = "cpu"
backend = "fake"
n_inferences = {n}
repeats = {repeats}
count_flops = false
[[grid]]
task = "text_classification"
model = "tiny-distilbert-sst2"
seed = {list(range(trials - half))}
[[grid]]
task = "masked_lm"
model = "tiny-bert-mlm"
seed = {list(range(half))}
"""


#: summed window time of each run's records (the measured inference work itself)
WINDOW_S: dict[str, float] = {}


def run_once(trials, executor, tmp: Path, tag: str) -> float:
    import contextlib
    import io

    from rich.console import Console

    from measure import cli

    out = tmp / tag
    shutil.rmtree(out, ignore_errors=True)
    quiet = Console(file=io.StringIO(), stderr=False)
    old = cli.err_console, cli.out_console
    cli.err_console = cli.out_console = quiet  # no progress bar in the timing
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            failed = cli._run(trials, out, False, tag, executor=executor)
        dt = time.perf_counter() - t0
    finally:
        cli.err_console, cli.out_console = old
    from measure.store import ResultStore

    recs = ResultStore(out).records()
    expected = sum(c.repeats for c in trials)
    assert failed == 0 and len(recs) == expected == len({(r["trial_key"], r["repeat_index"]) for r in recs}), tag
    WINDOW_S[tag] = sum(r["duration_s_window"] for r in recs)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n", type=int, default=4, help="inferences per window")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import ray

    from measure.config import load_campaign
    from measure.executors import LocalExecutor, RayExecutor

    tmp = Path(tempfile.mkdtemp(prefix="wcbench", dir="/tmp"))
    toml = tmp / "bench.toml"
    toml.write_text(campaign_toml(args.trials, args.repeats, args.n))
    trials = load_campaign(toml).trials
    n_trials, n_windows = len(trials), sum(c.repeats for c in trials)
    print(f"campaign: {n_trials} trials x {args.repeats} windows x {args.n} inferences "
          f"(tiny DistilBERT + tiny BERT-MLM, fake backend), {os.cpu_count()} cores, "
          f"best of {args.rounds} rounds")

    run_once(trials[:1], LocalExecutor(), tmp, "warmup")  # imports torch & co. in this process
    local = min(run_once(trials, LocalExecutor(), tmp, f"local{i}") for i in range(args.rounds))

    def start_ray() -> float:
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 _temp_dir=str(tmp / "ray"))
        return time.perf_counter() - t0

    try:
        startup = start_ray()  # what `wattcast campaign --executor ray` pays, then cold workers
        par_cold = run_once(trials, RayExecutor(cpus_per_trial=1), tmp, "ray2x1cold")
        par = min(run_once(trials, RayExecutor(cpus_per_trial=1), tmp, f"ray2x1-{i}")
                  for i in range(args.rounds))
        serial = min(run_once(trials, RayExecutor(cpus_per_trial=2), tmp, f"ray1x2-{i}")
                     for i in range(args.rounds))
        ray.shutdown()
        start_ray()  # fresh workers again
        serial_cold = run_once(trials, RayExecutor(cpus_per_trial=2), tmp, "ray1x2cold")
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    def row(name: str, dt: float, tag: str) -> str:
        return (f"  {name:<26} {dt:7.2f} s  {n_trials / dt:6.2f} trials/s  {n_windows / dt:6.2f} windows/s  "
                f"{1e3 * dt / n_trials:6.0f} ms/trial  (windows: {1e3 * WINDOW_S[tag] / n_windows:5.1f} ms each)")

    print(row("local (1 process)", local, "local0"))
    print(row("ray 2x1 CPU (2 at once)", par, "ray2x1-0"))
    print(row("ray 2x1 CPU, cold workers", par_cold, "ray2x1cold"))
    print(row("ray 1x2 CPU, warm workers", serial, "ray1x2-0"))
    print(row("ray 1x2 CPU, cold workers", serial_cold, "ray1x2cold"))
    print(f"throughput ratio ray 2x1 / local: {local / par:.2f}x warm workers; "
          f"{local / (startup + par_cold):.2f}x end to end (ray.init + fresh workers, as one CLI run)")
    print(f"Ray per-trial overhead (ray 1x2 warm - local) / trials: {1e3 * (serial - local) / n_trials:+.0f} ms")
    print(f"Ray fixed cost per campaign: ray.init {startup:.1f} s + fresh workers' start-up "
          f"(torch/transformers imports) {par_cold - par:.1f} s (2x1) / {serial_cold - serial:.1f} s (1x2)")

if __name__ == "__main__":
    main()
