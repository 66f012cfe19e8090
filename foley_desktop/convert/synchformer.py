"""Synchformer's visual feature extractor (the part HunyuanVideo-Foley conditions on).

Written in this project from the facts of the reference (a Motionformer-style video ViT with
divided space-time attention, then a per-frame spatial aggregation layer); the reference code
is not used. Parameter names equal the checkpoint's keys under `vfeat_extractor.` so
synchformer_state_dict.pth loads key for key; its audio branch and the sync classifier are not
needed and are ignored.

Per 16-frame clip [16, 3, 224, 224] (25 fps, mean/std 0.5):
- tubelets of 2 x 16 x 16 (Conv3d) -> 8 x 14 x 14 tokens of 768, plus a CLS token;
- position = spatial embedding (shared over time) + temporal embedding (shared over space);
- 12 blocks: time attention (each spatial position over the 8 time steps, plus CLS), then space
  attention (each time step over the 196 positions, plus CLS), then an MLP; the CLS query
  attends to every token; pre-norm LayerNorms with eps 1e-6;
- final LayerNorm on the patch tokens, then for each time step a pre-norm transformer layer
  over [CLS, 196 positions] whose CLS output is that step's feature: 8 x 768 per clip.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from foley_desktop.convert.config import ConvertError

PREFIX = "vfeat_extractor."
EPS = 1e-6


def _softmax_attend(q, k, v):
    return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1), v)


class DividedAttention(nn.Module):
    """Attention along time or space of a [B, 1 + f*n, D] token grid (CLS first)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, frames: int, positions: int, along_time: bool):
        B, N, D = x.shape
        q, k, v = (t.reshape(B, N, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        q = q * self.scale
        cls_out = _softmax_attend(q[:, :, :1], k, v)                 # CLS sees every token
        hd = q.shape[-1]

        def grid(t):   # [B, H, f*n, hd] -> sequences to attend within
            t = t[:, :, 1:].reshape(B, self.heads, frames, positions, hd)
            return t.transpose(2, 3) if along_time else t            # [B, H, n, f, hd] | [B, H, f, n, hd]

        qg, kg, vg = grid(q), grid(k), grid(v)
        rows = qg.shape[2]
        ck = k[:, :, :1, None].expand(-1, -1, rows, -1, -1)          # each sequence also sees CLS
        cv = v[:, :, :1, None].expand(-1, -1, rows, -1, -1)
        out = _softmax_attend(qg, torch.cat([ck, kg], 3), torch.cat([cv, vg], 3))
        if along_time:
            out = out.transpose(2, 3)
        out = torch.cat([cls_out, out.reshape(B, self.heads, frames * positions, hd)], dim=2)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SpaceTimeBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.norm3 = nn.LayerNorm(dim, eps=EPS)
        self.attn = DividedAttention(dim, heads)
        self.timeattn = DividedAttention(dim, heads)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x, frames: int, positions: int):
        x = x + self.timeattn(self.norm3(x), frames, positions, True)
        x = x + self.attn(self.norm1(x), frames, positions, False)
        return x + self.mlp(self.norm2(x))


class PackedSelfAttention(nn.Module):
    """Multi-head self-attention with torch.nn.MultiheadAttention's parameter layout."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = (t.reshape(B, N, self.heads, -1).transpose(1, 2)
                   for t in F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1))
        out = _softmax_attend(q * (1.0 / math.sqrt(q.shape[-1])), k, v)
        return self.out_proj(out.transpose(1, 2).reshape(B, N, D))


class ClsAggregator(nn.Module):
    """A pre-norm transformer layer over [CLS, tokens]; returns the CLS output."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.self_attn = PackedSelfAttention(dim, heads)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.norm2 = nn.LayerNorm(dim, eps=EPS)

    def forward(self, x):
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.self_attn(self.norm1(x))
        x = x + self.linear2(F.gelu(self.linear1(self.norm2(x))))
        return x[:, 0]


class PatchEmbed3D(nn.Module):
    def __init__(self, dim: int, patch: int, tube: int):
        super().__init__()
        self.proj = nn.Conv3d(3, dim, (tube, patch, patch), stride=(tube, patch, patch))


class SynchformerVisual(nn.Module):
    """forward(clips [N, F, 3, S, S]) -> [N, F / tube, D] sync features."""

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, patch: int = 16,
                 tube: int = 2, steps: int = 8, image: int = 224):
        super().__init__()
        self.grid = image // patch
        self.steps = steps
        n = self.grid * self.grid
        self.patch_embed_3d = PatchEmbed3D(dim, patch, tube)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, steps, dim))
        self.blocks = nn.ModuleList(SpaceTimeBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.spatial_attn_agg = ClsAggregator(dim, heads)

    @property
    def frames(self) -> int:
        return self.steps * self.patch_embed_3d.proj.kernel_size[0]

    @property
    def image(self) -> int:
        return self.grid * self.patch_embed_3d.proj.kernel_size[1]

    def forward(self, clips):
        N = clips.shape[0]
        n = self.grid * self.grid
        x = self.patch_embed_3d.proj(clips.permute(0, 2, 1, 3, 4))       # [N, D, t, h, w]
        D = x.shape[1]
        x = x.flatten(2).transpose(1, 2)                                  # [N, t*h*w, D], time-major
        pos = (self.pos_embed[:, 1:, None] + self.temp_embed[:, None]).transpose(1, 2).reshape(1, -1, D)
        x = torch.cat([self.cls_token.expand(N, -1, -1) + self.pos_embed[:, :1], x + pos], dim=1)
        for block in self.blocks:
            x = block(x, self.steps, n)
        x = self.norm(x[:, 1:])                                           # [N, t*n, D]
        per_step = self.spatial_attn_agg(x.reshape(N * self.steps, n, D))
        return per_step.reshape(N, self.steps, D)


def layout(shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """SynchformerVisual's constructor arguments from the weights' shapes (names without the
    `vfeat_extractor.` prefix)."""
    w = shapes["patch_embed_3d.proj.weight"]
    dim, tube, patch = w[0], w[2], w[3]
    grid = math.isqrt(shapes["pos_embed"][1] - 1)
    depth = 1 + max(int(k.split(".")[1]) for k in shapes if k.startswith("blocks."))
    # heads of 64 channels (ViT-B: 768 / 12), the only size the published weights use
    return dim, depth, dim // 64, patch, tube, shapes["temp_embed"][1], grid * patch


def from_state_dict(state: dict) -> SynchformerVisual:
    """The visual extractor shaped after the checkpoint's `vfeat_extractor.*` weights."""
    sd = {k[len(PREFIX):]: v.float() for k, v in state.items() if k.startswith(PREFIX)}
    if "patch_embed_3d.proj.weight" not in sd:
        raise ConvertError("the Synchformer checkpoint has no vfeat_extractor.patch_embed_3d weights "
                           "(expected synchformer_state_dict.pth)")
    model = SynchformerVisual(*layout({k: tuple(v.shape) for k, v in sd.items()}))
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in sd]
    if missing:
        raise ConvertError(f"the Synchformer checkpoint lacks vfeat_extractor.{missing[0]}")
    model.load_state_dict({k: sd[k] for k in wanted})
    return model.eval()
