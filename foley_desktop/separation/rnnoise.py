"""RNNoise through ctypes: the trained speech denoiser compiled into pyrnnoise's librnnoise.

Only the shared library of the `pyrnnoise` wheel is used, located with `find_spec` without
importing the package (its Python side pulls audiolab and matplotlib, which the app does not
need), so it works whether pyrnnoise was installed with or without its dependencies.
FOLEY_RNNOISE_LIB points at another build of the same C API.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from foley_desktop.errors import FoleyError

FRAME = 480  # samples per call at 48 kHz (10 ms), fixed by the library
# The output lags the input by two frames (measured on speech by cross-correlation: the
# library keeps one frame of analysis window and one of look-ahead).
DELAY = 960
# RNNoise was trained on 16-bit sample values, not [-1, 1] floats.
SCALE = 32768.0

_LIB_NAMES = {"linux": "librnnoise.so", "darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}
_lib = None


class RNNoiseUnavailable(FoleyError):
    """The RNNoise library (from the pyrnnoise wheel) cannot be found or loaded."""


def library_path() -> Path:
    env = os.environ.get("FOLEY_RNNOISE_LIB")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise RNNoiseUnavailable("the default separator needs RNNoise: pip install --no-deps pyrnnoise")
    name = _LIB_NAMES.get(sys.platform, "librnnoise.so")
    return Path(next(iter(spec.submodule_search_locations))) / name


def _load():
    global _lib
    if _lib is None:
        path = library_path()
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise RNNoiseUnavailable(f"cannot load RNNoise from {path}: {exc}") from exc
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.restype = None
        fptr = ctypes.POINTER(ctypes.c_float)
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, fptr, fptr]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        if lib.rnnoise_get_frame_size() != FRAME:
            raise RNNoiseUnavailable(f"{path}: unexpected RNNoise frame size")
        _lib = lib
    return _lib


class RNNoise:
    """One denoiser state: feed 48 kHz mono in any lengths, get the denoised signal back.

    `process(x)` returns as many samples as it was given, delayed by `DELAY` (the first
    call's output starts with the library's warm-up zeros), plus one voice probability per
    completed 10 ms frame. Leftover samples that do not fill a frame wait for the next call.
    """

    def __init__(self) -> None:
        self._lib = _load()
        self._state = self._lib.rnnoise_create(None)
        self._pending = np.zeros(0, np.float32)
        self._out = np.zeros(FRAME, np.float32)
        self._in = np.zeros(FRAME, np.float32)
        self._fptr = ctypes.POINTER(ctypes.c_float)

    def close(self) -> None:
        if self._state:
            self._lib.rnnoise_destroy(self._state)
            self._state = None

    def __del__(self) -> None:  # states are small C allocations; free them with the object
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing to report
            pass

    def process(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Denoise whole frames of `x` (float, [-1, 1]); returns (denoised, voice_prob)."""
        buf = np.concatenate([self._pending, np.asarray(x, np.float32)]) if len(self._pending) \
            else np.asarray(x, np.float32)
        n = len(buf) // FRAME
        out = np.empty(n * FRAME, np.float32)
        probs = np.empty(n, np.float32)
        fin, fout = self._in, self._out
        pin = fin.ctypes.data_as(self._fptr)
        pout = fout.ctypes.data_as(self._fptr)
        proc = self._lib.rnnoise_process_frame
        state = self._state
        for i in range(n):
            fin[:] = buf[i * FRAME:(i + 1) * FRAME]
            fin *= SCALE
            probs[i] = proc(state, pout, pin)
            out[i * FRAME:(i + 1) * FRAME] = fout
        out *= 1.0 / SCALE
        self._pending = buf[n * FRAME:].copy()
        return out, probs
