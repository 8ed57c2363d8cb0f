"""Shipped text, locally trained tokenizers and seeded input sets for the ten tasks.

Nothing here downloads anything. The text corpus (``data/inputs/corpus.txt``) is a set
of English sentences taken from CPython's standard-library docstrings (PSF licence),
one per line; ``build_corpus()`` regenerates it. The tokenizers under
``data/inputs/tokenizers/`` are trained on that corpus with the ``tokenizers`` library
by ``build_tokenizers()``: they are small (a few thousand tokens), but every token id
they emit is a valid id of the real model's embedding, whose size comes from the real
config, so the compute shape of a run is the real one.

Run ``python -m measure.inputs`` to rebuild both. The corpus depends on the Python version's
docstrings, and the ``tokenizers`` trainers break ties in hash order (the WordPiece and
Unigram vocabularies can differ by a few tokens between builds), so the shipped files are
the reference and a rebuild is a new input set.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from project.paths import data_dir

#: Mean words per input, chosen near the study's datasets (IMDB/SST-2/Rotten Tomatoes
#: for classification, SQuAD-style contexts, CNN/DailyMail articles truncated by the
#: model, short prompts for generation). Approximations, documented in docs/measure.md.
TEXT_WORDS: dict[str, int] = {
    "text_classification": 90,
    "masked_lm": 60,
    "token_classification": 40,
    "text_generation": 40,
    "summarization": 500,
    "extractive_qa": 140,
}

#: The study resized images to 640x480 (the ``*_resized`` logs that reproduce Table 2).
STUDY_IMAGE_SIZE: tuple[int, int] = (640, 480)

_STDLIB_MODULES = (
    "argparse collections functools itertools inspect json logging pathlib subprocess "
    "threading asyncio email http.client urllib.request unittest doctest datetime decimal "
    "fractions statistics random string textwrap typing dataclasses enum csv sqlite3 "
    "zipfile tarfile shutil tempfile os io socket ssl heapq bisect contextlib abc pickle "
    "copy pprint difflib calendar locale gettext codecs struct array queue sched selectors "
    "signal mmap configparser tomllib hashlib hmac secrets base64 binascii html "
    "xml.dom.minidom xml.etree.ElementTree wave colorsys imaplib smtplib ftplib poplib uuid "
    "ipaddress timeit trace tracemalloc pdb cProfile profile pstats warnings weakref gc types "
    "operator numbers math cmath glob fnmatch linecache filecmp stat netrc plistlib getpass "
    "platform errno multiprocessing concurrent.futures optparse"
).split()

# name -> (model kind, special tokens for PreTrainedTokenizerFast)
TOKENIZERS: dict[str, dict[str, Any]] = {
    "wordpiece-uncased": {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "mask_token": "[MASK]",
    },
    "bpe": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "bpe-roberta": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                    "sep_token": "</s>", "cls_token": "<s>", "pad_token": "<pad>",
                    "mask_token": "<mask>"},
    "bpe-clip": {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                 "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "unigram": {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
}


def inputs_dir() -> Path:
    return data_dir() / "inputs"


def corpus_path() -> Path:
    return inputs_dir() / "corpus.txt"


def build_corpus(path: Path | None = None) -> Path:
    """Write English sentences from stdlib docstrings, one per line."""
    import importlib
    import inspect

    texts: list[str] = []
    for name in _STDLIB_MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module missing on this platform is skipped
            continue
        for obj in [mod] + [getattr(mod, n) for n in sorted(dir(mod)) if not n.startswith("_")]:
            if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj):
                doc = inspect.getdoc(obj)
                if doc:
                    texts.append(doc)
    flat = re.sub(r"\s+", " ", "\n".join(dict.fromkeys(texts)))
    sents = re.split(r"(?<=[.!?])\s+", flat)
    keep = [
        s for s in dict.fromkeys(sents)
        if 40 < len(s) < 300 and s[0].isupper()
        and not re.search(r"[{}\[\]=<>_\\|`#@]|\(\)|>>>", s)
    ]
    path = path or corpus_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def corpus() -> tuple[str, ...]:
    p = corpus_path()
    if not p.exists():
        from measure.errors import MeasureError

        raise MeasureError("shipped corpus missing; run `python -m measure.inputs`", str(p))
    return tuple(line for line in p.read_text(encoding="utf-8").splitlines() if line)


def build_tokenizers(vocab_size: int = 8000, out: Path | None = None) -> Path:
    """Train the shipped tokenizers on the corpus and save them as tokenizer.json files."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    out = out or inputs_dir() / "tokenizers"
    out.mkdir(parents=True, exist_ok=True)
    lines = list(corpus())

    # WordPiece, uncased (BERT, DistilBERT, BLIP's text side)
    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece()
    wp.train_from_iterator(lines, trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        show_progress=False))
    cls_id, sep_id = wp.token_to_id("[CLS]"), wp.token_to_id("[SEP]")
    wp.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    wp.save(str(out / "wordpiece-uncased.json"))

    # byte-level BPE (GPT-2, OPT, BLOOM, RoBERTa, BART, CLIP); one vocabulary, three templates
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<|endoftext|>", "<|startoftext|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.save(str(out / "bpe.json"))
    bpe.post_processor = processors.RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")), trim_offsets=True)
    bpe.save(str(out / "bpe-roberta.json"))
    sot, eot = bpe.token_to_id("<|startoftext|>"), bpe.token_to_id("<|endoftext|>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        pair="<|startoftext|> $A <|endoftext|> $B:1 <|endoftext|>:1",
        special_tokens=[("<|startoftext|>", sot), ("<|endoftext|>", eot)])
    bpe.save(str(out / "bpe-clip.json"))

    # Unigram with metaspace (T5-style sentencepiece)
    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.NFKC()
    uni.pre_tokenizer = pre_tokenizers.Metaspace()
    uni.decoder = decoders.Metaspace()
    uni.train_from_iterator(lines, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
        show_progress=False))
    uni.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("</s>", uni.token_to_id("</s>"))])
    uni.save(str(out / "unigram.json"))
    return out


def load_tokenizer(name: str, model_max_length: int = 512, padding_side: str = "right"):
    """A transformers fast tokenizer for one of the shipped tokenizer files."""
    from transformers import PreTrainedTokenizerFast

    from measure.errors import MeasureError

    if name not in TOKENIZERS:
        raise MeasureError(f"unknown tokenizer {name!r}; known: {', '.join(TOKENIZERS)}", "tokenizer")
    path = inputs_dir() / "tokenizers" / f"{name}.json"
    if not path.exists():
        raise MeasureError("shipped tokenizer missing; run `python -m measure.inputs`", str(path))
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path), model_max_length=model_max_length,
        padding_side=padding_side, **TOKENIZERS[name])


# --------------------------------------------------------------------------- inputs

def texts(n: int, words: int, seed: int) -> list[str]:
    """``n`` passages of about ``words`` words each, drawn from the corpus (seeded)."""
    rng = random.Random(seed)
    sents = corpus()
    out = []
    for _ in range(n):
        target = max(3, int(rng.gauss(words, words * 0.25)))
        parts: list[str] = []
        count = 0
        while count < target:
            s = rng.choice(sents)
            parts.append(s)
            count += len(s.split())
        out.append(" ".join(" ".join(parts).split()[:target]))
    return out


def qa_pairs(n: int, seed: int, context_words: int | None = None) -> list[dict[str, str]]:
    """Question/context pairs whose answer span is in the context (seeded)."""
    rng = random.Random(seed + 1)
    contexts = texts(n, context_words or TEXT_WORDS["extractive_qa"], seed)
    pairs = []
    for ctx in contexts:
        w = ctx.split()
        i = rng.randrange(0, max(1, len(w) - 4))
        pairs.append({"question": "What does the text say about " + " ".join(w[i:i + 3]) + "?",
                      "context": ctx})
    return pairs


_SUBJECTS = ("a red fox", "an old lighthouse", "a bowl of ramen", "a city street at night",
             "a mountain lake", "a robot reading a book", "a field of sunflowers", "a sailing ship",
             "a cat wearing a scarf", "a desert canyon", "a cup of coffee", "a snowy forest")
_STYLES = ("a photograph of", "an oil painting of", "a watercolour of", "a pencil sketch of",
           "a 3D render of", "a studio portrait of")
_DETAILS = ("highly detailed", "soft morning light", "dramatic clouds", "wide angle",
            "bokeh", "vivid colours", "cinematic lighting", "8k", "minimalist", "in the rain")


def prompts(n: int, seed: int, max_words: int = 50) -> list[str]:
    """Image-generation prompts (the study cut prompts to 50 words), seeded."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 5)
        p = f"{rng.choice(_STYLES)} {rng.choice(_SUBJECTS)}, " + ", ".join(rng.sample(_DETAILS, k))
        out.append(" ".join(p.split()[:max_words]))
    return out


def images(n: int, size: tuple[int, int], seed: int) -> list[Any]:
    """Synthetic RGB PIL images (smooth gradients, blocks and noise), seeded."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for _ in range(n):
        base = np.stack([
            (np.sin(xx / rng.uniform(20, 200) + rng.uniform(0, 6)) + 1) * 127,
            (np.cos(yy / rng.uniform(20, 200) + rng.uniform(0, 6)) + 1) * 127,
            ((xx + yy) / (w + h)) * 255,
        ], axis=-1)
        for _ in range(rng.integers(2, 6)):
            x0, y0 = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
            x1, y1 = min(w, x0 + int(rng.integers(8, max(9, w // 2)))), min(h, y0 + int(rng.integers(8, max(9, h // 2))))
            base[y0:y1, x0:x1] = rng.uniform(0, 255, size=3)
        base += rng.normal(0, 12, size=base.shape)
        out.append(Image.fromarray(np.clip(base, 0, 255).astype("uint8"), "RGB"))
    return out


def main() -> None:  # pragma: no cover - maintenance entry point
    print("corpus:", build_corpus())
    corpus.cache_clear()
    print("tokenizers:", build_tokenizers())


if __name__ == "__main__":  # pragma: no cover
    main()
