"""foley-tiny networks: visual encoder (per-frame CNN over [frame, difference] + temporal convs)
and a DiT-like flow-matching denoiser over band-energy latents (patch 2 -> 50 Hz tokens).

Written for clean ONNX export: plain MatMul attention (quantizes to INT8), no absolute
positions (a depthwise convolution in every block carries local order, so any length runs).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Config:
    latent_ch: int = 64
    patch: int = 2
    d: int = 128
    blocks: int = 5
    heads: int = 4
    mlp: int = 3
    text_dim: int = 384
    vis_dim: int = 128
    frame_size: int = 64
    # Channels of the event track input (engine/events.py); 0: no such input (up to 1.5.0).
    event_channels: int = 0
    event_hidden: int = 32

    def to_dict(self):
        return asdict(self)


class VisualEncoder(nn.Module):
    """frames [B, T, 3, S, S] (normalised RGB) -> features [B, T, vis_dim] at the frame rate."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(6, 16, 4, stride=4), nn.GELU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.GELU(),
        )
        side = cfg.frame_size // 16
        self.proj = nn.Linear(64 * side * side, cfg.vis_dim)
        self.t1 = nn.Conv1d(cfg.vis_dim, cfg.vis_dim, 5, padding=2)
        self.t2 = nn.Conv1d(cfg.vis_dim, cfg.vis_dim, 5, padding=2)
        self.norm = nn.LayerNorm(cfg.vis_dim)

    def forward(self, frames):
        b, t = frames.shape[0], frames.shape[1]
        # Motion: difference to the previous frame (zero for the first) -> the sync signal.
        diff = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, 1:] - frames[:, :-1]], dim=1)
        x = torch.cat([frames, diff * 2.0], dim=2).flatten(0, 1)  # [B*T, 6, S, S]
        h = self.proj(self.cnn(x).flatten(1))                      # [B*T, D]
        h = h.view(b, t, -1).transpose(1, 2)                       # [B, D, T]
        h = h + self.t2(F.gelu(self.t1(F.gelu(h))))
        return self.norm(h.transpose(1, 2))                        # [B, T, D]


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None] * 1000.0 * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _attend(q, k, v, heads, bias=None):
    b, n, d = q.shape
    m = k.shape[1]
    q = q.view(b, n, heads, d // heads).transpose(1, 2)
    k = k.view(b, m, heads, d // heads).transpose(1, 2)
    v = v.view(b, m, heads, d // heads).transpose(1, 2)
    a = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d // heads))
    if bias is not None:
        a = a + bias
    return (a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        d = cfg.d
        self.heads = cfg.heads
        self.ada = nn.Linear(d, 6 * d)
        self.pos = nn.Conv1d(d, d, 7, padding=3, groups=d)
        self.n1 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.n2 = nn.LayerNorm(d)
        self.cq = nn.Linear(d, d)
        self.ckv = nn.Linear(d, 2 * d)
        self.co = nn.Linear(d, d)
        self.n3 = nn.LayerNorm(d, elementwise_affine=False)
        self.ff1 = nn.Linear(d, cfg.mlp * d)
        self.ff2 = nn.Linear(cfg.mlp * d, d)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, c, txt, txt_bias):
        s1, g1, b1, s2, g2, b2 = self.ada(c)[:, None].chunk(6, dim=-1)
        x = x + self.pos(x.transpose(1, 2)).transpose(1, 2)
        h = self.n1(x) * (1 + s1) + b1
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        x = x + g1 * self.o(_attend(q, k, v, self.heads))
        h = self.n2(x)
        k, v = self.ckv(txt).chunk(2, dim=-1)
        x = x + self.co(_attend(self.cq(h), k, v, self.heads, txt_bias))
        h = self.n3(x) * (1 + s2) + b2
        return x + g2 * self.ff2(F.gelu(self.ff1(h)))


class EventEncoder(nn.Module):
    """Event track [B, F, E] at the latent rate -> per-token features [B, N, d].

    A convolution over +-4 latent frames reads each pulse's shape and sub-token position
    before two frames are folded into one token. The last layer starts at zero so that a
    model fine-tuned from one without markers starts out computing exactly what it did."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.p = cfg.patch
        self.conv = nn.Conv1d(cfg.event_channels, cfg.event_hidden, 9, padding=4)
        self.fc1 = nn.Linear(cfg.event_hidden * cfg.patch, cfg.d)
        self.fc2 = nn.Linear(cfg.d, cfg.d)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, events, n):
        b = events.shape[0]
        e = F.gelu(self.conv(events.transpose(1, 2)))                 # [B, H, F]
        e = F.pad(e, (0, n * self.p - e.shape[2]))
        e = e.reshape(b, e.shape[1], n, self.p).permute(0, 2, 3, 1).reshape(b, n, -1)
        return self.fc2(F.gelu(self.fc1(e)))


class Denoiser(nn.Module):
    """(x [B,C,F], t [B], text_features [B,L,384], text_mask [B,L], visual [B,V,Dv]
    [, events [B,F,E]]) -> velocity."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        d, p = cfg.d, cfg.patch
        self.inp = nn.Linear(cfg.latent_ch * p, d)
        self.temb = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.txt = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, d))
        self.txt_pool = nn.Linear(cfg.text_dim, d)
        self.vis = nn.Sequential(nn.Linear(cfg.vis_dim, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.blocks))
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_ada = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, cfg.latent_ch * p)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # Created last so the other parameters draw the same initial weights with or without it.
        self.events = EventEncoder(cfg) if cfg.event_channels else None

    def forward(self, x, t, text_features, text_mask, visual, events=None):
        b, ch, f = x.shape
        p = self.cfg.patch
        pad = (p - f % p) % p
        x = F.pad(x, (0, pad))
        n = (f + pad) // p
        tok = x.view(b, ch, n, p).permute(0, 2, 3, 1).reshape(b, n, p * ch)
        h = self.inp(tok)
        # Visual features (any rate) to the token grid by nearest index: sync lives here.
        v = visual.shape[1]
        idx = torch.div(torch.arange(n) * v, n, rounding_mode="floor")
        h = h + self.vis(visual)[:, idx]
        if self.events is not None:
            # The markers' timing enters where the picture's does: added to every token.
            h = h + self.events(events, n)
        mask = text_mask.to(h.dtype)
        pooled = (text_features * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        c = self.temb(timestep_embedding(t, self.cfg.d)) + self.txt_pool(pooled)
        c = F.silu(c)
        txt = self.txt(text_features)
        txt_bias = ((1.0 - mask) * -1e4)[:, None, None, :]
        for blk in self.blocks:
            h = blk(h, c, txt, txt_bias)
        s, b_ = self.out_ada(c)[:, None].chunk(2, dim=-1)
        h = self.out(self.out_norm(h) * (1 + s) + b_)
        out = h.view(b, n, p, ch).permute(0, 3, 1, 2).reshape(b, ch, n * p)
        return out[:, :, :f]
