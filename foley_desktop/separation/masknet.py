"""`masknet` backend: the default backend's mask, refined per bin by a small trained network.

Pipeline (everything up to the mask is the default backend's, see default.py):
1. RNNoise gives a speech estimate S; per STFT frame (960 sqrt-Hann, hop 480) the speech power
   |S|^2 and the residual power |X - S|^2 are kept, and the default's Wiener-like mask Gw
   (5 frames x 3 bins smoothing) is computed.
2. The network (ONNX, run with ONNX Runtime, one thread) reads, per 10 ms frame, the log band
   energies (64 bands) of |S|^2 and |X - S|^2 over frames t-2..t+2 (the same two frames of
   look-ahead that the default's smoothing already waits for), the mixture's power and
   logit(Gw) per bin in frame t, and the VAD gate of frame t; a GRU carries the context.
   Per bin it outputs a scale a and an offset b and the mask is
   G = sigmoid(a * logit(Gw) + b): the Wiener mask keeps its harmonic fine structure and the
   network decides how far to trust it. Initialised at a = 1, b = 0 it is exactly the default.
3. The default's Silero VAD gate multiplies G, so pauses stay exactly silent (no musical
   noise), and dialogue = masked input, background = input - dialogue (they sum to the input).

Latency is the default's (9744 samples): the network adds no look-ahead of its own.
Trained by foley_desktop/train/separation_mask.py; weights and their data sources in
resources/models/separation/masknet-v1/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.paths import resources_dir
from foley_desktop.separation.base import Separator, register, small_network
from foley_desktop.separation.default import BINS, MaskSeparator

N_BANDS = 64
CONTEXT = 2  # frames either side seen by the network's first layer (= smoothing frames)
EPS_POWER = 1e-9


def model_path() -> Path:
    return resources_dir() / "models" / "separation" / "masknet-v1" / "masknet.onnx"


def band_matrix(n_bands: int = N_BANDS, sr: int = 48000) -> np.ndarray:
    """[BINS, n_bands] triangular filters, mel-spaced from 0 Hz to Nyquist, rows summing to 1."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(0.0, mel(sr / 2), n_bands + 2))
    freqs = np.arange(BINS) * sr / (2 * (BINS - 1))
    w = np.zeros((BINS, n_bands), np.float64)
    for b in range(n_bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        w[:, b] = np.clip(np.minimum(up, down), 0.0, None)
    # Narrow low bands may fall between bins: give each band at least its nearest bin.
    for b in range(n_bands):
        if w[:, b].sum() == 0:
            w[round(edges[b + 1] * 2 * (BINS - 1) / sr), b] = 1.0
    return (w / w.sum(axis=0, keepdims=True)).astype(np.float32)


_BANDS = band_matrix()


def frame_features(ps: np.ndarray, pn: np.ndarray) -> np.ndarray:
    """Per-frame network input: log10 band energies of speech estimate and residual, [n, 128]."""
    return np.concatenate([np.log10(ps @ _BANDS + EPS_POWER),
                           np.log10(pn @ _BANDS + EPS_POWER)], axis=1).astype(np.float32)

class MaskNetSeparator(MaskSeparator):
    """The default pipeline with the trained per-bin mask refinement (see module doc).

    `dump=True` runs no network (the mask is the default's) and records, per frame, what the
    network would read: the training script builds its data with it, so training and
    inference see identical features.
    """

    name = "masknet"

    def __init__(self, channels: int, model: str | Path | None = None, dump: bool = False,
                 **options) -> None:
        super().__init__(channels, smooth_frames=CONTEXT, **options)
        self._sess = None
        if not dump:
            self._sess = small_network(Path(model) if model else model_path(), "mask network")
            hidden = {i.name: i for i in self._sess.get_inputs()}["h0"].shape[-1]
            self._h = np.zeros((1, 1, hidden), np.float32)
            self._xpow = any(i.name == "xpow" for i in self._sess.get_inputs())
        self.dump: dict[str, list[np.ndarray]] | None = (
            {"feats": [], "gw": [], "gate": []} if dump else None)

    def _mask_and_synthesize(self) -> None:
        m_end = min(self._k - self.T, self._vad_frames_ready() - self.look)
        if m_end <= self._m:
            return
        T = self.T
        ps_rows, pn_rows, gw = self._wiener(m_end)
        gw = gw.astype(np.float32)
        gate = self._gate(m_end).astype(np.float32)
        feats = frame_features(ps_rows, pn_rows)
        rows = slice(self._m - self._f0, m_end - self._f0)
        if self.dump is not None:
            # Rows m-T..m+T-1 were recorded by the previous call: keep each row once.
            self.dump["feats"].append(feats if self._m == 0 else feats[2 * T:])
            self.dump["gw"].append(gw)
            self.dump["gate"].append(gate)
            G = gw * gate[:, None]
        else:
            feed = {"feats": feats[None], "gate": gate[None, :, None], "gw": gw[None],
                    "h0": self._h}
            if self._xpow:  # per-bin mixture power of the analysed signal (mean = STFT of mean)
                Xa = self._X[:, rows].mean(axis=0)
                feed["xpow"] = (Xa.real ** 2 + Xa.imag ** 2).astype(np.float32)[None]
            g_net, self._h = self._sess.run(None, feed)
            G = g_net[0] * gate[:, None]
        self._apply_mask(G, m_end)


def dump_features(audio: np.ndarray) -> dict[str, np.ndarray]:
    """Run the pipeline without the network on mono `audio`; per-frame network inputs.

    Returns feats [K + 2*CONTEXT, 128] (frames -CONTEXT .. K+CONTEXT-1), gw [K, BINS] and
    gate [K], where frame k's window covers input samples [(k-1)*HOP, (k+1)*HOP).
    """
    from foley_desktop.separation.base import separate_array

    sep = MaskNetSeparator(1, dump=True)
    separate_array(sep, np.asarray(audio, np.float32)[None], block=48000)
    return {k: np.concatenate(v) for k, v in sep.dump.items()}


@register("masknet", "default pipeline + a small trained network refining the mask per bin "
          "(ONNX, shipped weights)")
def _make_masknet(channels: int, **options) -> Separator:
    return MaskNetSeparator(channels, **options)
