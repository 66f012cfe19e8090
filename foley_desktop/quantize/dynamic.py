"""Dynamic INT8: weights stored as signed 8-bit, activations quantized at run time per tensor.

On this kind of CPU (AVX512-VNNI) dynamic S8 MatMul/Gemm ran 1.9-2.75x faster than FP32 on a
DiT-like block stack, while dynamic INT8 Conv ran 3x slower: by default only MatMul and Gemm are
quantized. Per-channel weight scales are an option (more accurate, slightly larger).
"""

from __future__ import annotations

from pathlib import Path

from foley_desktop.quantize._quiet import quiet

DEFAULT_OPS = ("MatMul", "Gemm")


def quantize(src: Path, dst: Path, *, ops: tuple[str, ...] = DEFAULT_OPS, per_channel: bool = False,
             exclude_nodes: list[str] | None = None, nodes: list[str] | None = None) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer first rewrites Gemm as MatMul + Add named "<gemm>_MatMul"; a node list
    # naming the Gemm must name that MatMul too, or the layer silently stays float.
    def follow(names):
        return [*names, *(f"{n}_MatMul" for n in names)] if names else names

    nodes, exclude_nodes = follow(nodes), follow(exclude_nodes)
    with quiet():
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(ops),
                         per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(exclude_nodes or []),
                         nodes_to_quantize=list(nodes) if nodes else None,
                         extra_options={"MatMulConstBOnly": True})
    return {"ops": list(ops), "per_channel": per_channel, "weights": "S8", "activations":
            "dynamic U8", "excluded_nodes": sorted(set(exclude_nodes or []))}
