"""A trial's windows when the backend, the idle baseline, FLOP counting or the phase split go wrong.

Runs a tiny CPU model with the fake backend (scripted cumulative joules), so each test states
exactly which reading each window gets.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from measure.backends import FakeBackend, Reading  # noqa: E402
from measure.config import make_config  # noqa: E402
from measure.errors import MeasureError  # noqa: E402
from measure.run import Trial, _phase_record, iter_trial  # noqa: E402
from measure.window import WindowResult  # noqa: E402


def cfg(**kw):
    fields = dict(task="text_classification", model="tiny-distilbert-sst2", device="cpu",
                  n_inferences=2, batch_size=1, repeats=2, backend="fake", count_flops=False)
    fields.update(kw)
    return make_config(**fields)


def snaps(*gpu_cpu):
    return [{"gpu_j": g, "cpu_j": c} for g, c in gpu_cpu]


def collect(c, backend):
    """The records iter_trial yields, and the exception it ended with (or None)."""
    out = []
    try:
        for rec in iter_trial(c, backend=backend):
            out.append(rec)
    except BaseException as e:  # noqa: BLE001 - the test looks at it
        return out, e
    return out, None


# --------------------------------------------------------------------------- 1. begin fails

def test_a_window_whose_backend_cannot_begin_is_not_a_copy_of_the_last():
    """Two snapshots for two windows: the second window's begin finds the script exhausted.
    It used to be written as an ``ok`` record carrying the first window's energy."""
    recs, err = collect(cfg(), FakeBackend(script=snaps((0, 0), (40, 4))))
    assert [r["repeat_index"] for r in recs] == [0]
    assert recs[0]["status"] == "ok" and recs[0]["energy_j_window"] == pytest.approx(44.0)
    assert isinstance(err, MeasureError)
    assert "window 1" in str(err) and "script exhausted" in str(err) and "--resume" in str(err)


def test_a_backend_that_cannot_begin_the_first_window_is_one_clear_error():
    class Lost(FakeBackend):
        def begin(self):
            raise RuntimeError("GPU is lost")

    recs, err = collect(cfg(repeats=1), Lost())
    assert recs == []
    assert isinstance(err, MeasureError) and "GPU is lost" in str(err)  # not an UnboundLocalError


# --------------------------------------------------------------------------- 4. idle baseline

def test_a_failed_idle_window_is_not_used_as_the_baseline():
    """The idle window's end raises: its reading is empty, and was taken as 0 W idle."""
    class IdleBroken(FakeBackend):
        def end(self, token):
            if len(self.calls) == 1:  # the idle window: its begin is the only call so far
                self.calls.append("end")
                raise RuntimeError("sensor gone")
            return super().end(token)

    fb = IdleBroken(script=snaps((0, 0), (10, 1), (50, 5)))
    recs, err = collect(cfg(repeats=1, idle_baseline_s=0.01), fb)
    assert err is None
    r = recs[0]
    assert r["status"] == "ok" and "idle-baseline-failed" in r["flags"]
    assert r["extra"]["idle_power_w"] is None and r["active_energy_j_per_inference"] is None


def test_a_void_idle_reading_is_not_used_as_the_baseline():
    class VoidIdle(FakeBackend):
        def end(self, token):
            r = super().end(token)
            if self.calls.count("end") == 1:
                r.gpu_j, r.error = None, "counter went backwards"
                r.flags.append("counter-reset")
            return r

    fb = VoidIdle(script=snaps((0, 0), (10, 1), (10, 1), (50, 5)))
    recs, _ = collect(cfg(repeats=1, idle_baseline_s=0.01), fb)
    r = recs[0]
    assert "idle-baseline-failed" in r["flags"] and r["active_energy_j_per_inference"] is None


def test_idle_baseline_subtracts_only_the_components_both_readings_have():
    from measure.run import build_record
    from measure.models import resolve_model

    c = cfg()
    res = WindowResult("w", Reading(gpu_j=100.0, gpu_method="counter"), 2.0, "a", "b")
    rec = build_record(c, resolve_model(c.model, c.task, None), res, 0, 2, "nvml", {}, None,
                       {"gpu": 10.0, "cpu": 5.0})
    assert rec["active_energy_j_per_inference"] == pytest.approx((100.0 - 10.0 * 2.0) / 2)
    # a component the window measured but the baseline lacks: no honest active energy
    res = WindowResult("w", Reading(gpu_j=100.0, cpu_j=20.0, gpu_method="counter", cpu_method="estimate"),
                       2.0, "a", "b")
    rec = build_record(c, resolve_model(c.model, c.task, None), res, 0, 2, "nvml", {}, None, {"gpu": 10.0})
    assert rec["active_energy_j_per_inference"] is None


# --------------------------------------------------------------------------- 9. late set-up failure

def test_a_trial_that_fails_late_in_set_up_frees_its_backend(monkeypatch):
    closed = []

    class Tracked(FakeBackend):
        def close(self):
            closed.append(True)

    monkeypatch.setattr("measure.run.make_backend_for", lambda c: Tracked())

    def broken_collect(device, backend_meta):
        raise RuntimeError("lscpu exploded")

    monkeypatch.setattr("measure.metadata.collect", broken_collect)
    with pytest.raises(RuntimeError, match="lscpu"):
        Trial(cfg())
    assert closed == [True]


# --------------------------------------------------------------------------- 10. FLOPs once

def test_flops_that_cannot_be_counted_are_tried_once(monkeypatch):
    calls = []
    monkeypatch.setattr(Trial, "count_flops", lambda self: calls.append(1))  # returns None
    recs, err = collect(cfg(repeats=3, count_flops=True), FakeBackend())
    assert err is None and len(recs) == 3 and len(calls) == 1
    calls.clear()
    collect(cfg(repeats=3, count_flops=True, warmup=1), FakeBackend())
    assert len(calls) == 1


# --------------------------------------------------------------------------- 11. phase split

def _res(j, flags=(), status="ok", error=None):
    return WindowResult("w", Reading(gpu_j=j, gpu_method="counter"), 2.0, "a", "b", status=status,
                        error=error, flags=list(flags))


def test_a_failed_full_window_gives_no_phase_energy():
    """Below resolution: status failed, but its reading carries no error, and 0 J was used."""
    c = cfg(task="text_generation", model="tiny-gpt2", phases=True)
    full = _res(0.0, ["below-resolution", "failed:below-resolution"], status="failed", error="0 J")
    phases, _ = _phase_record(c, full, 2, _res(1.0), 2)
    assert phases["decode"]["energy_j_per_inference"] is None


def test_decode_carries_the_flags_of_both_windows():
    c = cfg(task="text_generation", model="tiny-gpt2", phases=True)
    phases, flags = _phase_record(c, _res(10.0, ["power-limit-hit"]), 2, _res(2.0, ["short-window"]), 2)
    assert phases["prefill"]["flags"] == ["short-window"]
    assert set(phases["decode"]["flags"]) == {"power-limit-hit", "short-window"}
    assert "phases-short-window" in flags
