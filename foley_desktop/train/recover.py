"""Recover torch weights (a checkpoint usable by train.py --init) from a package's FP32 graphs.

The shipped package holds the EMA weights as ONNX initializers; some keep their parameter names,
others were renamed by the exporter (a Linear's weight becomes a transposed MatMul constant).
We export a model with distinct random weights through the same exporter, map each of its
initializers to the parameter it came from (equal values, or equal after transposing), and read
the package's initializers by the same position. The result is checked by running the recovered
denoiser and visual encoder in torch against the package's FP32 graphs.

    python -m foley_desktop.train.recover --package resources/models/foley-tiny \
        --out runs/recovered/ckpt.pt
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from foley_desktop.engine.events import EVENTS_INPUT

from .export import _Vis, export_trained_graphs
from .model import Config
from .paths import PACKAGE_DIR, RUNS
from .text import MAX_TOKENS
from .train import FoleyTiny


def _inits(path: Path) -> list[tuple[str, np.ndarray]]:
    m = onnx.load(str(path))
    return [(i.name, numpy_helper.to_array(i)) for i in m.graph.initializer]


def _map(module: torch.nn.Module, inits: list[tuple[str, np.ndarray]]) -> list[tuple[str, bool] | None]:
    """For each initializer: (parameter name, transposed?) or None (a constant of the graph)."""
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    out = []
    for _, a in inits:
        hit = None
        for k, p in params.items():
            if p.shape == a.shape and np.array_equal(p, a):
                hit = (k, False)
                break
            if p.ndim == 2 and p.T.shape == a.shape and np.array_equal(p.T, a):
                hit = (k, True)
                break
        out.append(hit)
    return out


def _event_channels(denoiser: Path) -> int:
    """Channels of the graph's event track input; 0 for a denoiser without one (<= 1.5.0)."""
    for i in onnx.load(str(denoiser), load_external_data=False).graph.input:
        if i.name == EVENTS_INPUT:
            return int(i.type.tensor_type.shape.dim[2].dim_value)
    return 0


def recover(package: Path) -> FoleyTiny:
    cfg = Config(event_channels=_event_channels(package / "denoiser.fp32.onnx"))
    torch.manual_seed(0)
    probe = FoleyTiny(cfg)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn_like(p))
    probe.eval()
    model = FoleyTiny(cfg)
    state = model.state_dict()
    with tempfile.TemporaryDirectory() as tmp_name, torch.no_grad():
        tmp = Path(tmp_name)
        export_trained_graphs(probe, cfg, tmp / "v.onnx", tmp / "d.onnx")
        done = set()
        for prefix, mod, mine, shipped in (
                ("visual.", probe.visual, tmp / "v.onnx", package / "visual_encoder.fp32.onnx"),
                ("denoiser.", probe.denoiser, tmp / "d.onnx", package / "denoiser.fp32.onnx")):
            mi, si = _inits(mine), _inits(shipped)
            if [a.shape for _, a in mi] != [a.shape for _, a in si]:
                raise RuntimeError(f"{shipped}: initializer layout differs from this exporter's")
            target = _Vis(mod) if prefix == "visual." else mod
            for hit, (_, a) in zip(_map(target, mi), si):
                if hit is None:
                    continue
                k, tr = hit
                k = k[2:] if prefix == "visual." else k      # _Vis wraps as .m
                state[prefix + k] = torch.from_numpy(np.ascontiguousarray(a.T if tr else a).copy())
                done.add(prefix + k)
    # LayerNorm weights of 1 / biases of 0 may have been folded away identically in both graphs:
    # parameters the probe did not reveal must still hold defaults that the graph implies.
    missing = [k for k in state if k not in done and k != "uncond_visual"]
    if missing:
        raise RuntimeError(f"not recovered: {missing}")
    state["uncond_visual"] = torch.from_numpy(np.load(package / "uncond_visual.npy"))
    model.load_state_dict(state)
    model.eval()
    return model


def check(model: FoleyTiny, package: Path) -> dict:
    """Max abs difference between torch and the package's FP32 graphs on random inputs."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 64, 400, generator=g)
    t = torch.rand(2, generator=g)
    tf = torch.randn(2, MAX_TOKENS, 384, generator=g)
    tm = torch.ones(2, MAX_TOKENS)
    tm[1, 10:] = 0
    fr = torch.rand(1, 100, 3, 64, 64, generator=g) * 2 - 1
    ev = None
    if model.cfg.event_channels:
        ev = torch.rand(2, x.shape[2], model.cfg.event_channels, generator=g)
    with torch.no_grad():
        vis = model.visual(fr)
        v = model.denoiser(x, t, tf, tm, vis.expand(2, -1, -1), ev)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sv = ort.InferenceSession(str(package / "visual_encoder.fp32.onnx"), so, providers=["CPUExecutionProvider"])
    sd = ort.InferenceSession(str(package / "denoiser.fp32.onnx"), so, providers=["CPUExecutionProvider"])
    ov = sv.run(None, {"frames": fr.numpy()})[0]
    feeds = {"x": x.numpy(), "t": t.numpy(), "text_features": tf.numpy(),
             "visual": np.repeat(ov, 2, 0)}
    if ev is not None:
        feeds[EVENTS_INPUT] = ev.numpy()
    feeds["text_mask"] = tm.numpy().astype(np.float32 if "float" in sd.get_inputs()[3].type else np.int64)
    od = sd.run(None, feeds)[0]
    return {"visual_max_abs": float(np.abs(ov - vis.numpy()).max()),
            "denoiser_max_abs": float(np.abs(od - v.numpy()).max()),
            "denoiser_rms": float(np.sqrt((od ** 2).mean()))}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--out", type=Path, default=RUNS / "recovered/ckpt.pt")
    ap.add_argument("--step", type=int, default=2400, help="training step the package came from")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = recover(a.package)
    c = check(model, a.package)
    print(c)
    if c["denoiser_max_abs"] > 1e-3 * max(1.0, c["denoiser_rms"]) or c["visual_max_abs"] > 1e-3:
        raise SystemExit("recovered weights do not reproduce the package's graphs")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    torch.save({"model": sd, "ema": sd, "step": a.step, "cfg": model.cfg.to_dict(),
                "recovered_from": str(a.package)}, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
