"""Run one trial (``repeats`` measurement windows of one config) and write its records."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import closing
from itertools import cycle, islice
from typing import Any, Callable, Iterator

from measure.backends import EnergyBackend, make_backend_for
from measure.config import MeasureConfig
from measure.emissions import GridIntensity, emissions_g, grid_intensity
from measure.errors import MeasureError
from measure.models import ModelSource, resolve_model
from measure.store import ResultStore
from measure.window import Monitor, WindowHandle, WindowResult, window
from project.records import J_PER_KWH

#: distinct inputs generated per trial; longer runs cycle through them
INPUT_POOL = 100
#: distinct inputs read from your file per trial (the study ran 1,000 per data set)
FILE_INPUT_POOL = 1000


def batches(items: list[Any], n: int, batch_size: int) -> list[list[Any]]:
    """``n`` items taken cyclically from ``items``, in batches (the last may be short)."""
    seq = list(islice(cycle(items), n))
    return [seq[i:i + batch_size] for i in range(0, n, batch_size)]


def _phase_record(cfg: MeasureConfig, res: WindowResult, n: int, phase_res: WindowResult | None,
                  n_phase: int) -> tuple[dict[str, Any] | None, list[str]]:
    from measure.phases import split_phases

    if phase_res is None:
        return None, []
    # a failed window (an error, a void reading, 0 J below resolution) has no energy to split
    return split_phases(cfg.task, None if res.status != "ok" else res.reading.total_j, res.duration_s, n,
                        None if phase_res.status != "ok" else phase_res.reading.total_j,
                        phase_res.duration_s, n_phase, list(phase_res.flags), list(res.flags))


def build_record(cfg: MeasureConfig, source: ModelSource, res: WindowResult, repeat_index: int,
                 n: int, backend_name: str, meta: dict[str, Any], flops: float | None,
                 idle_power_w: dict[str, float] | None, grid: GridIntensity | None = None,
                 inputs_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """One measurement record (schema: docs/architecture.md)."""
    r = res.reading
    per = lambda x: None if x is None else x / n  # noqa: E731
    watts = lambda x: None if x is None or res.duration_s <= 0 else x / res.duration_s  # noqa: E731
    void = r.error is not None  # e.g. counter-reset: the window's energy is unknown, not zero
    total_j = None if void else r.total_j
    flags = list(res.flags)
    if cfg.device == "cpu":
        flags.append("cpu-run")
    if cfg.warmup == 0:
        flags.append("no-warmup")
    if source.weights == "random-init":
        flags.append("random-init")
    if backend_name == "fake":
        flags.append("fake-energy")
    if r.cpu_method == "estimate" and "cpu-power-estimated" not in flags:
        flags.append("cpu-power-estimated")
    active = None
    measured = [c for c in ("gpu", "cpu", "ram") if getattr(r, f"{c}_j") is not None]
    # idle draw is subtracted per component; a component measured now but not at idle has no
    # baseline, so no honest active energy
    if idle_power_w is not None and total_j is not None and all(c in idle_power_w for c in measured):
        idle_j = sum(idle_power_w[c] for c in measured) * res.duration_s
        active = (total_j - idle_j) / n
    energy_j = None if total_j is None else total_j / n
    # J/FLOP on the energy of the device that does the FLOPs only (GPU on CUDA, CPU on a CPU run)
    basis = "cpu" if cfg.device == "cpu" else "gpu"
    basis_j = getattr(r, f"{basis}_j")
    extra: dict[str, Any] = {"per_gpu_j_window": r.per_gpu_j or None,
                             "idle_power_w": idle_power_w, "error": res.error}
    if r.throttle_s:
        extra["throttle_s"] = r.throttle_s
    kwh = None if energy_j is None else energy_j / J_PER_KWH
    uses_cc = "codecarbon" in backend_name
    return {
        "record_id": str(uuid.uuid4()),
        "trial_key": cfg.trial_key(),
        "repeat_index": repeat_index,
        "campaign": cfg.campaign,
        "phase": cfg.phase,
        "task": cfg.task,
        "model": cfg.model,
        "model_source": (source.spec or {}).get("source") if source.spec else source.name,
        "weights": source.weights,
        "weights_source": source.origin,
        "device": cfg.device,
        "device_name": meta.get("device_name"),
        "dtype": cfg.dtype,
        "batch_size": cfg.batch_size,
        "n_inferences": n,
        "warmup": cfg.warmup,
        "energy_kwh_per_inference": kwh,
        "energy_j_per_inference": energy_j,
        "gpu_energy_j_per_inference": per(r.gpu_j),
        "cpu_energy_j_per_inference": per(r.cpu_j),
        "ram_energy_j_per_inference": per(r.ram_j),
        "gpu_energy_kwh_per_inference": None if r.gpu_j is None else r.gpu_j / n / J_PER_KWH,
        "cpu_energy_kwh_per_inference": None if r.cpu_j is None else r.cpu_j / n / J_PER_KWH,
        "ram_energy_kwh_per_inference": None if r.ram_j is None else r.ram_j / n / J_PER_KWH,
        "gpu_power_w": watts(r.gpu_j),
        "cpu_power_w": watts(r.cpu_j),
        "ram_power_w": watts(r.ram_j),
        "active_energy_j_per_inference": active,
        "gpu_method": r.gpu_method,
        "cpu_method": r.cpu_method,
        "ram_method": r.ram_method,
        "tracking_mode": cfg.tracking_mode if uses_cc else None,
        "emissions_g_per_inference": None if grid is None or res.status != "ok" else emissions_g(kwh, grid),
        "grid_intensity_g_per_kwh": None if grid is None else grid.g_per_kwh,
        "grid_intensity_source": None if grid is None else grid.source,
        "country_iso_code": cfg.country_iso_code if grid is not None else None,
        "time_s_per_inference": res.duration_s / n,
        "throughput_per_s": n / res.duration_s if res.duration_s > 0 else None,
        "flops_per_inference": flops,
        "energy_j_per_flop": (basis_j / n / flops) if flops and basis_j is not None and not void else None,
        "energy_j_per_flop_basis": basis if flops and basis_j is not None and not void else None,
        "energy_j_window": total_j,
        "duration_s_window": res.duration_s,
        "backend": backend_name,
        "inputs_source": inputs_info,
        "flags": flags,
        "status": res.status,
        "config": cfg.model_dump(mode="json"),
        "metadata": meta,
        "extra": extra,
        "started_at": res.started_at,
        "ended_at": res.ended_at,
    }


class Trial:
    """A loaded model and backend ready to run windows for one config."""

    def __init__(self, cfg: MeasureConfig, backend: EnergyBackend | None = None) -> None:
        self.cfg = cfg
        self.source = resolve_model(cfg.model, cfg.task, cfg.weights)
        self.grid = grid_intensity(cfg.country_iso_code)  # an unknown country fails before loading
        self.own_backend = backend is None
        # the backend first: a missing NVML should fail before a large model is loaded
        self.backend = backend or make_backend_for(cfg)
        try:  # whatever fails from here on, a backend this trial made is freed
            self._set_up(cfg)
        except BaseException:
            self.close()
            raise

    def _set_up(self, cfg: MeasureConfig) -> None:
        from measure import metadata
        from measure.phases import PHASES
        from measure.runners import make_runner

        self.runner = make_runner(self.source, cfg)
        self.monitor = Monitor(self.backend)
        self.meta = metadata.collect(cfg.device, self.backend.metadata())
        self.phases_on = bool(cfg.phases and cfg.task in PHASES and cfg.phase == "inference")
        self.phase_flag: str | None = "phases-none-for-task" if cfg.phases and not self.phases_on else None
        self.phase_passes = cfg.n_inferences
        pool = min(cfg.n_inferences, FILE_INPUT_POOL if cfg.inputs.file else INPUT_POOL)
        self.items = self.runner.make_inputs(max(pool, cfg.batch_size), cfg.seed)
        self.inputs_info = dict(self.runner.inputs_info, pool=len(self.items))
        self.flops: float | None = None
        #: count_flops ran (its None, "cannot count", is not retried between windows)
        self.flops_tried = False
        self.idle_power_w: dict[str, float] | None = None
        #: ``idle-baseline-failed`` when the idle window failed (no baseline is subtracted)
        self.idle_flag: str | None = None
        self.optimizer = None
        if cfg.phase == "finetune":
            import torch

            self.runner.train_mode(True)
            self.optimizer = torch.optim.AdamW(self.runner.trainable_parameters(), lr=cfg.learning_rate)

    # -- work units ------------------------------------------------------------
    def _sync(self) -> None:
        import torch

        if self.cfg.device.startswith("cuda"):
            torch.cuda.synchronize(self.cfg.device)

    def step(self, batch: list[Any], first_phase: bool = False) -> None:
        import torch

        if self.optimizer is None:
            with torch.inference_mode():
                (self.runner.run_first_phase if first_phase else self.runner.run)(batch)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.runner.training_loss(batch)
            loss.backward()
            self.optimizer.step()

    def work(self, n: int, first_phase: bool = False) -> None:
        """``n`` inferences (or first-phase passes), then wait for the device to finish."""
        for b in batches(self.items, n, self.cfg.batch_size):
            self.step(b, first_phase)
        self._sync()

    def count_flops(self) -> float | None:
        """FLOPs per inference, averaged over the batches one window runs.

        Each distinct batch of the window is counted once (batches with the same
        :meth:`Runner.flops_signature` share one count) and weighted by how often the window
        runs it, so the figure is the window's mean, not the first input's.
        """
        if not self.cfg.count_flops:
            return None
        from measure.runners import count_flops

        n, bs = self.cfg.n_inferences, self.cfg.batch_size
        idx = batches(list(range(len(self.items))), n, bs)
        weights = Counter(tuple(b) for b in idx)
        by_sig: dict[Any, float | None] = {}
        total = 0.0
        for key, times in weights.items():
            batch = [self.items[i] for i in key]
            sig = self.runner.flops_signature(batch)
            sig = ("batch", key) if sig is None else ("sig", sig)
            if sig not in by_sig:
                by_sig[sig] = count_flops(self.step, batch)
            f = by_sig[sig]
            if f is None or f <= 0:
                return None
            total += f * times
        return total / n

    def measure_idle(self) -> None:
        """Idle draw (W per component) over ``idle_baseline_s``; a failed idle window gives
        no baseline and the flag ``idle-baseline-failed`` on every record."""
        s = self.cfg.idle_baseline_s
        if s <= 0:
            return
        self._sync()
        with window(self.monitor, "idle") as w:
            time.sleep(s)
        res = w.result
        if res.status != "ok":  # a void, empty or 0 J reading is no baseline
            self.idle_power_w, self.idle_flag = None, "idle-baseline-failed"
            return
        r, d = res.reading, res.duration_s
        self.idle_power_w = {c: getattr(r, f"{c}_j") / d for c in ("gpu", "cpu", "ram")
                             if getattr(r, f"{c}_j") is not None}

    def plan_phases(self) -> None:
        """Size the phase windows: time one batch of first-phase passes (outside any window)."""
        if not self.phases_on:
            return
        from measure.phases import phase_passes

        bs = self.cfg.batch_size
        t0 = time.perf_counter()
        self.work(bs, first_phase=True)
        per = (time.perf_counter() - t0) / bs
        self.phase_passes = phase_passes(self.cfg.n_inferences, self.backend.min_window_s, per)

    def measure_first_phase(self, key: str, i: int) -> WindowResult | None:
        """The first-phase window of repeat ``i`` (closed; failed if its work raised)."""
        w = WindowHandle()
        try:
            with window(self.monitor, f"{key}:{i}:first-phase") as w:
                self.work(self.phase_passes, first_phase=True)
        except Exception:  # noqa: BLE001 - recorded as a failed phase window; the record stands
            pass
        return w.result

    def close(self) -> None:
        if self.own_backend:
            self.backend.close()


def run_trial(cfg: MeasureConfig, store: ResultStore, backend: EnergyBackend | None = None,
              done: set[tuple[str, int]] | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              on_start: Callable[[Trial], None] | None = None) -> list[dict[str, Any]]:
    """Run the repeats of ``cfg`` not yet in ``done``; append each record as its window closes.

    Model loading, input generation, warm-up and the idle baseline are outside the windows
    (the study excluded model loading). Without warm-up, FLOPs are counted after the first
    window so that window is a true cold start; with warm-up, during the warm-up. A failure
    inside a window writes a ``failed`` record and stops the trial (the exception propagates).
    """
    out: list[dict[str, Any]] = []
    with closing(iter_trial(cfg, backend=backend, done=done, on_start=on_start)) as recs:
        for rec in recs:
            store.append(rec)
            out.append(rec)
            if on_record:
                on_record(rec)
    return out


def iter_trial(cfg: MeasureConfig, backend: EnergyBackend | None = None,
               done: set[tuple[str, int]] | None = None,
               on_start: Callable[[Trial], None] | None = None) -> Iterator[dict[str, Any]]:
    """The windows of :func:`run_trial`, yielding each record as its window closes.

    Writes nothing: the caller stores each record before asking for the next window (the
    local executor appends it to the store; a Ray worker sends it to the driver, which
    appends it). A failed window's record is yielded first, then its exception is raised.
    A window whose reading is void (``counter-reset``) is yielded as failed and the trial
    goes on: the work ran, only its energy is unknown. A window the backend could not even
    open (``begin`` raised: a lost GPU, an exhausted fake script) has no reading: nothing is
    yielded for it and a :class:`MeasureError` says so (``--resume`` runs it again).
    """
    done = done or set()
    key = cfg.trial_key()
    todo = [i for i in range(cfg.repeats) if (key, i) not in done]
    if not todo:
        return
    trial = Trial(cfg, backend)
    try:
        if on_start:
            on_start(trial)
        if cfg.warmup:
            if cfg.count_flops:
                trial.flops, trial.flops_tried = trial.count_flops(), True
            trial.work(cfg.warmup)
        trial.measure_idle()
        for i in todo:
            err: BaseException | None = None
            w = WindowHandle()  # stays empty if the backend cannot open the window
            try:
                with window(trial.monitor, f"{key}:{i}") as w:
                    trial.work(cfg.n_inferences)
            except Exception as e:  # the window is closed and flagged; write it, then stop
                err = e
            if w.result is None:  # begin() raised: no window, no reading, no record
                raise MeasureError(f"the energy backend could not open window {i} ({type(err).__name__}: "
                                   f"{err}); no record was written for it, --resume runs it again",
                                   f"backend {trial.backend.name}") from err
            phase_res = None
            if err is None and trial.phases_on:
                try:
                    if i == todo[0]:
                        trial.plan_phases()  # after the first window, which stays a cold start
                    phase_res = trial.measure_first_phase(key, i)
                except Exception:  # noqa: BLE001 - the main window stands; flagged phases-failed below
                    phase_res = None
            if err is None and not trial.flops_tried and cfg.count_flops:
                trial.flops, trial.flops_tried = trial.count_flops(), True
            rec = build_record(cfg, trial.source, w.result, i, cfg.n_inferences,
                               trial.backend.name, trial.meta, trial.flops, trial.idle_power_w,
                               trial.grid, trial.inputs_info)
            phases, pflags = _phase_record(cfg, w.result, cfg.n_inferences, phase_res, trial.phase_passes)
            if phases is not None:
                rec["phases"] = phases
                rec["flags"] += [f for f in pflags if f not in rec["flags"]]
            elif trial.phase_flag:
                rec["flags"].append(trial.phase_flag)
            elif trial.phases_on and err is None:
                rec["flags"].append("phases-failed")
            if trial.idle_flag:
                rec["flags"].append(trial.idle_flag)
            yield rec
            if err is not None:
                raise err
    finally:
        trial.close()
