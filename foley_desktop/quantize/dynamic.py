"""Dynamic INT8: weights stored as signed 8-bit, activations quantized at run time per tensor.

On this kind of CPU (AVX512-VNNI) dynamic S8 MatMul/Gemm ran 1.9-2.75x faster than FP32 on a
DiT-like block stack, while dynamic INT8 Conv ran 3x slower: by default only MatMul and Gemm are
quantized. Per-channel weight scales are an option (more accurate, slightly larger).

Weights use 7 bits (-64..64, onnxruntime's `reduce_range`), on every INT8 graph the project
writes. Why: on x86 CPUs without VNNI (AVX2 only: many AMD Zen 2/3 and pre-2019 Intel
desktops) onnxruntime multiplies U8 activations by S8 weights with `vpmaddubsw`, which adds
two products into a saturating int16; with full-range weights (255 x 127 x 2 > 32767) the sums
clip. Measured on such a CPU (AMD EPYC, AVX2): foley-tiny's 8-bit denoiser gave latents 32 %
(relative RMS, median of 4 validation clips) away from FP32, the 7-bit one 3.6 %. With
|w| <= 64 no pair can overflow (255 x 64 x 2 = 32640); VNNI CPUs lose one bit of weight precision.
"""

from __future__ import annotations

from pathlib import Path

from foley_desktop.engine.cpu import SAFE_WEIGHT_RANGE
from foley_desktop.quantize._quiet import quiet

DEFAULT_OPS = ("MatMul", "Gemm")
REDUCE_RANGE = True     # 7-bit weights: see above
WEIGHT_QMAX = SAFE_WEIGHT_RANGE   # the symmetric range REDUCE_RANGE gives: -64..64
WEIGHTS = "S8 (7-bit range)"


def quantize(src: Path, dst: Path, *, ops: tuple[str, ...] = DEFAULT_OPS, per_channel: bool = False,
             exclude_nodes: list[str] | None = None, nodes: list[str] | None = None) -> dict:
    """src -> dst with dynamic INT8 (`ops=()`: every op type onnxruntime can quantize)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer first rewrites Gemm as MatMul + Add named "<gemm>_MatMul"; a node list
    # naming the Gemm must name that MatMul too, or the layer silently stays float.
    def follow(names):
        return [*names, *(f"{n}_MatMul" for n in names)] if names else names

    from foley_desktop.quantize import external

    nodes, exclude_nodes = follow(nodes), follow(exclude_nodes)
    with quiet():
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(ops),
                         use_external_data_format=external.is_large(src),
                         per_channel=per_channel, reduce_range=REDUCE_RANGE,
                         weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(exclude_nodes or []),
                         nodes_to_quantize=list(nodes) if nodes else None,
                         extra_options={"MatMulConstBOnly": True})
    return {"ops": list(ops), "per_channel": per_channel, "weights": WEIGHTS, "activations":
            "dynamic U8", "excluded_nodes": sorted(set(exclude_nodes or []))}
