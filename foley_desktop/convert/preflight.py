"""Checks of every conversion input before the first heavy stage.

The denoiser stage of XXL runs for many minutes; a wrong VAE, a text encoder of the wrong
width or a truncated Synchformer file used to surface only after it. Everything here reads
names, shapes and small JSON files (checkpoints memory-mapped, modules built on the meta
device), so it takes seconds whatever the model size, and each problem is one line naming the
file and what is wrong.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from foley_desktop.convert.config import ConvertError, DenoiserConfig

HOP = 960                 # a 50 Hz latent at 48 kHz
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")


def _shape(state: dict, key: str) -> tuple[int, ...]:
    shape = getattr(state, "shape", None)   # convert._SafetensorsState reads shapes lazily
    return tuple(shape(key)) if callable(shape) else tuple(state[key].shape)


def _meta_shapes(module_fn) -> dict[str, tuple[int, ...]]:
    import torch

    with torch.device("meta"):
        module = module_fn()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_denoiser_state(cfg: DenoiserConfig, state: dict) -> list[str]:
    """Every weight the configuration needs is in the checkpoint with its shape; returns the
    checkpoint's other keys (training-only modules, ignored)."""
    from foley_desktop.convert.hunyuan_model import HunyuanFoleyDenoiser

    wanted = _meta_shapes(lambda: HunyuanFoleyDenoiser(cfg))
    missing = [k for k in wanted if k not in state]
    if missing:
        raise ConvertError(f"the denoiser checkpoint lacks {len(missing)} weights the configuration "
                           f"needs (first: {missing[0]}); wrong --variant or --config?")
    for k, shape in wanted.items():
        if _shape(state, k) != shape:
            raise ConvertError(f"denoiser weight {k}: shape {_shape(state, k)} in the checkpoint, "
                               f"{shape} expected from the configuration")
    return sorted(k for k in state if k not in wanted)


def decoder_layout(checkpoint) -> dict:
    """The VAE decoder's latent width, channels and rates from the checkpoint's shapes only
    (weight-norm pairs count as their folded weight), checked against the module built on the
    meta device."""
    from foley_desktop.convert.dac_decoder import DacDecoder

    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(k.startswith("decoder.") for k in state):
        raise ConvertError("the VAE checkpoint has no decoder.* weights (expected vae_128d_48k.pth)")
    if "post_quant_conv.weight" not in state:
        raise ConvertError("the VAE checkpoint has no post_quant_conv (not a continuous-latent DAC)")
    shapes = {}
    for k in state:
        if not k.startswith(("decoder.", "post_quant_conv.")):
            continue
        for g_name, v_name in ((".weight_g", ".weight_v"),
                               (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
            if k.endswith(g_name):
                break
            if k.endswith(v_name):
                shapes[k[: -len(v_name)] + ".weight"] = _shape(state, k)
                break
        else:
            shapes[k] = _shape(state, k)
    if "decoder.model.0.weight" not in shapes:
        raise ConvertError("the VAE checkpoint has no decoder.model.0 convolution")
    latent_dim = shapes["post_quant_conv.weight"][0]
    channels = shapes["decoder.model.0.weight"][0]
    rates: list[int] = []
    while f"decoder.model.{len(rates) + 1}.block.1.weight" in shapes:
        rates.append(shapes[f"decoder.model.{len(rates) + 1}.block.1.weight"][-1] // 2)
    if not rates or channels >> len(rates) < 1:
        raise ConvertError("the VAE decoder has no upsampling blocks, or too few channels for them")
    wanted = _meta_shapes(lambda: DacDecoder(latent_dim, channels, rates))
    bad = [k for k in wanted if shapes.get(k) != wanted[k]] + [k for k in shapes if k not in wanted]
    if bad:
        raise ConvertError(f"the VAE decoder weights do not fit the DAC layout (first: {bad[0]})")
    return {"latent_dim": int(latent_dim), "channels": int(channels), "rates": rates,
            "hop": math.prod(rates)}


def synchformer_dim(state: dict) -> int:
    """The Synchformer visual extractor's feature width, after checking every weight it needs
    is there with its shape (meta device)."""
    from foley_desktop.convert.synchformer import PREFIX, SynchformerVisual, layout

    keys = {k[len(PREFIX):]: _shape(state, k) for k in state if k.startswith(PREFIX)}
    if "patch_embed_3d.proj.weight" not in keys:
        raise ConvertError("the Synchformer checkpoint has no vfeat_extractor.patch_embed_3d weights "
                           "(expected synchformer_state_dict.pth)")
    try:
        args = layout(keys)
    except (KeyError, ValueError, IndexError):
        raise ConvertError("the Synchformer checkpoint lacks its position or block weights") from None
    wanted = _meta_shapes(lambda: SynchformerVisual(*args))
    bad = [k for k in wanted if keys.get(k) != wanted[k]]
    if bad:
        raise ConvertError(f"the Synchformer checkpoint lacks vfeat_extractor.{bad[0]} or has it "
                           f"in another shape")
    return int(args[0])


def _hf_config(folder: Path, what: str) -> dict:
    folder = Path(folder)
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ConvertError(f"{folder}: not a {what} folder in Hugging Face layout (no config.json)")
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{cfg_file}: not readable JSON ({exc})") from None
    if not any((folder / n).is_file() for n in _WEIGHT_FILES):
        raise ConvertError(f"{folder}: no weights ({' or '.join(_WEIGHT_FILES[:2])})")
    return cfg


def clap_dim(folder: Path) -> int:
    cfg = _hf_config(folder, "CLAP")
    text = cfg.get("text_config", cfg)
    if not (Path(folder) / "tokenizer.json").is_file() and not (Path(folder) / "vocab.json").is_file():
        raise ConvertError(f"{folder}: no tokenizer (tokenizer.json or vocab.json)")
    dim = text.get("hidden_size")
    if not isinstance(dim, int):
        raise ConvertError(f"{folder}/config.json: no text hidden_size (not a CLAP model folder?)")
    return dim


def siglip2_dim(folder: Path) -> int:
    cfg = _hf_config(folder, "SigLIP2")
    if cfg.get("model_type") not in ("siglip", "siglip_vision_model"):
        raise ConvertError(f"{folder}: model_type {cfg.get('model_type')!r}; expected a fixed-resolution "
                           f"SigLIP2 (model_type 'siglip', e.g. siglip2-base-patch16-512)")
    vision = cfg.get("vision_config", cfg)
    dim = vision.get("hidden_size", 768)   # transformers' SigLIP vision default
    return int(dim)


def check_space(out: Path, cfg: DenoiserConfig, precisions: tuple[str, ...]) -> int:
    """Bytes the package's denoiser will take (float32, plus each variant); refused when the
    output's file system has less free space than that."""
    from foley_desktop.convert.hunyuan_model import HunyuanFoleyDenoiser

    params = sum(math.prod(s) for s in _meta_shapes(lambda: HunyuanFoleyDenoiser(cfg)).values())
    need = params * (4 + (2 if "fp16" in precisions else 0) + sum(p.startswith("int8") for p in precisions))
    parent = Path(out).resolve().parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if free < need:
        raise ConvertError(f"{parent}: {free / 1e9:.1f} GB free, the converted denoiser needs about "
                           f"{need / 1e9:.1f} GB")
    return need


def preflight(cfg: DenoiserConfig, ckpt: Path, vae: Path, sync_ckpt: Path | None, clap: Path,
              siglip2: Path, out: Path, precisions: tuple[str, ...], load_checkpoint) -> dict:
    """Every input checked against the configuration and against each other. Returns what was
    learnt (ignored denoiser keys, the VAE's layout)."""
    info: dict[str, object] = {"ignored_keys": check_denoiser_state(cfg, load_checkpoint(ckpt))}
    dec = decoder_layout(load_checkpoint(vae))
    if dec["hop"] != HOP:
        raise ConvertError(f"{vae.name}: the VAE decodes {dec['hop']} samples per latent frame; a 50 Hz "
                           f"latent at 48 kHz needs {HOP}")
    if dec["latent_dim"] != cfg.audio_vae_latent_dim:
        raise ConvertError(f"{vae.name}: a {dec['latent_dim']}-channel latent, the denoiser's configuration "
                           f"has audio_vae_latent_dim {cfg.audio_vae_latent_dim}")
    info["decoder"] = dec
    if sync_ckpt is not None:
        dim = synchformer_dim(load_checkpoint(sync_ckpt))
        if dim != cfg.sync_feat_dim:
            raise ConvertError(f"{sync_ckpt.name}: {dim}-wide features, the denoiser's configuration has "
                               f"sync_feat_dim {cfg.sync_feat_dim}")
    dim = clap_dim(clap)
    if dim != cfg.condition_dim:
        raise ConvertError(f"{clap}: CLAP text features are {dim} wide, the denoiser's configuration has "
                           f"condition_dim {cfg.condition_dim}")
    dim = siglip2_dim(siglip2)
    if dim != cfg.clip_dim:
        raise ConvertError(f"{siglip2}: SigLIP2 features are {dim} wide, the denoiser's configuration has "
                           f"clip_dim {cfg.clip_dim}")
    info["denoiser_bytes"] = check_space(out, cfg, precisions)
    return info
