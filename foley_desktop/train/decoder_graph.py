"""The decoder graph: codec.decode() as torch ops for ONNX export (fixed tensors as constants).

latent [1, 64, F] -> audio [1, F*480]: exp -> band powers -> bin powers (fixed matrix) ->
magnitudes x fixed random phase (cos/sin tables, indexed by frame mod period) -> inverse real
DFT as two matrix products (sine window folded in) -> 50 % overlap-add by adding shifted halves
(cheaper and smaller than a ConvTranspose1d with an identity kernel) -> crop to exactly F*HOP samples.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import codec


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        _, syn = codec.band_matrices()
        cos_t, sin_t = codec.phase_table()
        n = np.arange(codec.WIN)[:, None]
        k = np.arange(codec.N_BINS)[None, :]
        # irfft as real matrices: x[n] = sum_k c_k (Re X_k cos(2pi kn/N) - Im X_k sin(...)) / N
        c = np.full(codec.N_BINS, 2.0)
        c[0] = c[-1] = 1.0
        w = codec.synthesis_window()[:, None]
        icos = w * c * np.cos(2 * np.pi * k * n / codec.WIN) / codec.WIN
        isin = -w * c * np.sin(2 * np.pi * k * n / codec.WIN) / codec.WIN
        self.register_buffer("syn", torch.from_numpy(syn))                          # [bins, bands]
        # One phase table (radians); cos/sin are taken in the graph (half the constant bytes).
        self.register_buffer("phase", torch.from_numpy(np.arctan2(sin_t, cos_t).T.astype(np.float32).copy()))
        self.register_buffer("icos", torch.from_numpy(icos.T.astype(np.float32).copy()))  # [bins, WIN]
        self.register_buffer("isin", torch.from_numpy(isin.T.astype(np.float32).copy()))

    def forward(self, latent):
        z = latent[0].transpose(0, 1)                                   # [F, bands]
        f = z.shape[0]
        power_b = torch.clamp(torch.exp(z * codec.LOG_STD + codec.LOG_MEAN) - codec.POWER_FLOOR, min=0.0)
        mag = torch.sqrt(torch.matmul(power_b, self.syn.t()) * codec.SYNTH_GAIN)  # [F, bins]
        idx = torch.remainder(torch.arange(f), codec.PHASE_PERIOD)
        ph = self.phase[idx]
        frames = torch.matmul(mag * torch.cos(ph), self.icos) + torch.matmul(mag * torch.sin(ph), self.isin)
        # Overlap-add at 50 %: block j = first half of frame j + second half of frame j-1.
        zero = torch.zeros_like(frames[:1, :codec.HOP])
        first = torch.cat([frames[:, :codec.HOP], zero], dim=0)
        second = torch.cat([zero, frames[:, codec.HOP:]], dim=0)
        audio = (first + second).reshape(1, -1)
        return audio[:, codec.HOP // 2: codec.HOP // 2 + f * codec.HOP]
