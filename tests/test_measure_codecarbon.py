"""One run per task with the real codecarbon backend on CPU (offline, quiet, no files)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")
pytest.importorskip("codecarbon")

from measure.backends import CodeCarbonBackend
from measure.config import make_config
from measure.models import TINY_MODELS as TINY
from measure.store import ResultStore
from project.tasks import TASK_IDS

SMALL_IMAGES = {"inputs": {"image_size": [64, 48]}, "generation": {"num_inference_steps": 2}}


@pytest.fixture(scope="module")
def cc_backend(tmp_path_factory):
    cwd = os.getcwd()
    work = tmp_path_factory.mktemp("cc_cwd")
    os.chdir(work)  # anything codecarbon might write would land here: checked below
    try:
        b = CodeCarbonBackend("USA", measure_power_secs=1.0)
        yield b
        b.close()
        assert sorted(os.listdir(work)) == []
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("task", TASK_IDS)
def test_task_with_codecarbon(task, cc_backend, tmp_path):
    from measure.run import run_trial

    cfg = make_config(task=task, model=TINY[task], device="cpu", n_inferences=2, batch_size=1,
                      repeats=1, backend="codecarbon", count_flops=False, **SMALL_IMAGES)
    rec = run_trial(cfg, ResultStore(tmp_path).open(), backend=cc_backend)[0]
    assert rec["status"] == "ok" and rec["backend"] == "codecarbon"
    assert rec["cpu_energy_j_per_inference"] > 0 and rec["ram_energy_j_per_inference"] > 0
    assert rec["gpu_energy_j_per_inference"] is None and rec["gpu_method"] == "none"
    assert rec["ram_method"] == "estimate"
    assert rec["cpu_method"] in ("estimate", "counter")
    if rec["cpu_method"] == "estimate":
        assert "cpu-power-estimated" in rec["flags"]
    assert rec["energy_j_per_inference"] == pytest.approx(
        rec["cpu_energy_j_per_inference"] + rec["ram_energy_j_per_inference"])
    assert rec["metadata"]["codecarbon_version"] and rec["metadata"]["tracking_mode"] == "machine"
    assert rec["tracking_mode"] == "machine"
    assert rec["cpu_power_w"] == pytest.approx(rec["cpu_energy_j_per_inference"] * 2 / rec["duration_s_window"])
    assert rec["emissions_g_per_inference"] == pytest.approx(
        rec["energy_kwh_per_inference"] * rec["grid_intensity_g_per_kwh"])
