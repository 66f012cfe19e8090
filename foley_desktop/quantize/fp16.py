"""FP16 variants: every float weight and activation in half precision, float32 at the graph's
inputs and outputs (the engine feeds float32).

On the CPU this gains nothing but file size (ONNX Runtime's CPU kernels mostly compute FP16 by
converting back); it is the variant CUDA runs best and TensorRT can use. Ops whose FP16 kernels
are missing or inaccurate stay float32 (ONNX Runtime's converter keeps a block list, extended
here with `keep_float`).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from foley_desktop.quantize._quiet import quiet


def convert(src: Path, dst: Path, keep_float: list[str] | None = None,
            exclude_nodes: list[str] | None = None) -> dict:
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(src))
    block = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(keep_float or []))
    with quiet():
        half = convert_float_to_float16(model, keep_io_types=True, op_block_list=block,
                                        node_block_list=list(exclude_nodes or []))
    onnx.save(half, str(dst))
    return {"keep_float_ops": sorted(set(keep_float or [])),
            "excluded_nodes": sorted(exclude_nodes or [])}
