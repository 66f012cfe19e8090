"""`dfn-refine` backend (experimental: measured below the default on read speech): the
default backend (DeepFilterNet3 + Silero VAD gate) with a small trained network that
re-weighs DeepFilterNet3's estimate and residual below 8 kHz.

Pipeline (the default's up to the mask, see default.py):
1. DeepFilterNet3 gives the speech estimate; per STFT frame (960 sqrt-Hann, hop 480) the
   default's complex ratio M = S / A of the analysed signal A (|M| <= 2) is formed.
2. The network (ONNX Runtime, one thread) reads, per 10 ms frame and per bin below 8 kHz
   (bins 0..160), log10 powers of the mixture A, of DeepFilterNet3's estimate M A and of its
   residual (1 - M) A, over frames t-3..t+3 (a convolution), then a GRU carries the context.
   Per bin it outputs g1 and g2 and the mask there becomes G = g1 M + g2 (1 - M): how much
   of DeepFilterNet3's speech estimate to keep and how much of what it removed to give back.
   The shipped weights (dfn-refine-v1) have the `attenuate` head: g1 in [0, 1], g2 = 0, so
   they can only take more out of the estimate (runs that could give back measured worse,
   docs/separation.md). Above 8 kHz G = M (the default's, so the high band of 48 kHz speech
   is what DeepFilterNet3 keeps).
3. The default's VAD gate multiplies G (pauses stay exactly silent); dialogue = masked input,
   background = input - dialogue.

Latency: the default's plus the network's 3 frames of look-ahead (1440 samples).
Trained by scripts/train_separation_refine.py on Debian speech (corpus.py); weights and
credits in resources/models/separation/dfn-refine-v1/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.paths import resources_dir
from foley_desktop.separation.base import Separator, register, small_network
from foley_desktop.separation.default import DeepFilterSeparator

R = 161  # refined bins: 0 .. 8 kHz at 50 Hz per bin
CONTEXT = 3  # frames either side read by the network's convolution
N_FEATS = 3 * R
EPS = 1e-10


def model_path() -> Path:
    return resources_dir() / "models" / "separation" / "dfn-refine-v1" / "refine.onnx"


def features(A: np.ndarray, M: np.ndarray) -> np.ndarray:
    """[frames, 3R] float32 network input from the analysed signal's STFT A and the capped
    ratio M (both [frames, >= R] complex): scaled log10 powers of A, M A and (1 - M) A."""
    A = A[:, :R].astype(np.complex64)
    M = M[:, :R].astype(np.complex64)
    pa = A.real ** 2 + A.imag ** 2
    gm = M.real ** 2 + M.imag ** 2
    rm = (1 - M.real) ** 2 + M.imag ** 2
    f = np.concatenate([np.log10(pa + EPS), np.log10(pa * gm + EPS), np.log10(pa * rm + EPS)],
                       axis=1)
    return ((f + 5.0) / 3.0).astype(np.float32)

class RefineSeparator(DeepFilterSeparator):
    """The default pipeline with the trained refinement (module doc).

    `dump=True` runs no network (the mask is the default's) and records per frame the
    analysed STFT A and the ratio M below 8 kHz and the gate: the training script builds its
    data with it, so training and inference see the same numbers.
    """

    name = "dfn-refine"

    def __init__(self, channels: int, model: str | Path | None = None, dump: bool = False,
                 **options) -> None:
        options["smooth_frames"] = CONTEXT
        super().__init__(channels, **options)
        self._sess = None
        if not dump:
            self._sess = small_network(Path(model) if model else model_path(), "refinement network")
            hidden = {i.name: i for i in self._sess.get_inputs()}["h0"].shape[-1]
            self._h = np.zeros((1, 1, hidden), np.float32)
        self.dump: dict[str, list[np.ndarray]] | None = (
            {"A": [], "M": [], "gate": []} if dump else None)

    def _ratio(self, S: np.ndarray, A: np.ndarray) -> np.ndarray:
        M = S * A.conj() / (A.real ** 2 + A.imag ** 2 + 1e-20)
        mag = np.abs(M)
        return np.where(mag > self.MAX_RATIO, M * (self.MAX_RATIO / np.maximum(mag, 1e-20)), M)

    def _mask_and_synthesize(self) -> None:
        m_end = min(self._k - self.T, self._vad_frames_ready() - self.look)
        if m_end <= self._m:
            return
        T = self.T
        rows = slice(self._m - self._f0, m_end - self._f0)
        M = self._ratio(self._S[rows], self._A[rows])
        gate = (self._gate(m_end) if self.use_gate
                else np.ones(m_end - self._m)).astype(np.float32)
        if self.dump is not None:
            self.dump["A"].append(self._A[rows, :R].copy())
            self.dump["M"].append(M[:, :R].astype(np.complex64))
            self.dump["gate"].append(gate)
            G = M
        else:
            # Context rows m-T .. m_end+T-1; rows before the stream's start are zeros.
            r0 = self._m - T - self._f0
            ctx = slice(max(0, r0), m_end + T - self._f0)
            Ac = self._A[ctx, :R]
            Mc = self._ratio(self._S[ctx, :R], Ac)
            if r0 < 0:
                z = np.zeros((-r0, R), np.complex64)
                Ac, Mc = np.concatenate([z, Ac]), np.concatenate([z, Mc])
            g1, g2, self._h = self._sess.run(
                None, {"feats": features(Ac, Mc)[None], "h0": self._h})
            G = M.astype(np.complex64)
            G[:, :R] = g1[0] * M[:, :R] + g2[0] * (1 - M[:, :R])
        self._apply_mask(G * gate[:, None], m_end)


def dump_frames(audio: np.ndarray) -> dict[str, np.ndarray]:
    """Run the default pipeline on mono `audio` (no network); per frame A, M (bins < R) and
    the gate, frames 0 .. K-1 where frame k's window covers samples [(k-1) HOP, (k+1) HOP)."""
    from foley_desktop.separation.base import separate_array

    sep = RefineSeparator(1, dump=True)
    separate_array(sep, np.asarray(audio, np.float32)[None], block=SAMPLE_RATE)
    return {k: np.concatenate(v) for k, v in sep.dump.items()}


@register("dfn-refine", "DeepFilterNet3 + a small network trained on Debian speech re-weighing "
          "its estimate below 8 kHz + Silero VAD gate (ONNX, shipped weights)")
def _make_refine(channels: int, **options) -> Separator:
    return RefineSeparator(channels, **options)
