"""Run one trial (``repeats`` measurement windows of one config) and write its records."""

from __future__ import annotations

import time
import uuid
from contextlib import closing
from itertools import cycle, islice
from typing import Any, Callable, Iterator

from measure.backends import EnergyBackend, make_backend
from measure.config import MeasureConfig
from measure.models import ModelSource, resolve_model
from measure.store import ResultStore
from measure.window import Monitor, WindowResult, window

#: distinct inputs generated per trial; longer runs cycle through them
INPUT_POOL = 100
J_PER_KWH = 3.6e6


def batches(items: list[Any], n: int, batch_size: int) -> list[list[Any]]:
    """``n`` items taken cyclically from ``items``, in batches (the last may be short)."""
    seq = list(islice(cycle(items), n))
    return [seq[i:i + batch_size] for i in range(0, n, batch_size)]


def build_record(cfg: MeasureConfig, source: ModelSource, res: WindowResult, repeat_index: int,
                 n: int, backend_name: str, meta: dict[str, Any], flops: float | None,
                 idle_power_w: dict[str, float] | None) -> dict[str, Any]:
    """One measurement record (schema: docs/architecture.md)."""
    r = res.reading
    per = lambda x: None if x is None else x / n  # noqa: E731
    total_j = r.total_j
    flags = list(res.flags)
    if cfg.device == "cpu":
        flags.append("cpu-run")
    if cfg.warmup == 0:
        flags.append("no-warmup")
    if source.weights == "random-init":
        flags.append("random-init")
    if backend_name == "fake":
        flags.append("fake-energy")
    if r.cpu_method == "estimate" and "cpu-estimated" not in flags:
        flags.append("cpu-estimated")
    active = None
    if idle_power_w is not None:
        idle_j = sum(idle_power_w.values()) * res.duration_s
        active = (total_j - idle_j) / n
    energy_j = total_j / n
    extra: dict[str, Any] = {"per_gpu_j_window": r.per_gpu_j or None,
                             "idle_power_w": idle_power_w, "error": res.error}
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
        "device": cfg.device,
        "device_name": meta.get("device_name"),
        "dtype": cfg.dtype,
        "batch_size": cfg.batch_size,
        "n_inferences": n,
        "warmup": cfg.warmup,
        "energy_kwh_per_inference": energy_j / J_PER_KWH,
        "energy_j_per_inference": energy_j,
        "gpu_energy_j_per_inference": per(r.gpu_j),
        "cpu_energy_j_per_inference": per(r.cpu_j),
        "ram_energy_j_per_inference": per(r.ram_j),
        "gpu_energy_kwh_per_inference": None if r.gpu_j is None else r.gpu_j / n / J_PER_KWH,
        "cpu_energy_kwh_per_inference": None if r.cpu_j is None else r.cpu_j / n / J_PER_KWH,
        "ram_energy_kwh_per_inference": None if r.ram_j is None else r.ram_j / n / J_PER_KWH,
        "active_energy_j_per_inference": active,
        "gpu_method": r.gpu_method,
        "cpu_method": r.cpu_method,
        "ram_method": r.ram_method,
        "time_s_per_inference": res.duration_s / n,
        "throughput_per_s": n / res.duration_s if res.duration_s > 0 else None,
        "flops_per_inference": flops,
        "energy_j_per_flop": (energy_j / flops) if flops else None,
        "energy_j_window": total_j,
        "duration_s_window": res.duration_s,
        "backend": backend_name,
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
        from measure import metadata
        from measure.runners import make_runner

        self.cfg = cfg
        self.source = resolve_model(cfg.model, cfg.task)
        self.own_backend = backend is None
        # the backend first: a missing NVML should fail before a large model is loaded
        self.backend = backend or make_backend(
            cfg.resolved_backend(), cfg.device, whole_node=cfg.whole_node,
            country_iso_code=cfg.country_iso_code, measure_power_secs=cfg.measure_power_secs)
        try:
            self.runner = make_runner(self.source, cfg)
        except BaseException:
            self.close()
            raise
        self.monitor = Monitor(self.backend)
        self.meta = metadata.collect(cfg.device, self.backend.metadata())
        self.phase_recorder = None
        self.phase_flag: str | None = None
        if cfg.phases:
            from measure.phases import PHASES, PhaseRecorder

            if cfg.task not in PHASES:
                self.phase_flag = "phases-none-for-task"
            elif not self.backend.supports_nesting or cfg.phase == "finetune":
                self.phase_flag = "phases-unsupported"
            else:
                self.phase_recorder = PhaseRecorder(self.monitor, self._sync)
                self.runner.phase_recorder = self.phase_recorder
        pool = min(cfg.n_inferences, INPUT_POOL)
        self.items = self.runner.make_inputs(max(pool, cfg.batch_size), cfg.seed)
        self.flops: float | None = None
        self.idle_power_w: dict[str, float] | None = None
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

    def step(self, batch: list[Any]) -> None:
        import torch

        if self.optimizer is None:
            with torch.inference_mode():
                self.runner.run(batch)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.runner.training_loss(batch)
            loss.backward()
            self.optimizer.step()

    def work(self, n: int) -> None:
        for b in batches(self.items, n, self.cfg.batch_size):
            self.step(b)
        self._sync()

    def count_flops(self) -> float | None:
        if not self.cfg.count_flops:
            return None
        from measure.runners import count_flops

        b = batches(self.items, self.cfg.batch_size, self.cfg.batch_size)[0]
        total = count_flops(self.step, b)
        return None if total is None or total <= 0 else total / len(b)

    def measure_idle(self) -> None:
        s = self.cfg.idle_baseline_s
        if s <= 0:
            return
        self._sync()
        with window(self.monitor, "idle") as w:
            time.sleep(s)
        r, d = w.result.reading, w.result.duration_s
        self.idle_power_w = {c: getattr(r, f"{c}_j") / d for c in ("gpu", "cpu", "ram")
                             if getattr(r, f"{c}_j") is not None}

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
                trial.flops = trial.count_flops()
            trial.work(cfg.warmup)
        trial.measure_idle()
        for i in todo:
            err: BaseException | None = None
            rec_ph = trial.phase_recorder
            if rec_ph is not None:
                rec_ph.reset()
                rec_ph.active = True
            try:
                with window(trial.monitor, f"{key}:{i}") as w:
                    trial.work(cfg.n_inferences)
            except Exception as e:  # the window is closed and flagged; write it, then stop
                err = e
            finally:
                if rec_ph is not None:
                    rec_ph.active = False
            if err is None and trial.flops is None and cfg.count_flops:
                trial.flops = trial.count_flops()
            rec = build_record(cfg, trial.source, w.result, i, cfg.n_inferences,
                               trial.backend.name, trial.meta, trial.flops, trial.idle_power_w)
            if rec_ph is not None:
                rec["phases"] = rec_ph.per_inference(cfg.n_inferences)
            elif trial.phase_flag:
                rec["flags"].append(trial.phase_flag)
            yield rec
            if err is not None:
                raise err
    finally:
        trial.close()
