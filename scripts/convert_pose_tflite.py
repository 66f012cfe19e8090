"""Convert MediaPipe's pose models (TFLite, from the mediapipe==0.10.21 wheel) to ONNX, once.

    python -m venv /tmp/cv && /tmp/cv/bin/pip install tflite onnx numpy ai-edge-litert
    pip download --no-deps --only-binary :all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 mediapipe==0.10.21 -d DIR && unzip it
    /tmp/cv/bin/python scripts/convert_pose_tflite.py DIR/mediapipe/modules OUT_DIR [--check]

A small TFLite -> ONNX converter written for the few operators these two graphs use (the
`tflite2onnx` package stops at DENSIFY, the block-sparse weight format of pose_detection).
TFLite keeps activations NHWC; the ONNX graph takes the same NHWC input, transposes it once to
NCHW, and transposes back only where a 4-D tensor is reshaped or leaves the graph, so the
outputs are those of the TFLite model. Weights are stored as FP16 in the TFLite files
(DEQUANTIZE, sometimes after DENSIFY): they are expanded to FP32 here, exactly.

--check runs both graphs on the same inputs (ONNX Runtime vs LiteRT, when installed) and
prints the largest difference per output; the conversion is accepted only below 1e-3 of the
output's range.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPS = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
NP = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
      tflite.TensorType.INT32: np.int32, tflite.TensorType.UINT8: np.uint8,
      tflite.TensorType.INT8: np.int8, tflite.TensorType.INT64: np.int64}
NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]
MODELS = {"pose_detection": "pose_detection/pose_detection.tflite",
          "pose_landmark_full": "pose_landmark/pose_landmark_full.tflite"}


def _options(op, cls):
    t = op.BuiltinOptions()
    o = cls()
    o.Init(t.Bytes, t.Pos)
    return o


def _densify(t, data: np.ndarray) -> np.ndarray:
    """A block-sparse (CSR per level) tensor's dense values, as TFLite's FormatConverter does."""
    sp = t.Sparsity()
    shape = list(t.ShapeAsNumpy())
    n = len(shape)
    order = list(sp.TraversalOrderAsNumpy())
    bmap = list(sp.BlockMapAsNumpy()) if sp.BlockMapLength() else []
    levels = []
    for i in range(sp.DimMetadataLength()):
        dm = sp.DimMetadata(i)
        if dm.Format() == tflite.DimensionType.DENSE:
            levels.append(("dense", dm.DenseSize(), None, None))
        else:
            levels.append(("csr", None, _int_vector(dm, True), _int_vector(dm, False)))
    block_sizes = [levels[order.index(n + b)][1] for b in range(len(bmap))]
    dense = np.zeros(shape, data.dtype)
    idx = [0] * len(order)
    pos = [0]

    def place():
        orig = idx[:n]
        for b, d in enumerate(bmap):
            orig[d] = orig[d] * block_sizes[b] + idx[n + b]
        dense[tuple(orig)] = data[pos[0]]
        pos[0] += 1

    def walk(level: int, prev: int):
        if level == len(order):
            place()
            return
        kind, size, segs, inds = levels[level]
        if kind == "dense":
            for i in range(size):
                idx[order[level]] = i
                walk(level + 1, prev * size + i)
        else:
            for i in range(segs[prev], segs[prev + 1]):
                idx[order[level]] = int(inds[i])
                walk(level + 1, i)

    walk(0, 0)
    assert pos[0] == len(data), (pos[0], len(data))
    return dense


def _int_vector(dm, segments: bool) -> np.ndarray:
    kind = dm.ArraySegmentsType() if segments else dm.ArrayIndicesType()
    table = dm.ArraySegments() if segments else dm.ArrayIndices()
    cls = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[kind]
    v = cls()
    v.Init(table.Bytes, table.Pos)
    return v.ValuesAsNumpy()


class Converter:
    def __init__(self, path: Path):
        self.buf = path.read_bytes()
        self.m = tflite.Model.GetRootAsModel(self.buf, 0)
        self.g = self.m.Subgraphs(0)
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.const: dict[int, np.ndarray] = {}   # tensor index -> value (folded constants)
        self.rank4: set[int] = set()             # tensors held as NCHW in the ONNX graph
        self.counter = 0

    def name(self, i: int) -> str:
        return f"t{i}"

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def tensor(self, i: int):
        return self.g.Tensors(i)

    def buffer_value(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        b = self.m.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        raw = b.DataAsNumpy().tobytes()
        data = np.frombuffer(raw, NP[t.Type()])
        if t.Sparsity() is not None:
            return _densify(t, data)
        return data.reshape(t.ShapeAsNumpy()) if t.ShapeLength() else data.reshape(())

    def value(self, i: int) -> np.ndarray | None:
        if i in self.const:
            return self.const[i]
        v = self.buffer_value(i)
        if v is not None:
            self.const[i] = v
        return v

    def init(self, arr: np.ndarray, stem: str) -> str:
        n = self.fresh(stem)
        self.inits[n] = arr
        return n

    def node(self, op: str, ins: list[str], outs: list[str], **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, name=self.fresh(op), **attrs))

    def activation(self, act: int, src: str, dst: str):
        if act == tflite.ActivationFunctionType.NONE:
            self.node("Identity", [src], [dst])
        elif act == tflite.ActivationFunctionType.RELU:
            self.node("Relu", [src], [dst])
        elif act == tflite.ActivationFunctionType.RELU6:
            self.node("Clip", [src, self.init(np.float32(0), "zero"),
                               self.init(np.float32(6), "six")], [dst])
        else:
            raise NotImplementedError(f"activation {act}")

    def convert(self) -> onnx.ModelProto:
        g = self.g
        inputs, outputs = [], []
        for k in range(g.InputsLength()):
            i = g.Inputs(k)
            t = self.tensor(i)
            shp = [int(s) for s in t.ShapeAsNumpy()]
            nm = t.Name().decode()
            inputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, shp))
            self.node("Transpose", [nm], [self.name(i)], perm=NHWC_TO_NCHW)
            self.rank4.add(i)
        for k in range(g.OperatorsLength()):
            self.op(g.Operators(k))
        for k in range(g.OutputsLength()):
            i = g.Outputs(k)
            t = self.tensor(i)
            nm = t.Name().decode()
            shp = [int(s) for s in t.ShapeAsNumpy()]
            if i in self.rank4:
                self.node("Transpose", [self.name(i)], [nm], perm=NCHW_TO_NHWC)
            else:
                self.node("Identity", [self.name(i)], [nm])
            outputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, shp))
        graph = helper.make_graph(self.nodes, "pose", inputs, outputs,
                                  [numpy_helper.from_array(v, k) for k, v in self.inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                  producer_name="foley-desktop convert_pose_tflite")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def op(self, op):
        oc = self.m.OperatorCodes(op.OpcodeIndex())
        kind = OPS[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
        ins = [op.Inputs(k) for k in range(op.InputsLength())]
        outs = [op.Outputs(k) for k in range(op.OutputsLength())]
        o = outs[0]
        out_shape = [int(s) for s in self.tensor(o).ShapeAsNumpy()]
        if kind in ("DEQUANTIZE", "DENSIFY"):
            v = self.value(ins[0])
            assert v is not None, kind
            self.const[o] = v.astype(np.float32) if kind == "DEQUANTIZE" else v
            return
        if kind == "CONV_2D" or kind == "DEPTHWISE_CONV_2D":
            dw = kind == "DEPTHWISE_CONV_2D"
            opt = _options(op, tflite.DepthwiseConv2DOptions if dw else tflite.Conv2DOptions)
            w = self.value(ins[1]).astype(np.float32)
            b = self.value(ins[2]).astype(np.float32) if len(ins) > 2 and ins[2] >= 0 else None
            c_in = self.tensor(ins[0]).ShapeAsNumpy()[3]
            if dw:   # [1, kh, kw, C*m] -> [C*m, 1, kh, kw]
                w = np.ascontiguousarray(w.transpose(3, 0, 1, 2))
                group = int(c_in)
            else:    # [O, kh, kw, I] -> [O, I, kh, kw]
                w = np.ascontiguousarray(w.transpose(0, 3, 1, 2))
                group = 1
            args = [self.name(ins[0]), self.init(w, "w")]
            if b is not None:
                args.append(self.init(b, "b"))
            pad = "SAME_UPPER" if opt.Padding() == tflite.Padding.SAME else "VALID"
            tmp = self.fresh("conv")
            self.node("Conv", args, [tmp], group=group, auto_pad=pad,
                      strides=[opt.StrideH(), opt.StrideW()],
                      dilations=[opt.DilationHFactor(), opt.DilationWFactor()],
                      kernel_shape=list(w.shape[2:]))
            self.activation(opt.FusedActivationFunction(), tmp, self.name(o))
            self.rank4.add(o)
        elif kind == "ADD":
            opt = _options(op, tflite.AddOptions)
            args = []
            for i in ins:
                v = self.value(i)
                if v is None:
                    args.append(self.name(i))
                else:
                    if v.ndim == 4:
                        v = v.transpose(NHWC_TO_NCHW)
                    elif v.ndim == 1 and len(out_shape) == 4:
                        v = v.reshape(-1, 1, 1)
                    args.append(self.init(np.ascontiguousarray(v.astype(np.float32)), "c"))
            tmp = self.fresh("add")
            self.node("Add", args, [tmp])
            self.activation(opt.FusedActivationFunction(), tmp, self.name(o))
            if len(out_shape) == 4:
                self.rank4.add(o)
        elif kind == "PAD":
            p = self.value(ins[1]).astype(np.int64).reshape(-1, 2)
            if len(p) == 4:
                p = p[NHWC_TO_NCHW]
            self.node("Pad", [self.name(ins[0]), self.init(np.concatenate([p[:, 0], p[:, 1]]),
                                                           "pads")], [self.name(o)])
            if len(out_shape) == 4:
                self.rank4.add(o)
        elif kind == "MAX_POOL_2D":
            opt = _options(op, tflite.Pool2DOptions)
            pad = "SAME_UPPER" if opt.Padding() == tflite.Padding.SAME else "VALID"
            tmp = self.fresh("pool")
            self.node("MaxPool", [self.name(ins[0])], [tmp], auto_pad=pad,
                      kernel_shape=[opt.FilterHeight(), opt.FilterWidth()],
                      strides=[opt.StrideH(), opt.StrideW()])
            self.activation(opt.FusedActivationFunction(), tmp, self.name(o))
            self.rank4.add(o)
        elif kind == "DEPTH_TO_SPACE":
            opt = _options(op, tflite.DepthToSpaceOptions)
            self.node("DepthToSpace", [self.name(ins[0])], [self.name(o)],
                      blocksize=opt.BlockSize(), mode="DCR")
            self.rank4.add(o)
        elif kind == "RESIZE_BILINEAR":
            opt = _options(op, tflite.ResizeBilinearOptions)
            size = self.value(ins[1]).astype(np.int64)
            c = self.tensor(ins[0]).ShapeAsNumpy()[3]
            mode = ("align_corners" if opt.AlignCorners() else
                    "half_pixel" if opt.HalfPixelCenters() else "asymmetric")
            self.node("Resize", [self.name(ins[0]), "", "",
                                 self.init(np.array([1, c, size[0], size[1]], np.int64), "sz")],
                      [self.name(o)], mode="linear", coordinate_transformation_mode=mode)
            self.rank4.add(o)
        elif kind == "RESHAPE":
            src = self.name(ins[0])
            if ins[0] in self.rank4:
                nhwc = self.fresh("nhwc")
                self.node("Transpose", [src], [nhwc], perm=NCHW_TO_NHWC)
                src = nhwc
            shape = np.array(out_shape, np.int64)
            if len(out_shape) == 4:
                tmp = self.fresh("r4")
                self.node("Reshape", [src, self.init(shape, "shape")], [tmp])
                self.node("Transpose", [tmp], [self.name(o)], perm=NHWC_TO_NCHW)
                self.rank4.add(o)
            else:
                self.node("Reshape", [src, self.init(shape, "shape")], [self.name(o)])
        elif kind == "CONCATENATION":
            opt = _options(op, tflite.ConcatenationOptions)
            axis = opt.Axis()
            if len(out_shape) == 4:
                axis = NHWC_TO_NCHW.index(axis % 4)
                self.rank4.add(o)
            tmp = self.fresh("cat")
            self.node("Concat", [self.name(i) for i in ins], [tmp], axis=axis)
            self.activation(opt.FusedActivationFunction(), tmp, self.name(o))
        elif kind == "LOGISTIC":
            self.node("Sigmoid", [self.name(ins[0])], [self.name(o)])
            if len(out_shape) == 4:
                self.rank4.add(o)
        else:
            raise NotImplementedError(f"TFLite operator {kind}")


def check(tfl: Path, onx: Path, seed: int = 0) -> float:
    """Largest |ONNX - TFLite| / output range over the outputs, on random and smooth inputs."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(tfl))
    it.allocate_tensors()
    sess = ort.InferenceSession(str(onx), providers=["CPUExecutionProvider"])
    inp = it.get_input_details()[0]
    rng = np.random.default_rng(seed)
    worst = 0.0
    shape = inp["shape"]
    smooth = np.cumsum(rng.normal(size=shape), axis=2).astype(np.float32)
    for x in (rng.uniform(-1, 1, shape).astype(np.float32),
              np.clip(smooth / np.abs(smooth).max(), -1, 1).astype(np.float32)):
        it.set_tensor(inp["index"], x)
        it.invoke()
        ref = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        got = dict(zip([o.name for o in sess.get_outputs()],
                       sess.run(None, {sess.get_inputs()[0].name: x}), strict=True))
        for k, r in ref.items():
            # relative to the output's spread (a single score is a probability: absolute)
            scale = float(r.max() - r.min()) if r.size > 1 else 1.0
            err = float(np.abs(got[k] - r).max()) / max(1e-6, scale)
            print(f"  {k:12s} {tuple(r.shape)}  max |diff| / spread {err:.2e}")
            worst = max(worst, err)
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", type=Path, help="mediapipe/modules of the unpacked wheel")
    ap.add_argument("out", type=Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    bad = False
    for stem, rel in MODELS.items():
        src = args.modules / rel
        model = Converter(src).convert()
        dst = args.out / f"{stem}.onnx"
        tmp = dst.with_suffix(".onnx.part")
        onnx.save(model, str(tmp))
        tmp.replace(dst)
        print(f"{src} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
        if args.check:
            worst = check(src, dst)
            bad |= worst > 1e-3
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
