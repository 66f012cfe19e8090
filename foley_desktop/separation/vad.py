"""Silero VAD (ONNX, shipped in resources/models/separation/silero-vad/) run as a stream.

The network takes 512 new samples at 16 kHz plus the 64 samples before them and a recurrent
state, and returns the probability that the chunk holds speech. Input arrives at 48 kHz: a
windowed-sinc low-pass then keeping every third sample brings it to 16 kHz with a known,
fixed delay, so each probability maps to an exact span of 48 kHz samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.errors import ModelPackageError
from foley_desktop.paths import resources_dir

CHUNK_16K = 512
CONTEXT_16K = 64
DECIM = 3
CHUNK = CHUNK_16K * DECIM  # 1536 samples at 48 kHz = 32 ms per probability
_TAPS = 97  # odd, so the low-pass delays by exactly (TAPS - 1) / 2 samples
FILTER_DELAY = (_TAPS - 1) // 2


def model_path() -> Path:
    return resources_dir() / "models" / "separation" / "silero-vad" / "silero_vad_16k.onnx"


def lowpass() -> np.ndarray:
    # Cut-off at 7.2 kHz (below the 8 kHz Nyquist of 16 kHz), Blackman window: >70 dB stop band.
    n = np.arange(_TAPS) - FILTER_DELAY
    fc = 7200.0 / 48000.0
    h = 2 * fc * np.sinc(2 * fc * n) * np.blackman(_TAPS)
    return (h / h.sum()).astype(np.float32)


_SESSION = None


def _session():
    global _SESSION
    if _SESSION is None:
        import onnxruntime as ort

        path = model_path()
        if not path.is_file():
            raise ModelPackageError(f"voice activity model missing: {path}")
        opts = ort.SessionOptions()
        # One 512-sample chunk is tiny: threads cost more than they give.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        _SESSION = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return _SESSION


class VoiceActivity:
    """Feed 48 kHz mono in any lengths; get one speech probability per completed 32 ms chunk.

    Probability i describes 48 kHz input samples [i * CHUNK - FILTER_DELAY,
    (i + 1) * CHUNK - FILTER_DELAY): the filter's delay shifts the chunks slightly earlier.
    """

    def __init__(self) -> None:
        self._sess = _session()
        self._h = lowpass()
        self._hist = np.zeros(_TAPS - 1, np.float32)  # filter memory
        self._phase = 0  # index of the next input sample modulo DECIM
        self._pending16 = np.zeros(0, np.float32)
        self._context = np.zeros(CONTEXT_16K, np.float32)
        self._state = np.zeros((2, 1, 128), np.float32)
        self._sr = np.array(16000, dtype=np.int64)

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if len(x) == 0:
            return np.zeros(0, np.float32)
        buf = np.concatenate([self._hist, x])
        full = np.convolve(buf, self._h, mode="valid")  # one output per input sample of x
        self._hist = buf[-(_TAPS - 1):]
        start = (-self._phase) % DECIM
        y16 = full[start::DECIM]
        self._phase = (self._phase + len(x)) % DECIM
        pending = np.concatenate([self._pending16, y16])
        n = len(pending) // CHUNK_16K
        probs = np.empty(n, np.float32)
        for i in range(n):
            chunk = pending[i * CHUNK_16K:(i + 1) * CHUNK_16K]
            inp = np.concatenate([self._context, chunk])[None, :]
            out, self._state = self._sess.run(None, {"input": inp, "state": self._state,
                                                     "sr": self._sr})
            probs[i] = float(out[0, 0])
            self._context = chunk[-CONTEXT_16K:]
        self._pending16 = pending[n * CHUNK_16K:]
        return probs
