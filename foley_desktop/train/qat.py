"""Quantization-aware fine-tuning (QAT) of the foley-tiny denoiser and export of a QDQ INT8 graph.

    python -m foley_desktop.train.qat --checkpoint runs/foley-tiny-2400/ckpt.pt --steps 400 \
        --package resources/models/foley-tiny --out runs/qat/pkg

What it does:
1. Loads the checkpoint's EMA weights (the shipped model) and replaces the denoiser's layers that
   the INT8 variant quantizes (every nn.Linear = the graph's MatMul/Gemm with constant weights;
   with --conv also the depthwise temporal Conv1d of each block) by fake-quant versions:
   weights per output channel, symmetric S8 in the 7-bit range (scale = max|w| / 64,
   recomputed every step), input activations per tensor, asymmetric U8, ranges first observed
   (moving min/max) and then either frozen or learned (LSQ-style, torch's learnable fake-quant
   op); with --conv the Conv output is quantized too (ONNX Runtime's QLinearConv needs an output
   scale).
2. Fine-tunes with the training loss and batch pipeline of train.py (velocity MSE, logit-normal
   t, 15 % text / visual condition dropout, same deterministic batch stream continuing after the
   checkpoint's step). The visual encoder and the learned unconditional visual vector stay
   frozen: the package's visual graphs and uncond_visual.npy remain valid for the QAT denoiser.
3. Exports the fine-tuned weights as an FP32 ONNX graph (train/export.py's exporter) and rewrites
   every quantized layer into QDQ form with the QAT scales: S8 weight initializers +
   DequantizeLinear (per channel), QuantizeLinear/DequantizeLinear (U8) on the layer's input,
   int32 bias for Conv/Gemm (as ONNX Runtime's own static quantizer writes them).
4. Writes the graph into a copy of the package as variant `int8-qat` through
   quantize/variants.write_variants (hashes, sizes, recipe, a `quantize` record with the QAT
   settings and the graph's error against the package's FP32 denoiser on calibration inputs
   captured through the FP32 pipeline, the same figure `foley-desktop quantize` records).

torch is only imported here (the `train` extra); the package it writes runs on ONNX Runtime.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foley_desktop.quantize import dynamic

from .model import Config, Denoiser
from .paths import DATA, PACKAGE_DIR, REPO, RUNS
from .train import draw_batch

# Symmetric S8 weights in the 7-bit range -64..64, like every INT8 graph of the app: CPUs
# without VNNI saturate full-range U8 x S8 products (quantize/dynamic.py).
QMIN_W, QMAX_W = -dynamic.WEIGHT_QMAX, dynamic.WEIGHT_QMAX
QMIN_A, QMAX_A = 0, 255             # U8 activations, the form ORT's CPU QDQ kernels fuse well
VARIANT = "int8-qat"
DEMO_CLIP = REPO / "resources/demo/footsteps_gravel.mp4"


# ------------------------------------------------------------------ fake-quant modules

class ActQuant(nn.Module):
    """Per-tensor U8 fake quantization of an activation.

    Phase 1 (observing): moving-average min/max of the batches (momentum 0.1, first batch
    taken as is) and fake quantization with the current range. Phase 2 (after `freeze`): scale
    and zero point become parameters; fixed (learn=False) or trained with the loss through
    torch's learnable fake-quant op (LSQ gradients)."""

    def __init__(self, momentum: float = 0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(0, dtype=torch.long))
        # shape [1]: the learnable fake-quant op takes 1-element tensors
        self.scale = nn.Parameter(torch.ones(1), requires_grad=False)
        self.zero_point = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.observing = True
        self.enabled = True

    @staticmethod
    def qparams_from_range(lo: float, hi: float) -> tuple[float, float]:
        lo, hi = min(lo, 0.0), max(hi, 0.0)          # 0 must be exact (padding, ReLU zeros)
        scale = max((hi - lo) / (QMAX_A - QMIN_A), 1e-8)
        zp = min(max(round(-lo / scale), QMIN_A), QMAX_A)
        return scale, float(zp)

    def freeze(self, learn: bool) -> None:
        s, z = self.qparams_from_range(float(self.lo), float(self.hi))
        with torch.no_grad():
            self.scale.fill_(s)
            self.zero_point.fill_(z)
        self.scale.requires_grad_(learn)
        self.zero_point.requires_grad_(learn)
        self.observing = False

    def export_qparams(self) -> tuple[float, int]:
        """(scale, zero point) exactly as the forward pass uses them."""
        if self.observing:
            s, z = self.qparams_from_range(float(self.lo), float(self.hi))
            return float(np.float32(s)), int(z)
        s = max(float(self.scale.detach()), 1e-8)
        z = int(min(max(round(float(self.zero_point.detach())), QMIN_A), QMAX_A))
        return float(np.float32(s)), z

    def forward(self, x):
        if not self.enabled:
            return x
        if self.observing:
            if self.training:
                with torch.no_grad():
                    lo, hi = x.detach().min(), x.detach().max()
                    if int(self.seen) == 0:
                        self.lo.copy_(lo)
                        self.hi.copy_(hi)
                    else:
                        self.lo.lerp_(lo, self.momentum)
                        self.hi.lerp_(hi, self.momentum)
                    self.seen += 1
            s, z = self.qparams_from_range(float(self.lo), float(self.hi))
            return torch.fake_quantize_per_tensor_affine(x, s, int(z), QMIN_A, QMAX_A)
        if self.scale.requires_grad and self.training:
            return torch._fake_quantize_learnable_per_tensor_affine(
                x, self.scale.clamp(min=1e-8), self.zero_point, QMIN_A, QMAX_A, 1.0)
        s, z = self.export_qparams()
        return torch.fake_quantize_per_tensor_affine(x, s, z, QMIN_A, QMAX_A)


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric S8 scale (axis 0), as float32."""
    amax = w.detach().abs().flatten(1).amax(dim=1)
    return (amax / QMAX_W).clamp(min=1e-12).float()


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    s = weight_scale(w)
    zp = torch.zeros_like(s, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, s, zp, 0, QMIN_W, QMAX_W)


class QLinear(nn.Linear):
    """nn.Linear with fake-quantized weight and input (same parameter names as nn.Linear)."""

    def __init__(self, src: nn.Linear):
        super().__init__(src.in_features, src.out_features, bias=src.bias is not None)
        self.load_state_dict(src.state_dict())
        self.act = ActQuant()

    def forward(self, x):
        return F.linear(self.act(x), fake_quant_weight(self.weight), self.bias)


class QConv1d(nn.Conv1d):
    """nn.Conv1d with fake-quantized weight, input and output (QLinearConv's form)."""

    def __init__(self, src: nn.Conv1d):
        super().__init__(src.in_channels, src.out_channels, src.kernel_size, stride=src.stride,
                         padding=src.padding, dilation=src.dilation, groups=src.groups,
                         bias=src.bias is not None)
        self.load_state_dict(src.state_dict())
        self.act = ActQuant()
        self.out_act = ActQuant()

    def forward(self, x):
        return self.out_act(self._conv_forward(self.act(x), fake_quant_weight(self.weight),
                                               self.bias))


def prepare(denoiser: Denoiser, conv: bool = False) -> list[str]:
    """Swap the quantized layers of `denoiser` (in place) for fake-quant ones; their names."""
    names = []
    for name, mod in list(denoiser.named_modules()):
        if type(mod) is nn.Linear:
            new = QLinear(mod)
        elif conv and type(mod) is nn.Conv1d:
            new = QConv1d(mod)
        else:
            continue
        parent = denoiser.get_submodule(name.rpartition(".")[0]) if "." in name else denoiser
        setattr(parent, name.rpartition(".")[2], new)
        names.append(name)
    return names


def act_quants(model: nn.Module) -> list[ActQuant]:
    return [m for m in model.modules() if isinstance(m, ActQuant)]


def freeze_ranges(model: nn.Module, learn: bool) -> None:
    for a in act_quants(model):
        a.freeze(learn)


def plain_state(qmodel: Denoiser) -> dict:
    """The fine-tuned weights as a plain Denoiser state dict (fake-quant state dropped)."""
    return {k: v for k, v in qmodel.state_dict().items() if ".act." not in k
            and ".out_act." not in k}


# ------------------------------------------------------------------ ONNX: QDQ rewrite

def _scopes(node_name: str) -> list[str]:
    return [s for s in node_name.split("/")[:-1] if s]


def _matches_scope(module: str, node_name: str) -> bool:
    # The exporter names nodes /blocks.0/qkv/MatMul, /txt/txt.1/MatMul, /out/MatMul: the last
    # scope ends with the module's last name component.
    sc = _scopes(node_name)
    return bool(sc) and (sc[-1] == module or sc[-1].split(".")[-1] == module.split(".")[-1])


def to_qdq(fp32_path: Path, qmodel: Denoiser, names: list[str], out_path: Path) -> dict:
    """Rewrite the FP32 graph of `qmodel`'s weights into QDQ form with the QAT qparams."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32_path))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    mods = {n: qmodel.get_submodule(n) for n in names}
    new_nodes: list = []
    new_inits: list = []
    done: dict[str, str] = {}

    def add_init(arr: np.ndarray, name: str) -> str:
        new_inits.append(numpy_helper.from_array(arr, name))
        return name

    def weight_candidates(node, w: np.ndarray):
        out = []
        for n, m in mods.items():
            mw = m.weight.detach().numpy()
            if (node.op_type == "MatMul" and mw.ndim == 2 and w.shape == mw.T.shape
                    and np.array_equal(w, mw.T)) \
                    or (node.op_type in ("Gemm", "Conv") and w.shape == mw.shape
                        and np.array_equal(w, mw)):
                out.append(n)
        if len(out) > 1:
            out = [n for n in out if _matches_scope(n, node.name)]
        return out

    for node in g.node:
        if node.op_type not in ("MatMul", "Gemm", "Conv") or len(node.input) < 2 \
                or node.input[1] not in inits:
            new_nodes.append(node)
            continue
        if node.op_type == "Gemm":
            attrs = {a.name: a for a in node.attribute}
            if attrs.get("transA") and attrs["transA"].i:
                new_nodes.append(node)
                continue
        w = numpy_helper.to_array(inits[node.input[1]])
        cands = weight_candidates(node, w)
        if not cands:
            new_nodes.append(node)          # a layer QAT did not touch stays float
            continue
        if len(cands) > 1:
            raise RuntimeError(f"cannot tell which layer {node.name} is: {cands}")
        name = cands[0]
        if name in done:
            raise RuntimeError(f"layer {name} matched two graph nodes ({done[name]}, {node.name})")
        done[name] = node.name
        mod = mods[name]
        tag = name.replace(".", "_")
        # Input activation: Q -> DQ with the QAT scale / zero point.
        s_a, z_a = mod.act.export_qparams()
        sa = add_init(np.array(s_a, np.float32), f"qat_{tag}_x_scale")
        za = add_init(np.array(z_a, np.uint8), f"qat_{tag}_x_zp")
        xq, xdq = f"qat_{tag}_x_q", f"qat_{tag}_x_dq"
        new_nodes.append(helper.make_node("QuantizeLinear", [node.input[0], sa, za], [xq],
                                          name=f"{node.name}_x_QuantizeLinear"))
        new_nodes.append(helper.make_node("DequantizeLinear", [xq, sa, za], [xdq],
                                          name=f"{node.name}_x_DequantizeLinear"))
        # Weight: S8 per output channel, exactly the fake-quant grid.
        wt = mod.weight.detach()
        s_w = weight_scale(wt)
        q = torch.clamp(torch.round(wt / s_w.view(-1, *([1] * (wt.dim() - 1)))),
                        QMIN_W, QMAX_W).to(torch.int8).numpy()
        s_w = s_w.numpy().astype(np.float32)
        if node.op_type == "MatMul":
            q, axis = np.ascontiguousarray(q.T), 1
        else:
            axis = 0
        wq = add_init(q, f"qat_{tag}_w_q")
        ws = add_init(s_w, f"qat_{tag}_w_scale")
        wz = add_init(np.zeros(len(s_w), np.int8), f"qat_{tag}_w_zp")
        wdq = f"qat_{tag}_w_dq"
        new_nodes.append(helper.make_node("DequantizeLinear", [wq, ws, wz], [wdq],
                                          name=f"{node.name}_w_DequantizeLinear", axis=axis))
        inputs = [xdq, wdq]
        # Bias of Gemm/Conv: int32 at scale s_x * s_w (ORT's QDQ form); MatMul's bias is a
        # separate float Add.
        if len(node.input) > 2 and node.input[2]:
            b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
            bs = (np.float64(s_a) * s_w.astype(np.float64)).astype(np.float32)
            bq = np.round(b / bs)
            if np.abs(bq).max() < 2**31 - 1:
                bdq = f"qat_{tag}_b_dq"
                new_nodes.append(helper.make_node(
                    "DequantizeLinear", [add_init(bq.astype(np.int32), f"qat_{tag}_b_q"),
                                         add_init(bs, f"qat_{tag}_b_scale"),
                                         add_init(np.zeros(len(bs), np.int32), f"qat_{tag}_b_zp")],
                    [bdq], name=f"{node.name}_b_DequantizeLinear", axis=0))
                inputs.append(bdq)
            else:       # an all-zero weight row makes s_w tiny: keep that bias in float
                inputs.append(node.input[2])
        out_act = getattr(mod, "out_act", None)
        if out_act is None:
            node.input[:] = inputs
            new_nodes.append(node)
        else:
            y = node.output[0]
            raw = f"qat_{tag}_y_raw"
            node.input[:] = inputs
            node.output[0] = raw
            new_nodes.append(node)
            s_o, z_o = out_act.export_qparams()
            so = add_init(np.array(s_o, np.float32), f"qat_{tag}_y_scale")
            zo = add_init(np.array(z_o, np.uint8), f"qat_{tag}_y_zp")
            new_nodes.append(helper.make_node("QuantizeLinear", [raw, so, zo], [f"qat_{tag}_y_q"],
                                              name=f"{node.name}_y_QuantizeLinear"))
            new_nodes.append(helper.make_node("DequantizeLinear", [f"qat_{tag}_y_q", so, zo], [y],
                                              name=f"{node.name}_y_DequantizeLinear"))
    missing = sorted(set(names) - set(done))
    if missing:
        raise RuntimeError(f"no graph node found for QAT layers {missing}")
    used = {i for n in new_nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    onnx.checker.check_model(model)
    tmp = out_path.with_name(out_path.name + ".partial")
    onnx.save(model, str(tmp))
    os.replace(tmp, out_path)
    return {"layers": len(done), "nodes": done}


DENOISER_INPUTS = ["x", "t", "text_features", "text_mask", "visual"]


def denoiser_example(cfg: Config, frames: int = 800, batch: int = 2, seed: int = 0):
    from .text import MAX_TOKENS

    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, MAX_TOKENS)
    mask[:, MAX_TOKENS // 2:] = 0.0
    return (torch.randn(batch, cfg.latent_ch, frames, generator=g), torch.rand(batch, generator=g),
            torch.randn(batch, MAX_TOKENS, cfg.text_dim, generator=g), mask,
            torch.randn(batch, frames // 4, cfg.vis_dim, generator=g))


def export_fp32(denoiser: Denoiser, path: Path) -> None:
    """The same FP32 denoiser graph as train/export.py writes (names, dynamic axes, opset)."""
    from .export import _export

    with torch.no_grad():
        _export(denoiser.eval(), denoiser_example(denoiser.cfg), path, DENOISER_INPUTS,
                ["velocity"],
                {"x": {0: "B", 2: "F"}, "t": {0: "B"}, "text_features": {0: "B", 1: "L"},
                 "text_mask": {0: "B", 1: "L"}, "visual": {0: "B", 1: "V"},
                 "velocity": {0: "B", 2: "F"}})


def export_qdq(qmodel: Denoiser, names: list[str], out_path: Path, work: Path) -> dict:
    """FP32 graph of the QAT weights -> QDQ graph at `out_path`; also keeps the FP32 graph."""
    plain = Denoiser(qmodel.cfg)
    plain.load_state_dict(plain_state(qmodel))
    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / "denoiser.qat-fp32.onnx"
    export_fp32(plain, fp32)
    qmodel.eval()
    info = to_qdq(fp32, qmodel, names, out_path)
    info["fp32_graph"] = str(fp32)
    return info


# ------------------------------------------------------------------ training

def qat_loss(qden: Denoiser, visual, uncond_visual, b, teacher=None, distill: float = 0.0):
    fr, tf, tm, t, x0, x1, xt, drop_v = b
    with torch.no_grad():
        vis = visual(fr)
        dv = torch.from_numpy(drop_v)[:, None, None]
        vis = torch.where(dv, uncond_visual.expand_as(vis), vis)
    v = qden(xt, t, tf, tm, vis)
    loss = F.mse_loss(v, x1 - x0)
    if teacher is not None and distill > 0:
        with torch.no_grad():
            vt = teacher(xt, t, tf, tm, vis)
        loss = loss + distill * F.mse_loss(v, vt)
    return loss


def load_checkpoint(path: Path):
    from .train import FoleyTiny

    s = torch.load(path, weights_only=True)
    cfg = Config(**s["cfg"])
    model = FoleyTiny(cfg)
    model.load_state_dict(s["ema"])
    model.eval()
    return model, int(s.get("step", 0))


def finetune(model, names_conv: bool, steps: int, *, data: Path, lr: float = 5e-5,
             batch: int = 16, crop: int = 200, seed: int = 1234, start_step: int = 0,
             observe_steps: int = 50, learn_ranges: bool = True, ema_decay: float = 0.99,
             distill: float = 0.0, max_minutes: float = 1e9, log=print, log_file=None):
    """QAT fine-tune of model.denoiser; returns (EMA fake-quant denoiser, layer names, stats)."""
    from .train import text_table

    lat = np.load(data / "latents.npy", mmap_mode="r")
    frm = np.load(data / "frames.npy", mmap_mode="r")
    feats, masks, clip_cap, uncond_caps = text_table(data, RUNS / "export")
    qden = copy.deepcopy(model.denoiser)
    names = prepare(qden, conv=names_conv)
    teacher = model.denoiser.eval() if distill > 0 else None
    for p in model.parameters():
        p.requires_grad_(False)
    ema = copy.deepcopy(qden)
    weights = [p for n, p in qden.named_parameters() if ".act." not in n and ".out_act." not in n]
    qparams = [p for n, p in qden.named_parameters() if ".act." in n or ".out_act." in n]
    opt = torch.optim.AdamW([{"params": weights, "weight_decay": 0.01},
                             {"params": qparams, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.99))
    qden.train()
    t0 = time.time()
    losses, first = [], None
    k = 0
    for k in range(steps):
        if k == observe_steps:
            freeze_ranges(qden, learn_ranges)
            freeze_ranges(ema, learn_ranges)
            # the EMA starts its range parameters where the observers ended
            ema.load_state_dict(qden.state_dict())
        b = draw_batch(start_step + k, seed, batch, crop, lat, frm, feats, masks, clip_cap,
                       uncond_caps)
        cur = lr * min(1.0, (k + 1) / 20) * (0.5 * (1 + math.cos(math.pi * k / steps)) * 0.9 + 0.1)
        for grp in opt.param_groups:
            grp["lr"] = cur
        loss = qat_loss(qden, model.visual, model.uncond_visual, b, teacher, distill)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), qden.parameters()):
                pe.lerp_(pm.detach(), 1 - ema_decay)
            for (_bn, be), (_, bm) in zip(ema.named_buffers(), qden.named_buffers()):
                be.copy_(bm)
        losses.append(loss.item())
        first = first if first is not None else loss.item()
        if (k + 1) % 10 == 0:
            msg = (f"qat step {k + 1}/{steps} loss {np.mean(losses):.4f} lr {cur:.2e} "
                   f"{'observing' if k < observe_steps else 'ranges ' + ('learned' if learn_ranges else 'frozen')} "
                   f"elapsed {time.time() - t0:.0f}s")
            log(msg)
            if log_file:
                log_file.write(msg + "\n")
                log_file.flush()
            losses = []
        if (time.time() - t0) / 60 > max_minutes:
            log(f"time limit reached after {k + 1} steps")
            break
    if k + 1 <= observe_steps:          # too short to leave the observing phase
        freeze_ranges(ema, False)
    ema.eval()
    return ema, names, {"steps_done": k + 1, "seconds": round(time.time() - t0, 1)}


# ------------------------------------------------------------------ package

def graph_error(package: Path, qdq: Path, clips: list[Path], log=print) -> dict:
    """Relative RMS error of the QDQ denoiser against the package's FP32 denoiser on inputs
    recorded through the FP32 pipeline (quantize/calibrate.py; the figure the quantize tool
    records as error_vs_fp32)."""
    from foley_desktop.engine.package import load_package
    from foley_desktop.quantize import calibrate, measure

    pkg = load_package(package)
    cal = calibrate.capture(pkg, calibrate.clip_specs(clips, None))
    samples = cal.samples.get("denoiser", [])
    probe = measure.subset(samples, 6)
    err = measure.relative_error(qdq, probe, measure.reference(pkg.graph_file("denoiser", "fp32"), probe))
    log(f"  QDQ denoiser error vs the package's FP32 denoiser ({len(probe)} recorded inputs): {err:.4g}")
    return {"error_vs_fp32": round(err, 5), "calibration_samples": len(probe),
            "calibration_clips": [str(c) for c in clips]}


def write_qat_variant(package_src: Path, out: Path, qdq: Path, details: dict,
                      visual_from: str | None = "int8", name: str = VARIANT) -> dict:
    """Copy `package_src` to `out` (once) and add variant `name` (denoiser = the QDQ graph;
    visual encoder = a copy of the package's `visual_from` variant so the comparison with the
    PTQ int8 variant differs only in the denoiser) through quantize/variants.write_variants."""
    from foley_desktop.engine.package import load_package
    from foley_desktop.quantize.variants import NewVariant, write_variants

    if not (out / "manifest.json").exists():
        shutil.copytree(package_src, out)
    pkg = load_package(out)
    new = [NewVariant("denoiser", name, qdq, "int8-qat", details)]
    if visual_from and visual_from in pkg.graphs["visual_encoder"].variants:
        v = pkg.graphs["visual_encoder"].variants[visual_from]
        tmp = out / f".visual.{name}.tmp.onnx"
        shutil.copyfile(pkg.graph_file("visual_encoder", visual_from), tmp)
        new.append(NewVariant("visual_encoder", name, tmp, v.get("recipe", visual_from),
                              {"same_as_variant": visual_from,
                               "why": "QAT leaves the visual encoder's weights unchanged"}))
    return write_variants(out, new)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=RUNS / "foley-tiny-2400/ckpt.pt")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--out", type=Path, default=RUNS / "qat/pkg",
                    help="package copy to write the variant into (made from --package if absent)")
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--run", type=Path, default=None, help="logs, QAT checkpoint (default OUT/..)")
    ap.add_argument("--name", default=VARIANT)
    ap.add_argument("--data", type=Path, default=DATA / "train")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--observe-steps", type=int, default=50)
    ap.add_argument("--ranges", choices=("learn", "freeze"), default="learn")
    ap.add_argument("--conv", action="store_true", help="also quantize the depthwise Conv1d")
    ap.add_argument("--distill", type=float, default=0.0,
                    help="weight of an extra MSE to the FP32 teacher's velocity (0: training loss only)")
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=1e9)
    ap.add_argument("--calibration", type=Path, nargs="*", default=[DEMO_CLIP])
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    run = a.run or a.out.parent / f"run-{a.name}"
    run.mkdir(parents=True, exist_ok=True)
    model, step0 = load_checkpoint(a.checkpoint)
    print(f"QAT from {a.checkpoint} (step {step0}), {a.steps} steps", flush=True)
    with open(run / "qat.log", "a") as logf:
        qden, names, stats = finetune(
            model, a.conv, a.steps, data=a.data, lr=a.lr, batch=a.batch, crop=a.crop,
            seed=a.seed, start_step=step0, observe_steps=a.observe_steps,
            learn_ranges=a.ranges == "learn", ema_decay=a.ema, distill=a.distill,
            max_minutes=a.max_minutes, log=lambda m: print(m, flush=True), log_file=logf)
    torch.save({"qat": qden.state_dict(), "layers": names, "cfg": model.cfg.to_dict(),
                "args": {k: str(v) for k, v in vars(a).items()}, **stats}, run / "qat.pt")
    qdq = run / "denoiser.qdq.onnx"
    info = export_qdq(qden, names, qdq, run)
    # the QDQ graph against the fake-quant PyTorch forward it was exported from
    import onnxruntime as ort

    ex = denoiser_example(model.cfg, frames=400)
    with torch.no_grad():
        ref = qden(*ex).numpy()
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: v.numpy() for n, v in zip(DENOISER_INPUTS, ex)})[0]
    match = float(np.sqrt(np.sum((got - ref) ** 2) / np.sum(ref ** 2)))
    print(f"QDQ graph vs fake-quant forward: relative RMS {match:.2e}", flush=True)
    details = {"qat": {"checkpoint": str(a.checkpoint), "checkpoint_step": step0,
                       "steps": stats["steps_done"], "seconds": stats["seconds"], "lr": a.lr,
                       "batch": a.batch, "observe_steps": a.observe_steps, "ranges": a.ranges,
                       "ema": a.ema, "distill": a.distill, "loss": "velocity MSE (train.py)",
                       "frozen": ["visual encoder", "uncond_visual"]},
               "ops": ["MatMul", "Gemm"] + (["Conv"] if a.conv else []),
               "per_channel": True, "weights": "S8 symmetric per channel",
               "activations": "U8 per tensor (QAT ranges)", "layers": info["layers"],
               "qdq_vs_fake_quant_forward": round(match, 6)}
    details.update(graph_error(a.out if (a.out / "manifest.json").exists() else a.package, qdq,
                               a.calibration))
    details["bytes"] = qdq.stat().st_size
    write_qat_variant(a.package, a.out, qdq, details, name=a.name)
    print(json.dumps({"package": str(a.out), "variant": a.name, **details}, indent=1))


if __name__ == "__main__":
    main()
