"""Model sources: shipped architecture configs (random init) or a local pretrained directory.

A shipped model is one JSON file under ``data/model_configs/`` (``tiny/`` holds the test
variants). It holds the published config values of a real model, the model id they come
from (``source``), the task, the transformers or diffusers classes, the shipped tokenizer to
use and, for vision models, the image processor settings. Weights are random (seeded);
records say ``weights: random-init``. A local directory with ``config.json`` (transformers)
or ``model_index.json`` (diffusers) is loaded with ``local_files_only=True`` and records say
``weights: pretrained``. Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure.errors import MeasureError
from project.paths import data_dir

#: transformers Auto class used to load a local pretrained directory, by task
AUTO_CLASSES: dict[str, str] = {
    "text_classification": "AutoModelForSequenceClassification",
    "extractive_qa": "AutoModelForQuestionAnswering",
    "masked_lm": "AutoModelForMaskedLM",
    "token_classification": "AutoModelForTokenClassification",
    "image_classification": "AutoModelForImageClassification",
    "object_detection": "AutoModelForObjectDetection",
    "text_generation": "AutoModelForCausalLM",
    "summarization": "AutoModelForSeq2SeqLM",
    "image_captioning": "AutoModelForImageTextToText",
}


#: the tiny test variant of each task (data/model_configs/tiny/)
TINY_MODELS: dict[str, str] = {
    "text_classification": "tiny-distilbert-sst2",
    "extractive_qa": "tiny-roberta-squad2",
    "masked_lm": "tiny-bert-mlm",
    "token_classification": "tiny-bert-ner",
    "image_classification": "tiny-vit",
    "object_detection": "tiny-detr",
    "text_generation": "tiny-gpt2",
    "summarization": "tiny-bart-cnn",
    "image_captioning": "tiny-blip",
    "image_generation": "tiny-sd",
}


def model_configs_dir() -> Path:
    return data_dir() / "model_configs"


def _spec_files() -> dict[str, Path]:
    root = model_configs_dir()
    return {p.stem: p for p in sorted(root.rglob("*.json"))} if root.is_dir() else {}


def list_models(task: str | None = None) -> list[dict[str, Any]]:
    """Shipped model specs (name, task, source, tiny), optionally for one task."""
    out = []
    for name, p in _spec_files().items():
        spec = json.loads(p.read_text())
        if task is None or spec.get("task") == task:
            out.append({"name": name, "task": spec.get("task"), "source": spec.get("source"),
                        "tiny": p.parent.name == "tiny", "path": str(p)})
    return out


def load_spec(name: str) -> dict[str, Any]:
    files = _spec_files()
    if name not in files:
        raise MeasureError(
            f"unknown model {name!r}: not a local directory and not a config in {model_configs_dir()}"
            f" (known: {', '.join(files) or 'none'})", "model")
    p = files[name]
    try:
        spec = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MeasureError(f"model config is not valid JSON: {e}", str(p)) from None
    for key in ("task", "library", "source"):
        if key not in spec:
            raise MeasureError(f"model config lacks field {key!r}", str(p))
    spec["name"] = name
    spec["_path"] = str(p)
    return spec


@dataclass
class ModelSource:
    """Where a run's model comes from."""

    name: str
    task: str
    weights: str  # "random-init" | "pretrained"
    library: str  # "transformers" | "diffusers"
    spec: dict[str, Any] | None = None
    path: Path | None = None


def resolve_model(model: str, task: str) -> ModelSource:
    """A shipped config name or a local directory; the task must match the config's task."""
    p = Path(model).expanduser()
    if p.is_dir():
        if (p / "model_index.json").is_file():
            lib = "diffusers"
        elif (p / "config.json").is_file():
            lib = "transformers"
        else:
            raise MeasureError("local model directory has neither config.json nor model_index.json",
                               str(p))
        if (lib == "diffusers") != (task == "image_generation"):
            raise MeasureError(f"a {lib} model directory cannot run task {task!r}", str(p))
        return ModelSource(name=str(p), task=task, weights="pretrained", library=lib, path=p)
    if not load_spec_exists(model) and ("/" in model or "\\" in model or model.startswith(".")):
        raise MeasureError("not a local model directory and not a shipped config name "
                           "(nothing is downloaded from a hub)", "model " + model)
    spec = load_spec(model)
    if spec["task"] != task:
        raise MeasureError(f"model config {model!r} is for task {spec['task']!r}, not {task!r}", "model")
    return ModelSource(name=model, task=task, weights="random-init", library=spec["library"], spec=spec)


def load_spec_exists(name: str) -> bool:
    return name in _spec_files()


# --------------------------------------------------------------------------- building

def _torch_dtype(dtype: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


def _hf_config(spec: dict[str, Any]):
    import transformers

    cls = getattr(transformers, spec["config_class"])
    return cls(**spec["config"])


def build_transformers_model(spec: dict[str, Any], seed: int, device: str = "cpu"):
    """Random-init model from a shipped spec (seeded). ``device='meta'`` builds no weights."""
    import torch
    import transformers

    cfg = _hf_config(spec)
    cls = getattr(transformers, spec["architecture"])
    torch.manual_seed(seed)
    # built directly on the target device: random init of a billion parameters is fast on a GPU
    with torch.device(device):
        return cls(cfg)


def build_diffusers_components(spec: dict[str, Any], seed: int, device: str = "cpu") -> dict[str, Any]:
    """Every component of a shipped diffusers spec (models random-init, seeded)."""
    import diffusers
    import torch
    import transformers

    from measure.inputs import load_tokenizer

    out: dict[str, Any] = {}
    torch.manual_seed(seed)
    for key, comp in spec["components"].items():
        if comp is None:
            out[key] = None
        elif "tokenizer" in comp:
            out[key] = load_tokenizer(comp["tokenizer"], model_max_length=comp.get("model_max_length", 77))
        elif "config_class" in comp:  # a transformers model (text encoders)
            cfg = getattr(transformers, comp["config_class"])(**comp["config"])
            cls = getattr(transformers, comp["class"])
            with torch.device(device):
                out[key] = cls(cfg)
        else:
            cls = getattr(diffusers, comp["class"])
            if comp["class"].endswith("Scheduler"):
                out[key] = cls.from_config(comp["config"])
            else:
                with torch.device(device):
                    out[key] = cls.from_config(comp["config"])
    return out


def count_parameters(spec: dict[str, Any]) -> int:
    """Parameters of a shipped spec's model(s), built on the meta device (no memory)."""
    if spec["library"] == "transformers":
        m = build_transformers_model(spec, 0, device="meta")
        return sum(p.numel() for p in m.parameters())
    comps = build_diffusers_components(spec, 0, device="meta")
    return sum(sum(p.numel() for p in c.parameters()) for c in comps.values()
               if c is not None and hasattr(c, "parameters"))
