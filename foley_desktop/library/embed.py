"""Sentence embeddings for library sounds and queries, from the shipped foley-tiny text encoder.

foley-tiny's text encoder is all-MiniLM-L6-v2 (INT8, dynamic quantization) and its sentence
embedding is the mask-weighted mean of its token features (engine/anchor.pooled), the pooling
that encoder was trained with. Each text is encoded alone, as engine/generate.encode_texts
does: a dynamically quantized graph scales its activations over the whole batch, so a
document encoded in a batch would not match the same text typed as a query.

The text of a sound puts the most telling words first because the encoder reads at most 32
tokens: UCS category and subcategory, FX name, description, title and tags, the file name's
words, then folder names.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from foley_desktop.library.metadata import SoundMeta
from foley_desktop.library.naming import content_words, folder_words, split_words

DIM = 384
MODEL = "foley-tiny"


def sound_text(meta: SoundMeta, root: Path) -> str:
    """The words a sound is found by, most telling first, each word once."""
    parts: list[str] = []
    u = meta.ucs
    if u is not None:
        parts += [u.category or "", u.subcategory or "", u.fx_name]
    parts.append(meta.description)
    parts.append(meta.title)
    parts += meta.tags
    if u is None:
        parts.append(" ".join(content_words(meta.path.stem)))
    parts.append(" ".join(folder_words(meta.path, root)))
    seen: set[str] = set()
    out: list[str] = []
    for part in parts:
        for w in split_words(part) if _needs_split(part) else part.lower().split():
            w = w.strip(".,;:!?()[]\"'")
            if w and w not in seen:
                seen.add(w)
                out.append(w)
    return " ".join(out)


def _needs_split(text: str) -> bool:
    # Descriptions are prose (keep "don't", hyphenated words); names need ungluing.
    return "_" in text or (any(c.isupper() for c in text[1:]) and " " not in text)


class TextEmbedder:
    """The text encoder, loaded once; `embed(text)` -> unit float32 [DIM]. Thread-safe."""

    def __init__(self, model: str = MODEL) -> None:
        from foley_desktop.engine.anchor import pooled
        from foley_desktop.engine.package import load_package
        from foley_desktop.engine.providers import ProviderChoice
        from foley_desktop.engine.session import GraphSession
        from foley_desktop.engine.text import TextTokenizer

        package = load_package(model)
        role = "text_encoder"
        variants = package.graphs[role].variants
        precision = "int8" if "int8" in variants else next(iter(variants))
        # One thread: the scan embeds one short text at a time between file reads, and a
        # search is one text; more threads only add start-up cost here.
        self._session = GraphSession(package, role, precision, ProviderChoice("cpu", "cpu", None),
                                     threads=1)
        self._tokenizer = TextTokenizer(package)
        self._pooled = pooled
        self._lock = threading.Lock()
        self.model = f"{package.name} {package.version} {role}.{precision}"

    def embed(self, text: str) -> np.ndarray:
        ids, mask = self._tokenizer.encode([text or " "])
        with self._lock:
            feats = self._session.run({"input_ids": ids, "attention_mask": mask})[0]
        return self._pooled(feats, mask)[0].astype(np.float32)


_shared: TextEmbedder | None = None
_shared_lock = threading.Lock()


def embedder() -> TextEmbedder:
    """The process's one encoder (loading costs ~0.3 s and 25 MB; keep it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TextEmbedder()
        return _shared
