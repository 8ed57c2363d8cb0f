"""Task runners: build the model and inputs for one task, run one batch, run one training step.

The runners use the real transformers pipelines for the tasks transformers 5 still ships
(``text-classification``, ``fill-mask``, ``token-classification``, ``image-classification``,
``object-detection``, ``text-generation``, ``image-text-to-text`` for captioning) and the real
diffusers pipelines for image generation. transformers 5 removed the ``question-answering``
and ``summarization`` pipelines; for those two tasks the runner does what those pipelines
did: tokenise (QA: ``max_seq_len=384, doc_stride=128``, the old defaults), run the model
(QA: one forward pass; summarization: ``generate`` with the model's generation config and
the study's ``max_length=15, min_length=10``), and decode.

This module imports torch, transformers and diffusers; import it only inside commands.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")

import torch  # noqa: E402
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()  # before diffusers imports transformers' image processors

from measure import inputs as inp  # noqa: E402
from measure.config import MeasureConfig  # noqa: E402
from measure.errors import MeasureError  # noqa: E402
from measure.models import (  # noqa: E402
    AUTO_CLASSES,
    ModelSource,
    _torch_dtype,
    build_diffusers_components,
    build_transformers_model,
)

_QA_MAX_LEN, _QA_STRIDE = 384, 128


def _quiet() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        import diffusers

        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
    except Exception:  # pragma: no cover
        pass


def check_device(device: str) -> None:
    """A CUDA device that is not there is a user error (exit 2), not a traceback."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MeasureError("CUDA is not available on this machine (torch "
                               f"{torch.__version__}); use --device cpu", "device " + device)
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            raise MeasureError(f"only {torch.cuda.device_count()} CUDA device(s) visible", "device " + device)


class Runner:
    """One task on one model. Subclasses implement ``synthetic_inputs``, ``run`` and ``training_loss``.

    Inputs come from ``cfg.inputs.file`` (your data) or are generated (:mod:`measure.inputs`);
    either way ``prepare_inputs`` then applies the study's preprocessing for the task.
    """

    uses_pipeline = True
    #: what one input is: ``text``, ``qa`` (question/context), ``prompt`` or ``image``
    input_kind = "text"

    def __init__(self, source: ModelSource, cfg: MeasureConfig) -> None:
        self.source, self.cfg = source, cfg
        self.device = torch.device(cfg.device)
        self.dtype = _torch_dtype(cfg.dtype)
        self.ignore_eos = (cfg.generation.ignore_eos if cfg.generation.ignore_eos is not None
                           else source.weights == "random-init")
        self.tokenizer = None
        self.image_processor = None
        self.model = None
        self.pipe = None
        self.inputs_info: dict[str, Any] = {}
        self.load()

    # -- loading ---------------------------------------------------------------
    def load(self) -> None:
        import transformers

        src, spec = self.source, self.source.spec
        if src.weights == "pretrained":
            auto = getattr(transformers, AUTO_CLASSES[self.cfg.task])
            self.model = auto.from_pretrained(src.path, local_files_only=True, dtype=self.dtype)
            try:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(src.path, local_files_only=True)
            except Exception:
                self.tokenizer = None
            try:
                self.image_processor = transformers.AutoImageProcessor.from_pretrained(
                    src.path, local_files_only=True)
            except Exception:
                self.image_processor = None
        else:
            self.model = build_transformers_model(spec, self.cfg.seed, device=str(self.device))
            if spec.get("tokenizer"):
                self.tokenizer = inp.load_tokenizer(
                    spec["tokenizer"], model_max_length=spec.get("model_max_length", 512),
                    padding_side="left" if self.cfg.task == "text_generation" else "right")
            ip = spec.get("image_processor")
            if ip:
                self.image_processor = getattr(transformers, ip["class"])(**ip.get("kwargs", {}))
            gen = spec.get("generation_config")
            if gen and getattr(self.model, "generation_config", None) is not None:
                for k, v in gen.items():
                    setattr(self.model.generation_config, k, v)
        self.model.to(device=self.device, dtype=self.dtype).eval()
        self.build_pipeline()

    def build_pipeline(self) -> None:
        pass

    def _pipeline(self, task: str, **kw: Any):
        from transformers import pipeline

        return pipeline(task, model=self.model, device=self.device, **kw)

    # -- inputs ----------------------------------------------------------------
    def make_inputs(self, n: int, seed: int) -> list[Any]:
        """``n`` inputs: the first ``n`` rows of ``cfg.inputs.file``, or synthetic ones (seeded)."""
        if self.cfg.inputs.file:
            rows, self.inputs_info = inp.input_rows(self.cfg.inputs.file, n)
            size = self.cfg.inputs.image_size
            items = inp.rows_to_inputs(rows, self.input_kind, None if size == "model" else tuple(size))
        else:
            items = self.synthetic_inputs(n, seed)
            self.inputs_info = {"kind": "synthetic", **self.synthetic_info()}
        return self.prepare_inputs(items)

    def synthetic_inputs(self, n: int, seed: int) -> list[Any]:
        return inp.texts(n, self.words(), seed, exact=self.cfg.task in inp.STUDY_EXACT_WORDS)

    def synthetic_info(self) -> dict[str, Any]:
        return {"corpus": "data/inputs/corpus.txt", "words": self.words(),
                "exact_words": self.cfg.task in inp.STUDY_EXACT_WORDS}

    def prepare_inputs(self, items: list[Any]) -> list[Any]:
        """The study's preprocessing of one task's inputs (default: none, inputs passed whole)."""
        return items

    # -- work ------------------------------------------------------------------
    def run(self, batch: list[Any]) -> Any:
        raise NotImplementedError

    def run_first_phase(self, batch: list[Any]) -> Any:
        """Only the first phase of ``run`` (tasks with phases: measure/phases.py)."""
        raise NotImplementedError

    def flops_signature(self, batch: list[Any]) -> Any:
        """Batches with equal signatures cost the same FLOPs (None: count every batch).

        Texts: the sorted token counts (a batch is padded to its longest text)."""
        if self.input_kind == "text" and self.tokenizer is not None:
            return tuple(sorted(len(x) for x in self.tokenizer(list(batch))["input_ids"]))
        return None

    def training_loss(self, batch: list[Any]) -> torch.Tensor:
        raise NotImplementedError

    def trainable_parameters(self):
        return [p for p in self.model.parameters() if p.requires_grad]

    def train_mode(self, on: bool) -> None:
        self.model.train(on)

    # -- helpers ---------------------------------------------------------------
    def words(self) -> int:
        return self.cfg.inputs.text_words or inp.TEXT_WORDS.get(self.cfg.task, 60)

    def image_size(self) -> tuple[int, int]:
        s = self.cfg.inputs.image_size
        if s != "model":
            return tuple(s)  # type: ignore[return-value]
        size = getattr(self.image_processor, "size", None) or {}
        if "height" in size:
            return (size["width"], size["height"])
        edge = size.get("shortest_edge", 224)
        return (edge, edge)

    def encode(self, texts: list[str], **kw: Any) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, **kw)
        enc.pop("token_type_ids", None) if "token_type_ids" not in self._forward_args() else None
        return {k: v.to(self.device) for k, v in enc.items()}

    def _forward_args(self) -> set[str]:
        import inspect

        return set(inspect.signature(self.model.forward).parameters)

    def pixel_values(self, images: list[Any]) -> torch.Tensor:
        pv = self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return pv.to(self.device, self.dtype)


# --------------------------------------------------------------------------- text

class TextClassificationRunner(Runner):
    def build_pipeline(self) -> None:
        self.pipe = self._pipeline("text-classification", tokenizer=self.tokenizer)

    def run(self, batch):
        return self.pipe(batch, batch_size=len(batch), truncation=True)

    def training_loss(self, batch):
        enc = self.encode(batch)
        labels = torch.randint(0, self.model.config.num_labels, (len(batch),), device=self.device)
        return self.model(**enc, labels=labels).loss


class MaskedLMRunner(Runner):
    def build_pipeline(self) -> None:
        self.pipe = self._pipeline("fill-mask", tokenizer=self.tokenizer)

    def prepare_inputs(self, items):
        # the study (code/fillmask/fillmask_c4.py, _oscar.py): the first 20 words, the last one
        # replaced by the mask token; a text that already holds the mask token is kept as is
        mask = self.tokenizer.mask_token
        return [t if mask in t else inp.mask_last_word(t, self.words(), mask) for t in items]

    def run(self, batch):
        return self.pipe(batch, batch_size=len(batch), tokenizer_kwargs={"truncation": True})

    def training_loss(self, batch):
        enc = self.encode(batch)
        return self.model(**enc, labels=enc["input_ids"]).loss


class TokenClassificationRunner(Runner):
    def build_pipeline(self) -> None:
        self.pipe = self._pipeline("token-classification", tokenizer=self.tokenizer)

    def run(self, batch):
        return self.pipe(batch, batch_size=len(batch))

    def training_loss(self, batch):
        enc = self.encode(batch)
        labels = torch.randint(0, self.model.config.num_labels, enc["input_ids"].shape, device=self.device)
        return self.model(**enc, labels=labels).loss


class ExtractiveQARunner(Runner):
    """What transformers' removed question-answering pipeline did, step for step."""

    input_kind = "qa"

    def synthetic_inputs(self, n, seed):
        return inp.qa_pairs(n, seed, self.cfg.inputs.text_words)

    def synthetic_info(self):
        return {"corpus": "data/inputs/corpus.txt", "context_words": self.words()}

    def _encode_pairs(self, batch):
        enc = self.tokenizer([b["question"] for b in batch], [b["context"] for b in batch],
                             truncation="only_second", max_length=min(_QA_MAX_LEN, self.tokenizer.model_max_length),
                             stride=_QA_STRIDE, return_overflowing_tokens=True,
                             return_offsets_mapping=True, padding=True, return_tensors="pt")
        return enc

    def run(self, batch):
        enc = self._encode_pairs(batch)
        offsets = enc.pop("offset_mapping")
        sample_map = enc.pop("overflow_to_sample_mapping")
        seq_ids = [enc.sequence_ids(i) for i in range(len(enc["input_ids"]))]
        feats = {k: v.to(self.device) for k, v in enc.items() if k in self._forward_args()}
        with torch.inference_mode():
            out = self.model(**feats)
        answers: dict[int, tuple[float, str]] = {}
        for i in range(len(seq_ids)):
            ctx = torch.tensor([s == 1 for s in seq_ids[i]], device=self.device)
            start = out.start_logits[i].float().masked_fill(~ctx, -1e4)
            end = out.end_logits[i].float().masked_fill(~ctx, -1e4)
            scores = start[:, None] + end[None, :]
            scores = torch.triu(scores) - torch.triu(torch.full_like(scores, 1e4), diagonal=15)
            flat = int(torch.argmax(scores))
            s, e = divmod(flat, scores.shape[1])
            k = int(sample_map[i])
            text = batch[k]["context"][int(offsets[i][s][0]):int(offsets[i][e][1])]
            score = float(scores[s, e])
            if k not in answers or score > answers[k][0]:
                answers[k] = (score, text)
        return [{"answer": answers[k][1], "score": answers[k][0]} for k in sorted(answers)]

    def training_loss(self, batch):
        enc = self._encode_pairs(batch)
        for k in ("offset_mapping", "overflow_to_sample_mapping"):
            enc.pop(k)
        feats = {k: v.to(self.device) for k, v in enc.items() if k in self._forward_args()}
        n, L = feats["input_ids"].shape
        pos = torch.randint(1, L, (n,), device=self.device)
        return self.model(**feats, start_positions=pos, end_positions=pos).loss


class TextGenerationRunner(Runner):
    def build_pipeline(self) -> None:
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.pipe = self._pipeline("text-generation", tokenizer=self.tokenizer)

    def prepare_inputs(self, items):
        # the study (code/textgen/textgen_*.py) prompted with the first 20 words of each text
        return [inp.first_words(t, self.words()) for t in items]

    def gen_kwargs(self, max_new_tokens: int | None = None) -> dict[str, Any]:
        n = max_new_tokens or self.cfg.generation.max_new_tokens
        kw: dict[str, Any] = {"max_new_tokens": n, "do_sample": False}
        if self.ignore_eos:
            kw["min_new_tokens"] = n
        return kw

    def run(self, batch):
        return self.pipe(batch, batch_size=len(batch), return_full_text=False, **self.gen_kwargs())

    def run_first_phase(self, batch):
        """Prefill: the prompt's forward pass, which yields the first new token (and no more)."""
        return self.pipe(batch, batch_size=len(batch), return_full_text=False, **self.gen_kwargs(1))

    def flops_signature(self, batch):
        if not self.ignore_eos:  # output length depends on what the weights generate
            return None
        return tuple(sorted(len(x) for x in self.tokenizer(list(batch))["input_ids"]))

    def training_loss(self, batch):
        enc = self.encode(batch)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        return self.model(**enc, labels=labels).loss


class SummarizationRunner(Runner):
    """What transformers' removed summarization pipeline did: tokenize, generate, decode."""

    def prepare_inputs(self, items):
        prefix = (self.source.spec or {}).get("prefix", "") if self.source.spec else ""
        if not prefix and self.source.weights == "pretrained":
            tsp = getattr(self.model.config, "task_specific_params", None) or {}
            prefix = tsp.get("summarization", {}).get("prefix", "")
        return [prefix + t for t in items]

    def gen_kwargs(self) -> dict[str, Any]:
        g = self.cfg.generation
        kw: dict[str, Any] = {"max_length": g.summary_max_length, "min_length": g.summary_min_length}
        if self.ignore_eos:
            kw["min_length"] = g.summary_max_length
        return kw

    def flops_signature(self, batch):
        # with trained weights the summary's length depends on what the model writes
        return super().flops_signature(batch) if self.ignore_eos else None

    def run(self, batch):
        enc = self.encode(batch)
        with torch.inference_mode():
            out = self.model.generate(**enc, **self.gen_kwargs())
        return [{"summary_text": t} for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def training_loss(self, batch):
        enc = self.encode(batch)
        tgt = self.tokenizer([" ".join(t.split()[:15]) for t in batch], return_tensors="pt",
                             padding=True, truncation=True)["input_ids"].to(self.device)
        return self.model(**enc, labels=tgt).loss


# --------------------------------------------------------------------------- vision

class ImageRunner(Runner):
    """Image inputs: synthetic images of ``inputs.image_size``, or your images resized to it."""

    input_kind = "image"

    def synthetic_inputs(self, n, seed):
        return inp.images(n, self.image_size(), seed)

    def synthetic_info(self):
        return {"images": "synthetic gradients, blocks and noise", "image_size": list(self.image_size())}

    def flops_signature(self, batch):
        return tuple(sorted(im.size for im in batch))  # same sizes, same compute


class ImageClassificationRunner(ImageRunner):
    def build_pipeline(self) -> None:
        self.pipe = self._pipeline("image-classification", image_processor=self.image_processor)

    def run(self, batch):
        return self.pipe(batch, batch_size=len(batch))

    def training_loss(self, batch):
        labels = torch.randint(0, self.model.config.num_labels, (len(batch),), device=self.device)
        return self.model(pixel_values=self.pixel_values(batch), labels=labels).loss


class ObjectDetectionRunner(ImageRunner):
    def build_pipeline(self) -> None:
        self.pipe = self._pipeline("object-detection", image_processor=self.image_processor)

    def run(self, batch):
        return self.pipe(batch, batch_size=len(batch))

    def training_loss(self, batch):
        n_cls = self.model.config.num_labels
        labels = [{"class_labels": torch.randint(0, n_cls, (2,), device=self.device),
                   "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.6, 0.1, 0.3]],
                                         device=self.device, dtype=self.dtype)} for _ in batch]
        return self.model(pixel_values=self.pixel_values(batch), labels=labels).loss


class ImageCaptioningRunner(ImageRunner):
    """BLIP-style captioning through ``image-text-to-text`` with an empty prompt (unconditional)."""

    def build_pipeline(self) -> None:
        from transformers import BlipProcessor

        if self.source.weights == "pretrained":
            from transformers import AutoProcessor

            self.processor = AutoProcessor.from_pretrained(self.source.path, local_files_only=True)
        else:
            self.processor = BlipProcessor(image_processor=self.image_processor, tokenizer=self.tokenizer)
        self.pipe = self._pipeline("image-text-to-text", processor=self.processor)

    def gen_kwargs(self) -> dict[str, Any]:
        n = self.cfg.generation.caption_max_new_tokens
        kw: dict[str, Any] = {}
        if n:
            kw["max_new_tokens"] = n
            if self.ignore_eos:
                kw["min_new_tokens"] = n
        elif self.ignore_eos:
            # random weights: caption length is the model's default max length
            kw["min_new_tokens"] = kw["max_new_tokens"] = 20
        return kw

    def run(self, batch):
        return self.pipe(images=batch, text=[""] * len(batch), batch_size=len(batch),
                         generate_kwargs=self.gen_kwargs())

    def flops_signature(self, batch):
        # with trained weights the caption's length depends on what the model writes
        return super().flops_signature(batch) if self.ignore_eos else None

    def training_loss(self, batch):
        enc = self.processor(images=batch, text=["a picture of a thing"] * len(batch),
                             return_tensors="pt", padding=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        enc["pixel_values"] = enc["pixel_values"].to(self.dtype)
        return self.model(**enc, labels=enc["input_ids"]).loss


# --------------------------------------------------------------------------- diffusion

class ImageGenerationRunner(Runner):
    """A diffusers text-to-image pipeline; defaults are the pipeline's (50 steps, native size)."""

    def load(self) -> None:
        import diffusers

        src = self.source
        if src.weights == "pretrained":
            import warnings

            with warnings.catch_warnings():  # diffusers >= 0.40 renames torch_dtype to dtype
                warnings.simplefilter("ignore", FutureWarning)
                self.pipe = diffusers.DiffusionPipeline.from_pretrained(
                    src.path, local_files_only=True, torch_dtype=self.dtype)
        else:
            spec = src.spec
            comps = build_diffusers_components(spec, self.cfg.seed, device=str(self.device))
            cls = getattr(diffusers, spec["pipeline"])
            if "requires_safety_checker" in cls.__init__.__code__.co_varnames:
                comps["requires_safety_checker"] = False
            self.pipe = cls(**comps, **spec.get("pipeline_kwargs", {}))
        self.pipe.to(self.device, self.dtype)
        self.pipe.set_progress_bar_config(disable=True)
        self.model = self.pipe.unet if hasattr(self.pipe, "unet") else self.pipe.transformer

    input_kind = "prompt"

    def synthetic_inputs(self, n, seed):
        return inp.prompts(n, seed)

    def synthetic_info(self):
        return {"prompts": "style x subject x details, measure/inputs.py"}

    def prepare_inputs(self, items):
        # the study (code/tti/tti_*.py) cut prompts to their first 50 words
        return [inp.first_words(p, inp.STUDY_PROMPT_WORDS) for p in items]

    def flops_signature(self, batch):
        return len(batch)  # prompts are padded to the text encoder's fixed length

    def call_kwargs(self) -> dict[str, Any]:
        g = self.cfg.generation
        kw: dict[str, Any] = {}
        for k in ("num_inference_steps", "guidance_scale", "height", "width"):
            v = getattr(g, k)
            if v is not None:
                kw[k] = v
        return kw

    def run(self, batch):
        gen = torch.Generator(device="cpu").manual_seed(self.cfg.seed)
        return self.pipe(list(batch), generator=gen, **self.call_kwargs()).images

    def run_first_phase(self, batch):
        """Denoise: prompt encoding and every denoising step; the latents are not VAE-decoded."""
        gen = torch.Generator(device="cpu").manual_seed(self.cfg.seed)
        return self.pipe(list(batch), generator=gen, output_type="latent", **self.call_kwargs()).images

    def train_mode(self, on: bool) -> None:
        self.pipe.unet.train(on)

    def trainable_parameters(self):
        return list(self.pipe.unet.parameters())

    def training_loss(self, batch):
        """One denoising-loss step of the UNet (text encoders and VAE frozen), SD/SDXL-style."""
        pipe = self.pipe
        h = self.cfg.generation.height or pipe.unet.config.sample_size * pipe.vae_scale_factor
        w = self.cfg.generation.width or pipe.unet.config.sample_size * pipe.vae_scale_factor
        n = len(batch)
        imgs = torch.rand(n, 3, h, w, device=self.device, dtype=self.dtype) * 2 - 1
        extra: dict[str, Any] = {}
        with torch.no_grad():
            lat = pipe.vae.encode(imgs).latent_dist.sample() * pipe.vae.config.scaling_factor
            if getattr(pipe, "text_encoder_2", None) is not None:  # SDXL: pooled embeds + size ids
                emb, _, pooled, _ = pipe.encode_prompt(list(batch), device=self.device,
                                                       num_images_per_prompt=1,
                                                       do_classifier_free_guidance=False)
                ids = torch.tensor([[h, w, 0, 0, h, w]] * n, device=self.device, dtype=emb.dtype)
                extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": ids}
            else:
                emb, _ = pipe.encode_prompt(list(batch), self.device, 1, False)
        noise = torch.randn_like(lat)
        t = torch.randint(0, pipe.scheduler.config.num_train_timesteps, (n,), device=self.device)
        noisy = pipe.scheduler.add_noise(lat, noise, t)
        pred = pipe.unet(noisy, t, encoder_hidden_states=emb, **extra).sample
        return torch.nn.functional.mse_loss(pred.float(), noise.float())


RUNNERS: dict[str, type[Runner]] = {
    "text_classification": TextClassificationRunner,
    "extractive_qa": ExtractiveQARunner,
    "masked_lm": MaskedLMRunner,
    "token_classification": TokenClassificationRunner,
    "image_classification": ImageClassificationRunner,
    "object_detection": ObjectDetectionRunner,
    "text_generation": TextGenerationRunner,
    "summarization": SummarizationRunner,
    "image_captioning": ImageCaptioningRunner,
    "image_generation": ImageGenerationRunner,
}


def make_runner(source: ModelSource, cfg: MeasureConfig) -> Runner:
    _quiet()
    check_device(cfg.device)
    torch.manual_seed(cfg.seed)
    return RUNNERS[cfg.task](source, cfg)


def count_flops(fn, *args: Any) -> float | None:
    """FLOPs of one call, by torch.utils.flop_counter (matmul/conv/attention ops only).

    Attention runs on PyTorch's math path while counting: the counter has formulas for the
    CUDA flash/efficient SDPA kernels but none for the CPU's fused kernel (it counted 0 FLOPs
    there), and the math path's matmuls are counted on every device. Same FLOPs, as counted.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            fn(*args)
        return float(fc.get_total_flops())
    except Exception:  # an op the counter cannot trace: report no FLOPs rather than fail
        return None
