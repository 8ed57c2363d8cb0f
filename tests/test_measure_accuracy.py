"""Issue 13's findings on measure/, each with a test that failed on the code before the fix.

Runs with no GPU: NVML is the simulator in tests/nvml_sim.py (a counter that follows time and
load, stale 10-100 ms updates, resets, UUIDs, MIG, violation counters) and the work a window
measures is queued on its simulated CUDA stream.
"""

from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from nvml_sim import SimNVML  # noqa: E402  (tests/ is on sys.path under pytest)

from measure.backends import (  # noqa: E402
    CompositeBackend,
    FakeBackend,
    NVMLBackend,
    make_backend,
    resolve_gpu,
)
from measure.config import make_config  # noqa: E402
from measure.errors import MeasureError  # noqa: E402
from measure.store import ResultStore  # noqa: E402
from measure.window import Monitor, window  # noqa: E402


@pytest.fixture(autouse=True)
def no_cuda_runtime(monkeypatch):
    """Tests state the CUDA runtime's UUID themselves (a GPU CI host must not leak its own)."""
    monkeypatch.setattr("measure.backends.cuda_device_uuid", lambda i: None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def cfg(task, model, **kw):
    fields = dict(task=task, model=model, device="cpu", n_inferences=2, batch_size=1, repeats=1,
                  backend="fake", count_flops=False, inputs={"image_size": [64, 48]},
                  generation={"num_inference_steps": 2})
    fields.update(kw)
    return make_config(**fields)


def loaded_window(sim, backend, seconds, gpu=0):
    """A window around ``seconds`` of queued work on ``gpu``, synchronised before it closes."""
    mon = Monitor(backend)
    with window(mon, "w") as w:
        sim.launch(seconds, gpu=gpu)
        sim.synchronize(gpu)
    return w.result


# --------------------------------------------------------------------------- 2. wrong GPU

def test_uuid_in_cuda_visible_devices_measures_that_gpu(monkeypatch):
    """Slurm/Kubernetes write UUIDs: cuda:0 is then the GPU named, not NVML device 0."""
    sim = SimNVML(6, update_s=0.01)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", sim.gpus[5].uuid[:12])  # a unique UUID prefix
    b = make_backend("nvml", "cuda:0", nvml=sim)
    assert b.used_indices == [5]
    assert b.metadata()["gpus"][0]["mapped_by"] == "visible-uuid"
    res = loaded_window(sim, b, 0.1, gpu=5)
    assert res.reading.gpu_j == pytest.approx(0.1 * 500 + 70 * (res.duration_s - 0.1), rel=0.3)


def test_cuda_runtime_uuid_decides(monkeypatch):
    sim = SimNVML(4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # would say NVML 0; the runtime knows better
    monkeypatch.setattr("measure.backends.cuda_device_uuid", lambda i: sim.gpus[3].uuid[4:])  # no GPU- prefix
    assert make_backend("nvml", "cuda:0", nvml=sim).used_indices == [3]


def test_cuda_device_order_is_honoured():
    sim = SimNVML(2, names=["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"])
    with pytest.raises(MeasureError, match="CUDA_DEVICE_ORDER"):
        resolve_gpu(sim, 0, env={"CUDA_VISIBLE_DEVICES": "1"})  # FASTEST_FIRST: which is "1"?
    t = resolve_gpu(sim, 0, env={"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert t.nvml_index == 1
    # identical GPUs: CUDA breaks FASTEST_FIRST ties by PCI bus id, which is NVML's order
    assert resolve_gpu(SimNVML(3), 1, env={"CUDA_VISIBLE_DEVICES": "2,0"}).nvml_index == 0


def test_mig_slice_is_refused_not_measured_as_the_whole_card(monkeypatch):
    sim = SimNVML(2, mig=True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", sim.gpus[1].mig_uuids[0])
    with pytest.raises(MeasureError, match="MIG"):
        make_backend("nvml", "cuda:0", nvml=sim)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(MeasureError, match="MIG"):  # index path onto a MIG-enabled card
        make_backend("nvml", "cuda:0", nvml=sim)
    monkeypatch.setattr("measure.backends.cuda_device_uuid", lambda i: sim.gpus[0].mig_uuids[1][4:])
    with pytest.raises(MeasureError, match="MIG"):
        make_backend("nvml", "cuda:0", nvml=sim)


# --------------------------------------------------------------------------- 3. counter reset

def test_counter_going_backwards_fails_the_window_and_the_trial_goes_on(tmp_path, monkeypatch):
    from measure import runners
    from measure.run import run_trial

    sim = SimNVML(1, update_s=0.01)
    calls = {"n": 0}
    real_run = runners.TextClassificationRunner.run

    def run(self, batch):
        calls["n"] += 1
        sim.launch(0.05)
        sim.synchronize()
        if calls["n"] == 1:  # inside the first window: the driver reloads
            sim.reset(0)
            sim.launch(0.05)
            sim.synchronize()
        return real_run(self, batch)

    monkeypatch.setattr(runners.TextClassificationRunner, "run", run)
    c = cfg("text_classification", "tiny-distilbert-sst2", backend="nvml", repeats=2, n_inferences=1)
    recs = run_trial(c, ResultStore(tmp_path).open(), backend=NVMLBackend([0], nvml=sim))
    bad, good = recs
    assert bad["status"] == "failed" and {"counter-reset", "failed:counter-reset"} <= set(bad["flags"])
    assert bad["energy_j_window"] is None and bad["gpu_energy_j_per_inference"] is None
    assert "went backwards" in bad["extra"]["error"]
    assert good["status"] == "ok" and good["gpu_energy_j_per_inference"] < 1e4


# --------------------------------------------------------------------------- 4. phases

def sim_trial_hooks(sim, full_s, first_s):
    """on_start hook: the trial's work becomes kernels on the simulated GPU."""
    def on_start(trial):
        trial.runner.run = lambda batch: sim.launch(full_s * len(batch))
        trial.runner.run_first_phase = lambda batch: sim.launch(first_s * len(batch))
        trial._sync = sim.synchronize
    return on_start


def test_phase_energy_matches_the_simulated_gpu_and_needs_the_synchronise(tmp_path):
    """Work is asynchronous: only a window that synchronises before closing sees its energy.
    Each phase window is long enough for the counter (stale by up to one update)."""
    from measure.run import run_trial

    sim = SimNVML(1, update_s=0.01, idle_w=70.0, busy_w=500.0)
    b = NVMLBackend([0], nvml=sim)
    b.min_window_s = 0.2
    c = cfg("text_generation", "tiny-gpt2", backend="nvml", phases=True, n_inferences=10)
    rec = run_trial(c, ResultStore(tmp_path).open(), backend=b,
                    on_start=sim_trial_hooks(sim, full_s=0.05, first_s=0.01))[0]
    assert rec["status"] == "ok"
    assert rec["gpu_energy_j_per_inference"] == pytest.approx(500 * 0.05, rel=0.15)
    ph = rec["phases"]
    assert ph["prefill"]["window_s"] >= 0.2 and ph["prefill"]["n_inferences"] >= 20
    assert ph["prefill"]["energy_j_per_inference"] == pytest.approx(500 * 0.01, rel=0.2)
    assert ph["decode"]["energy_j_per_inference"] == pytest.approx(500 * 0.04, rel=0.2)
    assert "short-window" not in ph["prefill"]["flags"] and "phases-short-window" not in rec["flags"]


def test_short_phase_windows_keep_their_flag(tmp_path):
    from measure.run import run_trial

    c = cfg("text_generation", "tiny-gpt2", phases=True, n_inferences=1)
    fb = FakeBackend(power_w={"gpu": 100.0}, min_window_s=1e6)  # nothing is long enough
    rec = run_trial(c, ResultStore(tmp_path).open(), backend=fb)[0]
    assert "short-window" in rec["phases"]["prefill"]["flags"]
    assert "phases-short-window" in rec["flags"]


def test_phases_work_with_nvml_plus_a_host_backend(tmp_path):
    """The default backend (nvml+codecarbon) is a composite whose windows cannot nest."""
    from measure.run import run_trial

    sim = SimNVML(1, update_s=0.01)
    host = FakeBackend(power_w={"cpu": 40.0, "ram": 10.0}, methods={"cpu": "estimate"})
    comp = CompositeBackend(NVMLBackend([0], nvml=sim), host)
    comp.min_window_s = 0.05
    c = cfg("text_generation", "tiny-gpt2", backend="nvml+codecarbon", phases=True, n_inferences=4)
    rec = run_trial(c, ResultStore(tmp_path).open(), backend=comp,
                    on_start=sim_trial_hooks(sim, full_s=0.02, first_s=0.005))[0]
    assert set(rec["phases"]) == {"method", "prefill", "decode"}
    assert "phases-unsupported" not in rec["flags"]


def test_a_failing_phase_pass_keeps_the_measured_window(tmp_path):
    from measure.run import run_trial

    def boom(batch):
        raise RuntimeError("out of memory (simulated)")

    c = cfg("text_generation", "tiny-gpt2", phases=True)
    rec = run_trial(c, ResultStore(tmp_path).open(), backend=FakeBackend(),
                    on_start=lambda t: setattr(t.runner, "run_first_phase", boom))[0]
    assert rec["status"] == "ok" and "phases-failed" in rec["flags"] and "phases" not in rec


# --------------------------------------------------------------------------- 5. FLOPs

def test_flops_count_attention_on_cpu():
    """torch's counter saw 0 FLOPs in CPU SDPA attention; eager attention is plain matmuls."""
    from measure.backends import FakeBackend
    from measure.run import Trial

    t = Trial(cfg("text_classification", "tiny-distilbert-sst2", count_flops=True,
                  inputs={"text_words": 200}), FakeBackend())
    with_sdpa = t.count_flops()
    t.runner.model.set_attn_implementation("eager")
    eager = t.count_flops()
    assert with_sdpa == pytest.approx(eager, rel=1e-6)


def test_flops_are_the_mean_over_the_inputs_run():
    from measure.run import Trial
    from measure.runners import count_flops

    t = Trial(cfg("text_classification", "tiny-distilbert-sst2", count_flops=True, n_inferences=6),
              FakeBackend())
    each = [count_flops(t.step, [x]) for x in t.items]
    assert len(set(each)) > 1  # the inputs differ in length
    assert t.count_flops() == pytest.approx(sum(each) / len(each))


def test_j_per_flop_divides_accelerator_energy_only():
    from measure.backends import Reading
    from measure.models import resolve_model
    from measure.run import build_record
    from measure.window import WindowResult

    c = make_config(task="text_classification", model="tiny-distilbert-sst2", device="cuda:0",
                    n_inferences=10)
    res = WindowResult("w", Reading(gpu_j=100.0, cpu_j=40.0, ram_j=60.0, gpu_method="counter"),
                       2.0, "a", "b")
    rec = build_record(c, resolve_model(c.model, c.task), res, 0, 10, "nvml", {}, 1e9, None)
    assert rec["energy_j_per_flop"] == pytest.approx(10.0 / 1e9)  # GPU only: 100 J / 10 / 1e9
    assert rec["energy_j_per_flop_basis"] == "gpu"
    assert (rec["gpu_power_w"], rec["cpu_power_w"], rec["ram_power_w"]) == (50.0, 20.0, 30.0)


# --------------------------------------------------------------------------- 6. inputs

def test_masked_lm_inputs_are_the_studys_first_20_words_masked_last():
    from measure.run import Trial

    t = Trial(cfg("masked_lm", "tiny-bert-mlm", n_inferences=20), FakeBackend())
    mask = t.runner.tokenizer.mask_token
    assert all(len(x.split()) == 20 and x.split()[-1] == mask and x.count(mask) == 1 for x in t.items)


def test_text_generation_prompts_are_the_studys_20_words():
    from measure.run import Trial

    t = Trial(cfg("text_generation", "tiny-gpt2", n_inferences=20), FakeBackend())
    assert all(len(x.split()) == 20 for x in t.items)


# --------------------------------------------------------------------------- 7. throttling

@pytest.mark.parametrize("cap, flag", [("power_capped", "power-limit-hit"),
                                       ("thermal_capped", "thermal-throttled")])
def test_throttling_during_the_window_is_flagged(cap, flag):
    """The old check read throttle reasons once, after the window, when the GPU was idle."""
    sim = SimNVML(1, update_s=0.01, **{cap: True})
    b = NVMLBackend([0], nvml=sim)
    res = loaded_window(sim, b, 0.1)
    assert flag in res.flags
    key = "power" if cap == "power_capped" else "thermal"
    assert res.reading.throttle_s["0"][key] == pytest.approx(0.1, rel=0.05)
    quiet = loaded_window(SimNVML(1, update_s=0.01), NVMLBackend([0], nvml=SimNVML(1)), 0.05)
    assert not {"power-limit-hit", "thermal-throttled"} & set(quiet.flags)


# --------------------------------------------------------------------------- 8. weights, inputs

@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A local Hugging Face cache holding one tiny pretrained model (as `hf download` leaves it)."""
    import huggingface_hub.constants as hc

    from measure.models import resolve_model
    from measure.runners import make_runner

    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = cache / "models--tiny-org--tiny-sst2" / "snapshots" / commit
    r = make_runner(resolve_model("tiny-distilbert-sst2", "text_classification"),
                    cfg("text_classification", "tiny-distilbert-sst2"))
    r.model.save_pretrained(snap)
    r.tokenizer.save_pretrained(snap)
    (cache / "models--tiny-org--tiny-sst2" / "refs").mkdir()
    (cache / "models--tiny-org--tiny-sst2" / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    return commit


def test_weights_from_the_local_hub_cache(hub_cache, tmp_path):
    from measure.models import resolve_model
    from measure.run import run_trial

    src = resolve_model("tiny-org/tiny-sst2", "text_classification")  # a Hub id, no network
    assert src.weights == "pretrained" and src.origin == f"hf-cache:tiny-org/tiny-sst2@{hub_cache}"
    c = cfg("text_classification", "tiny-distilbert-sst2", weights="tiny-org/tiny-sst2")
    rec = run_trial(c, ResultStore(tmp_path / "o").open(), backend=FakeBackend())[0]
    assert rec["weights"] == "pretrained" and "random-init" not in rec["flags"]
    assert rec["weights_source"].startswith("hf-cache:tiny-org/tiny-sst2@")
    with pytest.raises(MeasureError, match="config 'tiny-gpt2'"):
        resolve_model("tiny-gpt2", "text_classification", weights="tiny-org/tiny-sst2")


def test_inputs_from_a_jsonl_file(tmp_path):
    from measure.run import Trial

    f = tmp_path / "in.jsonl"
    rows = [{"text": " ".join(f"w{i}_{k}" for k in range(30))} for i in range(3)]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    t = Trial(cfg("text_classification", "tiny-distilbert-sst2", n_inferences=5,
                  inputs={"file": str(f)}), FakeBackend())
    assert t.items == [r["text"] for r in rows]  # passed whole, as the study did
    assert t.inputs_info["kind"] == "file" and t.inputs_info["rows"] == 3 and t.inputs_info["sha256"]
    m = Trial(cfg("masked_lm", "tiny-bert-mlm", inputs={"file": str(f)}), FakeBackend())
    assert all(x.split()[-1] == m.runner.tokenizer.mask_token and len(x.split()) == 20 for x in m.items)
    f.write_text('{"text": "fine"}\n{"txt": 1}\n')
    with pytest.raises(MeasureError, match=r"in.jsonl:2.*no text field"):
        Trial(cfg("text_classification", "tiny-distilbert-sst2", inputs={"file": str(f)}), FakeBackend())


def test_inputs_from_a_directory_of_images(tmp_path):
    from PIL import Image

    from measure.run import Trial

    for i in range(2):
        Image.new("RGB", (100 + i, 80)).save(tmp_path / f"{i}.png")
    t = Trial(cfg("image_classification", "tiny-vit", inputs={"file": str(tmp_path),
                                                              "image_size": [640, 480]}), FakeBackend())
    assert [im.size for im in t.items] == [(640, 480), (640, 480)]  # resized, as the study did
    assert t.inputs_info["kind"] == "images"


# --------------------------------------------------------------------------- issue 14 item 5

def test_country_tracking_mode_and_power_reach_the_record(tmp_path):
    """--country, --measure-power-secs and --tracking-mode with the real codecarbon backend."""
    pytest.importorskip("codecarbon")
    import typer
    from typer.testing import CliRunner

    from measure.cli import register
    from measure.emissions import grid_intensity

    app = typer.Typer()
    register(app)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # codecarbon must write nothing
    try:
        res = CliRunner().invoke(app, [
            "measure", "--task", "text_classification", "--model", "tiny-distilbert-sst2",
            "--device", "cpu", "--n", "2", "--repeats", "1", "--backend", "codecarbon",
            "--country", "fra", "--tracking-mode", "process", "--measure-power-secs", "0.5",
            "--out", str(tmp_path / "out")])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "out" / "records.jsonl").read_text().splitlines()[0])
    fra = grid_intensity("FRA")
    assert rec["tracking_mode"] == "process" and rec["metadata"]["tracking_mode"] == "process"
    assert rec["country_iso_code"] == "FRA" and "France" in rec["grid_intensity_source"]
    assert rec["grid_intensity_g_per_kwh"] == fra.g_per_kwh
    assert rec["emissions_g_per_inference"] == pytest.approx(rec["energy_kwh_per_inference"] * fra.g_per_kwh)
    assert rec["config"]["measure_power_secs"] == 0.5
    assert rec["cpu_power_w"] == pytest.approx(rec["cpu_energy_j_per_inference"] * 2 / rec["duration_s_window"])
    assert ("cpu-power-estimated" in rec["flags"]) == (rec["cpu_method"] == "estimate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
