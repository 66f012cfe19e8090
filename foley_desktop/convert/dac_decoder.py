"""The DAC-style VAE decoder (vae_128d_48k.pth): latent [1, 128, T] at 50 Hz -> 48 kHz audio.

Written in this project from the facts of the reference's codec (a DAC decoder with a
continuous latent): a 1x1 `post_quant_conv`, a 7-tap input conv, one block per upsampling rate
(Snake, transposed conv of kernel 2r and stride r, three dilated residual units 1/3/9), then
Snake, a 7-tap output conv and tanh. Convolutions are weight-normalised in the checkpoint
(`weight_g`, `weight_v`); the weight norm is folded into plain weights when loading, so the
exported graph has ordinary Conv/ConvTranspose nodes.

The architecture (channels, rates) is read from the state dict's shapes, so any decoder of this
family converts; every transposed conv of kernel 2r, stride r, padding ceil(r/2) and output
padding r % 2 maps T frames to exactly T * r samples, so the decoder returns T * prod(rates).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from foley_desktop.convert.config import ConvertError


class Snake(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(Snake(dim), nn.Conv1d(dim, dim, 7, dilation=dilation, padding=3 * dilation),
                                   Snake(dim), nn.Conv1d(dim, dim, 1))

    def forward(self, x):
        return x + self.block(x)


class DecoderBlock(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, rate: int):
        super().__init__()
        self.block = nn.Sequential(
            Snake(dim_in),
            nn.ConvTranspose1d(dim_in, dim_out, 2 * rate, stride=rate, padding=math.ceil(rate / 2),
                               output_padding=rate % 2),
            ResidualUnit(dim_out, 1), ResidualUnit(dim_out, 3), ResidualUnit(dim_out, 9))

    def forward(self, x):
        return self.block(x)


class Decoder(nn.Module):
    def __init__(self, latent_dim: int, channels: int, rates: list[int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(latent_dim, channels, 7, padding=3)]
        for i, r in enumerate(rates):
            layers.append(DecoderBlock(channels // 2 ** i, channels // 2 ** (i + 1), r))
        out = channels // 2 ** len(rates)
        layers += [Snake(out), nn.Conv1d(out, 1, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class DacDecoder(nn.Module):
    """post_quant_conv + decoder; forward(latent [B, C, T]) -> audio [B, T * hop]."""

    def __init__(self, latent_dim: int, channels: int, rates: list[int]):
        super().__init__()
        self.rates = list(rates)
        self.post_quant_conv = nn.Conv1d(latent_dim, latent_dim, 1)
        self.decoder = Decoder(latent_dim, channels, rates)

    @property
    def hop(self) -> int:
        return math.prod(self.rates)

    def forward(self, latent):
        return self.decoder(self.post_quant_conv(latent))[:, 0]


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each (weight_g, weight_v) pair by weight = g * v / ||v|| (norm over all dims but
    the first, torch.nn.utils.weight_norm's default), in float32. Also accepts the newer
    parametrization names (parametrizations.weight.original0/1)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for g_name, v_name in ((".weight_g", ".weight_v"),
                               (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
            if key.endswith(g_name):
                base = key[: -len(g_name)]
                g = value.float()
                v = state[base + v_name].float()
                norm = v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
                out[base + ".weight"] = g * v / norm
                break
            if key.endswith(v_name):
                break
        else:
            out[key] = value.float()
    return out


def decoder_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The decoder's weights from a vae checkpoint: audiotools' {"state_dict", "metadata"} or a
    plain state dict; encoder and quantiser weights are dropped."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(k.startswith("decoder.") for k in state):
        raise ConvertError("the VAE checkpoint has no decoder.* weights (expected vae_128d_48k.pth)")
    if "post_quant_conv.weight" not in state:
        raise ConvertError("the VAE checkpoint has no post_quant_conv (not a continuous-latent DAC)")
    keep = {k: v for k, v in state.items() if k.startswith(("decoder.", "post_quant_conv."))}
    return fold_weight_norm(keep)


def build_decoder(state: dict[str, torch.Tensor]) -> DacDecoder:
    """A DacDecoder shaped after (folded) weights, with the weights loaded strictly."""
    latent_dim = state["post_quant_conv.weight"].shape[0]
    channels = state["decoder.model.0.weight"].shape[0]
    rates = []
    i = 1
    while f"decoder.model.{i}.block.1.weight" in state:
        rates.append(state[f"decoder.model.{i}.block.1.weight"].shape[-1] // 2)
        i += 1
    if not rates:
        raise ConvertError("the VAE decoder has no upsampling blocks")
    model = DacDecoder(latent_dim, channels, rates)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConvertError(f"the VAE decoder weights do not fit the expected layout: "
                           f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


def weight_norm_names(module: nn.Module) -> list[str]:
    """Names of a reference-layout checkpoint's weight-normalised convolutions (for tests that
    write one): every Conv1d/ConvTranspose1d of the decoder except post_quant_conv."""
    return [n for n, m in module.named_modules()
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)) and not re.match(r"^post_quant_conv$", n)]
