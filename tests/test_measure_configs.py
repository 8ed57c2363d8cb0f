"""Shipped model configs: real shapes (parameter counts match the published models), tokenizers, inputs."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")

from measure.models import (
    TINY_MODELS,
    count_parameters,
    list_models,
    load_spec,
    resolve_model,
)
from project.tasks import TASK_IDS

REAL = [m["name"] for m in list_models() if not m["tiny"]]


def test_every_task_has_a_real_and_a_tiny_config():
    tasks_real = {m["task"] for m in list_models() if not m["tiny"]}
    tasks_tiny = {m["task"] for m in list_models() if m["tiny"]}
    assert tasks_real == set(TASK_IDS) == tasks_tiny
    assert {"stable-diffusion-v1-5", "stable-diffusion-2-1", "stable-diffusion-xl-base-1.0"} <= set(REAL)
    for name in TINY_MODELS.values():
        assert load_spec(name)["task"] in TASK_IDS


@pytest.mark.parametrize("name", REAL)
def test_real_config_has_the_published_parameter_count(name):
    spec = load_spec(name)
    assert spec["source"] and "/" in spec["source"]
    pub = spec["published_parameters"]
    if isinstance(pub, dict):  # diffusers: per component
        from measure.models import build_diffusers_components

        comps = build_diffusers_components(spec, 0, device="meta")
        for k, n in pub.items():
            assert sum(p.numel() for p in comps[k].parameters()) == n, k
    else:
        assert count_parameters(spec) == spec.get("instantiated_parameters", pub)


def test_resolve_local_dir_is_pretrained(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    src = resolve_model(str(tmp_path), "text_classification")
    assert src.weights == "pretrained" and src.library == "transformers"
    (tmp_path / "model_index.json").write_text("{}")
    assert resolve_model(str(tmp_path), "image_generation").library == "diffusers"


def test_tokenizers_cover_the_real_vocab_and_inputs_are_seeded():
    from measure import inputs

    for name in inputs.TOKENIZERS:
        tok = inputs.load_tokenizer(name)
        ids = tok(inputs.texts(1, 50, 0)[0])["input_ids"]
        assert len(ids) > 20 and max(ids) < 30522  # fits the smallest real vocabulary (BERT)
    assert inputs.texts(3, 40, 7) == inputs.texts(3, 40, 7) != inputs.texts(3, 40, 8)
    assert inputs.prompts(2, 1) == inputs.prompts(2, 1)
    a, b = inputs.images(1, (32, 24), 5)[0], inputs.images(1, (32, 24), 5)[0]
    assert a.size == (32, 24) and a.tobytes() == b.tobytes()
    words = [len(t.split()) for t in inputs.texts(50, 90, 0)]
    assert 70 < sum(words) / len(words) < 110
    for p in inputs.qa_pairs(5, 0):
        key = p["question"].removeprefix("What does the text say about ").rstrip("?")
        assert key in p["context"]


def test_real_small_model_runs_on_cpu(tmp_path):
    """One real-size config (DistilBERT SST-2, 67M parameters) through the real pipeline."""
    from measure.backends import FakeBackend
    from measure.config import make_config
    from measure.run import run_trial
    from measure.store import ResultStore

    cfg = make_config(task="text_classification", model="distilbert-sst2", device="cpu",
                      n_inferences=2, repeats=1, backend="fake")
    rec = run_trial(cfg, ResultStore(tmp_path).open(), backend=FakeBackend())[0]
    assert rec["status"] == "ok"
    # about 2 x 66M parameters x ~90 tokens: order 1e10 FLOPs
    assert 3e9 < rec["flops_per_inference"] < 5e10
