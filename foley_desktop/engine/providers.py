"""Execution providers: TensorRT -> CUDA -> CPU, chosen automatically or as asked, and why.

onnxruntime-gpu is compiled with all three but its GPU providers only start when the CUDA /
cuDNN / TensorRT libraries (and a GPU) are present. Asking ONNX Runtime blindly prints several
lines of errors and silently runs on CPU; instead each provider's plug-in library is loaded
first (ctypes), and the loader's one-line message says what is missing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from dataclasses import dataclass
from functools import cache

import onnxruntime as ort

from foley_desktop.errors import GenerationError
from foley_desktop.paths import user_cache_dir

log = logging.getLogger(__name__)

ORT_NAMES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
             "cpu": "CPUExecutionProvider"}
ORDER = ("tensorrt", "cuda", "cpu")
CHOICES = ("auto",) + ORDER
_PLUGIN = {"tensorrt": "onnxruntime_providers_tensorrt", "cuda": "onnxruntime_providers_cuda"}

# Errors ONNX Runtime logs while probing providers are ours to report, in one line.
ort.set_default_logger_severity(3)


@dataclass(frozen=True)
class ProviderChoice:
    name: str                     # "tensorrt" | "cuda" | "cpu": what will run
    requested: str                # what the user asked for ("auto" …)
    fallback_reason: str | None   # why a better or requested provider is not used

    def ort_providers(self, precision: str | None = None) -> list:
        """The list given to InferenceSession; CPU always closes it for unsupported nodes."""
        if self.name == "tensorrt":
            cache = user_cache_dir() / "tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            # TensorRT builds reduced-precision kernels only when told to (INT8 QDQ graphs
            # need int8 enabled to keep their explicit quantization).
            return [(ORT_NAMES["tensorrt"], {"trt_engine_cache_enable": True,
                                             "trt_engine_cache_path": str(cache),
                                             "trt_fp16_enable": precision == "fp16",
                                             "trt_int8_enable": precision == "int8"}),
                    ORT_NAMES["cuda"], ORT_NAMES["cpu"]]
        if self.name == "cuda":
            return [ORT_NAMES["cuda"], ORT_NAMES["cpu"]]
        return [ORT_NAMES["cpu"]]


def _first_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


@cache
def unavailable_reason(name: str) -> str | None:
    """None when provider `name` can start here, else one line saying what is missing."""
    if name == "cpu":
        return None
    if ORT_NAMES[name] not in ort.get_available_providers():
        return (f"this onnxruntime build has no {name} provider "
                "(install onnxruntime-gpu instead of onnxruntime)")
    capi = os.path.join(os.path.dirname(ort.__file__), "capi")
    ext = ".dll" if sys.platform == "win32" else ".so"
    prefix = "" if sys.platform == "win32" else "lib"
    plugin = os.path.join(capi, prefix + _PLUGIN[name] + ext)
    try:
        # The shared bridge must be loaded before a provider plug-in resolves its symbols.
        ctypes.CDLL(os.path.join(capi, prefix + "onnxruntime_providers_shared" + ext),
                    mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        ctypes.CDLL(plugin)
    except OSError as exc:
        what = "TensorRT/CUDA" if name == "tensorrt" else "CUDA/cuDNN"
        return f"{what} libraries missing: {_first_line(str(exc))}"
    return None


def choose(requested: str = "auto") -> ProviderChoice:
    """Pick the provider to run: the best that can start (auto) or the one asked for."""
    requested = (requested or "auto").lower()
    if requested not in CHOICES:
        raise GenerationError(f"unknown provider {requested!r}; choose one of {', '.join(CHOICES)}")
    candidates = ORDER if requested == "auto" else ORDER[ORDER.index(requested):]
    reasons: list[str] = []
    for name in candidates:
        reason = unavailable_reason(name)
        if reason is None:
            why = None
            if reasons:
                why = "; ".join(reasons) + f"; running on {name.upper() if name != 'tensorrt' else 'TensorRT'}"
            log.info("provider %s (asked: %s)%s", name, requested, f": {why}" if why else "")
            return ProviderChoice(name, requested, why)
        reasons.append(f"{name} unavailable ({reason})")
    raise AssertionError("the CPU provider is always available")


def fallback_after_start(choice: ProviderChoice, actual: list[str]) -> ProviderChoice:
    """The choice corrected by what a session actually got (e.g. libraries load, no GPU)."""
    wanted = ORT_NAMES[choice.name]
    if wanted in actual:
        return choice
    got = next((n for n in ORDER if ORT_NAMES[n] in actual), "cpu")
    reason = (f"{choice.name} could not start (no usable GPU or driver?); running on "
              f"{got.upper()}")
    if choice.fallback_reason:
        reason = choice.fallback_reason.rsplit(";", 1)[0] + "; " + reason
    return ProviderChoice(got, choice.requested, reason)
