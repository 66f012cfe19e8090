"""Wrappers of the two Hugging Face encoders the reference uses, shaped for export.

- CLAP text (laion/larger_clap_general): the text model's last hidden state, 768-d per token
  (not the projected sentence embedding), from input_ids / attention_mask.
- SigLIP2 image features (google/siglip2-base-patch16-512): the vision tower's pooled output
  (attention-pooling head), one 768-d vector per 512x512 frame, frames [1, T, 3, 512, 512]
  normalised with mean/std 0.5.

Both load from local folders in Hugging Face layout (config.json + weights) that the user
supplies; `transformers` (train extra) builds the modules, nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from foley_desktop.convert.config import ConvertError


def _need_folder(path: Path, what: str) -> Path:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConvertError(f"{path}: not a {what} folder in Hugging Face layout (no config.json)")
    return path


class ClapTextEncoder(nn.Module):
    def __init__(self, text_model: nn.Module):
        super().__init__()
        self.text_model = text_model

    def forward(self, input_ids, attention_mask):
        return self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class SiglipFrameEncoder(nn.Module):
    def __init__(self, vision_model: nn.Module):
        super().__init__()
        self.vision_model = vision_model

    def forward(self, frames):
        b, t = frames.shape[0], frames.shape[1]
        flat = frames.reshape(-1, *frames.shape[2:])
        pooled = self.vision_model(pixel_values=flat).pooler_output
        return pooled.reshape(b, t, -1)


def load_clap(folder: Path) -> tuple[ClapTextEncoder, dict]:
    """The CLAP text encoder and its tokenizer facts (pad id, the tokenizers JSON)."""
    from transformers import AutoTokenizer, ClapTextModelWithProjection

    folder = _need_folder(folder, "CLAP")
    try:
        model = ClapTextModelWithProjection.from_pretrained(str(folder), attn_implementation="eager")
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{folder}: cannot load the CLAP text model ({exc})") from None
    pad_id = model.config.pad_token_id
    info: dict[str, int | str | None] = {"pad_id": int(pad_id if pad_id is not None else 1),
                                         "dim": int(model.config.hidden_size), "tokenizer_json": None}
    tok_file = folder / "tokenizer.json"
    if tok_file.is_file():
        info["tokenizer_json"] = tok_file.read_text()
    else:
        try:
            tok = AutoTokenizer.from_pretrained(str(folder))
            info["tokenizer_json"] = tok.backend_tokenizer.to_str()
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds here
            raise ConvertError(f"{folder}: no usable tokenizer ({exc})") from None
    return ClapTextEncoder(model.text_model).eval(), info


def load_siglip2(folder: Path) -> tuple[SiglipFrameEncoder, dict]:
    """The SigLIP2 vision tower (from a full SigLIP(2) model folder or a vision-only one)."""
    from transformers import AutoConfig, AutoModel

    folder = _need_folder(folder, "SigLIP2")
    try:
        cfg = AutoConfig.from_pretrained(str(folder))
        model = AutoModel.from_pretrained(str(folder), attn_implementation="eager")
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{folder}: cannot load the SigLIP2 model ({exc})") from None
    if getattr(cfg, "model_type", "") not in ("siglip", "siglip_vision_model"):
        raise ConvertError(f"{folder}: model_type {cfg.model_type!r}; expected a fixed-resolution "
                           f"SigLIP2 (model_type 'siglip', e.g. siglip2-base-patch16-512)")
    vision = model.vision_model
    vcfg = vision.config
    info = {"size": int(vcfg.image_size), "dim": int(vcfg.hidden_size)}
    return SiglipFrameEncoder(vision).eval(), info
