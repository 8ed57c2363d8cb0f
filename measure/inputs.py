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

#: Words per synthetic input. Masked LM and text generation follow the study's code
#: (sashavor/co2_inference@9ae9895: ``code/fillmask/fillmask_c4.py`` and ``_oscar.py`` keep
#: the first 20 words of each document and replace the last with the mask token;
#: ``code/textgen/textgen_*.py`` prompt with the first 20 words), so their inputs have
#: exactly these many words (:data:`STUDY_EXACT_WORDS`). The others are mean lengths near the
#: study's datasets, which it passed whole (IMDB/SST-2/Rotten Tomatoes reviews, CoNLL
#: sentences, SQuAD contexts, CNN/DailyMail articles truncated by the model): approximations,
#: documented in docs/measure.md.
TEXT_WORDS: dict[str, int] = {
    "text_classification": 90,
    "masked_lm": 20,
    "token_classification": 40,
    "text_generation": 20,
    "summarization": 500,
    "extractive_qa": 140,
}
#: tasks whose inputs the study cut to exactly ``TEXT_WORDS`` words
STUDY_EXACT_WORDS = ("masked_lm", "text_generation")
#: the study cut image-generation prompts to their first 50 words (code/tti/tti_*.py)
STUDY_PROMPT_WORDS = 50

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

def texts(n: int, words: int, seed: int, exact: bool = False) -> list[str]:
    """``n`` passages of about ``words`` words each (exactly ``words`` if ``exact``), seeded."""
    rng = random.Random(seed)
    sents = corpus()
    out = []
    for _ in range(n):
        target = words if exact else max(3, int(rng.gauss(words, words * 0.25)))
        parts: list[str] = []
        count = 0
        while count < target:
            s = rng.choice(sents)
            parts.append(s)
            count += len(s.split())
        out.append(" ".join(" ".join(parts).split()[:target]))
    return out


def first_words(text: str, k: int) -> str:
    """The first ``k`` whitespace-separated words (the study's ``' '.join(t.split()[:k])``)."""
    return " ".join(text.split()[:k])


def mask_last_word(text: str, k: int, mask_token: str) -> str:
    """The study's masked-LM prompt: the first ``k`` words with the last replaced by the mask."""
    w = text.split()[:k]
    if not w:
        return mask_token
    w[-1] = mask_token
    return " ".join(w)


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


def prompts(n: int, seed: int, max_words: int = STUDY_PROMPT_WORDS) -> list[str]:
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


# --------------------------------------------------------------------------- your own inputs

#: field names read from an input row, in order, by kind of input
TEXT_FIELDS = ("text", "sentence", "article", "document", "content", "prompt", "Prompt")
PROMPT_FIELDS = ("prompt", "Prompt", "text", "caption")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _bad(where: str, msg: str):
    from measure.errors import MeasureError

    return MeasureError(msg, where)


def _jsonl_rows(path: Path, limit: int) -> list[dict[str, Any]]:
    import json

    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise _bad(f"{path}:{i}", f"not a JSON object ({e.msg})") from None
                if not isinstance(row, dict):
                    raise _bad(f"{path}:{i}", "each line must be a JSON object")
                row["_where"] = f"{path}:{i}"
                row["_dir"] = str(path.parent)
                rows.append(row)
                if len(rows) >= limit:
                    break
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(str(path), f"cannot read input file: {e}") from None
    return rows


def _pick(row: dict[str, Any], names: tuple[str, ...], kind: str) -> Any:
    for k in names:
        if k in row and row[k] is not None:
            return row[k]
    if kind == "text" and isinstance(row.get("tokens"), list):  # CoNLL-style: the study joined tokens
        return " ".join(map(str, row["tokens"]))
    raise _bad(row.get("_where", "input row"), f"no {kind} field: expected one of {', '.join(names)}")


def input_rows(source: str | Path, limit: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Up to ``limit`` rows from a JSONL file, a directory of JSONL files, a directory of
    images, or a ``datasets`` ``save_to_disk`` directory; with their provenance."""
    import hashlib

    p = Path(source).expanduser()
    if not p.exists():
        raise _bad(str(p), "input file or directory not found")
    info: dict[str, Any] = {"kind": "file", "path": str(p)}
    if p.is_file():
        if p.suffix.lower() not in (".jsonl", ".json"):
            raise _bad(str(p), "inputs must be a .jsonl file (one JSON object per line) or a directory")
        rows = _jsonl_rows(p, limit)
        info["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    elif (p / "dataset_info.json").is_file() or (p / "state.json").is_file():
        try:
            import datasets
        except ImportError:
            raise _bad(str(p), "a datasets directory needs the `datasets` package "
                       "(pip install datasets), or export it to JSONL") from None
        ds = datasets.load_from_disk(str(p))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[sorted(ds)[0]]
            info["split"] = ds.split and str(ds.split)
        rows = [dict(r, _where=f"{p} row {i}", _dir=str(p)) for i, r in enumerate(ds.select(range(min(limit, len(ds)))))]
        info["kind"] = "datasets"
        info["fingerprint"] = getattr(ds, "_fingerprint", None)
    else:
        files = sorted(f for f in p.iterdir() if f.is_file())
        jsonl = [f for f in files if f.suffix.lower() == ".jsonl"]
        imgs = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if jsonl:
            rows = []
            for f in jsonl:
                rows += _jsonl_rows(f, limit - len(rows))
                if len(rows) >= limit:
                    break
            info["files"] = [f.name for f in jsonl]
        elif imgs:
            rows = [{"image": str(f), "_where": str(f), "_dir": str(p)} for f in imgs[:limit]]
            info["kind"] = "images"
        else:
            raise _bad(str(p), "directory holds no .jsonl files, no images and no saved dataset")
    if not rows:
        raise _bad(str(p), "no input rows")
    info["rows"] = len(rows)
    return rows, info


def rows_to_inputs(rows: list[dict[str, Any]], kind: str,
                   image_size: tuple[int, int] | None = None) -> list[Any]:
    """Rows as runner inputs: ``text`` (str), ``prompt`` (str), ``qa`` (question/context dict)
    or ``image`` (RGB PIL image, resized to ``image_size`` if given, as the study did)."""
    out: list[Any] = []
    for row in rows:
        if kind == "text":
            out.append(str(_pick(row, TEXT_FIELDS, "text")))
        elif kind == "prompt":
            out.append(str(_pick(row, PROMPT_FIELDS, "prompt")))
        elif kind == "qa":
            q, c = row.get("question"), row.get("context")
            if not isinstance(q, str) or not isinstance(c, str):
                raise _bad(row.get("_where", "input row"), "a QA row needs string fields question and context")
            out.append({"question": q, "context": c})
        elif kind == "image":
            out.append(_load_image(row, image_size))
        else:  # pragma: no cover - a programming error
            raise ValueError(kind)
    return out


def _load_image(row: dict[str, Any], size: tuple[int, int] | None):
    from PIL import Image, UnidentifiedImageError

    img = row.get("image", row.get("img"))
    where = row.get("_where", "input row")
    if isinstance(img, dict) and "path" in img:  # datasets Image feature without decoding
        img = img.get("path")
    if isinstance(img, str):
        path = Path(img) if Path(img).is_absolute() else Path(row.get("_dir", ".")) / img
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise _bad(where, f"cannot read image {path}: {e}") from None
    if not hasattr(img, "convert"):
        raise _bad(where, "no image field (a path, or an image in a saved dataset)")
    img = img.convert("RGB")
    if size is not None:
        img = img.resize(tuple(size), resample=Image.NEAREST)  # the study: resize((640, 480), resample=0)
    return img


def main() -> None:  # pragma: no cover - maintenance entry point
    print("corpus:", build_corpus())
    corpus.cache_clear()
    print("tokenizers:", build_tokenizers())


if __name__ == "__main__":  # pragma: no cover
    main()
