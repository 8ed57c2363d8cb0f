"""Energy backends and measurement windows, against a fake backend and a mocked pynvml."""

from __future__ import annotations

import time
import types

import pytest

from measure.backends import (
    CompositeBackend,
    FakeBackend,
    NVMLBackend,
    Reading,
    counter_delta_mj,
    integrate_power,
    make_backend,
)
from measure.errors import MeasureError
from measure.window import Monitor, window

# --------------------------------------------------------------------------- fake + window

def test_fake_script_gives_exact_differences():
    fb = FakeBackend(script=[{"gpu_j": 10.0, "cpu_j": 1.0, "ram_j": 0.5},
                             {"gpu_j": 110.0, "cpu_j": 5.0, "ram_j": 2.5}])
    mon = Monitor(fb)
    with window(mon, "w") as w:
        pass
    r = w.result.reading
    assert (r.gpu_j, r.cpu_j, r.ram_j) == (100.0, 4.0, 2.0)
    assert r.total_j == 106.0
    assert (r.gpu_method, r.cpu_method, r.ram_method) == ("counter", "estimate", "estimate")
    assert w.result.status == "ok" and w.result.error is None


def test_fake_missing_component_is_none():
    fb = FakeBackend(script=[{"gpu_j": 0.0}, {"gpu_j": 3.0}])
    mon = Monitor(fb)
    mon.begin_window("a")
    r = mon.end_window("a").reading
    assert r.cpu_j is None and r.cpu_method == "none" and r.total_j == 3.0


def test_window_closes_and_flags_on_exception():
    fb = FakeBackend(script=[{"gpu_j": 0.0}, {"gpu_j": 7.0}])
    mon = Monitor(fb)
    handle = None
    with pytest.raises(ZeroDivisionError):
        with window(mon, "boom") as handle:
            1 / 0
    res = handle.result
    assert res is not None and res.status == "failed"
    assert "failed:ZeroDivisionError" in res.flags
    assert res.reading.gpu_j == 7.0  # the energy up to the failure is still recorded
    assert fb.calls == ["begin", "end"]


def test_backend_failure_at_end_still_closes():
    class Broken(FakeBackend):
        def end(self, token):
            raise RuntimeError("sensor gone")

    mon = Monitor(Broken())
    mon.begin_window("x")
    res = mon.end_window("x")
    assert res.status == "failed" and "failed:backend-RuntimeError" in res.flags


def test_a_window_the_counter_did_not_see_fails():
    """0 J from a stale counter is below its resolution, not a free inference."""
    mon = Monitor(FakeBackend(script=[{"gpu_j": 5.0}, {"gpu_j": 5.0}]))
    with window(mon, "w") as w:
        pass
    assert w.result.status == "failed" and "failed:below-resolution" in w.result.flags
    assert "raise --n" in w.result.error


def test_short_window_flag():
    mon = Monitor(FakeBackend(power_w={"gpu": 100.0}, min_window_s=10.0))
    with window(mon, "s") as w:
        time.sleep(0.01)
    assert "short-window" in w.result.flags
    assert w.result.reading.gpu_j == pytest.approx(100.0 * w.result.duration_s, rel=0.2)


def test_window_names_must_be_unique_while_open():
    mon = Monitor(FakeBackend())
    mon.begin_window("a")
    with pytest.raises(ValueError):
        mon.begin_window("a")


def test_integrate_power_trapezoid():
    assert integrate_power([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(150 + 400)
    assert integrate_power([(0.0, 5.0)]) == 0.0


def test_counter_delta_never_wraps():
    assert counter_delta_mj(100, 250) == 150
    assert counter_delta_mj(5_000_000, 1_000) is None  # backwards: a reset, not a wrap


def test_composite_takes_gpu_from_one_and_host_from_other():
    g = FakeBackend(script=[{"gpu_j": 0, "cpu_j": 0}, {"gpu_j": 50, "cpu_j": 999}])
    h = FakeBackend(script=[{"gpu_j": 0, "cpu_j": 0, "ram_j": 0}, {"gpu_j": 777, "cpu_j": 4, "ram_j": 2}],
                    flags=["cpu-power-estimated"])
    c = CompositeBackend(g, h)
    r = c.end(c.begin())
    assert (r.gpu_j, r.cpu_j, r.ram_j) == (50, 4, 2)
    assert "cpu-power-estimated" in r.flags and c.name == "fake+fake"


# --------------------------------------------------------------------------- mocked pynvml

class NVMLNotSupported(Exception):
    pass


def fake_pynvml(counters: dict[int, list[int] | None], power_mw: dict[int, float] | None = None,
                limit_mw: float = 400_000.0):
    """A pynvml stand-in: scripted energy counters (mJ) per GPU; None = no counter."""
    state = {i: list(v) if v is not None else None for i, v in counters.items()}
    m = types.SimpleNamespace()
    m.inited = 0
    m.nvmlInit = lambda: setattr(m, "inited", m.inited + 1)
    m.nvmlShutdown = lambda: None
    m.nvmlDeviceGetCount = lambda: len(counters)
    m.nvmlDeviceGetHandleByIndex = lambda i: i

    def energy(h):
        seq = state[h]
        if seq is None:
            raise NVMLNotSupported("not supported")
        return seq.pop(0) if len(seq) > 1 else seq[0]

    m.nvmlDeviceGetTotalEnergyConsumption = energy
    m.nvmlDeviceGetPowerUsage = lambda h: (power_mw or {}).get(h, 100_000.0)
    m.nvmlDeviceGetEnforcedPowerLimit = lambda h: limit_mw
    m.nvmlDeviceGetName = lambda h: b"NVIDIA Fake-100"
    m.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"
    m.nvmlSystemGetDriverVersion = lambda: "999.99"
    return m


def test_nvml_counter_one_gpu():
    # first call probes for the counter, then begin and end
    nv = fake_pynvml({0: [0, 1_000_000, 1_250_000]})
    b = NVMLBackend([0], nvml=nv)
    r = b.end(b.begin())
    assert r.gpu_j == pytest.approx(250.0) and r.gpu_method == "counter"
    assert r.per_gpu_j == {"0": pytest.approx(250.0)}
    assert "counter-reset" not in r.flags and "power-limit-hit" not in r.flags
    meta = b.metadata()
    assert meta["driver"] == "999.99" and meta["gpus"][0]["name"] == "NVIDIA Fake-100"
    assert meta["gpus"][0]["power_limit_w"] == 400.0


def test_nvml_counter_going_backwards_voids_the_window():
    nv = fake_pynvml({0: [5_000_000, 5_000_000, 1_000]})  # issue 13: this gave 1.8e16 J, "ok"
    b = NVMLBackend([0], nvml=nv)
    mon = Monitor(b)
    with window(mon, "w") as w:
        pass
    res = w.result
    assert res.status == "failed" and res.reading.gpu_j is None
    assert "counter-reset" in res.flags and "failed:counter-reset" in res.flags
    assert "went backwards" in res.error


def test_nvml_missing_counter_falls_back_to_polling():
    nv = fake_pynvml({0: None}, power_mw={0: 200_000.0})
    b = NVMLBackend([0], nvml=nv, poll_interval_s=0.01)
    tok = b.begin()
    time.sleep(0.2)
    t = time.perf_counter() - tok["t"]
    r = b.end(tok)
    assert r.gpu_method == "integrated-power"
    assert r.gpu_j == pytest.approx(200.0 * t, rel=0.15)
    assert b.min_window_s >= 0.1


def test_nvml_several_gpus_and_whole_node():
    nv = fake_pynvml({0: [0, 0, 3000], 1: [0, 0, 5000], 2: [0, 0, 7000]})
    b = NVMLBackend([1], nvml=nv)
    r = b.end(b.begin())
    assert r.per_gpu_j == {"1": pytest.approx(5.0)} and "idle-gpus-included" not in r.flags

    nv = fake_pynvml({0: [0, 0, 3000], 1: [0, 0, 5000], 2: [0, 0, 7000]})
    b = NVMLBackend(whole_node=True, nvml=nv)
    r = b.end(b.begin())
    assert r.gpu_j == pytest.approx(15.0)
    assert set(r.per_gpu_j) == {"0", "1", "2"}
    assert "idle-gpus-included" in r.flags


def test_nvml_mixed_counter_and_polling_reports_integrated():
    nv = fake_pynvml({0: [0, 0, 1000], 1: None})
    b = NVMLBackend(whole_node=True, nvml=nv, poll_interval_s=0.01)
    r = b.end(b.begin())
    assert r.gpu_method == "integrated-power"


def test_nvml_power_limit_hit():
    # average power at the limit over a long-enough window (violation counters: test_measure_accuracy)
    nv = fake_pynvml({0: [0, 0, 10**9]}, limit_mw=300_000.0)
    b = NVMLBackend([0], nvml=nv)
    b.min_window_s = 0.0
    assert "power-limit-hit" in b.end(b.begin()).flags


def test_nvml_bad_index_and_init_failure():
    with pytest.raises(MeasureError, match="GPU index 3"):
        NVMLBackend([3], nvml=fake_pynvml({0: [0]}))
    nv = fake_pynvml({0: [0]})

    def boom():
        raise RuntimeError("NVML Shared Library Not Found")

    nv.nvmlInit = boom
    with pytest.raises(MeasureError, match="NVML could not start"):
        NVMLBackend([0], nvml=nv)


def test_make_backend_rejects_gpu_backend_on_cpu():
    with pytest.raises(MeasureError, match="measures GPUs"):
        make_backend("nvml", "cpu")
    with pytest.raises(MeasureError, match="unknown backend"):
        make_backend("joulemeter", "cuda")


def test_nvml_backend_via_make_backend_with_mock(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    b = make_backend("nvml", "cuda:1", nvml=fake_pynvml({0: [0], 1: [0, 0, 2000]}))
    assert b.used_indices == [1]
    assert b.end(b.begin()).gpu_j == pytest.approx(2.0)


def test_reading_merge_keeps_flags():
    a = Reading(gpu_j=1.0, gpu_method="counter", flags=["x"])
    b = Reading(cpu_j=2.0, cpu_method="estimate", flags=["y"])
    m = a.merge(b, take=("cpu",))
    assert m.total_j == 3.0 and m.flags == ["x", "y"]


def test_full_trial_with_mocked_nvml(tmp_path):
    """The NVML backend drives a real (tiny) trial: record fields come from the counter."""
    import os

    pytest.importorskip("torch")
    pytest.importorskip("transformers")

    os.environ["HF_HUB_OFFLINE"] = "1"
    from measure.config import make_config
    from measure.run import run_trial
    from measure.store import ResultStore

    # probe, then begin/end of two windows: 5 J then 7 J over 2 inferences each
    nv = fake_pynvml({0: [0, 1000, 6000, 6000, 13000]})
    b = NVMLBackend([0], nvml=nv)
    cfg = make_config(task="text_classification", model="tiny-distilbert-sst2", device="cpu",
                      n_inferences=2, repeats=2, backend="nvml", count_flops=False)
    recs = run_trial(cfg, ResultStore(tmp_path).open(), backend=b)
    assert [r["gpu_energy_j_per_inference"] for r in recs] == [pytest.approx(2.5), pytest.approx(3.5)]
    assert recs[0]["gpu_method"] == "counter" and recs[0]["cpu_method"] == "none"
    assert recs[0]["cpu_energy_j_per_inference"] is None
    assert recs[0]["energy_j_per_inference"] == pytest.approx(2.5)
    assert recs[0]["metadata"]["driver"] == "999.99"
    assert recs[0]["metadata"]["power_limit_w"] == 400.0
    assert "short-window" in recs[0]["flags"]  # a tiny CPU window is far below 1 s


def test_cuda_visible_devices_maps_to_nvml_index(monkeypatch):
    from measure.backends import resolve_gpu

    nv = fake_pynvml({i: [0] for i in range(6)})
    assert resolve_gpu(nv, 1, env={}).nvml_index == 1
    env = {"CUDA_VISIBLE_DEVICES": "3,5"}
    assert (resolve_gpu(nv, 0, env=env).nvml_index, resolve_gpu(nv, 1, env=env).nvml_index) == (3, 5)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    b = make_backend("nvml", "cuda:1", nvml=fake_pynvml({i: [0, 0, 1000 * (i + 1)] for i in range(6)}))
    assert b.used_indices == [5] and b.end(b.begin()).gpu_j == pytest.approx(6.0)
    assert b.metadata()["gpus"][0]["mapped_by"] == "visible-index"


# --------------------------------------------------------------------------- review of ae8f1b7

def test_a_gpu_that_read_0_j_fails_the_window_even_with_host_estimates():
    """nvml+codecarbon: a GPU counter that did not move was hidden by the CPU/RAM estimates."""
    mon = Monitor(FakeBackend(script=[{"gpu_j": 5.0, "cpu_j": 0.0, "ram_j": 0.0},
                                      {"gpu_j": 5.0, "cpu_j": 3.0, "ram_j": 1.0}]))
    with window(mon, "w") as w:
        pass
    assert w.result.status == "failed" and "failed:below-resolution" in w.result.flags
    assert "GPU" in w.result.error


def test_composite_stops_the_host_task_when_the_gpu_end_fails():
    class GpuGone(FakeBackend):
        def end(self, token):
            raise RuntimeError("GPU is lost")

    host = FakeBackend(script=[{"cpu_j": 0.0}, {"cpu_j": 1.0}])
    c = CompositeBackend(GpuGone(), host)
    tok = c.begin()
    with pytest.raises(RuntimeError, match="GPU is lost"):
        c.end(tok)
    assert host.calls == ["begin", "end"]  # the codecarbon task is stopped, not left running


def test_composite_stops_the_host_task_when_the_gpu_begin_fails():
    class GpuGone(FakeBackend):
        def begin(self):
            raise RuntimeError("GPU is lost")

    host = FakeBackend(script=[{"cpu_j": 0.0}, {"cpu_j": 1.0}])
    with pytest.raises(RuntimeError, match="GPU is lost"):
        CompositeBackend(GpuGone(), host).begin()
    assert host.calls == ["begin", "end"]


def test_nvml_end_that_fails_stops_the_power_poller():
    nv = fake_pynvml({0: [0, 0, 1000], 1: None})
    b = NVMLBackend(whole_node=True, nvml=nv, poll_interval_s=0.01)
    tok = b.begin()

    def lost(h):
        raise RuntimeError("GPU is lost")

    nv.nvmlDeviceGetTotalEnergyConsumption = lost
    with pytest.raises(RuntimeError, match="GPU is lost"):
        b.end(tok)
    assert not tok["poller"]._thread.is_alive()


def test_a_power_polling_error_fails_the_window():
    """The poller thread died silently and the integral bridged the gap: a low 'ok' reading."""
    nv = fake_pynvml({0: None}, power_mw={0: 200_000.0})
    calls = {"n": 0}

    def power(h):
        calls["n"] += 1
        if calls["n"] == 4:  # one failed sample; the reads after it work again
            raise RuntimeError("Unknown Error")
        return 200_000.0

    nv.nvmlDeviceGetPowerUsage = power
    mon = Monitor(NVMLBackend([0], nvml=nv, poll_interval_s=0.01))
    with window(mon, "w") as w:
        time.sleep(0.1)
    assert w.result.status == "failed" and w.result.reading.gpu_j is None
    assert "Unknown Error" in w.result.error and "counter-reset" not in w.result.flags


def test_nvml_is_shut_down_after_close_and_after_a_refusal():
    from nvml_sim import SimNVML

    sim = SimNVML(2)
    b = NVMLBackend([1], nvml=sim)
    assert sim.inited == 1
    b.close()
    b.close()  # idempotent: one shutdown per init
    assert sim.inited == 0
    with pytest.raises(MeasureError, match="GPU index 5"):
        NVMLBackend([5], nvml=sim)
    assert sim.inited == 0
    with pytest.raises(MeasureError, match="no GPU"):
        NVMLBackend([], nvml=sim)
    assert sim.inited == 0

    def broken(i):
        raise RuntimeError("GPU is lost")

    sim.nvmlDeviceGetHandleByIndex = broken
    with pytest.raises(RuntimeError, match="GPU is lost"):
        NVMLBackend([0], nvml=sim)
    assert sim.inited == 0
