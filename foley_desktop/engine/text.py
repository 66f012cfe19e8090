"""Prompt -> token ids with the package's own `tokenizer.json` (Hugging Face `tokenizers`)."""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from foley_desktop.engine.package import ModelPackage
from foley_desktop.errors import ModelPackageError


class TextTokenizer:
    def __init__(self, package: ModelPackage) -> None:
        cfg = package.text
        path = package.file(cfg["tokenizer"])
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a plain Exception
            raise ModelPackageError(f"cannot read tokenizer {path}: {exc}") from None
        self.max_tokens = int(cfg["max_tokens"])
        self.pad_id = int(cfg.get("pad_id", 0))
        self.lowercase = bool(cfg.get("lowercase", False))

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """ids and attention mask, both int64 [B, max_tokens]; truncated, then padded."""
        ids = np.full((len(texts), self.max_tokens), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), self.max_tokens), dtype=np.int64)
        for i, text in enumerate(texts):
            text = " ".join(text.split())
            enc = self._tok.encode(text.lower() if self.lowercase else text)
            toks = enc.ids[: self.max_tokens]
            ids[i, : len(toks)] = toks
            mask[i, : len(toks)] = 1
            if not toks:  # an empty negative prompt still needs one position to attend to
                mask[i, 0] = 1
        return ids, mask
