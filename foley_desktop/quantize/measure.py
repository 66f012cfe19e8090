"""Measuring one graph against its FP32 original on captured inputs: output error and speed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
       "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(double)": np.float64}


def session(path: str | Path | bytes, threads: int | None = None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 4      # a candidate that fails is reported by the caller, in one line
    if threads:
        so.intra_op_num_threads = threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    src = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    types = {i.name: _NP.get(i.type, np.float32) for i in sess.get_inputs()}
    feeds = {k: np.asarray(v, dtype=types[k]) for k, v in feeds.items() if k in types}
    opts = ort.RunOptions()
    opts.log_severity_level = 4
    return [np.asarray(o, np.float32) for o in sess.run(None, feeds, opts)]


def reference(fp32: str | Path, samples: list[dict], threads: int | None = None) -> list[list]:
    sess = session(fp32, threads)
    return [run(sess, s) for s in samples]


def relative_error(candidate: str | Path | bytes, samples: list[dict], refs: list[list],
                   threads: int | None = None) -> float:
    """sqrt(sum |y - y_fp32|^2 / sum |y_fp32|^2) over every output of every sample (0 = exact);
    inf when the candidate produces NaN/Inf, nan when it fails to run on these inputs."""
    try:
        sess = session(candidate, threads)
        outs = [run(sess, s) for s in samples]
    except Exception:  # noqa: BLE001 - ORT's own exception types: the graph does not run
        return float("nan")
    num = den = 0.0
    for ys, ref in zip(outs, refs):
        for y, r in zip(ys, ref):
            if not np.isfinite(y).all():
                return float("inf")
            num += float(np.sum((y.astype(np.float64) - r) ** 2))
            den += float(np.sum(r.astype(np.float64) ** 2))
    return float(np.sqrt(num / max(den, 1e-30)))


def interleaved_latency(paths: dict[str, str | Path | bytes], feeds: dict, repeats: int = 5,
                        threads: int | None = None) -> dict[str, float]:
    """Median seconds per run of each graph on the same feeds, runs interleaved (A B A B …) so
    that load from other processes on a shared machine hits every candidate alike."""
    sessions = {k: session(p, threads) for k, p in paths.items()}
    for s in sessions.values():
        run(s, feeds)                      # warm-up: allocations, kernel selection
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(repeats):
        for k, s in sessions.items():
            t0 = time.perf_counter()
            run(s, feeds)
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def subset(samples: list[dict], n: int) -> list[dict]:
    """`n` samples spread evenly over the list (early and late sampler steps alike)."""
    if len(samples) <= n:
        return list(samples)
    idx = np.linspace(0, len(samples) - 1, n).round().astype(int)
    return [samples[i] for i in idx]


QUANT_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QuantizeLinear",
             "DequantizeLinear", "QLinearConv", "QLinearMatMul", "DynamicQuantizeMatMul",
             "MatMulIntegerToFloat", "QGemm"}


def quantized_nodes(path: str | Path) -> int:
    """How many nodes of a graph do quantized work (0: the quantizer found nothing to do)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)   # structure only
    return sum(node.op_type in QUANT_OPS for node in model.graph.node)
