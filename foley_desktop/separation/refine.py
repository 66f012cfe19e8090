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

A model whose config.json says {"features": "norm"} reads NormFeatures instead (the v2
training runs of issue #29's second round, scripts/train_separation_refine_v2.sh; none beat
the default on the tuning set, none is shipped; `--model PATH` runs one).

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


# A model's optional config.json (beside the .onnx) says which features its network reads:
# {"features": "raw"} (the shipped v1: scaled log powers) or "norm" (the v2 runs of issue #29's
# second round, none shipped: log powers minus a running mean per bin, see NormFeatures).
NORM_FRAMES = 100  # running mean: cumulative over the first 100 frames, then 1 s EMA


def model_path() -> Path:
    return resources_dir() / "models" / "separation" / "dfn-refine-v1" / "refine.onnx"


def feature_kind(model: Path) -> str:
    """'raw' or 'norm': from config.json beside the .onnx (absent: 'raw', the v1 network)."""
    import json

    cfg = model.with_name("config.json")
    kind = json.loads(cfg.read_text()).get("features", "raw") if cfg.is_file() else "raw"
    if kind not in ("raw", "norm"):
        raise ValueError(f"{cfg}: unknown features {kind!r}")
    return kind


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


class NormFeatures:
    """Level- and colour-normalised features, computed once per frame in stream order: the
    three log10 powers of `features` minus a running mean `mu` of the mixture's log10 power
    per bin (cumulative over the first NORM_FRAMES frames, then an exponential mean with that
    time constant), divided by 3. Only the relation of the bins to their own recent past is
    left, not the recording's spectral colour or level (what v3 learnt as a fixed prior).
    Training (scripts/train_separation_refine.py) and inference call this same code."""

    def __init__(self) -> None:
        self.mu = np.zeros(R, np.float32)
        self.t = 0

    def __call__(self, A: np.ndarray, M: np.ndarray) -> np.ndarray:
        A = A[:, :R].astype(np.complex64)
        M = M[:, :R].astype(np.complex64)
        pa = A.real ** 2 + A.imag ** 2
        gm = M.real ** 2 + M.imag ** 2
        rm = (1 - M.real) ** 2 + M.imag ** 2
        la = np.log10(pa + EPS).astype(np.float32)
        mus = np.empty_like(la)
        mu, t = self.mu, self.t
        for i in range(len(la)):
            a = np.float32(1.0 / min(t + 1, NORM_FRAMES))
            mu = (mu + a * (la[i] - mu)).astype(np.float32)
            mus[i] = mu
            t += 1
        self.mu, self.t = mu, t
        f = np.concatenate([la - mus, np.log10(pa * gm + EPS) - mus,
                            np.log10(pa * rm + EPS) - mus], axis=1)
        return (f / 3.0).astype(np.float32)


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
        # Trained and measured on DeepFilterNet3 at the input's own level (before the
        # default's level front end existed).
        options.setdefault("input_level_db", None)
        super().__init__(channels, **options)
        self._sess = None
        self._kind = "raw"
        if not dump:
            path = Path(model) if model else model_path()
            self._sess = small_network(path, "refinement network")
            hidden = {i.name: i for i in self._sess.get_inputs()}["h0"].shape[-1]
            self._h = np.zeros((1, 1, hidden), np.float32)
            self._kind = feature_kind(path)
        # "norm" features: computed once per frame, frames _fq0 .. _fq0 + len(_fq) - 1 kept.
        self._norm = NormFeatures()
        self._fq = np.zeros((0, N_FEATS), np.float32)
        self._fq0 = 0
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
            feats = (self._norm_context(m_end) if self._kind == "norm"
                     else self._raw_context(m_end))
            g1, g2, self._h = self._sess.run(None, {"feats": feats[None], "h0": self._h})
            G = M.astype(np.complex64)
            G[:, :R] = g1[0] * M[:, :R] + g2[0] * (1 - M[:, :R])
        self._apply_mask(G * gate[:, None], m_end)

    def _raw_context(self, m_end: int) -> np.ndarray:
        """v1 features of rows m-T .. m_end+T-1; rows before the stream's start are zeros."""
        T = self.T
        r0 = self._m - T - self._f0
        ctx = slice(max(0, r0), m_end + T - self._f0)
        Ac = self._A[ctx, :R]
        Mc = self._ratio(self._S[ctx, :R], Ac)
        if r0 < 0:
            z = np.zeros((-r0, R), np.complex64)
            Ac, Mc = np.concatenate([z, Ac]), np.concatenate([z, Mc])
        return features(Ac, Mc)

    def _norm_context(self, m_end: int) -> np.ndarray:
        """Normalised features of rows m-T .. m_end+T-1 (zero rows before the stream's start),
        each frame's computed once, in order, so the running mean is the training's."""
        T = self.T
        new0 = self._fq0 + len(self._fq)  # first frame without features yet
        if m_end + T > new0:
            rows = slice(new0 - self._f0, m_end + T - self._f0)
            Mn = self._ratio(self._S[rows, :R], self._A[rows, :R])
            self._fq = np.concatenate([self._fq, self._norm(self._A[rows, :R], Mn)])
        lo = self._m - T
        out = self._fq[max(0, lo - self._fq0):m_end + T - self._fq0]
        if lo < 0:
            out = np.concatenate([np.zeros((-lo, N_FEATS), np.float32), out])
        # Later calls read from frame m_end - T on.
        cut = m_end - T - self._fq0
        if cut > 0:
            self._fq = self._fq[cut:]
            self._fq0 += cut
        return out


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

