"""Prompt anchoring: read a prompt as the nearest prompt the model was trained with.

A small model trained on a few hundred captions follows those captions far better than other
wordings of the same sound (foley-tiny on its validation clips: the sound's class is
recognised in 63 % of clips generated from training captions, 35 % from new wordings). Its
text encoder still knows what new wordings mean: the nearest training caption by sentence
embedding has the prompt's class for 91 % of new wordings. So a package may ship its training
captions with their embeddings (manifest `text.anchor`), and the engine conditions on the
nearest one when it is similar enough; the result says which prompt was used
(`GenerateResult.prompt_used`), and `GenerateRequest.literal_prompt` turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foley_desktop.engine.package import ModelPackage
from foley_desktop.errors import ModelPackageError


@dataclass
class Anchors:
    texts: list[str]
    embeddings: np.ndarray          # float32 [N, D], unit rows (mean-pooled token features)
    min_similarity: float

    def nearest(self, features: np.ndarray, mask: np.ndarray) -> tuple[str, float] | None:
        """The anchor text for one prompt's token features [L, D] and mask [L], with its cosine
        similarity; None when no anchor is at least `min_similarity` close."""
        e = pooled(features[None], mask[None])[0]
        sims = self.embeddings @ e
        j = int(np.argmax(sims))
        return (self.texts[j], float(sims[j])) if sims[j] >= self.min_similarity else None

    def read_as(self, prompt: str, features: np.ndarray, mask: np.ndarray
                ) -> tuple[str, float] | None:
        """The anchor to condition on instead of `prompt` (whose features these are), or None
        to use the prompt as typed: no anchor close enough, or the prompt is that anchor
        (case and spacing aside)."""
        near = self.nearest(features, mask)
        if near is None or near[0] == " ".join(prompt.lower().split()):
            return None
        return near


def pooled(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence embeddings [N, D] (unit length): token features averaged over the mask, as
    sentence encoders such as MiniLM are pooled."""
    m = np.asarray(mask, np.float32)[..., None]
    e = (np.asarray(features, np.float32) * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def load(package: ModelPackage) -> Anchors | None:
    """The package's anchors (`text.anchor`: {"file": NPZ with `texts` and `embeddings`,
    "min_similarity": float}), or None when it has none."""
    spec = package.text.get("anchor")
    if spec is None:
        return None
    path = package.file(spec["file"])
    try:
        with np.load(path, allow_pickle=False) as z:
            texts = [str(t) for t in z["texts"]]
            emb = z["embeddings"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelPackageError(f"cannot read prompt anchors {path}: {exc}") from None
    if emb.ndim != 2 or len(texts) != len(emb) or not len(texts) or not np.isfinite(emb).all():
        raise ModelPackageError(f"{path}: prompt anchors need one finite embedding per text")
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return Anchors(texts, emb, float(spec["min_similarity"]))
