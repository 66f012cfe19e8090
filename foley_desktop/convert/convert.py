"""The conversion job: HunyuanVideo-Foley checkpoints -> a model package (docs/hunyuan.md).

Stages run one after another and free their PyTorch module before the next (the XXL denoiser
alone is 10.3 GB in bf16): checkpoints are memory-mapped (torch.load(mmap=True,
weights_only=True) or safetensors), the model is built on the meta device and takes the
weights by assignment (converted to float32 one tensor at a time), exported, checked against
its PyTorch forward on a probe input, and dropped. The package is assembled in
`<output>.partial` and renamed into place only after the engine's own loader accepts it.

What the package holds (graph -> source):
  text_encoder         CLAP text model (last hidden state, 768-d)       --clap folder
  siglip2_encoder      SigLIP2 pooled image features, 8 fps, 512x512    --siglip2 folder
  synchformer_encoder  Synchformer visual features, 25 fps, 224x224,   synchformer_state_dict.pth
                       16-frame clips every 8 frames, 8 tokens each
  denoiser             the MMDiT, one flow-matching velocity evaluation  hunyuanvideo_foley*.pth
  decoder              DAC VAE decoder, 128 x 50 Hz -> 48 kHz mono      vae_128d_48k.pth
The Synchformer stream uses the engine's "NTCHW-windows" layout. With `sync="off"` (or no
Synchformer checkpoint) the package is made without it and the denoiser graph uses the model's
learned empty sync features in its place, so audio/picture timing is then only as good as the
SigLIP2 stream makes it. The manifest says so in `description` and `limitations`.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from foley_desktop.convert.config import (
    CHECKPOINT_FILES,
    ConvertError,
    DenoiserConfig,
    load_config,
    variant_config,
)
from foley_desktop.convert.stream import INT8_RECIPES
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.media.timebase import SAMPLE_RATE

LICENSE = "Tencent Hunyuan Community License"
PRECISIONS = ("fp16", "int8", "int8-8bit")   # int8-8bit: opt-in, for CPUs with VNNI/AMX
DEFAULT_PRECISIONS = ("fp16", "int8")
LATENT_RATE = 50
SIGLIP_FPS = 8
SYNC_FPS = 25
TOLERANCE = 2e-3      # max |onnx - torch| relative to max |torch| on the probe input


@dataclass
class ConvertOptions:
    checkpoint_dir: Path
    output: Path
    variant: str | None = None
    config: Path | None = None
    siglip2: Path | None = None
    clap: Path | None = None
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    name: str | None = None
    window_seconds: int = 15
    overlap_seconds: int = 2
    sync: str = "auto"   # "auto": a Synchformer stream when its weights are there and the engine
                         # runs per-clip encoders; "on": required; "off": learned empty features
    report: dict = field(default_factory=dict)   # filled in: checks, ignored keys, sizes


# ---------------------------------------------------------------- checkpoints


def load_checkpoint(path: Path) -> dict:
    """A state dict, memory-mapped; only tensors and plain containers are accepted."""
    import torch

    if not path.is_file():
        raise ConvertError(f"{path}: not found")
    if path.suffix == ".safetensors":
        return _SafetensorsState(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if not head.startswith(_ZIP_MAGIC):
        if _LEGACY_MAGIC in head:
            raise ConvertError(f"{path}: a legacy PyTorch checkpoint (the non-zip format of PyTorch "
                               f"before 1.6), which cannot be memory-mapped; re-save it once with a "
                               f"current PyTorch: torch.save(torch.load(OLD, weights_only=True), NEW)")
        raise ConvertError(f"{path}: not a PyTorch checkpoint (a zip file written by torch.save) "
                           f"nor safetensors")
    try:
        obj = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling raises many kinds
        raise ConvertError(f"{path}: {_load_failure(exc)}") from None
    for key in ("state_dict", "model", "module"):   # training wrappers nest the weights
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and \
                not any(torch.is_tensor(v) for v in obj.values()):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return obj


_ZIP_MAGIC = b"PK\x03\x04"
# the legacy format pickles this number first (torch.serialization.MAGIC_NUMBER, 0x1950a86a20f9469cfc6c)
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _load_failure(exc: Exception) -> str:
    """Why a weights-only load failed, in one line, without torch's advice to load the file
    with weights_only=False (which would let the file run code: never what to do here)."""
    text = str(exc)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"global '?([\w.]+)'? ", text)
    if "weights_only" in text or "Weights only load failed" in text:
        what = f" (first: {m.group(1)})" if m else ""
        return (f"holds Python objects besides tensors{what}; loading them could run code, so the "
                f"file is refused (only state dicts of tensors are read)")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return f"cannot be read as a checkpoint ({first[:200]})"


class _SafetensorsState(dict):
    """A safetensors file as a read-only mapping that reads each tensor when asked for it
    (safetensors' load_file would copy the whole file into memory at once)."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        self._file = safe_open(str(path), framework="pt")
        super().__init__((k, None) for k in self._file.keys())  # noqa: SIM118 - not a dict

    def __getitem__(self, key):
        if key not in self:
            raise KeyError(key)
        return self._file.get_tensor(key)

    def shape(self, key) -> tuple[int, ...]:
        return tuple(self._file.get_slice(key).get_shape())

    def values(self):
        return (self[k] for k in self)

    def items(self):
        return ((k, self[k]) for k in self)


def _find_denoiser_checkpoint(folder: Path, variant: str | None) -> Path:
    names = [CHECKPOINT_FILES[variant]] if variant else list(CHECKPOINT_FILES.values())
    for n in names:
        for cand in (folder / n, (folder / n).with_suffix(".safetensors")):
            if cand.is_file():
                return cand
    raise ConvertError(f"{folder}: no {' or '.join(names)} (download the weights first, see "
                       f"docs/hunyuan.md)")


def _free() -> None:
    gc.collect()


# ---------------------------------------------------------------- stages


def _check(report: dict, role: str, onnx_path: Path, feeds: dict, expected: np.ndarray) -> None:
    from foley_desktop.convert.export import run_graph

    got = run_graph(onnx_path, feeds)[0]
    scale = float(np.abs(expected).max()) or 1.0
    err = float(np.abs(got - expected).max()) / scale
    report.setdefault("checks", {})[role] = err
    if got.shape != expected.shape or not err <= TOLERANCE:
        raise ConvertError(f"{onnx_path.name}: the exported graph differs from PyTorch "
                           f"(relative error {err:.2e}, shapes {got.shape} vs {expected.shape})")


def build_denoiser(cfg: DenoiserConfig, state: dict, report: dict, weights_path: Path):
    """The PyTorch denoiser with the checkpoint's weights, strictly by name: float32 views of
    a weight file at `weights_path` (stream.py), filled one tensor at a time. Returns the
    model, the weight file and how it stores each parameter (for the export)."""
    import torch

    from foley_desktop.convert.hunyuan_model import HunyuanFoleyDenoiser
    from foley_desktop.convert.preflight import check_denoiser_state
    from foley_desktop.convert.stream import load_into_weight_file

    ignored = check_denoiser_state(cfg, state)
    with torch.device("meta"):
        model = HunyuanFoleyDenoiser(cfg)
    report["ignored_keys"] = len(ignored)
    report["ignored_prefixes"] = sorted({k.split(".")[0] for k in ignored})
    # names as the export wrapper (DenoiserForExport.model) will call them
    wf, perms = load_into_weight_file(model, state, weights_path, prefix="model.")
    # buffers built on the meta device (RoPE, timestep frequencies) are rebuilt for real
    _rebuild_buffers(model)
    return model.eval(), wf, perms


def _rebuild_buffers(model) -> None:
    import math

    import torch

    from foley_desktop.convert.hunyuan_model import ROPE_THETA

    hd = model.cfg.head_dim
    exps = torch.arange(0, hd, 2)[: hd // 2].float() / hd
    model.rope.freqs = 1.0 / (ROPE_THETA ** exps)
    half = 128
    model.time_in.freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)


def export_denoiser(cfg: DenoiserConfig, ckpt: Path, out: Path, report: dict,
                    sync_stream: bool = False) -> dict:
    import torch

    from foley_desktop.convert.export import export_streamed
    from foley_desktop.convert.hunyuan_model import DenoiserForExport

    state = load_checkpoint(ckpt)
    model, wf, perms = build_denoiser(cfg, state, report, out.with_name(out.name + ".weights"))
    uncond = {"siglip2": model.empty_clip_feat.detach().numpy().astype(np.float32).copy(),
              "synchformer": model.empty_sync_feat.detach().numpy().astype(np.float32).copy()}
    del state
    wrapper = DenoiserForExport(model, sync_stream=sync_stream).eval()
    g = torch.Generator().manual_seed(0)
    probe: tuple[torch.Tensor, ...] = (
        torch.randn(2, cfg.audio_vae_latent_dim, 2 * LATENT_RATE, generator=g),
        torch.tensor([900.0, 300.0]),
        torch.randn(2, 9, cfg.condition_dim, generator=g),
        torch.tensor([[1.0] * 9, [1.0] * 5 + [0.0] * 4]),
        torch.randn(2, 2 * SIGLIP_FPS, cfg.clip_dim, generator=g))
    names = ["x", "t", "text_features", "text_mask", "siglip2"]
    axes = {"x": {0: "B", 2: "F"}, "t": {0: "B"}, "text_features": {0: "B", 1: "L"},
            "text_mask": {0: "B", 1: "L"}, "siglip2": {0: "B", 1: "V"}, "velocity": {0: "B", 2: "F"}}
    if sync_stream:
        probe += (torch.randn(2, 16, cfg.sync_feat_dim, generator=g),)
        names.append("synchformer")
        axes["synchformer"] = {0: "B", 1: "S"}
    export_streamed(wrapper, probe, out, names, ["velocity"], axes, wf, perms)
    # check at another length and batch than the trace used
    check_in: tuple[torch.Tensor, ...] = (
        torch.randn(1, cfg.audio_vae_latent_dim, 3 * LATENT_RATE, generator=g), torch.tensor([500.0]),
        torch.randn(1, 7, cfg.condition_dim, generator=g), torch.ones(1, 7),
        torch.randn(1, 3 * SIGLIP_FPS, cfg.clip_dim, generator=g))
    if sync_stream:
        check_in += (torch.randn(1, 56, cfg.sync_feat_dim, generator=g),)
    with torch.inference_mode():
        want = wrapper(*check_in).numpy()
    _check(report, "denoiser", out, {n: a.numpy() for n, a in zip(names, check_in)}, want)
    del wrapper, model
    _free()
    return uncond


def export_decoder(vae: Path, out: Path, report: dict) -> int:
    import torch

    from foley_desktop.convert.dac_decoder import build_decoder, decoder_state
    from foley_desktop.convert.export import export

    dec = build_decoder(decoder_state(load_checkpoint(vae)))
    hop = dec.hop
    latent_dim = dec.post_quant_conv.weight.shape[0]
    g = torch.Generator().manual_seed(1)
    export(dec, (torch.randn(1, latent_dim, 8, generator=g),), out, ["latent"], ["audio"],
           {"latent": {0: "B", 2: "F"}, "audio": {0: "B", 1: "N"}})
    z = torch.randn(1, latent_dim, 13, generator=g)
    with torch.inference_mode():
        want = dec(z).numpy()
    _check(report, "decoder", out, {"latent": z.numpy()}, want)
    report["decoder"] = {"latent_dim": int(latent_dim), "hop": int(hop), "rates": dec.rates}
    del dec
    _free()
    return hop


def export_clap(folder: Path, out: Path, report: dict) -> dict:
    import torch

    from foley_desktop.convert.encoders import load_clap
    from foley_desktop.convert.export import export

    enc, info = load_clap(folder)
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 9, 2, info["pad_id"], info["pad_id"]]])
    mask = (torch.arange(5)[None] < torch.tensor([[5], [3]])).long()
    export(enc, (ids, mask), out, ["input_ids", "attention_mask"], ["text_features"],
           {"input_ids": {0: "B", 1: "L"}, "attention_mask": {0: "B", 1: "L"},
            "text_features": {0: "B", 1: "L"}})
    ids2 = torch.tensor([[0, 11, 12, 13, 14, 2, info["pad_id"]]])
    mask2 = (ids2 != info["pad_id"]).long()
    with torch.inference_mode():
        want = enc(ids2, mask2).numpy()
    _check(report, "text_encoder", out, {"input_ids": ids2.numpy(), "attention_mask": mask2.numpy()}, want)
    del enc
    _free()
    return info


def export_siglip2(folder: Path, out: Path, report: dict) -> dict:
    import torch

    from foley_desktop.convert.encoders import load_siglip2
    from foley_desktop.convert.export import export

    enc, info = load_siglip2(folder)
    s = info["size"]
    g = torch.Generator().manual_seed(2)
    export(enc, (torch.randn(1, 2, 3, s, s, generator=g),), out, ["frames"], ["visual_features"],
           {"frames": {1: "T"}, "visual_features": {1: "T"}})
    x = torch.randn(1, 3, 3, s, s, generator=g)
    with torch.inference_mode():
        want = enc(x).numpy()
    _check(report, "siglip2_encoder", out, {"frames": x.numpy()}, want)
    del enc
    _free()
    return info


def export_synchformer(ckpt: Path, out: Path, report: dict) -> dict:
    import torch

    from foley_desktop.convert.export import export
    from foley_desktop.convert.synchformer import from_state_dict

    enc = from_state_dict(load_checkpoint(ckpt))
    info = {"frames": enc.frames, "size": enc.image, "tokens": enc.steps}
    g = torch.Generator().manual_seed(3)
    s = enc.image
    export(enc, (torch.randn(2, enc.frames, 3, s, s, generator=g),), out, ["frames"], ["sync_features"],
           {"frames": {0: "N"}, "sync_features": {0: "N"}})
    x = torch.randn(1, enc.frames, 3, s, s, generator=g)
    with torch.inference_mode():
        want = enc(x).numpy()
    _check(report, "synchformer_encoder", out, {"frames": x.numpy()}, want)
    del enc
    _free()
    return info


# ---------------------------------------------------------------- the job


def _io(path: Path) -> dict:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    res = {}
    for kind, values in (("inputs", m.graph.input), ("outputs", m.graph.output)):
        res[kind] = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                     for v in values}
    return res


def _entry(path: Path) -> dict:
    from foley_desktop.engine.package import sha256_file

    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def convert(opts: ConvertOptions, progress: ProgressFn | None = None,
            cancel: CancelToken | None = None) -> Path:
    """Run the whole conversion; returns the package folder."""
    from foley_desktop.convert import export as ex
    from foley_desktop.engine.package import load_package

    ckdir = Path(opts.checkpoint_dir)
    if not ckdir.is_dir():
        raise ConvertError(f"{ckdir}: not a folder")
    if opts.config is not None and opts.variant is not None:
        raise ConvertError("give either --variant or --config, not both")
    cfg = load_config(opts.config) if opts.config else variant_config(opts.variant or "xxl")
    ckpt = _find_denoiser_checkpoint(ckdir, opts.variant if not opts.config else None)
    vae = ckdir / "vae_128d_48k.pth"
    if not vae.is_file():
        raise ConvertError(f"{ckdir}: no vae_128d_48k.pth (the audio VAE)")
    sync_ckpt = ckdir / "synchformer_state_dict.pth"
    if opts.sync not in ("auto", "on", "off"):
        raise ConvertError(f"sync must be auto, on or off (not {opts.sync!r})")
    use_sync = opts.sync == "on" or (opts.sync == "auto" and sync_ckpt.is_file())
    if use_sync and not sync_ckpt.is_file():
        raise ConvertError(f"{ckdir}: no synchformer_state_dict.pth")
    opts.report["sync_stream"] = use_sync
    if opts.clap is None or opts.siglip2 is None:
        raise ConvertError("--clap DIR and --siglip2 DIR are required (the text and image "
                           "encoders, Hugging Face folders; see docs/hunyuan.md)")
    bad = [p for p in opts.precisions if p not in PRECISIONS]
    if bad:
        raise ConvertError(f"unknown precision {bad[0]!r}; choose from {', '.join(PRECISIONS)}")
    out = Path(opts.output)
    if out.exists():
        raise ConvertError(f"{out}: already exists; choose another output folder")
    win = opts.window_seconds * LATENT_RATE
    overlap = opts.overlap_seconds * LATENT_RATE
    if (not (0 <= 2 * overlap <= win) or (win - overlap) * SIGLIP_FPS % LATENT_RATE
            or overlap * SIGLIP_FPS % LATENT_RATE):
        raise ConvertError("window/overlap must be whole seconds with overlap <= half the window")

    # every input against the configuration and each other before any heavy stage: names,
    # shapes and small JSON files only (preflight.py)
    from foley_desktop.convert.preflight import preflight

    preflight(cfg, ckpt, vae, sync_ckpt if use_sync else None, Path(opts.clap), Path(opts.siglip2),
              out, tuple(opts.precisions), load_checkpoint)
    _free()
    work = out.with_name(out.name + ".partial")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    report = opts.report
    stages = 5 + use_sync
    meter = ProgressMeter(progress, "convert", stages)
    try:
        meter.update(0, "denoiser")
        uncond = export_denoiser(cfg, ckpt, work / "denoiser.fp32.onnx", report, use_sync)
        np.save(work / "uncond_siglip2.npy", uncond["siglip2"])
        check(cancel)
        meter.update(1, "decoder")
        hop = export_decoder(vae, work / "decoder.fp32.onnx", report)
        if hop * LATENT_RATE != SAMPLE_RATE:
            raise ConvertError(f"the VAE decodes {hop} samples per latent frame; a 50 Hz latent at "
                               f"48 kHz needs 960")
        check(cancel)
        meter.update(2, "text encoder")
        clap = export_clap(Path(opts.clap), work / "text_encoder.fp32.onnx", report)
        (work / "tokenizer.json").write_text(clap["tokenizer_json"])
        check(cancel)
        meter.update(3, "image encoder")
        sig = export_siglip2(Path(opts.siglip2), work / "siglip2_encoder.fp32.onnx", report)
        check(cancel)
        roles = ["text_encoder", "siglip2_encoder", "denoiser", "decoder"]
        streams = {"siglip2": {"graph": "siglip2_encoder", "fps": str(SIGLIP_FPS),
                               "width": sig["size"], "height": sig["size"],
                               "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                               "layout": "TCHW", "features_per_frame": 1,
                               "unconditional": "uncond_siglip2.npy"}}
        if use_sync:
            meter.update(4, "sync encoder")
            syn = export_synchformer(sync_ckpt, work / "synchformer_encoder.fp32.onnx", report)
            np.save(work / "uncond_synchformer.npy", uncond["synchformer"])
            roles.insert(2, "synchformer_encoder")
            # 8 tokens per 16-frame clip, clips every 8 frames: one token per frame on average
            streams["synchformer"] = {"graph": "synchformer_encoder", "fps": str(SYNC_FPS),
                                      "width": syn["size"], "height": syn["size"],
                                      "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                      "layout": "NTCHW-windows", "clip_frames": syn["frames"],
                                      "clip_stride": syn["frames"] // 2, "features_per_frame":
                                      syn["tokens"] // (syn["frames"] // 2),
                                      "unconditional": "uncond_synchformer.npy"}
            check(cancel)
        meter.update(stages - 1, "precision variants")
        graphs = {}
        files = {"tokenizer.json": _entry(work / "tokenizer.json")}
        files.update({f"uncond_{k}.npy": _entry(work / f"uncond_{k}.npy") for k in streams})
        for role in roles:
            fp32 = work / f"{role}.fp32.onnx"
            variants = {"fp32": {"file": fp32.name, **_entry(fp32)}}
            for prec in opts.precisions:
                check(cancel)
                if prec.startswith("int8") and role == "decoder":
                    continue   # convolutions only: dynamic INT8 would change nothing
                dst = work / f"{role}.{prec}.onnx"
                if prec == "fp16":
                    ex.to_fp16(fp32, dst)
                else:
                    ex.to_int8(fp32, dst, recipe=prec)
                variants[prec] = {"file": dst.name, **_entry(dst)}
                if prec.startswith("int8"):   # stream.INT8_RECIPES; the range tells the engine
                    # whether the variant saturates on CPUs without VNNI (engine/cpu.py)
                    variants[prec].update(recipe="int8-dynamic", per_channel=True,
                                          weight_range=INT8_RECIPES[prec]["qmax"])
            for v in variants.values():
                data = work / (v["file"] + ".data")
                if data.exists():
                    files[data.name] = _entry(data)
            graphs[role] = {**_io(fp32), "variants": variants}
        name = opts.name or cfg.model_name.lower().replace("_", "-")
        manifest = {
            "format": "foley-model-package", "format_version": 1,
            "name": name, "version": "1.0.0",
            "description": f"{cfg.model_name} converted from {ckpt.name} by foley-desktop convert "
                           f"hunyuan." + ("" if use_sync else " Without a Synchformer stream: the "
                                          "denoiser uses its learned empty sync features."),
            "license": LICENSE,
            "license_url": "https://github.com/Tencent-Hunyuan/HunyuanVideo-Foley/blob/main/LICENSE",
            "data_sources": [{"name": "HunyuanVideo-Foley training data (Tencent)", "license": LICENSE,
                              "where": "weights converted from the published checkpoints"}],
            "limitations": ([] if use_sync else [("no Synchformer stream (learned empty sync "
                                                 "features used)")]) + [
                            ("text padding is masked in cross-attention (the reference attends to "
                             "the pair's padding)"),
                            ("frames are letterboxed (the reference stretches for SigLIP2 and "
                            "centre-crops for Synchformer)")],
            "audio": {"sample_rate": SAMPLE_RATE, "channels": 1},
            "latent": {"channels": cfg.audio_vae_latent_dim, "frame_rate": str(LATENT_RATE),
                       "hop_samples": hop},
            "window": {"frames": win, "overlap_frames": overlap},
            "text": {"tokenizer": "tokenizer.json", "max_tokens": cfg.text_length,
                     "pad_id": clap["pad_id"], "lowercase": False, "default_negative": "noisy, harsh"},
            "streams": streams,
            "graphs": graphs,
            "sampler": {"type": "flow_matching", "prediction": "velocity", "time": "data_to_noise",
                        "timestep_scale": 1000.0, "shift": 1.0, "methods": ["euler", "heun"],
                        "default_method": "euler", "steps": 50, "steps_range": [10, 100],
                        "guidance": 4.5, "guidance_range": [1.0, 10.0]},
            "files": files,
            "conversion": {"config": cfg.__dict__ | {"rope_dim_list": None},
                           "checks_relative_error": report.get("checks", {}),
                           "ignored_checkpoint_keys": report.get("ignored_keys", 0)},
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        load_package(work)   # the engine's own validation, before the package appears
        os.replace(work, out)
        meter.update(stages, "done")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out
