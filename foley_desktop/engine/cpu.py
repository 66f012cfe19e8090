"""Whether this CPU's INT8 kernels saturate on full-range weights, and which variants that hurts.

onnxruntime's CPU INT8 MatMul multiplies U8 activations by S8 weights. With VNNI (AVX512-VNNI,
AVX-VNNI, AMX) products are summed in int32. Without it (x86 with AVX2 only: AMD Zen 2/3, Intel
before Ice Lake / Alder Lake) it uses `vpmaddubsw`, which adds pairs of products into a
saturating int16: 255 x 127 x 2 = 64770 clips, 255 x 64 x 2 = 32640 does not. So 8-bit weights
give wrong sums there (foley-tiny 1.2.0's denoiser: latents 32 % away from FP32 on an AVX2-only
AMD EPYC), 7-bit weights (-64..64, what every quantizer of this app writes since 1.2.1, see
quantize/dynamic.py) are exact. A variant entry records its range as `weight_range`; an INT8
variant without it is taken to be full range (older packages, other tools).
"""

from __future__ import annotations

import os
import platform
from functools import cache

SAFE_WEIGHT_RANGE = 64
_VNNI_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8"}


@cache
def int8_saturates() -> bool:
    """True on x86 CPUs without VNNI. Read from /proc/cpuinfo (Linux); elsewhere unknown and
    taken as False. FOLEY_DESKTOP_INT8_SATURATES=1 / 0 overrides (other systems, tests)."""
    forced = os.environ.get("FOLEY_DESKTOP_INT8_SATURATES")
    if forced in ("0", "1"):
        return forced == "1"
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False   # ARM's INT8 dot products accumulate in int32
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return not (_VNNI_FLAGS & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def is_int8(name: str, entry: dict) -> bool:
    return "int8" in name or str(entry.get("recipe", "")).startswith("int8")


def saturates(name: str, entry: dict) -> bool:
    """This variant would compute wrong sums on this CPU (full-range INT8 weights, no VNNI)."""
    if not is_int8(name, entry) or not int8_saturates():
        return False
    return int(entry.get("weight_range", 127)) > SAFE_WEIGHT_RANGE
