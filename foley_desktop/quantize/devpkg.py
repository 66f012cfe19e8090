"""Development packages with realistic layer types: testpkg's analytic package whose denoiser
gains a DiT-like block stack (LayerNorm, single-head self-attention, MLP, a temporal Conv per
block) and whose visual encoder becomes a small CNN. Built with onnx.helper (no torch), so the
quantizers meet MatMul/Gemm with constant weights, attention MatMuls between activations, Conv
and the analytic ops of testpkg in one real graph.

    python -m foley_desktop.quantize.devpkg OUT [--dim 256] [--blocks 4]

The stack's output is added, scaled down, to testpkg's exact velocity, so sampling still
converges and the audio stays finite; the stack's error under quantization reaches the output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from foley_desktop.engine import testpkg

n = helper.make_node


def _init(model: onnx.ModelProto, name: str, value: np.ndarray) -> str:
    model.graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def add_block_stack(model: onnx.ModelProto, channels: int, dim: int, blocks: int, rng,
                    scale: float = 0.2) -> onnx.ModelProto:
    g = model.graph
    last = next(x for x in g.node if x.op_type == "Identity" and x.output[0] == "velocity")
    last.output[0] = "vel_exact"

    def w(name, *shape, s=None):
        s = s if s is not None else 1.0 / np.sqrt(shape[0] if len(shape) == 2 else shape[1] * shape[2])
        return _init(model, name, (rng.standard_normal(shape) * s).astype(np.float32))

    nodes = [n("Transpose", ["x"], ["tok"], perm=[0, 2, 1], name="/inp/Transpose"),   # [B,F,C]
             n("MatMul", ["tok", w("w_in", channels, dim)], ["h0"], name="/inp/MatMul")]
    ones = _init(model, "ln_one", np.ones(dim, np.float32))
    zeros = _init(model, "ln_zero", np.zeros(dim, np.float32))
    _init(model, "att_scale", np.array(1.0 / np.sqrt(dim), np.float32))
    h = "h0"
    for b in range(blocks):
        p = f"/blocks.{b}"
        nodes += [
            n("LayerNormalization", [h, ones, zeros], [f"{p}_ln1"], axis=-1, name=f"{p}/ln1"),
            n("MatMul", [f"{p}_ln1", w(f"{p}_wq", dim, dim)], [f"{p}_q"], name=f"{p}/q/MatMul"),
            n("MatMul", [f"{p}_ln1", w(f"{p}_wk", dim, dim)], [f"{p}_k"], name=f"{p}/k/MatMul"),
            n("MatMul", [f"{p}_ln1", w(f"{p}_wv", dim, dim)], [f"{p}_v"], name=f"{p}/v/MatMul"),
            n("Transpose", [f"{p}_k"], [f"{p}_kt"], perm=[0, 2, 1], name=f"{p}/kT"),
            n("MatMul", [f"{p}_q", f"{p}_kt"], [f"{p}_s0"], name=f"{p}/scores/MatMul"),
            n("Mul", [f"{p}_s0", "att_scale"], [f"{p}_s"], name=f"{p}/scale"),
            n("Softmax", [f"{p}_s"], [f"{p}_a"], axis=-1, name=f"{p}/softmax"),
            n("MatMul", [f"{p}_a", f"{p}_v"], [f"{p}_av"], name=f"{p}/av/MatMul"),
            n("MatMul", [f"{p}_av", w(f"{p}_wo", dim, dim)], [f"{p}_o"], name=f"{p}/o/MatMul"),
            n("Add", [h, f"{p}_o"], [f"{p}_h1"], name=f"{p}/res1"),
            # temporal convolution over frames (as the real model's positional conv)
            n("Transpose", [f"{p}_h1"], [f"{p}_hc"], perm=[0, 2, 1], name=f"{p}/toC"),
            n("Conv", [f"{p}_hc", w(f"{p}_wc", dim, dim, 3), _init(model, f"{p}_bc",
              np.zeros(dim, np.float32))], [f"{p}_c"], pads=[1, 1], name=f"{p}/pos/Conv"),
            n("Relu", [f"{p}_c"], [f"{p}_cr"], name=f"{p}/pos/Relu"),
            n("Transpose", [f"{p}_cr"], [f"{p}_ct"], perm=[0, 2, 1], name=f"{p}/toT"),
            n("Add", [f"{p}_h1", f"{p}_ct"], [f"{p}_h2"], name=f"{p}/res2"),
            n("LayerNormalization", [f"{p}_h2", ones, zeros], [f"{p}_ln2"], axis=-1,
              name=f"{p}/ln2"),
            n("MatMul", [f"{p}_ln2", w(f"{p}_w1", dim, 4 * dim)], [f"{p}_f1"], name=f"{p}/ff1/MatMul"),
            n("Relu", [f"{p}_f1"], [f"{p}_f1r"], name=f"{p}/ff1/Relu"),
            n("MatMul", [f"{p}_f1r", w(f"{p}_w2", 4 * dim, dim)], [f"{p}_f2"], name=f"{p}/ff2/MatMul"),
            n("Add", [f"{p}_h2", f"{p}_f2"], [f"{p}_out"], name=f"{p}/res3"),
        ]
        h = f"{p}_out"
    nodes += [
        n("LayerNormalization", [h, ones, zeros], ["hn"], axis=-1, name="/out/ln"),
        n("MatMul", ["hn", w("w_out", dim, channels, s=scale / np.sqrt(dim))], ["o_t"],
          name="/out/MatMul"),
        n("Transpose", ["o_t"], ["o_bcf"], perm=[0, 2, 1], name="/out/Transpose"),
        n("Add", ["vel_exact", "o_bcf"], ["velocity"], name="/out/Add"),
    ]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def conv_visual_encoder(size: int, dim: int, rng) -> onnx.ModelProto:
    inits = {
        "shape4": np.array([-1, 3, size, size], np.int64),
        "w1": (rng.standard_normal((16, 3, 4, 4)) / 7).astype(np.float32),
        "b1": np.zeros(16, np.float32),
        "w2": (rng.standard_normal((32, 16, 3, 3)) / 12).astype(np.float32),
        "b2": np.zeros(32, np.float32),
        "wp": (rng.standard_normal((32, dim)) / 4).astype(np.float32),
        "ax0": np.array([0], np.int64),
    }
    nodes = [n("Reshape", ["frames", "shape4"], ["f4"], name="/cnn/Reshape"),
             n("Conv", ["f4", "w1", "b1"], ["c1"], strides=[4, 4], name="/cnn.0/Conv"),
             n("Relu", ["c1"], ["r1"], name="/cnn.1/Relu"),
             n("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="/cnn.2/Conv"),
             n("Relu", ["c2"], ["r2"], name="/cnn.3/Relu"),
             n("ReduceMean", ["r2"], ["pool"], axes=[2, 3], keepdims=0, name="/pool"),
             n("MatMul", ["pool", "wp"], ["lin"], name="/proj/MatMul"),
             n("Tanh", ["lin"], ["feat"], name="/proj/Tanh"),
             n("Unsqueeze", ["feat", "ax0"], ["visual_features"], name="/out")]
    return testpkg._model(nodes, "visual_encoder",
                          [testpkg._vi("frames", TensorProto.FLOAT, [1, "T", 3, size, size])],
                          [testpkg._vi("visual_features", TensorProto.FLOAT, [1, "T", dim])],
                          inits)


def build(folder: str | Path, *, dim: int = 128, blocks: int = 2, channels: int = 8,
          seed: int = 7, **kw) -> Path:
    """testpkg.build(...) with the DiT-like denoiser and the CNN visual encoder (FP32 and the
    package's first dynamic INT8 variant, like the shipped model)."""
    folder = testpkg.build(folder, channels=channels, name=kw.pop("name", "test-dit"), **kw)
    rng = np.random.default_rng(seed)
    den = onnx.load(str(folder / "denoiser.fp32.onnx"))
    onnx.save(add_block_stack(den, channels, dim, blocks, rng), str(folder / "denoiser.fp32.onnx"))
    onnx.save(conv_visual_encoder(16, 8, rng), str(folder / "visual_encoder.fp32.onnx"))
    from foley_desktop.quantize import dynamic

    for role in ("denoiser", "visual_encoder"):
        dynamic.quantize(folder / f"{role}.fp32.onnx", folder / f"{role}.int8.onnx")
    testpkg.rehash(folder)
    m = json.loads((folder / "manifest.json").read_text())
    m["description"] = "testpkg with a DiT-like denoiser and a CNN visual encoder (quantize dev)"
    (folder / "manifest.json").write_text(json.dumps(m, indent=2))
    return folder


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--frames", type=int, default=200)
    a = ap.parse_args(argv)
    build(a.out, dim=a.dim, blocks=a.blocks, window_frames=a.frames, overlap_frames=a.frames // 5)
    print(a.out)  # noqa: T201 - the program's result: the package folder


if __name__ == "__main__":
    main()
