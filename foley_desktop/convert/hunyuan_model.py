"""The HunyuanVideo-Foley MMDiT denoiser in PyTorch, written for export to ONNX.

Written in this project from the published description of the model and the facts of the
reference implementation (module names, tensor layouts, normalisation constants); the reference
code itself is not used. Parameter names equal the reference's state-dict keys so that a
checkpoint loads key for key (`load_state_dict(strict=True)`).

Shape of the computation (B batch, T latent frames at 50 Hz, H hidden size):

- inputs: latent x [B, 128, T], timestep t [B] on the 0-1000 scale, CLAP text features
  [B, L, 768], SigLIP2 features [B, Nc, 768] (8 per second), Synchformer features [B, Ns, 768]
  (8 per 16-frame window, windows every 8 frames at 25 fps);
- the Synchformer tokens get a learned position within their window, are projected and
  stretched to T by nearest-exact interpolation, and added to the audio tokens;
- triple-stream blocks: audio and visual tokens attend jointly (RoPE over the two sequences
  interleaved), then both cross-attend to the text, then per-stream MLPs; 9-way modulation by
  the timestep embedding;
- single-stream blocks on the audio tokens only, modulated per frame by timestep + sync;
- a final LayerNorm and projection back to [B, 128, T]: the flow-matching velocity (not
  modulated: see FinalLayer).

Export-friendliness: every length-dependent table (RoPE angles, interpolation indices) is
computed inside the graph from the inputs' shapes with plain arithmetic (no complex numbers,
no F.interpolate), so one graph serves every clip length and batch size. Attention is written
out (matmul + softmax) so the text mask can be applied to the cross-attention keys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from foley_desktop.convert.config import DenoiserConfig

ROPE_THETA = 10000.0     # the reference builds every RoPE table with theta 10000
TIME_FREQ_DIM = 256      # sinusoidal timestep features before the time MLP


# ---------------------------------------------------------------- small building blocks


def _activation(kind: str) -> nn.Module:
    return {"gelu_tanh": lambda: nn.GELU(approximate="tanh"), "gelu": nn.GELU,
            "relu": nn.ReLU, "silu": nn.SiLU}[kind]()


class HeadRMSNorm(nn.Module):
    """RMS norm over the head dimension with a learned scale (the q/k norms)."""

    def __init__(self, dim: int, eps: float | None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        # eps None: the dtype's machine epsilon, as torch.nn.RMSNorm does by default
        self.eps = torch.finfo(torch.float32).eps if eps is None else eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class GatedLinear(nn.Module):
    """w2(silu(w1 x) * w3 x) with bias-free linear maps (visual projection)."""

    def __init__(self, dim: int, hidden: int, out: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, out, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TokenConv(nn.Conv1d):
    """A Conv1d over the token axis of a [B, L, C] tensor (stride 1, odd kernel, same padding).

    Computed as one matrix product: the k shifted copies of the padded input side by side
    [B, L, k*C_in] times the weight laid out [k*C_in, C_out]. Same function as the convolution;
    in the exported graph it is a MatMul with a constant weight, which dynamic INT8 quantises
    with the fast integer GEMM (the XXL single blocks' k=3 MLPs are 40 % of its parameters),
    and the converter stores the weight in that layout ([k, C_in, C_out]) so that the export
    needs no copy of it."""

    stored_permutation = (2, 1, 0)

    def forward(self, x):
        k = self.kernel_size[0]
        if self.stride[0] != 1 or self.dilation[0] != 1 or 2 * self.padding[0] != k - 1:
            return super().forward(x.transpose(1, 2)).transpose(1, 2)
        p = self.padding[0]
        if p:   # zero rows by concatenation (F.pad exports as sequence ops without shape inference)
            z = torch.zeros_like(x[:, :1]).expand(-1, p, -1)
            xp = torch.cat((z, x, z), dim=1)
        else:
            xp = x
        # shift j covers rows j .. j+L-1 of the padded input: negative ends keep L symbolic
        cols = torch.cat([xp[:, j:j - (k - 1)] if j < k - 1 else xp[:, j:] for j in range(k)], dim=-1)
        w = self.weight.permute(2, 1, 0).reshape(k * self.in_channels, self.out_channels)
        y = torch.matmul(cols, w)
        return y if self.bias is None else y + self.bias


def conv_mlp_hidden(hidden: float) -> int:
    """Width of the gated conv MLP: two thirds of the nominal width, rounded up to 256."""
    h = int(2 * hidden / 3)
    return 256 * ((h + 255) // 256)


class GatedConvMLP(nn.Module):
    def __init__(self, dim: int, hidden: float, kernel: int):
        super().__init__()
        h = conv_mlp_hidden(hidden)
        pad = kernel // 2
        self.w1 = TokenConv(dim, h, kernel, padding=pad, bias=False)
        self.w2 = TokenConv(h, dim, kernel, padding=pad, bias=False)
        self.w3 = TokenConv(dim, h, kernel, padding=pad, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Modulation(nn.Module):
    def __init__(self, hidden: int, factor: int):
        super().__init__()
        self.linear = nn.Linear(hidden, factor * hidden)
        self.factor = factor

    def forward(self, vec):
        return self.linear(F.silu(vec)).chunk(self.factor, dim=-1)


class TwoLayerMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = _activation(act)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def layer_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    # normalised shape as plain ints: the exporter needs it constant (the hidden size is)
    return F.layer_norm(x, (int(x.shape[-1]),), eps=eps)


def modulate(x, shift, scale):
    """x * (1 + scale) + shift; a [B, H] modulation applies to every token."""
    if shift.dim() == 2:
        shift, scale = shift[:, None], scale[:, None]
    return x * (1 + scale) + shift


def gate(x, g):
    return x * (g[:, None] if g.dim() == 2 else g)


# ---------------------------------------------------------------- positions, lengths


def nearest_exact_index(out_len: torch.Tensor, in_len: torch.Tensor) -> torch.Tensor:
    """Source index of each output position for nearest-exact resampling (as F.interpolate):
    floor((i + 0.5) * in / out) in float32, clipped to in - 1."""
    i = torch.arange(out_len, dtype=torch.float32)
    scale = in_len.to(torch.float32) / out_len.to(torch.float32)
    src = torch.floor((i + 0.5) * scale).to(torch.int64)
    return torch.minimum(src, in_len.to(torch.int64) - 1)


class Rope(nn.Module):
    """Rotary embedding on interleaved (real, imaginary) pairs of the head dimension."""

    def __init__(self, head_dim: int):
        super().__init__()
        exps = torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim
        self.register_buffer("freqs", 1.0 / (ROPE_THETA ** exps), persistent=False)

    def tables(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin [L, D] for float positions [L]."""
        ang = positions[:, None] * self.freqs[None, :]
        # each angle twice in a row (repeat_interleave by 2, written so that the exporter
        # needs no shape inference for it)
        cos = torch.stack([torch.cos(ang)] * 2, dim=-1).flatten(-2)
        sin = torch.stack([torch.sin(ang)] * 2, dim=-1).flatten(-2)
        return cos, sin

    @staticmethod
    def apply(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, head_first: bool) -> torch.Tensor:
        """x [B, L, H, D] (or [B, H, L, D] with head_first); cos/sin [L, D]."""
        if not head_first:
            cos, sin = cos[None, :, None, :], sin[None, :, None, :]
        pairs = x.float().reshape(*x.shape[:-1], -1, 2)
        rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
        return x.float() * cos + rotated * sin


def length_of(x: torch.Tensor, dim: int) -> torch.Tensor:
    """A tensor's length along `dim` as a 0-d int64 tensor (so that exported graphs keep it
    symbolic instead of baking in the traced value)."""
    return torch._shape_as_tensor(x)[dim]


def positions(n: torch.Tensor) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float32)


def attention(q, k, v, key_bias: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention, q/k/v [B, L, H, D] -> [B, L, H*D]; key_bias [B, Lk] added to scores."""
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if key_bias is not None:
        scores = scores + key_bias[:, None, None, :]
    out = torch.matmul(torch.softmax(scores, dim=-1), v)
    return out.transpose(1, 2).flatten(2)


# ---------------------------------------------------------------- blocks


class TripleStreamBlock(nn.Module):
    """Audio + visual joint self-attention, cross-attention to text, per-stream MLPs."""

    def __init__(self, cfg: DenoiserConfig, rope: Rope):
        super().__init__()
        h, nh, hd = cfg.hidden_size, cfg.num_heads, cfg.head_dim
        self.heads = nh
        self.head_dim = hd
        self.rope = [rope]   # shared, kept out of the module tree (no parameters)
        mlp = int(h * cfg.mlp_ratio)
        b = cfg.qkv_bias
        for s in ("audio", "v_cond"):
            setattr(self, f"{s}_mod", Modulation(h, 9))
            setattr(self, f"{s}_mlp", TwoLayerMLP(h, mlp, cfg.mlp_act_type))
            setattr(self, f"{s}_cross_q", nn.Linear(h, h, bias=b))
            setattr(self, f"{s}_cross_q_norm", HeadRMSNorm(hd, 1e-6))
            setattr(self, f"{s}_cross_proj", nn.Linear(h, h, bias=b))
            setattr(self, f"{s}_self_proj", nn.Linear(h, h, bias=b))
        self.audio_self_attn_qkv = nn.Linear(h, 3 * h, bias=b)
        self.audio_self_q_norm = HeadRMSNorm(hd, 1e-6)
        self.audio_self_k_norm = HeadRMSNorm(hd, 1e-6)
        self.v_cond_attn_qkv = nn.Linear(h, 3 * h, bias=b)
        self.v_cond_attn_q_norm = HeadRMSNorm(hd, 1e-6)
        self.v_cond_attn_k_norm = HeadRMSNorm(hd, 1e-6)
        self.text_cross_kv = nn.Linear(h, 2 * h, bias=b)
        self.text_cross_k_norm = HeadRMSNorm(hd, 1e-6)
        self.interleaved = cfg.interleaved_audio_visual_rope

    def _split(self, t, k):   # [B, L, (k H D)] -> k x [B, L, H, D]
        B, L, _ = t.shape
        return t.reshape(B, L, k, self.heads, -1).unbind(2)

    def _self_rope(self, aq, ak, vq, vk, la, lv):
        rope = self.rope[0]
        if not self.interleaved:
            cos, sin = rope.tables(positions(la))
            return (rope.apply(aq, cos, sin, False), rope.apply(ak, cos, sin, False), vq, vk)
        # Audio token i sits at position 2i, the visual sequence (resampled to the audio
        # length) at 2i + 1; the result is resampled back. Composed: visual token j takes the
        # values of token up[down[j]] rotated by position 2 down[j] + 1.
        down = nearest_exact_index(lv, la)
        up = nearest_exact_index(la, lv)
        src = up[down]
        a_cos, a_sin = rope.tables(positions(la) * 2)
        v_cos, v_sin = rope.tables(down.to(torch.float32) * 2 + 1)
        aq, ak = rope.apply(aq, a_cos, a_sin, False), rope.apply(ak, a_cos, a_sin, False)
        vq = rope.apply(vq[:, src], v_cos, v_sin, False)
        vk = rope.apply(vk[:, src], v_cos, v_sin, False)
        return aq, ak, vq, vk

    def forward(self, audio, cond, v_cond, vec, text_bias):
        rope = self.rope[0]
        am = self.audio_mod(vec)
        vm = self.v_cond_mod(vec)
        la, lv, lt = length_of(audio, 1), length_of(v_cond, 1), length_of(cond, 1)

        # 1. joint self-attention of visual and audio tokens
        a_in = modulate(layer_norm(audio, 1e-6), am[0], am[1])
        aq, ak, av = self._split(self.audio_self_attn_qkv(a_in), 3)
        aq, ak = self.audio_self_q_norm(aq), self.audio_self_k_norm(ak)
        v_in = modulate(layer_norm(v_cond, 1e-6), vm[0], vm[1])
        vq, vk, vv = self._split(self.v_cond_attn_qkv(v_in), 3)
        vq, vk = self.v_cond_attn_q_norm(vq), self.v_cond_attn_k_norm(vk)
        aq, ak, vq, vk = self._self_rope(aq, ak, vq, vk, la, lv)
        out = attention(torch.cat([vq, aq], 1), torch.cat([vk, ak], 1), torch.cat([vv, av], 1))
        n_v = v_cond.shape[1]
        v_out, a_out = out[:, :n_v], out[:, n_v:]
        audio = audio + gate(self.audio_self_proj(a_out), am[2])
        v_cond = v_cond + gate(self.v_cond_self_proj(v_out), vm[2])

        # 2. cross-attention of (visual, audio) queries to the text
        a_in = modulate(layer_norm(audio, 1e-6), am[3], am[4])
        v_in = modulate(layer_norm(v_cond, 1e-6), vm[3], vm[4])
        B = audio.shape[0]
        aq = self.audio_cross_q_norm(self.audio_cross_q(a_in).reshape(B, -1, self.heads, self.head_dim))
        vq = self.v_cond_cross_q_norm(self.v_cond_cross_q(v_in).reshape(B, -1, self.heads, self.head_dim))
        tk, tv = self._split(self.text_cross_kv(cond), 2)
        tk = self.text_cross_k_norm(tk)
        cos, sin = rope.tables(positions(la))
        aq = rope.apply(aq, cos, sin, False)
        cos, sin = rope.tables(positions(lv))
        vq = rope.apply(vq, cos, sin, False)
        cos, sin = rope.tables(positions(lt))
        tk = rope.apply(tk, cos, sin, False)
        out = attention(torch.cat([vq, aq], 1), tk, tv, text_bias)
        v_out, a_out = out[:, :n_v], out[:, n_v:]
        audio = audio + gate(self.audio_cross_proj(a_out), am[5])
        v_cond = v_cond + gate(self.v_cond_cross_proj(v_out), vm[5])

        # 3. per-stream MLPs
        audio = audio + gate(self.audio_mlp(modulate(layer_norm(audio, 1e-6), am[6], am[7])), am[8])
        v_cond = v_cond + gate(self.v_cond_mlp(modulate(layer_norm(v_cond, 1e-6), vm[6], vm[7])), vm[8])
        return audio, v_cond


class PackedQKV(nn.Linear):
    """The single blocks' q/k/v projection, holding its output rows in (3, heads, head_dim)
    order so that q, k and v are contiguous slices of its output.

    The reference packs them (heads, head_dim, 3), innermost last: splitting that takes three
    strided gathers over the last axis per block (the exported graph had 12 of them at depth 4,
    ~5 % of an INT8 step). The rows are permuted when weights are loaded and back when the
    state dict is read, so checkpoints keep the reference's layout key for key; the converter
    stores the permuted rows in its weight file (`stream.load_into_weight_file`), so the graph
    needs no permutation at run time."""

    def __init__(self, hidden: int, heads: int):
        super().__init__(hidden, 3 * hidden)
        d = hidden // heads
        # row n = k*hidden + head*d + i of this module is row (head*d + i)*3 + k of the reference
        # index tables on the CPU even when the module is built on the meta device
        cpu = torch.device("cpu")
        k, head, i = torch.meshgrid(torch.arange(3, device=cpu), torch.arange(heads, device=cpu),
                                    torch.arange(d, device=cpu), indexing="ij")
        self.stored_row_order = ((head * d + i) * 3 + k).reshape(-1)
        self.stored_row_inverse = torch.argsort(self.stored_row_order)
        self.rows_already_stored = False   # set by the converter while it assigns stored rows
        self._register_load_state_dict_pre_hook(self._rows_from_reference)
        self._register_state_dict_hook(PackedQKV._rows_to_reference)

    def _rows_from_reference(self, state, prefix, *args):
        if self.rows_already_stored:
            return
        for name in ("weight", "bias"):
            if prefix + name in state:
                state[prefix + name] = state[prefix + name][self.stored_row_order]

    @staticmethod
    def _rows_to_reference(module, state, prefix, local_metadata):
        for name in ("weight", "bias"):
            # keep_vars=True (the exporter, optimisers) wants the live Parameters themselves
            if prefix + name in state and not isinstance(state[prefix + name], nn.Parameter):
                state[prefix + name] = state[prefix + name][module.stored_row_inverse]
        return state


class SingleStreamBlock(nn.Module):
    """Self-attention over the audio tokens with conv projections, per-frame modulation."""

    def __init__(self, cfg: DenoiserConfig, rope: Rope):
        super().__init__()
        h = cfg.hidden_size
        self.heads = cfg.num_heads
        self.rope = [rope]
        self.modulation = Modulation(h, 6)
        self.linear_qkv = PackedQKV(h, cfg.num_heads)
        self.linear1 = TokenConv(h, h, 3, padding=1)
        self.linear2 = GatedConvMLP(h, h * cfg.mlp_ratio, 3)
        self.q_norm = HeadRMSNorm(cfg.head_dim, None)
        self.k_norm = HeadRMSNorm(cfg.head_dim, None)

    def forward(self, x, vec, cos, sin):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(vec)
        x_in = layer_norm(x, 1e-5) * (1 + scale1) + shift1
        B, L, _ = x.shape
        # the reference packs q/k/v (heads, head_dim, 3); PackedQKV holds them (3, heads, head_dim)
        q, k, v = self.linear_qkv(x_in).reshape(B, L, 3, self.heads, -1).unbind(2)
        q = Rope.apply(self.q_norm(q), cos[None, :, None, :], sin[None, :, None, :], True)
        k = Rope.apply(self.k_norm(k), cos[None, :, None, :], sin[None, :, None, :], True)
        out = attention(q, k, v)
        x = x + gate1 * self.linear1(out)
        x = x + gate2 * self.linear2(layer_norm(x, 1e-5) * (1 + scale2) + shift2)
        return x


class FinalLayer(nn.Module):
    """LayerNorm, adaLN modulation, projection to the latent channels.

    The reference's `modulate()` applies a shift and scale only when they are [B, H]: for a
    per-frame condition [B, T, H] it sets both to None and returns its input unchanged. With
    `add_sync_feat_to_audio` (both published configurations) the final layer's condition is
    per-frame (timestep + stretched sync features), so the reference's final layer is NOT
    modulated, whatever `adaLN_modulation` holds. This module does the same, and then does not
    compute the unused modulation at all (its weights are loaded and left out of the graph)."""

    def __init__(self, hidden: int, out: int):
        super().__init__()
        self.linear = nn.Linear(hidden, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x, vec):
        x = layer_norm(x, 1e-6)
        if vec.dim() == 2:   # a per-sample condition: modulated, as the reference does
            shift, scale = self.adaLN_modulation(vec).chunk(2, dim=-1)
            x = modulate(x, shift, scale)
        return self.linear(x)


class ConditionProjection(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.linear_1 = nn.Linear(dim, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(TIME_FREQ_DIM, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        half = TIME_FREQ_DIM // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half),
                             persistent=False)

    def forward(self, t):
        args = t[:, None].float() * self.freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class AudioEmbedder(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.proj = nn.Conv1d(channels, hidden, 1)

    def forward(self, x):
        return self.proj(x).transpose(1, 2)


# ---------------------------------------------------------------- the model


class HunyuanFoleyDenoiser(nn.Module):
    SYNC_TOKENS_PER_WINDOW = 8

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden_size
        rope = Rope(cfg.head_dim)
        self.rope = rope
        self.audio_embedder = AudioEmbedder(cfg.audio_vae_latent_dim, h)
        self.visual_proj = GatedLinear(cfg.clip_dim, h, h)
        self.cond_in = ConditionProjection(cfg.condition_dim, h)
        self.time_in = TimestepEmbedder(h)
        self.sync_in = nn.Sequential(nn.Linear(cfg.sync_feat_dim, h), nn.SiLU(),
                                     GatedConvMLP(h, h * 4, cfg.sync_in_ksz))
        self.sync_pos_emb = nn.Parameter(torch.zeros(1, 1, self.SYNC_TOKENS_PER_WINDOW, cfg.sync_feat_dim))
        self.triple_blocks = nn.ModuleList(TripleStreamBlock(cfg, rope) for _ in range(cfg.depth_triple_blocks))
        self.single_blocks = nn.ModuleList(SingleStreamBlock(cfg, rope) for _ in range(cfg.depth_single_blocks))
        self.final_layer = FinalLayer(h, cfg.audio_vae_latent_dim)
        self.empty_clip_feat = nn.Parameter(torch.zeros(1, cfg.clip_dim))
        self.empty_sync_feat = nn.Parameter(torch.zeros(1, cfg.sync_feat_dim))

    def forward(self, x, t, cond, clip_feat, sync_feat, text_mask=None):
        """Velocity [B, C, T]. `text_mask` [B, L] (1 = token) masks padded text keys; without
        it every text position is attended, as in the reference (use_attention_mask: False)."""
        B = x.shape[0]
        tl = length_of(x, 2)
        vec = self.time_in(t)

        # Synchformer tokens: window position embedding, projection, stretch to T frames
        n = self.SYNC_TOKENS_PER_WINDOW
        d = self.cfg.sync_feat_dim
        s = (sync_feat.reshape(B, -1, n, d) + self.sync_pos_emb).reshape(B, -1, d)
        s = self.sync_in(s)
        sync_add = s[:, nearest_exact_index(tl, length_of(s, 1))]

        cond = self.cond_in(cond)
        audio = self.audio_embedder(x)
        v_cond = self.visual_proj(clip_feat)
        text_bias = None
        if text_mask is not None:
            text_bias = (1.0 - text_mask.to(torch.float32)) * -1e9

        for i, block in enumerate(self.triple_blocks):
            if i == 0:
                audio = audio + sync_add
            audio, v_cond = block(audio, cond, v_cond, vec, text_bias)

        vec = sync_add + vec[:, None]
        cos, sin = self.rope.tables(positions(tl))
        for block in self.single_blocks:
            audio = block(audio, vec, cos, sin)
        return self.final_layer(audio, vec).transpose(1, 2)


def sync_tokens_for_frames(latent_frames, latent_rate: int = 50, fps: int = 25,
                           window: int = 16, stride: int = 8):
    """Synchformer tokens the reference produces for a clip of `latent_frames` (tensor or int):
    frames at 25 fps cut into 16-frame windows every 8 frames, 8 tokens per window."""
    frames = latent_frames * fps // latent_rate
    windows = torch.clamp((frames - window) // stride + 1, min=1) if torch.is_tensor(frames) \
        else max(1, (frames - window) // stride + 1)
    return windows * 8


class DenoiserForExport(nn.Module):
    """The graph's interface: (x, t, text_features, text_mask, <streams>) -> velocity.

    With `sync_stream=False` the Synchformer input is replaced inside the graph by the model's
    learned empty sync features, tiled to the number of tokens the reference would produce for
    the window's length (for packages made without a Synchformer encoder)."""

    def __init__(self, model: HunyuanFoleyDenoiser, sync_stream: bool = True):
        super().__init__()
        self.model = model
        self.sync_stream = sync_stream

    def forward(self, x, t, text_features, text_mask, siglip2, synchformer=None):
        if not self.sync_stream:
            n = sync_tokens_for_frames(length_of(x, 2))
            idx = torch.arange(n, dtype=torch.int64) * 0
            e = self.model.empty_sync_feat[idx]
            synchformer = e[None].expand(x.shape[0], -1, -1)
        return self.model(x, t, text_features, siglip2, synchformer, text_mask)
