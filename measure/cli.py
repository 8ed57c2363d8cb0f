"""``wattcast measure``, ``wattcast campaign`` and ``wattcast report``, registered on the main typer app.

Importing this module does not import torch: the command bodies import the runners.
A user error (bad task, model, config field, file, missing CUDA or NVML, corrupt results
file) prints one message to stderr and exits with status 2; nothing already written is lost.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from measure.errors import MeasureError

err_console = Console(stderr=True)
out_console = Console()

EXIT_USAGE = 2
EXIT_FAILED = 1


def _fail(msg: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def _interrupted(out: Path | None) -> None:
    """Ctrl-C: every closed window is already on disk; consolidate and say how to resume."""
    from measure.store import ResultStore

    store = ResultStore(out) if out is not None else None
    if store is None or not store.exists():
        err_console.print("interrupted before any record was written", highlight=False)
        raise typer.Exit(130)
    try:
        with store:
            store.consolidate()
    except Exception:  # noqa: BLE001 - the JSONL is the source of truth
        pass
    err_console.print(f"interrupted: records so far are in {out}; rerun with --resume to continue",
                      highlight=False)
    raise typer.Exit(130)


def _fmt_j(j: float) -> str:
    from project.records import J_PER_KWH

    if j >= J_PER_KWH:
        return f"{j / J_PER_KWH:.3f} kWh"
    if j >= 1e3:
        return f"{j / 1e3:.2f} kJ"
    return f"{j:.2f} J"


def _store(out: Path, resume: bool, keys: set[str]):
    """The store, open (locked: the caller closes it), and the windows it already holds."""
    from measure.store import ResultStore

    store = ResultStore(out)
    existed = store.exists()
    store.open()
    try:
        done = store.done() if existed else set()
        if {k for k, _ in done} & keys and not resume:
            raise MeasureError("already holds records of these trials; pass --resume to continue "
                               "them, or choose another --out", str(store.jsonl))
    except BaseException:
        store.close()
        raise
    return store, done


def _run(trials: list, out: Path, resume: bool, label: str, executor: Any = None) -> int:
    """Run trials with a progress bar; returns the number of failed trials.

    ``executor`` (``measure.executors``; default local) runs the windows; this function is
    the one place records are written: each is appended to the store as its event arrives.
    """
    from measure.executors import LocalExecutor
    from measure.models import resolve_model

    executor = executor or LocalExecutor()
    # validate everything before running anything
    for cfg in trials:
        resolve_model(cfg.model, cfg.task, cfg.weights)
    try:
        executor.prepare(trials)  # devices; for Ray: connect and check the cluster's resources
        return _run_events(executor, trials, out, resume, label)
    finally:
        executor.close()


def _run_events(executor: Any, trials: list, out: Path, resume: bool, label: str) -> int:
    store, done = _store(out, resume, {c.trial_key() for c in trials})
    try:
        return _write_events(executor, trials, store, done, label)
    finally:  # the lock is released when the run ends, however it ends
        store.close()


def _write_events(executor: Any, trials: list, store: Any, done: set, label: str) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = sum(1 for c in trials for i in range(c.repeats) if (c.trial_key(), i) not in done)
    skipped = sum(c.repeats for c in trials) - total
    if skipped:
        err_console.print(f"resuming: {skipped} window(s) already in {store.jsonl}", highlight=False)
    failed = 0
    failed_written: set[str] = set()
    energy = {"j": 0.0}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  TextColumn("{task.fields[energy]}"), console=err_console) as progress:
        bar = progress.add_task(label, total=total, energy="0 J")
        with closing(executor.events(trials, done)) as events:
            for ev in events:
                cfg = ev.cfg
                if ev.kind == "start":
                    desc = f"{cfg.model} b{cfg.batch_size} {cfg.dtype}"
                    if executor.name != "local":
                        desc = f"{label} [{executor.name}]"
                    progress.update(bar, description=desc)
                elif ev.kind == "record":
                    rec = ev.record
                    k = (rec["trial_key"], int(rec["repeat_index"]))
                    if k in done:  # a retried task's window that was already stored
                        continue
                    store.append(rec)
                    done.add(k)
                    if rec.get("status") == "failed":
                        failed_written.add(rec["trial_key"])
                    energy["j"] += rec["energy_j_window"] or 0.0
                    progress.update(bar, advance=1, energy=_fmt_j(energy["j"]))
                elif ev.kind == "failed":
                    failed += 1
                    note = ("failed record written" if cfg.trial_key() in failed_written
                            else "no record written; --resume runs it again")
                    err_console.print(f"[yellow]trial failed[/] {cfg.task}/{cfg.model}: "
                                      f"{escape(ev.error or '')} ({note})", highlight=False)
    path = store.consolidate()
    n = len(store.records())
    out_console.print(f"{n} record(s) in {store.jsonl}" + (f" and {path}" if path else ""),
                      highlight=False)
    return failed


def measure_command(
    task: str = typer.Option(..., "--task", help="one of the 10 task ids"),
    model: Optional[str] = typer.Option(None, "--model", help="shipped config name, a local pretrained "
                                        "directory or a Hub id in the local HF cache (default: --weights)"),
    weights: Optional[str] = typer.Option(None, "--weights", help="pretrained weights: a local directory "
                                          "or a Hub id already in the local Hugging Face cache (no download)"),
    inputs: Optional[str] = typer.Option(None, "--inputs", help="your inputs: FILE.jsonl, or a directory "
                                         "of .jsonl files, images or a saved datasets dataset"),
    device: str = typer.Option("cuda", "--device", help="cuda, cuda:N or cpu"),
    n: Optional[int] = typer.Option(None, "--n", help="inferences per window (default 1000)"),
    batch: Optional[int] = typer.Option(None, "--batch", help="batch size (default 1)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="warm-up inferences (default 0)"),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="windows (default 10)"),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float32, float16 or bfloat16"),
    phase: Optional[str] = typer.Option(None, "--phase", help="inference or finetune"),
    backend: Optional[str] = typer.Option(None, "--backend", help="auto, nvml, codecarbon, nvml+codecarbon, fake"),
    preset: Optional[str] = typer.Option(None, "--preset", help="protocol preset: study, ai_energy_score, ml_energy"),
    idle_s: Optional[float] = typer.Option(None, "--idle-baseline", help="seconds of idle draw to measure first"),
    whole_node: Optional[bool] = typer.Option(None, "--whole-node/--used-gpus", help="sum every GPU (the study's setup)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="diffusion steps (default: pipeline default)"),
    phases: Optional[bool] = typer.Option(None, "--phases/--no-phases",
                                          help="per-phase energy: prefill/decode, denoise/decode"),
    country: Optional[str] = typer.Option(None, "--country", help="ISO 3166 alpha-3 code of the grid "
                                          "for emissions (default USA)"),
    measure_power_secs: Optional[float] = typer.Option(None, "--measure-power-secs",
                                                       help="codecarbon sampling interval, s (default 1)"),
    tracking_mode: Optional[str] = typer.Option(None, "--tracking-mode",
                                                help="codecarbon: machine (whole host) or process"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Path = typer.Option(Path("measurements"), "--out", help="results directory"),
    resume: bool = typer.Option(False, "--resume", help="continue a trial already in --out"),
) -> None:
    """Measure per-inference energy of one task and model (one trial, --repeats windows)."""
    from measure.config import make_config, preset_defaults

    try:
        if model is None and weights is None:
            raise MeasureError("give --model (a shipped config, a directory or a cached Hub id) or "
                               "--weights", "--model")
        fields: dict[str, Any] = preset_defaults(preset) if preset else {}
        opts = {"task": task, "model": model or weights, "weights": weights, "device": device,
                "n_inferences": n, "batch_size": batch, "warmup": warmup, "repeats": repeats,
                "dtype": dtype, "phase": phase, "backend": backend, "idle_baseline_s": idle_s,
                "whole_node": whole_node, "seed": seed, "phases": phases,
                "country_iso_code": country and country.upper(), "measure_power_secs": measure_power_secs,
                "tracking_mode": tracking_mode}
        fields.update({k: v for k, v in opts.items() if v is not None})
        if inputs is not None:
            fields.setdefault("inputs", {})["file"] = inputs
        if steps is not None:
            fields.setdefault("generation", {})["num_inference_steps"] = steps
        cfg = make_config("options", **fields)
        from measure.emissions import grid_intensity

        grid_intensity(cfg.country_iso_code)  # an unknown country is refused before anything runs
        failed = _run([cfg], out, resume, "measure")
    except MeasureError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _interrupted(out)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def campaign_command(
    file: Path = typer.Argument(..., help="campaign TOML (see data/campaigns/)"),
    resume: bool = typer.Option(False, "--resume", help="skip windows already in --out"),
    out: Optional[Path] = typer.Option(None, "--out", help="results directory (default measurements/<name>)"),
    device: Optional[str] = typer.Option(None, "--device", help="override every trial's device"),
    backend: Optional[str] = typer.Option(None, "--backend", help="override every trial's backend"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the trials and exit"),
    executor: str = typer.Option("local", "--executor",
                                 help="local (this process, the default) or ray (one Ray task per trial)"),
    address: Optional[str] = typer.Option(None, "--address",
                                          help="Ray cluster to use (auto, or HOST:PORT); default: start a local Ray"),
    cpus_per_trial: float = typer.Option(1.0, "--cpus-per-trial", help="Ray: CPUs each trial asks for (and uses: torch threads); a CUDA trial also asks for one GPU"),
) -> None:
    """Run a grid of trials (tasks x models x batch sizes x precisions) from a TOML file."""
    from measure.config import load_campaign

    try:
        from measure.executors import make_executor

        ex = make_executor(executor, address=address, cpus_per_trial=cpus_per_trial)
        over = {k: v for k, v in {"device": device, "backend": backend}.items() if v is not None}
        camp = load_campaign(file, overrides=over)
        from measure.models import resolve_model

        from measure.emissions import grid_intensity

        for c in camp.trials:
            try:
                resolve_model(c.model, c.task, c.weights)
                grid_intensity(c.country_iso_code)
            except MeasureError as e:
                raise MeasureError(f"{e}", f"{file} (task {c.task})") from None
        if dry_run:
            for c in camp.trials:
                out_console.print(f"{c.trial_key()}  {c.task:22} {c.model:28} b{c.batch_size:<4} "
                                  f"{c.dtype:9} {c.device:6} n={c.n_inferences} x{c.repeats}", highlight=False)
            out_console.print(f"{len(camp.trials)} trial(s)")
            return
        out = out or Path("measurements") / camp.name
        failed = _run(camp.trials, out, resume, camp.name, executor=ex)
    except MeasureError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _interrupted(out)
    if failed:
        err_console.print(f"{failed} trial(s) failed; their failed records are in the store", highlight=False)
        raise typer.Exit(EXIT_FAILED)


def report_command(
    records: Optional[Path] = typer.Argument(None, help="a results directory (searched recursively) or "
                                             "a records .jsonl/.parquet file; omit for the study's rows alone"),
    out: Path = typer.Option(Path("report"), "--out", help="directory for report.md, report.html and charts/"),
    title: Optional[str] = typer.Option(None, "--title", help="report title"),
) -> None:
    """Compare measurement records with the study's per-model rows and published figures."""
    from measure.report import build_report

    try:
        paths = build_report(records, out, title=title)
    except MeasureError as e:
        _fail(str(e))
    except OSError as e:  # anything build_report does not name itself
        _fail(f"{e.filename or out}: cannot write the report: {e.strerror or e}")
    out_console.print(f"report: {paths['markdown']} and {paths['html']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``measure``, ``campaign`` and ``report`` to the main ``wattcast`` app."""
    app.command("measure")(measure_command)
    app.command("campaign")(campaign_command)
    app.command("report")(report_command)


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="wattcast measurement commands (measure, campaign, report)")
    register(app)
    return app
