"""Small but real model packages for tests: ONNX graphs built with onnx.helper.

The graphs are analytic so that the engine can be checked against closed forms:

- text encoder: an embedding table lookup, masked.
- visual encoder: per-frame mean colour -> a linear map -> tanh.
- denoiser ("flow"): a target latent T = bias + text_pool @ Wt + upsample(visual @ Wv) and
  the exact velocity of the straight path from the initial noise n to T + alpha n:
      v = T - k (x - tau T) / (1 - tau k),  k = 1 - alpha,  tau = t / timestep_scale.
  Euler and Heun integrate it exactly, and with guidance g the result is
  T_u + g (T_c - T_u) + alpha n (both velocities are affine in T with the same slope).
  "linear" (v = T - x) has a known exponential solution, to measure the sampler's order;
  "nan" adds sqrt(-1). `slow` adds a chain of 256x256 matmuls per step (for cancel tests);
  `context` adds context * mean_over_frames(x) to T (no closed form then; for window tests);
  `events` > 0 adds an input "events" [B, F, 2] (engine/events.py) and events * channel 0 to
  every channel of T, so spotting markers become bursts at their frames.
- decoder: latent [1, C, F] -> audio [1, F * hop]: each channel's linearly upsampled amplitude
  drives a sine carrier (frequencies CARRIERS_HZ), summed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from foley_desktop.engine import cpu
from foley_desktop.engine.package import sha256_file
from foley_desktop.media.timebase import SAMPLE_RATE

OPSET = 17
WORDS = [
    "footsteps", "on", "wet", "pavement", "light", "rain", "door", "slam", "glass", "breaks",
    "wind", "through", "trees", "engine", "motor", "idle", "typing", "keyboard", "dog", "bark",
    "water", "splash", "noisy", "harsh", "quiet",
]
DECODER_GAIN = 0.15
CARRIERS_HZ = (231.7, 347.3, 563.9, 887.1, 1319.3, 1757.9, 2641.1, 3517.3)   # not whole cycles per window


def _model(nodes: list[onnx.NodeProto], name: str, inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], inits: Mapping[str, Any]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="foley_desktop.engine.testpkg")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _vi(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def text_encoder(vocab: int, dim: int, rng: np.random.Generator) -> onnx.ModelProto:
    emb = rng.standard_normal((vocab, dim)).astype(np.float32)
    emb[0] = 0.0
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["e"]),
             helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["m", "ax"], ["m3"]),
             helper.make_node("Mul", ["e", "m3"], ["text_features"])]
    return _model(nodes, "text_encoder",
                  [_vi("input_ids", TensorProto.INT64, ["B", "L"]),
                   _vi("attention_mask", TensorProto.INT64, ["B", "L"])],
                  [_vi("text_features", TensorProto.FLOAT, ["B", "L", dim])],
                  {"emb": emb, "ax": np.array([-1], np.int64)})


def visual_encoder(size: int, dim: int, rng: np.random.Generator) -> onnx.ModelProto:
    w = (rng.standard_normal((3, dim)) * 1.5).astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["frames"], ["mean"], axes=[3, 4], keepdims=0),
             helper.make_node("MatMul", ["mean", "w"], ["lin"]),
             helper.make_node("Tanh", ["lin"], ["visual_features"])]
    return _model(nodes, "visual_encoder",
                  [_vi("frames", TensorProto.FLOAT, [1, "T", 3, size, size])],
                  [_vi("visual_features", TensorProto.FLOAT, [1, "T", dim])], {"w": w})


def denoiser(channels: int, text_dim: int, vis_dim: int, rng: np.random.Generator, *, kind: str = "flow",
             alpha: float = 0.3, timestep_scale: float = 1.0, slow: int = 0,
             context: float = 0.0, events: float = 0.0) -> onnx.ModelProto:
    inits = {
        "wt": (rng.standard_normal((text_dim, channels)) * 0.25).astype(np.float32),
        "wv": (rng.standard_normal((vis_dim, channels)) * 0.1).astype(np.float32),
        "bias": np.full((1, channels, 1), 0.35, np.float32),
        "ax1": np.array([1], np.int64), "axm1": np.array([-1], np.int64),
        "one": np.array(1.0, np.float32), "k": np.array(1.0 - alpha, np.float32),
        "inv_scale": np.array(1.0 / timestep_scale, np.float32),
        "shape_b11": np.array([-1, 1, 1], np.int64), "empty": np.zeros(0, np.float32),
    }
    n = helper.make_node
    nodes = [
        n("Cast", ["text_mask"], ["mf"], to=TensorProto.FLOAT),
        n("Unsqueeze", ["mf", "axm1"], ["m3"]),
        n("Mul", ["text_features", "m3"], ["tm"]),
        n("ReduceSum", ["tm", "ax1"], ["tsum"], keepdims=0),
        n("ReduceSum", ["m3", "ax1"], ["msum"], keepdims=0),
        n("Div", ["tsum", "msum"], ["pooled"]),
        n("MatMul", ["pooled", "wt"], ["tp2"]),
        n("Unsqueeze", ["tp2", "axm1"], ["tp"]),
        n("MatMul", ["visual", "wv"], ["vp_bvc"]),
        n("Transpose", ["vp_bvc"], ["vp_bcv"], perm=[0, 2, 1]),
        n("Shape", ["x"], ["xshape"]),
        n("Resize", ["vp_bcv", "", "", "xshape"], ["vp"], mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        n("Add", ["tp", "vp"], ["tv"]),
        n("Add", ["tv", "bias"], ["target00"]),
    ]
    if events:
        inits["ev_w"] = np.array(events, np.float32)
        inits["i0s"] = np.array(0, np.int64)
        nodes += [n("Gather", ["events", "i0s"], ["ev0"], axis=2),          # [B, F]
                  n("Unsqueeze", ["ev0", "ax1"], ["ev1"]),                  # [B, 1, F]
                  n("Mul", ["ev1", "ev_w"], ["evw"]),
                  n("Add", ["target00", "evw"], ["target0"])]
    else:
        nodes.append(n("Identity", ["target00"], ["target0"]))
    if context:
        # Couples every frame to the window's mean state, as attention does in a real model,
        # so that two windows sampled independently disagree where they overlap.
        inits["ctx"] = np.array(context, np.float32)
        nodes += [n("ReduceMean", ["x"], ["xmean"], axes=[2], keepdims=1),
                  n("Mul", ["xmean", "ctx"], ["xc"]), n("Add", ["target0", "xc"], ["target"])]
    else:
        nodes.append(n("Identity", ["target0"], ["target"]))
    if kind == "linear":
        nodes.append(n("Sub", ["target", "x"], ["vel"]))
    else:
        nodes += [
            n("Mul", ["t", "inv_scale"], ["tau1"]),
            n("Reshape", ["tau1", "shape_b11"], ["tau"]),
            n("Mul", ["tau", "target"], ["tau_t"]),
            n("Sub", ["x", "tau_t"], ["x_m"]),
            n("Mul", ["x_m", "k"], ["num"]),
            n("Mul", ["tau", "k"], ["tk"]),
            n("Sub", ["one", "tk"], ["den"]),
            n("Div", ["num", "den"], ["frac"]),
            n("Sub", ["target", "frac"], ["vel"]),
        ]
    last = "vel"
    if kind == "nan":
        inits["minus_one"] = np.array(-1.0, np.float32)
        nodes += [n("Sqrt", ["minus_one"], ["nan"]), n("Add", [last, "nan"], ["vel_nan"])]
        last = "vel_nan"
    if slow:
        # Work that depends on x (so it cannot be folded away) and adds exactly zero.
        inits["big"] = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
        inits["zero"] = np.array(0.0, np.float32)
        nodes.append(n("ReduceMean", ["x"], ["xm"], keepdims=0))
        nodes.append(n("Mul", ["big", "xm"], ["s0"]))
        for i in range(slow):
            nodes.append(n("MatMul", [f"s{i}", "big"], [f"s{i + 1}"]))
        nodes += [n("ReduceMean", [f"s{slow}"], ["sm"], keepdims=0),
                  n("Mul", ["sm", "zero"], ["z"]), n("Add", [last, "z"], ["vel_slow"])]
        last = "vel_slow"
    nodes.append(n("Identity", [last], ["velocity"]))
    return _model(nodes, "denoiser",
                  [_vi("x", TensorProto.FLOAT, ["B", channels, "F"]),
                   _vi("t", TensorProto.FLOAT, ["B"]),
                   _vi("text_features", TensorProto.FLOAT, ["B", "L", text_dim]),
                   _vi("text_mask", TensorProto.INT64, ["B", "L"]),
                   _vi("visual", TensorProto.FLOAT, ["B", "V", vis_dim])]
                  + ([_vi("events", TensorProto.FLOAT, ["B", "F", 2])] if events else []),
                  [_vi("velocity", TensorProto.FLOAT, ["B", channels, "F"])], inits)


def decoder(channels: int, hop: int, sample_rate: int) -> onnx.ModelProto:
    freqs = np.array(CARRIERS_HZ[:channels], np.float64)
    inits = {
        "w": (2 * np.pi * freqs / sample_rate).astype(np.float32).reshape(channels, 1),
        "scales": np.array([1, 1, 1, hop], np.float32),
        "shape4": np.array([1, channels, 1, -1], np.int64),
        "shape3": np.array([1, channels, -1], np.int64),
        "i2": np.array(2, np.int64), "hop": np.array(hop, np.int64),
        "zero": np.array(0.0, np.float32), "onef": np.array(1.0, np.float32),
        "ax1": np.array([1], np.int64), "gain": np.array(DECODER_GAIN, np.float32),
    }
    n = helper.make_node
    nodes = [
        n("Reshape", ["latent", "shape4"], ["l4"]),
        n("Resize", ["l4", "", "scales"], ["a4"], mode="linear",
          coordinate_transformation_mode="half_pixel"),
        n("Reshape", ["a4", "shape3"], ["amp"]),           # [1, C, N]
        n("Shape", ["latent"], ["ls"]),
        n("Gather", ["ls", "i2"], ["frames"]),
        n("Mul", ["frames", "hop"], ["ni"]),
        n("Cast", ["ni"], ["nf"], to=TensorProto.FLOAT),
        n("Range", ["zero", "nf", "onef"], ["idx"]),       # [N]
        n("Unsqueeze", ["idx", "i0"], ["idx2"]),           # [1, N]
        n("MatMul", ["w", "idx2"], ["phase"]),             # [C, N]
        n("Sin", ["phase"], ["car"]),
        n("Mul", ["amp", "car"], ["mod"]),                 # [1, C, N]
        n("ReduceSum", ["mod", "ax1"], ["sum"], keepdims=0),     # [1, N]
        n("Mul", ["sum", "gain"], ["audio"]),
    ]
    inits["i0"] = np.array([0], np.int64)
    return _model(nodes, "decoder", [_vi("latent", TensorProto.FLOAT, [1, channels, "F"])],
                  [_vi("audio", TensorProto.FLOAT, [1, "N"])], inits)


def _entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def rehash(folder: Path) -> None:
    """Recompute every file's sha256/bytes in a package's manifest (after editing a file)."""
    mpath = Path(folder) / "manifest.json"
    m = json.loads(mpath.read_text())
    for g in m["graphs"].values():
        for v in g["variants"].values():
            v.update(_entry(Path(folder) / v["file"]))
    for rel, e in m.get("files", {}).items():
        e.update(_entry(Path(folder) / rel))
    mpath.write_text(json.dumps(m, indent=2))


def build(folder: str | Path, *, name: str = "test-analytic", sample_rate: int = SAMPLE_RATE,
          hop: int = 480, channels: int = 4, window_frames: int = 200, overlap_frames: int = 40,
          fps: str = "25", size: int = 16, kind: str = "flow", alpha: float = 0.3,
          timestep_scale: float = 1.0, slow: int = 0, context: float = 0.0, events: float = 0.0,
          int8: bool = True, max_tokens: int = 8,
          steps: int = 4, guidance: float = 2.0, seed: int = 1234) -> Path:
    """Write a complete package into `folder` (created) and return its path."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    text_dim, vis_dim = 8, 8

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(dict.fromkeys(WORDS))}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    np.save(folder / "uncond_visual.npy", np.zeros(vis_dim, np.float32))

    graphs = {
        "text_encoder": text_encoder(len(vocab), text_dim, rng),
        "visual_encoder": visual_encoder(size, vis_dim, rng),
        "denoiser": denoiser(channels, text_dim, vis_dim, rng, kind=kind, alpha=alpha,
                             timestep_scale=timestep_scale, slow=slow, context=context,
                             events=events),
        "decoder": decoder(channels, hop, sample_rate),
    }
    manifest_graphs = {}
    for role, model in graphs.items():
        fp32 = folder / f"{role}.fp32.onnx"
        onnx.save(model, fp32)
        variants = {"fp32": {"file": fp32.name, **_entry(fp32)}}
        if int8 and role != "decoder":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            from foley_desktop.logs import quiet_third_party

            q = folder / f"{role}.int8.onnx"
            # its "consider pre-processing" advice is not for us
            with quiet_third_party():   # 7-bit weights like every INT8 graph of the app (engine/cpu.py)
                quantize_dynamic(str(fp32), str(q), weight_type=QuantType.QInt8, reduce_range=True)
            variants["int8"] = {"file": q.name, **_entry(q), "recipe": "int8-dynamic",
                                "weight_range": cpu.SAFE_WEIGHT_RANGE}
        ios = {}
        for kind_, values in (("inputs", model.graph.input), ("outputs", model.graph.output)):
            ios[kind_] = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                          for v in values}
        manifest_graphs[role] = {**ios, "variants": variants}

    manifest = {
        "format": "foley-model-package", "format_version": 1,
        "name": name, "version": "0.0.1",
        "description": "analytic test package built by foley_desktop.engine.testpkg",
        "license": "Apache-2.0",
        "data_sources": [{"name": "none (weights are random numbers)", "license": "n/a"}],
        "audio": {"sample_rate": sample_rate, "channels": 1},
        "latent": {"channels": channels, "frame_rate": str(sample_rate // hop)
                   if sample_rate % hop == 0 else f"{sample_rate}/{hop}", "hop_samples": hop},
        "window": {"frames": window_frames, "overlap_frames": overlap_frames},
        "text": {"tokenizer": "tokenizer.json", "max_tokens": max_tokens, "pad_id": 0,
                 "lowercase": True, "default_negative": "noisy harsh"},
        "streams": {"visual": {"graph": "visual_encoder", "fps": fps, "width": size,
                               "height": size, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                               "layout": "TCHW", "features_per_frame": 1,
                               "unconditional": "uncond_visual.npy"}},
        "graphs": manifest_graphs,
        "sampler": {"type": "flow_matching", "prediction": "velocity", "time": "noise_to_data",
                    "timestep_scale": timestep_scale, "shift": 1.0,
                    "methods": ["euler", "heun"], "default_method": "euler",
                    "steps": steps, "steps_range": [1, 100],
                    "guidance": guidance, "guidance_range": [1.0, 10.0]},
        "files": {"tokenizer.json": _entry(folder / "tokenizer.json"),
                  "uncond_visual.npy": _entry(folder / "uncond_visual.npy")},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def closed_form_latent(text_cond: np.ndarray, text_uncond: np.ndarray, guidance: float,
                       noise: np.ndarray, alpha: float) -> np.ndarray:
    """What the "flow" denoiser's sampling must end at, from the two targets and the noise."""
    return text_uncond + guidance * (text_cond - text_uncond) + alpha * noise


def carrier_decode(latent: np.ndarray, hop: int, sample_rate: int) -> np.ndarray:
    """numpy reference of the decoder for one latent [C, F] (for tests)."""
    c, f = latent.shape
    n = f * hop
    src = (np.arange(n) + 0.5) / hop - 0.5               # half_pixel
    amp = np.stack([np.interp(src, np.arange(f), latent[i]) for i in range(c)])
    phase = np.outer(2 * np.pi * np.array(CARRIERS_HZ[:c]) / sample_rate, np.arange(n))
    return DECODER_GAIN * (amp * np.sin(phase)).sum(axis=0)


