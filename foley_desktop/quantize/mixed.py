"""Mixed INT8: per op type the form that measures fastest on this machine, per layer group only
where the measured error allows it.

Forms (see docs/quantization.md for the figures behind them):
- Conv: static QDQ, U8 activations / S8 weights, calibrated on the real pipeline (dynamic INT8
  Conv ran 3x slower than FP32 on this CPU, so it is not a candidate);
- MatMul / Gemm with constant weights: dynamic INT8 (S8 weights) or static QDQ U8/S8, whichever
  the whole graph runs faster with here (both are built and timed, interleaved, against FP32);
- ConvTranspose, attention products between activations and everything else: float.

Quality is measured, not guessed: the candidate nodes are cut into groups (a layer or block, from
the exporter's node-name scopes such as `/blocks.3/...`; a group's Conv nodes form a group of
their own, `/blocks.3 [Conv]`), each group is quantized alone and the
graph's output error against FP32 is measured on calibration inputs; groups above the tolerance
stay float. The combined graph is measured again (the worst group is dropped while the sum of
small errors is still too large), and kept only if it actually runs faster than FP32 here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import onnx

from foley_desktop.jobs import CancelToken, check
from foley_desktop.quantize import dynamic, external, measure, static

MATMUL_OPS = ("MatMul", "Gemm")
CONV_OPS = ("Conv",)
MIN_SPEEDUP = 1.05     # below this a quantized graph is not worth its error


def name_nodes(src: Path, dst: Path) -> onnx.ModelProto:
    """A copy whose every node has a unique name (the quantizer selects nodes by name)."""
    model = onnx.load(str(src), load_external_data=False)   # structure only: > 2 GB graphs too
    seen = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)
    external.save_structure(model, src, dst)
    return model


def _scope(name: str) -> list[str]:
    """`/blocks.3/attn/MatMul` -> ["blocks.3", "attn"] (the exporter's module path)."""
    parts = name.split("/")
    return parts[1:-1] if name.startswith("/") and len(parts) > 2 else []


def group_of(name: str, depth: int = 1) -> str:
    """`/blocks.3/attn/MatMul` -> `/blocks.3` at depth 1; unscoped names are their own group."""
    scope = _scope(name)
    return "/" + "/".join(scope[:depth]) if scope else name


def grouping(names: list[str], want: int = 6) -> dict[str, str]:
    """Node -> group at the shallowest scope depth that gives at least `want` groups (blocks of
    a DiT; layers of a small CNN wrapped in one module)."""
    deepest = max((len(_scope(n)) for n in names), default=0)
    for depth in range(1, deepest + 1):
        groups = {n: group_of(n, depth) for n in names}
        if len(set(groups.values())) >= min(want, len(names)):
            return groups
    return {n: group_of(n, max(deepest, 1)) for n in names}


def candidates(model: onnx.ModelProto, exclude: set[str]) -> tuple[list[str], list[str]]:
    """(MatMul/Gemm nodes with constant weights, Conv nodes with constant weights)."""
    consts = {i.name for i in model.graph.initializer}
    consts |= {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    mm, conv = [], []
    for n in model.graph.node:
        if n.name in exclude or len(n.input) < 2 or n.input[1] not in consts:
            continue
        if n.op_type in MATMUL_OPS:
            mm.append(n.name)
        elif n.op_type in CONV_OPS:
            conv.append(n.name)
    return mm, conv


def build(src: Path, dst: Path, samples: list[dict], dyn_nodes: list[str],
          static_nodes: list[str], per_channel: bool, work: Path) -> None:
    """Static QDQ on `static_nodes`, then dynamic INT8 on `dyn_nodes` (names survive QDQ)."""
    cur = src
    if static_nodes:
        mid = work / "mid.onnx"
        static.quantize(cur, mid, samples, ops=CONV_OPS + MATMUL_OPS, per_channel=per_channel,
                        nodes=static_nodes)
        cur = mid
    if dyn_nodes:
        dynamic.quantize(cur, dst, ops=MATMUL_OPS, per_channel=per_channel, nodes=dyn_nodes)
    else:
        external.move_graph(cur, dst)


def quantize(src: Path, dst: Path, samples: list[dict], *, tolerance: float = 0.03,
             per_channel: bool = False, exclude_nodes: list[str] | None = None,
             probe_samples: int = 6, min_speedup: float = MIN_SPEEDUP,
             threads: int | None = None, cancel: CancelToken | None = None,
             log=print) -> dict | None:
    """Write the mixed graph to `dst` and return what was done, or None when nothing paid off
    (no candidate within tolerance, or no speed-up measured): the graph then stays FP32."""
    with tempfile.TemporaryDirectory(prefix="foley-mixed-") as tmp:
        work = Path(tmp)
        # the renamed copy sits beside the source, to read its external data file (if any)
        named = Path(src).with_name(f".{Path(src).stem}.named-{os.getpid()}.onnx")
        try:
            return _quantize(src, dst, samples, work, named, tolerance, per_channel, exclude_nodes,
                             probe_samples, min_speedup, threads, cancel, log)
        finally:
            named.unlink(missing_ok=True)


def _quantize(src, dst, samples, work, named, tolerance, per_channel, exclude_nodes, probe_samples,
              min_speedup, threads, cancel, log) -> dict | None:
    """quantize()'s work, with `named` (the source with unique node names) and `work` given."""
    model = name_nodes(src, named)
    mm, conv = candidates(model, set(exclude_nodes or []))
    if not mm and not conv:
        return None
    probe = measure.subset(samples, probe_samples)
    refs = measure.reference(named, probe, threads)
    feeds = probe[len(probe) // 2]

    # Which form of MatMul pays off here: time the whole graph both ways.
    form_ms = {}
    matmul_form = "dynamic"
    if mm:
        paths = {"fp32": named}
        for form in ("dynamic", "static"):
            out = work / f"form-{form}.onnx"
            build(named, out, probe, mm if form == "dynamic" else [],
                  conv + (mm if form == "static" else []), per_channel, work)
            paths[form] = out
        lat = measure.interleaved_latency(paths, feeds, repeats=5, threads=threads)
        form_ms = {k: round(v * 1e3, 2) for k, v in lat.items()}
        matmul_form = min(("dynamic", "static"), key=lambda f: lat[f])
        log(f"  MatMul/Gemm as {matmul_form} INT8 (whole graph: FP32 {form_ms['fp32']} ms, "
            f"dynamic {form_ms['dynamic']} ms, static {form_ms['static']} ms per run)")

    def split(nodes: list[str]) -> tuple[list[str], list[str]]:
        mset = set(mm)
        dyn = [n for n in nodes if n in mset] if matmul_form == "dynamic" else []
        sta = [n for n in nodes if n not in set(dyn)]
        return dyn, sta

    # A layer group's convolutions and its linear layers are judged separately: a block's
    # temporal Conv may cost more accuracy than all its MatMuls together.
    conv_set = set(conv)
    groups: dict[str, list[str]] = {}
    for n, g in grouping(mm + conv).items():
        groups.setdefault(g + (" [Conv]" if n in conv_set else ""), []).append(n)
    errors: dict[str, float] = {}
    for g, nodes in groups.items():
        check(cancel)
        out = work / "group.onnx"
        build(named, out, probe, *split(nodes), per_channel, work)
        errors[g] = measure.relative_error(out, probe, refs, threads)
    kept = sorted((g for g in groups if errors[g] <= tolerance), key=lambda g: errors[g])
    rejected = sorted(g for g in groups if errors[g] > tolerance)
    log(f"  {len(kept)}/{len(groups)} node groups within tolerance {tolerance}; "
        f"float: {', '.join(rejected) or 'none'}")
    combined = float("inf")
    while kept:
        check(cancel)
        dyn, sta = split([n for g in kept for n in groups[g]])
        build(named, dst, samples if sta else probe, dyn, sta, per_channel, work)
        combined = measure.relative_error(dst, probe, refs, threads)
        if combined <= tolerance:
            break
        rejected.append(kept.pop())          # the worst remaining group goes back to float
    if not kept:
        return None
    lat = measure.interleaved_latency({"fp32": named, "mixed": dst}, feeds, repeats=5,
                                      threads=threads)
    speedup = lat["fp32"] / lat["mixed"]
    log(f"  combined error {combined:.4f}; {speedup:.2f}x FP32 on this CPU "
        f"({lat['fp32'] * 1e3:.1f} -> {lat['mixed'] * 1e3:.1f} ms per run)")
    if speedup < min_speedup:
        return None
    dyn, sta = split([n for g in kept for n in groups[g]])
    return {"matmul_form": matmul_form, "matmul_form_ms": form_ms,
            "dynamic_nodes": len(dyn), "static_nodes": len(sta),
            "float_groups": sorted(rejected),
            "group_errors": {g: round(e, 5) for g, e in sorted(errors.items())},
            "combined_error": round(combined, 5), "tolerance": tolerance,
            "speedup_cpu": round(speedup, 3), "per_channel": per_channel,
            "calibration_samples": len(samples)}
