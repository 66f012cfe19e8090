"""ONNX export of one stage, and its precision variants.

Each stage is exported on its own (the caller frees the PyTorch module before the next one) with
the TorchScript-based exporter at opset 17, which needs nothing beyond torch and handles the
symbolic lengths these graphs use. Graphs whose weights pass 2 GB are saved with external data
(one `<graph>.onnx.data` file next to the graph). Variants:

- fp16: weights and activations in float16, inputs/outputs kept float32 (onnxruntime's
  float16 converter with keep_io_types), for CUDA / TensorRT;
- int8: dynamic quantisation of MatMul/Gemm weights (onnxruntime.quantization.quantize_dynamic,
  recipe "int8-dynamic") until the project's quantisation toolchain (foley_desktop/quantize/)
  provides its own recipes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnx

OPSET = 17
TWO_GB = 2 ** 31 - 1


def _quiet():
    """Silence the exporter's deprecation and tracer chatter (our graphs are checked instead)."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def export(module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
           dynamic_axes: dict[str, dict[int, str]]) -> Path:
    """Export `module(*args)` to `path` (fp32); external data when the weights exceed 2 GB."""
    import torch

    path = Path(path)
    nbytes = sum(p.numel() * 4 for p in module.parameters())
    big = nbytes > TWO_GB - (64 << 20)
    tmp = path.with_suffix(".export.onnx")
    with _quiet(), torch.inference_mode():
        torch.onnx.export(module, args, str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    model = onnx.load(str(tmp), load_external_data=True)
    _cleanup_export(tmp)
    save(model, path, external=big)
    return path


def _cleanup_export(tmp: Path) -> None:
    # the exporter may scatter one file per tensor next to a > 2 GB graph; remove them all
    folder = tmp.parent
    known = {tmp.name}
    with contextlib.suppress(Exception):
        m = onnx.load(str(tmp), load_external_data=False)
        for init in m.graph.initializer:
            for entry in init.external_data:
                if entry.key == "location":
                    known.add(entry.value)
    for name in known:
        with contextlib.suppress(OSError):
            os.unlink(folder / name)


def save(model: onnx.ModelProto, path: Path, external: bool) -> None:
    """Save a graph; with `external`, all weights go to `<name>.data` beside it."""
    path = Path(path)
    data = path.with_name(path.name + ".data")
    if data.exists():
        data.unlink()
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024)
    else:
        onnx.save_model(model, str(path))


def graph_files(path: Path) -> list[Path]:
    """The graph and its external data file, if any."""
    path = Path(path)
    data = path.with_name(path.name + ".data")
    return [path, data] if data.exists() else [path]


# Kept in float32 in fp16 graphs: the arithmetic behind sinusoids and index computations
# (timestep 0-1000 and RoPE positions up to thousands lose whole units in float16, which
# would scramble the phases and the resampling indices) and the sums of squares of norms.
_FP32_ROOTS = {"Cos", "Sin", "Floor"}
_FP32_OPS = ["Pow", "ReduceMean"]


def _fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that compute the inputs of Cos/Sin/Floor (stopping at Shape)."""
    producer = {out: n for n in model.graph.node for out in n.output}
    keep: set[str] = set()
    stack = [n for n in model.graph.node if n.op_type in _FP32_ROOTS]
    while stack:
        node = stack.pop()
        if node.name in keep or node.op_type == "Shape":
            continue
        keep.add(node.name)
        stack.extend(producer[i] for i in node.input if i in producer)
    return sorted(keep)


def to_fp16(src: Path, dst: Path) -> Path:
    """float16 weights and compute with float32 inputs and outputs."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(src), load_external_data=True)
    big = sum(np.prod(t.dims) * 2 for t in model.graph.initializer) > TWO_GB - (64 << 20)
    with _quiet():
        half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=big,
                                        op_block_list=list(DEFAULT_OP_BLOCK_LIST) + _FP32_OPS,
                                        node_block_list=_fp32_nodes(model))
    # the converter can insert the same Cast twice (a value feeding several kept nodes); the
    # copies define the same value, so all but the first are dropped
    defined: set[str] = set()
    nodes = []
    for node in half.graph.node:
        if node.op_type == "Cast" and node.output[0] in defined:
            continue
        defined.update(node.output)
        nodes.append(node)
    del half.graph.node[:]
    half.graph.node.extend(nodes)
    save(half, dst, external=big)
    return dst


def to_int8(src: Path, dst: Path) -> Path:
    """Dynamic INT8 quantisation of the MatMul/Gemm weights (recipe "int8-dynamic")."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src), load_external_data=False)
    big = any(init.external_data for init in model.graph.initializer)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)   # its "consider pre-processing" advice is not for us
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"], use_external_data_format=big)
    finally:
        root.setLevel(level)
    return dst


def run_graph(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a graph once on CPU (for checks and tests)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)
