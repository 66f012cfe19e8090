"""The frozen text encoder: ONNX export of all-MiniLM-L6-v2 and caption features for training.

Training uses the features of the *shipped INT8 graph* (computed once with onnxruntime), so the
denoiser is trained on exactly what the app will feed it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .minilm import MiniLM
from .paths import MINILM_DIR

MAX_TOKENS = 32
# Captions used in place of a dropped prompt (classifier-free guidance): the app's default
# negative prompt and a few generic ones.
UNCOND_CAPTIONS = ["noisy, harsh", "", "noise", "low quality, distorted"]


def write_tokenizer(dst: Path) -> None:
    """The package's tokenizer.json: MiniLM's, truncating to MAX_TOKENS (keeps [SEP]) and
    without padding (the engine pads and builds the attention mask itself)."""
    tj = json.loads((MINILM_DIR / "tokenizer.json").read_text())
    tj["truncation"]["max_length"] = MAX_TOKENS
    tj["padding"] = None
    dst.write_text(json.dumps(tj, ensure_ascii=False))


def export_text_encoder(dst: Path) -> None:
    m = MiniLM.from_safetensors(MINILM_DIR / "model.safetensors")
    ids = torch.ones(1, MAX_TOKENS, dtype=torch.int64)
    mask = torch.ones(1, MAX_TOKENS, dtype=torch.int64)
    torch.onnx.export(m, (ids, mask), str(dst), input_names=["input_ids", "attention_mask"],
                      output_names=["text_features"],
                      dynamic_axes={"input_ids": {0: "B", 1: "L"}, "attention_mask": {0: "B", 1: "L"},
                                    "text_features": {0: "B", 1: "L"}},
                      opset_version=17, dynamo=False)


def tokenize(tokenizer_path: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(MAX_TOKENS)
    tok.enable_padding(length=MAX_TOKENS, pad_id=0)
    enc = tok.encode_batch([t.lower() for t in texts])
    return (np.array([e.ids for e in enc], np.int64), np.array([e.attention_mask for e in enc], np.int64))


def caption_features(graph: Path, tokenizer_path: Path, texts: list[str], batch: int = 1):
    """-> (features float16 [N, MAX_TOKENS, 384], mask uint8 [N, MAX_TOKENS]).

    One text per run by default, as the engine encodes a prompt: the INT8 graph quantizes its
    activations with one scale per batch, so batch-mates would change a caption's features."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
    ids, mask = tokenize(tokenizer_path, texts)
    feats = []
    for i in range(0, len(texts), batch):
        feats.append(sess.run(None, {"input_ids": ids[i:i + batch],
                                     "attention_mask": mask[i:i + batch]})[0])
    return np.concatenate(feats).astype(np.float16), mask.astype(np.uint8)
