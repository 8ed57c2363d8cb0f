"""Model sources: shipped architecture configs (random init) or a local pretrained directory.

A shipped model is one JSON file under ``data/model_configs/`` (``tiny/`` holds the test
variants). It holds the published config values of a real model, the model id they come
from (``source``), the task, the transformers or diffusers classes, the shipped tokenizer to
use and, for vision models, the image processor settings. Weights are random (seeded);
records say ``weights: random-init``.

Pretrained weights come from a local directory with ``config.json`` (transformers) or
``model_index.json`` (diffusers), or from a Hub id already in the local Hugging Face cache
(``huggingface-cli download ID`` beforehand, or any earlier ``from_pretrained``). They are
loaded with ``local_files_only=True`` and records say ``weights: pretrained`` and where the
weights came from (``weights_source``: the directory, or ``hf-cache:ID@COMMIT``). Nothing is
downloaded.
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
    #: where pretrained weights came from: the directory, or ``hf-cache:ID@COMMIT``
    origin: str | None = None


def hub_cache_snapshot(repo_id: str) -> Path | None:
    """The local Hugging Face cache's snapshot directory of ``repo_id``, or None (no network)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - installed with transformers
        return None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or not a valid repo id
        return None


def _pretrained_dir(p: Path, task: str, where: str) -> str:
    if (p / "model_index.json").is_file():
        lib = "diffusers"
    elif (p / "config.json").is_file():
        lib = "transformers"
    else:
        raise MeasureError("model directory has neither config.json nor model_index.json", where)
    if (lib == "diffusers") != (task == "image_generation"):
        raise MeasureError(f"a {lib} model directory cannot run task {task!r}", where)
    return lib


def _looks_like_hub_id(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?", name)) and not name.startswith(".")


def resolve_weights(weights: str, task: str) -> ModelSource:
    """Pretrained weights from a local directory or the local Hugging Face cache."""
    p = Path(weights).expanduser()
    if p.is_dir():
        lib = _pretrained_dir(p, task, str(p))
        return ModelSource(name=str(p), task=task, weights="pretrained", library=lib, path=p,
                           origin=str(p.resolve()))
    snap = hub_cache_snapshot(weights) if _looks_like_hub_id(weights) else None
    if snap is None:
        raise MeasureError("not a local model directory, and not a Hub id in the local Hugging Face "
                           "cache (nothing is downloaded: fetch it first with `huggingface-cli "
                           "download ID`, or pass a directory)", "weights " + weights)
    lib = _pretrained_dir(snap, task, f"weights {weights} ({snap})")
    return ModelSource(name=weights, task=task, weights="pretrained", library=lib, path=snap,
                       origin=f"hf-cache:{weights}@{snap.name}")


def _check_weights_match_spec(spec: dict[str, Any], src: ModelSource) -> None:
    """Weights given with a shipped config must be of the config's architecture."""
    import json as _json

    assert src.path is not None
    if spec["library"] != src.library:
        raise MeasureError(f"weights are a {src.library} model, config {spec['name']!r} a {spec['library']} one",
                           "weights")
    if src.library == "diffusers":
        want = spec.get("pipeline")
        got = _json.loads((src.path / "model_index.json").read_text()).get("_class_name")
    else:
        import transformers

        want = getattr(getattr(transformers, spec["config_class"]), "model_type", None)
        got = _json.loads((src.path / "config.json").read_text()).get("model_type")
    if want and got and want != got:
        raise MeasureError(f"weights are a {got!r} model but config {spec['name']!r} is {want!r}; "
                           "pass --weights alone, or the matching --model", "weights")


def resolve_model(model: str, task: str, weights: str | None = None) -> ModelSource:
    """Where a run's model comes from; the task must match.

    ``weights`` (a directory or a cached Hub id) gives pretrained weights; ``model`` then names
    the run, and if it is a shipped config the weights must be of its architecture. Without
    ``weights``: a local directory or a cached Hub id (pretrained), else a shipped config name
    (random init).
    """
    if weights:
        src = resolve_weights(weights, task)
        if load_spec_exists(model):
            spec = load_spec(model)
            if spec["task"] != task:
                raise MeasureError(f"model config {model!r} is for task {spec['task']!r}, not {task!r}", "model")
            _check_weights_match_spec(spec, src)
        src.name = model
        return src
    p = Path(model).expanduser()
    if p.is_dir():
        return resolve_weights(model, task)
    if not load_spec_exists(model):
        if "/" in model or "\\" in model or model.startswith("."):
            if _looks_like_hub_id(model) and hub_cache_snapshot(model) is not None:
                return resolve_weights(model, task)
            raise MeasureError("not a local model directory, not a shipped config name and not a Hub "
                               "id in the local Hugging Face cache (nothing is downloaded from a hub)",
                               "model " + model)
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
