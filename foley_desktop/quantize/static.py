"""Static INT8 (QDQ): activation ranges fixed ahead of time from calibration inputs captured
through the real pipeline (see calibrate.py: the denoiser's inputs are the noisy states of every
sampler step for real clips), U8 activations and S8 weights.

U8/S8 QDQ is the form ONNX Runtime's CPU kernels fuse well (S8/S8 QDQ fused poorly here), and
the form TensorRT takes for INT8. ConvTranspose stays float by default (no gain measured).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.quantize import dynamic
from foley_desktop.quantize._quiet import quiet

DEFAULT_OPS = ("Conv", "MatMul", "Gemm")
# Calibration memory: onnxruntime's MinMax calibrator keeps, per sample, only the ReduceMin /
# ReduceMax of each tensor (scalars), so samples do not accumulate activations; its
# CalibMaxIntermediateOutputs option is not used because in onnxruntime 1.31 it discards the
# collected ranges instead of folding them in (calibrate.py: clear_collected_data).


class FeedReader:
    """ONNX Runtime's CalibrationDataReader over recorded feeds (one graph's samples)."""

    def __init__(self, samples: list[dict[str, np.ndarray]], input_names: list[str]) -> None:
        self.samples = samples
        self.names = input_names
        self.i = 0
        self.served = 0

    def get_next(self):
        if self.i >= len(self.samples):
            return None
        s = self.samples[self.i]
        self.i += 1
        self.served += 1
        return {k: v for k, v in s.items() if k in self.names}

    def rewind(self) -> None:
        self.i = 0


def quantize(src: Path, dst: Path, samples: list[dict[str, np.ndarray]], *,
             ops: tuple[str, ...] = DEFAULT_OPS, per_channel: bool = False,
             exclude_nodes: list[str] | None = None, nodes: list[str] | None = None,
             method: str = "minmax") -> dict:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not samples:
        raise ValueError("static quantization needs calibration samples")
    names = [i.name for i in onnx.load(str(src), load_external_data=False).graph.input]

    class Reader(FeedReader, CalibrationDataReader):   # ORT checks the base class
        pass

    reader = Reader(samples, names)
    calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}[method]
    from foley_desktop.quantize import external

    with quiet():
        quantize_static(str(src), str(dst), reader, quant_format=QuantFormat.QDQ,
                        use_external_data_format=external.is_large(src),
                        op_types_to_quantize=list(ops), per_channel=per_channel,
                        reduce_range=dynamic.REDUCE_RANGE,   # 7-bit weights: see dynamic.py
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(exclude_nodes or []),
                        nodes_to_quantize=list(nodes) if nodes else None,
                        calibrate_method=calib,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                       "CalibMovingAverage": False})
    return {"ops": list(ops), "per_channel": per_channel, "weights": dynamic.WEIGHTS,
            "activations": "U8 (static)", "calibration_method": method,
            "calibration_samples": reader.served, "excluded_nodes": sorted(exclude_nodes or [])}
