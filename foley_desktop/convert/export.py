"""ONNX export of one stage, and its precision variants.

Each stage is exported on its own (the caller frees the PyTorch module before the next one) with
the TorchScript-based exporter at opset 17, which needs nothing beyond torch and handles the
symbolic lengths these graphs use. Graphs whose weights pass 2 GB are saved with external data
(one `<graph>.onnx.data` file next to the graph). Variants:

- fp16: weights and activations in float16, inputs/outputs kept float32 (onnxruntime's
  float16 converter with keep_io_types, run on the graph's structure while the weights are
  converted one at a time by stream.py), for CUDA / TensorRT;
- int8: dynamic quantisation of MatMul/Gemm weights (recipe "int8-dynamic": symmetric
  per-tensor INT8 weights, activations quantised at run time, as onnxruntime's
  quantize_dynamic does), written by stream.py one weight at a time.
The denoiser, the only stage too large to hold twice, is exported by `export_streamed`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
import onnx

from foley_desktop.convert import stream

OPSET = 17
# graphs with more weights than this keep them in an external data file, so that the precision
# variants can be written one tensor at a time (stream.py) instead of from an in-memory copy
EXTERNAL_ABOVE = 64 << 20


def _quiet():
    """Silence the exporter's deprecation and tracer chatter (our graphs are checked instead)."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def export(module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
           dynamic_axes: dict[str, dict[int, str]]) -> Path:
    """Export `module(*args)` to `path` (fp32); external data when the weights exceed 64 MiB."""
    import torch

    path = Path(path)
    nbytes = sum(p.numel() * 4 for p in module.parameters())
    big = nbytes > EXTERNAL_ABOVE
    tmp = path.with_suffix(".export.onnx")
    with _quiet(), torch.inference_mode():
        torch.onnx.export(module, args, str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    model = onnx.load(str(tmp), load_external_data=True)
    _cleanup_export(tmp)
    save(model, path, external=big)
    return path


def export_streamed(module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
                    dynamic_axes: dict[str, dict[int, str]], weights, perms: dict) -> Path:
    """Export `module(*args)` whose parameters are views of the `stream.WeightFile` `weights`:
    traced without parameters, which are then attached from that file (stream.py)."""
    import torch

    path = Path(path)
    # The exporter's final ONNX shape inference takes a copy of every parameter it is given
    # and keeps them until the export ends (20 GB for XXL): it is switched off here, which
    # the public torch.onnx.export cannot do. The traced graph keeps the shapes of the
    # example inputs, which the operator conversions use, and the result is checked against
    # PyTorch at other lengths and batch sizes afterwards.
    from torch.onnx._internal.torchscript_exporter import utils as ts_utils

    with _quiet(), torch.inference_mode():
        ts_utils._export(module, args, str(path), export_params=False, input_names=input_names,
                         output_names=output_names, opset_version=OPSET,
                         dynamic_axes=dynamic_axes, do_constant_folding=False,
                         onnx_shape_inference=False)
    stream.attach_weights(path, weights, perms, input_names)
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
# Only chains that start from inputs, shapes and constants count: a Sin of learned
# activations (the VAE decoder's Snake after each convolution) is ordinary compute, and
# keeping everything upstream of it would leave the whole decoder in float32.
_FP32_ROOTS = {"Cos", "Sin", "Floor"}
_FP32_OPS = ["Pow", "ReduceMean"]
_HEAVY = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


def _fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that compute the inputs of Cos/Sin/Floor (stopping at Shape), for
    the roots whose chain contains no convolution or matrix product."""
    producer = {out: n for n in model.graph.node for out in n.output}
    keep: set[str] = set()
    for root in (n for n in model.graph.node if n.op_type in _FP32_ROOTS):
        chain: set[str] = set()
        stack = [root]
        heavy = False
        while stack and not heavy:
            node = stack.pop()
            if node.name in chain or node.op_type == "Shape":
                continue
            heavy = node.op_type in _HEAVY
            chain.add(node.name)
            stack.extend(producer[i] for i in node.input if i in producer)
        if not heavy:
            keep |= chain
    return sorted(keep)


def to_fp16(src: Path, dst: Path) -> Path:
    """float16 weights and compute with float32 inputs and outputs (weights streamed)."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

    with _quiet():
        return stream.to_fp16(src, dst, list(DEFAULT_OP_BLOCK_LIST) + _FP32_OPS, _fp32_nodes)


def to_int8(src: Path, dst: Path, recipe: str = "int8") -> Path:
    """Dynamic INT8 of the MatMul/Gemm weights (stream.INT8_RECIPES, weights streamed)."""
    return stream.to_int8(src, dst, recipe=recipe)[0]


def run_graph(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a graph once on CPU (for checks and tests), its external weights memory-mapped."""
    return stream.check_session(path).run(None, feeds)
