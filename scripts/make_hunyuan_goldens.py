#!/usr/bin/env python3
"""Write golden outputs of the *official* HunyuanVideo-Foley code for the converter's tests.

    python scripts/make_hunyuan_goldens.py /path/to/HunyuanVideo-Foley [-o tests/data/hunyuan_goldens]

The argument is a checkout of github.com/Tencent-Hunyuan/HunyuanVideo-Foley (not part of this
project and never copied into it). The script builds tiny configurations of the official
model (`HunyuanVideoFoley`) and of the official DAC VAE with seeded random non-zero weights,
runs the official code, and writes one small .npz per configuration:

- `w/<name>`: every weight of the tiny checkpoint, stored exactly as int8 codes times a
  float32 step plus an offset (`w/<name>` codes, `s/<name>` step, `o/<name>` offset), so that
  the test can rebuild the very same float32 checkpoint in a quarter of the bytes;
- `config_yaml`: the configuration in the official YAML layout (what `--config` reads);
- `v/<case>/...`: inputs and the official velocity for several timesteps, batch sizes,
  lengths, masked text (the official model has no mask: its result on the unpadded prompt is
  the golden for the padded, masked input) and sync off (the learned empty sync features);
- `dac/...` (first configuration): the VAE checkpoint in audiotools' layout and an official
  `DAC.decode`;
- `sampler/...` (first configuration): the official `denoise_process` (flow-matching Euler,
  10 steps, guidance 4.5) with its initial noise, the state before every step, the final
  latent and the decoded audio.

Only the official code computes the goldens. Packages it imports but that play no part in
these computations (audiotools' file I/O, argbind, torchvision transforms, loguru, the
Synchformer's timm/torchaudio stack) are replaced, when not installed, by inert stand-ins
registered before the import; `diffusers` and `einops` are real (pip install diffusers einops;
the app does not depend on them).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import io
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np

CODE_SCALE = 32          # int8 codes are N(0, 32^2) clipped to +-127: weight = code * std / 32


# ---------------------------------------------------------------- import-time stand-ins


def _missing(name: str) -> bool:
    try:
        importlib.import_module(name)
        return False
    except Exception:  # noqa: BLE001 - any failure to import means: stand in for it
        return True


def _install_stand_ins() -> list[str]:
    """Inert modules for imports the computations here never use. Returns their names."""
    import torch

    made = []

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__spec__ = importlib.machinery.ModuleSpec(name, None)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        made.append(name)
        return m

    class _Unused:
        def __init__(self, *a, **k):
            raise RuntimeError("stand-in for a package these goldens do not use")

    if _missing("audiotools"):
        class BaseModel(torch.nn.Module):   # audiotools.ml.BaseModel: save/load helpers only
            INTERN: ClassVar[list] = []
            EXTERN: ClassVar[list] = []
        ml = module("audiotools.ml", BaseModel=BaseModel, Accelerator=_Unused)
        module("audiotools", AudioSignal=_Unused, STFTParams=_Unused, ml=ml)
    if _missing("argbind"):
        module("argbind", bind=lambda *a, **k: (lambda f: f))
    if _missing("loguru"):
        class _Log:
            def __getattr__(self, _):
                return lambda *a, **k: None
        module("loguru", logger=_Log())
    if _missing("torchvision"):
        tv = module("torchvision")
        tr = module("torchvision.transforms")
        v2 = module("torchvision.transforms.v2")
        tr.v2 = v2
        tv.transforms = tr
        for name in ("Compose", "Resize", "ToTensor", "Normalize", "CenterCrop", "ToImage", "ToDtype"):
            setattr(tr, name, _Unused)
            setattr(v2, name, _Unused)
        tr.InterpolationMode = v2.InterpolationMode = types.SimpleNamespace(BICUBIC=3)
    if _missing("timm") or _missing("torchaudio"):
        module("hunyuanvideo_foley.models.synchformer", Synchformer=_Unused)
    return made


# ---------------------------------------------------------------- weights on an exact grid


def _std_for(name: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """(std, offset) of a weight: fan-in scaled matrices, small biases, norm scales and Snake
    alphas around 1, weight-norm gains around 0.5."""
    if name.endswith("weight_g"):   # DAC's weight-norm gains: small enough that the final
        return 0.05, 0.5              # tanh is not saturated on random weights
    if name.endswith("alpha") or ("norm" in name and len(shape) == 1):
        return 0.25, 1.0
    if len(shape) >= 2 and not name.endswith(("pos_emb", "empty_clip_feat", "empty_sync_feat")):
        fan_in = int(np.prod(shape[1:]))
        if ".adaLN_modulation." in name or "_mod." in name or ".modulation." in name:
            return 0.5 / np.sqrt(fan_in), 0.0
        return 1.0 / np.sqrt(fan_in), 0.0
    return (0.5, 0.0) if len(shape) >= 2 else (0.05, 0.0)


def grid_weights(module, seed: int) -> dict[str, tuple[np.ndarray, np.float32, np.float32]]:
    """Give every parameter of `module` seeded random values of the form offset + code * step
    (int8 code, float32 step and offset) and return them as codes."""
    import torch

    rng = np.random.default_rng(seed)
    out = {}
    with torch.no_grad():
        for name, p in module.named_parameters():
            std, offset = _std_for(name, tuple(p.shape))
            codes = np.clip(np.rint(rng.standard_normal(p.shape) * CODE_SCALE), -127, 127).astype(np.int8)
            step = np.float32(std / CODE_SCALE)
            value = codes_to_float(codes, step, np.float32(offset))
            p.copy_(torch.from_numpy(value))
            out[name] = (codes, step, np.float32(offset))
    return out


def codes_to_float(codes: np.ndarray, step: np.float32, offset: np.float32) -> np.ndarray:
    # the same float32 arithmetic as tests/test_convert_goldens.py uses to rebuild the weights
    return (np.float32(offset) + codes.astype(np.float32) * np.float32(step)).astype(np.float32)


def _put_weights(store: dict, prefix: str, weights: dict) -> None:
    for name, (codes, step, offset) in weights.items():
        store[f"{prefix}w/{name}"] = codes
        store[f"{prefix}s/{name}"] = step
        store[f"{prefix}o/{name}"] = offset


# ---------------------------------------------------------------- configurations


CONFIGS = {
    # both published configurations' switches (interleaved RoPE, sync added to the audio,
    # no attention mask), at tiny sizes; the second one has a k=3 sync MLP and no qkv bias
    "tiny_a": {"depth_triple_blocks": 2, "depth_single_blocks": 2, "hidden_size": 32, "num_heads": 2,
               "qkv_bias": True, "sync_in_ksz": 1, "sync_feat_dim": 24, "condition_dim": 20,
               "clip_dim": 16, "audio_vae_latent_dim": 8},
    "tiny_b": {"depth_triple_blocks": 1, "depth_single_blocks": 2, "hidden_size": 24, "num_heads": 2,
               "qkv_bias": False, "sync_in_ksz": 3, "sync_feat_dim": 16, "condition_dim": 12,
               "clip_dim": 20, "audio_vae_latent_dim": 6},
}


def config_yaml(name: str, kw: dict) -> str:
    lines = ["model_config:", f"  model_name: {name}", "  model_type: 1d", "  model_precision: fp32",
             "  model_kwargs:"]
    full = {"mlp_ratio": 4, "mlp_act_type": "gelu_tanh", "qk_norm": True, "qk_norm_type": "rms",
            "attn_mode": "torch", "embedder_type": "default", "interleaved_audio_visual_rope": True,
            "enable_learnable_empty_visual_feat": True, "sync_modulation": False,
            "add_sync_feat_to_audio": True, "cross_attention": True, "use_attention_mask": False,
            "condition_projection": "linear", "audio_frame_rate": 50, "patch_size": 1,
            "rope_dim_list": None, "rope_theta": 10000, "text_length": 77, "clip_length": 64,
            "sync_length": 192} | kw
    for k, v in full.items():
        v = "null" if v is None else (str(v) if not isinstance(v, str) else f'"{v}"')
        lines.append(f"    {k}: {v}")
    lines += ["diffusion_config:", '  denoise_type: "flow"', '  flow_path_type: "linear"',
              '  flow_predict_type: "velocity"', "  flow_reverse: True", '  flow_solver: "euler"',
              "  sample_flow_shift: 1.0", "  sample_use_flux_shift: False", "  flux_base_shift: 0.5",
              "  flux_max_shift: 1.15", ""]
    return "\n".join(lines)


def sync_tokens(latent_frames: int) -> int:
    """Synchformer tokens of a clip (the official feature_utils.encode_video_with_sync): frames
    at 25 fps in 16-frame segments every 8 frames, 8 tokens per segment."""
    frames = latent_frames // 2
    return max(1, (frames - 16) // 8 + 1) * 8


# ---------------------------------------------------------------- the goldens


def velocity_cases(model, kw: dict, rng) -> dict:
    import torch

    C, D, V, S = kw["audio_vae_latent_dim"], kw["condition_dim"], kw["clip_dim"], kw["sync_feat_dim"]
    out = {}

    def run(x, t, text, clip, sync):
        with torch.no_grad():
            return model(x=torch.from_numpy(x), t=torch.from_numpy(t), cond=torch.from_numpy(text),
                         clip_feat=torch.from_numpy(clip), sync_feat=torch.from_numpy(sync),
                         return_dict=False).numpy()

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    specs = [  # name, batch, latent frames, timesteps, text tokens, clip tokens
        ("b1_t900", 1, 100, [900.0], 7, 16),
        ("b2_odd_lengths", 2, 137, [999.0, 20.5], 11, 22),
        ("b3_one_window", 3, 37, [0.0, 500.0, 1000.0], 4, 5),
    ]
    for name, B, T, ts, L, Vn in specs:
        case = {"x": randn(B, C, T), "t": np.array(ts, np.float32), "text": randn(B, L, D),
                "text_mask": np.ones((B, L), np.float32), "clip": randn(B, Vn, V),
                "sync": randn(B, sync_tokens(T), S)}
        case["velocity"] = run(case["x"], case["t"], case["text"], case["clip"], case["sync"])
        out[name] = case

    # masked text: the official model attends to every text token it is given, so its result
    # on each prompt alone (unpadded) is what the padded, masked batch must reproduce
    B, T, L = 2, 60, 9
    valid = [9, 4]
    case = {"x": randn(B, C, T), "t": np.array([700.0, 300.0], np.float32), "text": randn(B, L, D),
            "text_mask": (np.arange(L)[None] < np.array(valid)[:, None]).astype(np.float32),
            "clip": randn(B, 8, V), "sync": randn(B, sync_tokens(T), S)}
    case["velocity"] = np.concatenate([
        run(case["x"][i:i + 1], case["t"][i:i + 1], case["text"][i:i + 1, :valid[i]],
            case["clip"][i:i + 1], case["sync"][i:i + 1]) for i in range(B)])
    out["masked_text"] = case

    # sync off: the learned empty sync features, as many tokens as a clip of this length has
    B, T = 2, 100
    empty = model.get_empty_sync_sequence(bs=B, len=sync_tokens(T)).detach().numpy().copy()
    case = {"x": randn(B, C, T), "t": np.array([800.0, 150.0], np.float32), "text": randn(B, 6, D),
            "text_mask": np.ones((B, 6), np.float32), "clip": randn(B, 16, V), "sync": empty}
    case["velocity"] = run(case["x"], case["t"], case["text"], case["clip"], case["sync"])
    case["sync_off"] = np.array(True)
    out["sync_off"] = case
    return out


def build_dac(DAC, latent_dim: int):
    # hop 960 (a 50 Hz latent at 48 kHz) as the published VAE, at a tiny width
    kwargs = {"encoder_dim": 1, "encoder_rates": [2, 3, 4, 5, 8], "latent_dim": latent_dim,
              "decoder_dim": 32, "decoder_rates": [8, 5, 4, 3, 2], "sample_rate": 48000,
              "continuous": True}
    return DAC(**kwargs).eval(), kwargs


def make(checkout: Path, out_dir: Path) -> list[Path]:
    import torch

    sys.path.insert(0, str(checkout))
    # the real packages first: they probe for optional ones (torchvision) while importing
    import diffusers.models
    import diffusers.schedulers
    import diffusers.utils.torch_utils  # noqa: F401
    import transformers  # noqa: F401

    stand_ins = _install_stand_ins()
    from hunyuanvideo_foley.models.dac_vae.model.dac import DAC
    from hunyuanvideo_foley.models.hifi_foley import HunyuanVideoFoley
    from hunyuanvideo_foley.utils.config_utils import AttributeDict, load_yaml
    from hunyuanvideo_foley.utils.model_utils import denoise_process

    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ci, (name, kw) in enumerate(CONFIGS.items()):
        store: dict[str, np.ndarray] = {}
        yaml_text = config_yaml(name, kw)
        yaml_path = out_dir / f"{name}.yaml.tmp"
        yaml_path.write_text(yaml_text)
        cfg = load_yaml(str(yaml_path))
        yaml_path.unlink()
        model = HunyuanVideoFoley(cfg, dtype=torch.float32).eval()
        _put_weights(store, "", grid_weights(model, seed=100 + ci))
        store["config_yaml"] = np.array(yaml_text)
        rng = np.random.default_rng(200 + ci)
        for case, arrays in velocity_cases(model, kw, rng).items():
            for k, v in arrays.items():
                store[f"v/{case}/{k}"] = v

        if ci == 0:
            dac, dac_kwargs = build_dac(DAC, kw["audio_vae_latent_dim"])
            _put_weights(store, "dac/", grid_weights(dac, seed=300))
            store["dac/kwargs"] = np.array(repr(dac_kwargs))
            z = rng.standard_normal((1, kw["audio_vae_latent_dim"], 13)).astype(np.float32)
            with torch.no_grad():
                store["dac/latent"] = z
                store["dac/audio"] = dac.decode(torch.from_numpy(z)).numpy()

            # the official sampler, start to end, over the tiny model and VAE
            T = 25   # latent frames (0.5 s)
            feats = AttributeDict({
                "siglip2_feat": torch.from_numpy(rng.standard_normal((1, 8, kw["clip_dim"])).astype(np.float32)),
                "syncformer_feat": torch.from_numpy(
                    rng.standard_normal((1, sync_tokens(T), kw["sync_feat_dim"])).astype(np.float32))})
            text = AttributeDict({
                "text_feat": torch.from_numpy(rng.standard_normal((1, 6, kw["condition_dim"])).astype(np.float32)),
                "uncond_text_feat": torch.from_numpy(
                    rng.standard_normal((1, 6, kw["condition_dim"])).astype(np.float32))})
            states, final = [], []
            h1 = model.register_forward_pre_hook(
                lambda m, a, k, s=states: s.append(k["x"][:1].detach().numpy().copy()), with_kwargs=True)
            h2 = dac.post_quant_conv.register_forward_pre_hook(
                lambda m, a, f=final: f.append(a[0].detach().numpy().copy()))
            torch.manual_seed(400)
            audio, sr = denoise_process(feats, text, T / 50, AttributeDict(
                {"foley_model": model, "dac_model": dac, "device": torch.device("cpu")}), cfg,
                guidance_scale=4.5, num_inference_steps=10)
            h1.remove()
            h2.remove()
            store["sampler/steps"] = np.array(10)
            store["sampler/guidance"] = np.array(4.5, np.float32)
            store["sampler/noise"] = states[0]
            store["sampler/states"] = np.stack(states)
            store["sampler/latent"] = final[0]
            store["sampler/audio"] = audio.numpy()
            store["sampler/siglip2"] = feats.siglip2_feat.numpy()
            store["sampler/synchformer"] = feats.syncformer_feat.numpy()
            store["sampler/text"] = text.text_feat.numpy()
            store["sampler/uncond_text"] = text.uncond_text_feat.numpy()
            store["sampler/sample_rate"] = np.array(sr)

        store["stand_ins"] = np.array(",".join(stand_ins))
        path = out_dir / f"{name}.npz"
        buf = io.BytesIO()
        np.savez_compressed(buf, **store)
        path.write_bytes(buf.getvalue())
        written.append(path)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, "
              f"{sum(p.numel() for p in model.parameters())} denoiser weights")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", type=Path, help="a checkout of Tencent-Hunyuan/HunyuanVideo-Foley")
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parent.parent
                    / "tests" / "data" / "hunyuan_goldens")
    args = ap.parse_args(argv)
    if not (args.checkout / "hunyuanvideo_foley" / "models" / "hifi_foley.py").is_file():
        print(f"{args.checkout}: not a HunyuanVideo-Foley checkout (no hunyuanvideo_foley/models/"
              f"hifi_foley.py)", file=sys.stderr)
        return 2
    make(args.checkout, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
