"""The measurement protocol as data: a pydantic config, loaded from TOML, saved in every record.

Defaults reproduce "Power Hungry Processing" (Luccioni, Jernite, Strubell 2023, §3):
batch size 1, no warm-up, fp32, 1,000 inferences per run, 10 runs, ``max_new_tokens=10``
for text generation, ``max_length=15, min_length=10`` for summarization, the diffusers
pipeline defaults for image generation (50 steps, the model's native resolution).
Presets for AI Energy Score and ML.ENERGY live in ``data/campaigns/*.toml``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from measure.errors import MeasureError
from project.tasks import TASK_IDS

#: version of what a measurement window measures (inputs, window rules, energy accounting);
#: bump it when a change makes new records incomparable with old ones. The store refuses to
#: mix versions (measure/store.py). Records from before versioning count as version 0.
PROTOCOL_VERSION = 1
#: most trials one campaign may expand to (a grid is counted before it is expanded)
MAX_TRIALS = 10_000
#: numpy's seed range (the inputs are drawn with numpy and torch from this seed)
MAX_SEED = 2**32 - 1

Backend = Literal["auto", "nvml", "codecarbon", "nvml+codecarbon", "fake", "zeus"]
Dtype = Literal["float32", "float16", "bfloat16"]


class GenerationParams(BaseModel):
    """Per-task generation settings. ``None`` means the pipeline's or model's default."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(10, ge=1, description="text generation; the study used 10")
    summary_max_length: int = Field(15, ge=1, description="summarization max_length (study: 15)")
    summary_min_length: int = Field(10, ge=0, description="summarization min_length (study: 10)")
    caption_max_new_tokens: int | None = Field(None, ge=1, description="image captioning; None = model default")
    ignore_eos: bool | None = Field(
        None, description="generate exactly the max tokens; None = on for random-init weights "
        "(their EOS is noise), off for pretrained")
    num_inference_steps: int | None = Field(None, ge=1, description="diffusion steps; None = pipeline default (50)")
    guidance_scale: float | None = Field(None, description="classifier-free guidance; None = pipeline default")
    height: int | None = Field(None, ge=8, description="image generation; None = native resolution")
    width: int | None = Field(None, ge=8)


class InputParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text_words: int | None = Field(None, ge=1, description="mean words per text; None = task default")
    image_size: tuple[int, int] | Literal["model"] = Field(
        (640, 480), description="synthetic image (w, h); the study resized to 640x480; 'model' = the "
        "image processor's input size")
    file: str | None = Field(None, description="your inputs: a .jsonl file, a directory of .jsonl "
                             "files or images, or a datasets save_to_disk directory; None = synthetic")


class MeasureConfig(BaseModel):
    """One trial: a task, a model and a protocol. ``repeats`` windows of ``n_inferences``."""

    model_config = ConfigDict(extra="forbid")

    task: str
    model: str = Field(description="a config name from data/model_configs/ or a local directory")
    phase: Literal["inference", "finetune"] = "inference"
    device: str = Field("cuda", description="cuda, cuda:N or cpu")
    dtype: Dtype = "float32"
    batch_size: int = Field(1, ge=1)
    n_inferences: int = Field(1000, ge=1, description="inferences (finetune: training samples) per window")
    warmup: int = Field(0, ge=0, description="inferences run before the first window")
    repeats: int = Field(10, ge=1, description="windows per trial (the study ran 10)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the inputs and random-init weights")
    backend: Backend = Field("auto", description="auto = nvml+codecarbon on cuda, codecarbon on cpu")
    whole_node: bool = Field(False, description="sum every GPU of the node, as the study's codecarbon did")
    idle_baseline_s: float = Field(0.0, ge=0, description="seconds of idle draw measured first; 0 = none")
    count_flops: bool = True
    phases: bool = Field(False, description="per-phase energy (prefill/decode, denoise/decode) from a "
                         "second window of first-phase-only passes, differenced (measure/phases.py)")
    country_iso_code: str = Field("USA", description="grid for emissions (codecarbon's country data); "
                                  "energy is unaffected")
    measure_power_secs: float = Field(1.0, gt=0, description="codecarbon / NVML polling interval")
    tracking_mode: Literal["machine", "process"] = Field(
        "machine", description="codecarbon: whole host's CPU and RAM, or this process's share")
    weights: str | None = Field(None, description="pretrained weights: a local directory or a Hub id "
                                "already in the local Hugging Face cache (nothing is downloaded)")
    learning_rate: float = Field(5e-5, gt=0, description="finetune phase: AdamW learning rate")
    generation: GenerationParams = Field(default_factory=GenerationParams)
    inputs: InputParams = Field(default_factory=InputParams)
    campaign: str | None = None
    preset: str | None = Field(None, description="name of the preset the defaults came from")

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        if v not in TASK_IDS:
            raise ValueError(f"unknown task {v!r}; known: {', '.join(TASK_IDS)}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v == "cpu" or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()):
            return v
        raise ValueError(f"device must be cuda, cuda:N or cpu, not {v!r}")

    @model_validator(mode="after")
    def _finetune_batches(self) -> "MeasureConfig":
        if self.phase == "finetune" and self.n_inferences < self.batch_size:
            raise ValueError("finetune: n_inferences (training samples) must be >= batch_size")
        return self

    def trial_key(self) -> str:
        """Stable hash of everything that defines the trial (not the campaign or preset label)."""
        d = self.model_dump(mode="json", exclude={"campaign", "preset", "repeats"})
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "codecarbon" if self.device == "cpu" else "nvml+codecarbon"


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line naming the source, the field, what is wrong and the value given."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(config)"
    msg = first["msg"].removeprefix("Value error, ")
    got = ""
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first \
            and not isinstance(first["input"], dict):
        shown = repr(first["input"])
        got = f", got {shown[:57] + '...' if len(shown) > 60 else shown}"
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: field '{loc}': {msg}{got}{more}"


def make_config(source: str = "config", **fields: Any) -> MeasureConfig:
    """Validate fields into a config; a bad field raises MeasureError naming it."""
    try:
        return MeasureConfig(**fields)
    except ValidationError as e:
        raise MeasureError(format_validation_error(e, source)) from None


def read_toml(path: Path | str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise MeasureError("file not found", str(p))
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MeasureError(f"not valid TOML: {e}", str(p)) from None


def presets_dir() -> Path:
    from project.paths import data_dir

    return data_dir() / "campaigns"


def preset_defaults(name: str) -> dict[str, Any]:
    """The ``[defaults]`` table of ``data/campaigns/<name>.toml`` (a protocol preset)."""
    path = presets_dir() / f"{name.replace('-', '_')}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in presets_dir().glob("*.toml"))
        raise MeasureError(f"unknown preset {name!r}; known: {', '.join(known)}", "preset")
    d = dict(read_toml(path).get("defaults", {}))
    d["preset"] = name
    return d


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


class Campaign(BaseModel):
    name: str
    trials: list[MeasureConfig]
    source: str


def _grid_size(grids: list[Any], source: str) -> int:
    """Trials the ``[[grid]]`` tables expand to, counted without expanding them."""
    if not isinstance(grids, list) or not grids:
        if isinstance(grids, dict):
            raise MeasureError("'grid' must be written [[grid]] (an array of tables), not [grid]", source)
        raise MeasureError("needs at least one [[grid]] table with task and model", source)
    total = 0
    for gi, grid in enumerate(grids):
        if not isinstance(grid, dict):
            raise MeasureError(f"'grid' item #{gi + 1} is {type(grid).__name__} {grid!r:.40}; each "
                               "[[grid]] must be a table with task and model", source)
        for k, v in grid.items():
            if isinstance(v, list) and not v:
                raise MeasureError(f"[[grid]] #{gi + 1}: '{k}' is an empty list (no trials)", source)
        total += math.prod(len(v) if isinstance(v, list) else 1 for v in grid.values())
    return total


def load_campaign(path: Path | str, overrides: dict[str, Any] | None = None,
                  max_trials: int = MAX_TRIALS) -> Campaign:
    """Expand a campaign TOML into its trials.

    ``name`` (str), optional ``preset`` (a preset name whose defaults come first),
    ``[defaults]`` (any MeasureConfig field), and one or more ``[[grid]]`` tables whose
    list values are crossed (tasks x models x batch sizes x precisions ...). A grid that
    would expand to more than ``max_trials`` trials is refused before it is expanded.
    """
    p = Path(path)
    doc = read_toml(p)
    unknown = set(doc) - {"name", "preset", "defaults", "grid", "description"}
    if unknown:
        raise MeasureError(f"unknown top-level key(s) {sorted(unknown)}; expected name, preset, "
                           "defaults, [[grid]]", str(p))
    name = doc.get("name") or p.stem
    if not isinstance(name, str):
        raise MeasureError(f"field 'name' must be a string, got {name!r:.40}", str(p))
    preset = doc.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise MeasureError(f"field 'preset' must be a preset name, got {preset!r:.40}", str(p))
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise MeasureError(f"'defaults' must be a table ([defaults]), got {defaults!r:.40}", str(p))
    grids = doc.get("grid")
    n = _grid_size(grids, str(p))
    if n > max_trials:
        raise MeasureError(f"the [[grid]] tables expand to {n:,} trials; the limit is {max_trials:,}: "
                           "split the campaign into several files", str(p))
    base: dict[str, Any] = preset_defaults(preset) if preset else {}
    base = _merge(base, defaults)
    trials: list[MeasureConfig] = []
    seen: set[str] = set()
    for gi, grid in enumerate(grids):
        keys = list(grid)
        values = [v if isinstance(v, list) else [v] for v in grid.values()]
        for combo in itertools.product(*values):
            fields = _merge(base, dict(zip(keys, combo)))
            fields = _merge(fields, overrides or {})
            fields["campaign"] = name
            cfg = make_config(f"{p} [[grid]] #{gi + 1}", **fields)
            if cfg.trial_key() not in seen:
                seen.add(cfg.trial_key())
                trials.append(cfg)
    return Campaign(name=name, trials=trials, source=str(p))
