"""The denoiser's configuration, read from a YAML in the reference's layout.

The reference keeps its settings under `model_config.model_kwargs` (configs/hunyuanvideo-foley-
*.yaml). `--variant xxl|xl` uses the published values of those two files; `--config FILE` reads
any file of the same layout (tiny test configurations included). Settings this converter does
not implement are refused by name rather than silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from foley_desktop.errors import FoleyError


class ConvertError(FoleyError):
    """A conversion input (checkpoint, config, folder) is missing or not what was expected."""


@dataclass(frozen=True)
class DenoiserConfig:
    depth_triple_blocks: int = 18
    depth_single_blocks: int = 36
    hidden_size: int = 1536
    num_heads: int = 12
    mlp_ratio: float = 4.0
    mlp_act_type: str = "gelu_tanh"
    qkv_bias: bool = True
    qk_norm: bool = True
    qk_norm_type: str = "rms"
    interleaved_audio_visual_rope: bool = True
    sync_modulation: bool = False
    add_sync_feat_to_audio: bool = True
    use_attention_mask: bool = False
    condition_projection: str = "linear"
    sync_feat_dim: int = 768
    sync_in_ksz: int = 1
    condition_dim: int = 768
    clip_dim: int = 768
    audio_vae_latent_dim: int = 128
    audio_frame_rate: int = 50
    patch_size: int = 1
    rope_dim_list: tuple | None = None
    rope_theta: float = 10000.0
    text_length: int = 77
    clip_length: int = 64
    sync_length: int = 192
    model_name: str = "HunyuanVideo-Foley"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


# The published configurations differ only in depth and width (configs/hunyuanvideo-foley-*.yaml).
VARIANTS: dict[str, dict[str, Any]] = {  # DenoiserConfig's keyword arguments
    "xxl": {"model_name": "HunyuanVideo-Foley-XXL", "depth_triple_blocks": 18,
            "depth_single_blocks": 36, "hidden_size": 1536, "num_heads": 12},
    "xl": {"model_name": "HunyuanVideo-Foley-XL", "depth_triple_blocks": 12,
           "depth_single_blocks": 24, "hidden_size": 1408, "num_heads": 11},
}
CHECKPOINT_FILES = {"xxl": "hunyuanvideo_foley.pth", "xl": "hunyuanvideo_foley_xl.pth"}

# Options of the reference that change the computation in ways this converter does not follow.
_REQUIRED = {"patch_size": 1, "qk_norm": True, "qk_norm_type": "rms", "sync_modulation": False,
             "add_sync_feat_to_audio": True, "condition_projection": "linear",
             "use_attention_mask": False, "rope_dim_list": None}


def variant_config(name: str) -> DenoiserConfig:
    if name not in VARIANTS:
        raise ConvertError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return DenoiserConfig(**VARIANTS[name])


def from_mapping(kwargs: dict, model_name: str = "HunyuanVideo-Foley", where: str = "config") -> DenoiserConfig:
    known = {f.name for f in fields(DenoiserConfig)}
    values = {k: v for k, v in kwargs.items() if k in known}
    values["model_name"] = model_name
    cfg = DenoiserConfig(**values)
    for key, want in _REQUIRED.items():
        if getattr(cfg, key) != want:
            raise ConvertError(f"{where}: model_kwargs.{key} = {getattr(cfg, key)!r} is not "
                               f"supported by this converter (only {want!r})")
    if cfg.hidden_size % cfg.num_heads or cfg.head_dim % 2:
        raise ConvertError(f"{where}: hidden_size {cfg.hidden_size} must split into {cfg.num_heads} "
                           f"heads of an even size")
    if cfg.sync_in_ksz not in (1, 3):
        raise ConvertError(f"{where}: model_kwargs.sync_in_ksz must be 1 or 3")
    if cfg.mlp_act_type not in ("gelu_tanh", "gelu", "relu", "silu"):
        raise ConvertError(f"{where}: unknown mlp_act_type {cfg.mlp_act_type!r}")
    return cfg


def load_config(path: str | Path) -> DenoiserConfig:
    """Read `model_config.model_kwargs` (and `model_config.model_name`) from a reference YAML."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConvertError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConvertError(f"{path}: not valid YAML ({exc})") from None
    try:
        mc = data["model_config"]
        kwargs = mc["model_kwargs"]
    except (TypeError, KeyError):
        raise ConvertError(f"{path}: expected model_config.model_kwargs "
                           f"(the layout of the reference's configs/*.yaml)") from None
    return from_mapping(dict(kwargs), str(mc.get("model_name", path.stem)), str(path))
