"""The `default` backend (issue #29, fifth and sixth rounds): DeepFilterNet3's and Conv-TasNet's
estimates fused by a small network trained here on Debian speech instead of by a fixed rule.

The `fused` backend (tasnet.py) fuses DeepFilterNet3's estimate S and Conv-TasNet's T below 7.6 kHz
as the geometric mean of their magnitudes with T's phase, the same in every bin. Which of
the two is right differs from bin to bin: on the Czech dev lines an oracle that picks the
exponent per bin would gain about 2.8 dB, per band and frame 2.4 dB. The network reads, per
STFT frame (960 sqrt-Hann, hop 480) and per bin below 7.6 kHz, over the frames t-ctx .. t+ctx
(ctx from the model's metadata: 8 for fusion-net-v2, 80 ms):
  - the two estimates' log power ratios to the analysed signal A (clipped to -4 .. 1),
  - the cosine of the phase difference between S and T,
  - A's log power minus that frame's mean over the band (spectral shape, not level),
and outputs per bin an exponent w in [0, 1]: the fused magnitude is |T|^w |S|^(1 - w) with
T's phase (w = 0.5 is `fused`'s rule). Training also gave it an attenuation head g (the
magnitude times g): it turned the whole estimate down about 0.45 dB, which the
scale-invariant loss does not see but which put the speech it removed into the background
(speech leakage -13 dB against the rule's -27 on the tuning set at 0 dB); the export keeps
w alone. Above 7.6 kHz S alone, as in `fused`. The rest is the default pipeline (capped
complex ratio, VAD gate, background = input - dialogue).

Only ratios and the band's shape are read, never the absolute level, and the network has no
state: its context is frames the pipeline keeps anyway for its smoothing (smooth_frames is
raised to ctx: 60 ms more latency, against Conv-TasNet's seconds), and the output is the
same for any block size. Trained by scripts/train_separation_fusion.py; weights and how
they were chosen in resources/models/separation/fusion-net-v2/. Since the seventh round the
default runs it on the estimates of Conv-TasNet fine-tuned here (tasnet.FINE_TUNED); it was
trained on the pretrained one's, which measured better than retraining it on the tuned
one's (docs/separation.md). The tuned estimate is better than the one the network learnt to
weigh, so since the tenth round its exponent is moved towards it by W_SHIFT where the voice
detector hears speech (shifted_exponent; chosen on the selection sets, docs/separation.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.paths import resources_dir
from foley_desktop.separation import vad
from foley_desktop.separation.base import Separator, register, small_network
from foley_desktop.separation.default import HOP
from foley_desktop.separation.tasnet import CUT_BINS, FINE_TUNED, PRETRAINED, TasNetFusionSeparator
from foley_desktop.separation.tasnet import model_path as tasnet_model_path

C = CUT_BINS  # fused bins: below 7.6 kHz at 50 Hz per bin (152)
L = 2  # frames of context either side when the model does not say (the pipeline's smoothing)
N_IN = 4  # feature planes
EPS = 1e-10
# Added to the network's w for the fine-tuned Conv-TasNet, which earns more trust than the
# pretrained one fusion-net-v2 was trained beside (tenth round, docs/separation.md).
W_SHIFT = 0.2
_LOWPASS = vad.lowpass()  # the voice detector's 7.2 kHz low-pass (97 taps, linear phase)
LOWPASS_DELAY = vad.FILTER_DELAY


def shifted_exponent(w: np.ndarray, p: np.ndarray, shift: float, lo: float,
                     hi: float) -> np.ndarray:
    """w [frames, bins] moved towards Conv-TasNet by `shift` times each frame's own speech
    probability p mapped as the gate maps it (lo..hi -> 0..1), clipped to 0..1. Frames the
    gate holds open around and between words without a voice keep the network's choice:
    there Conv-TasNet leaves more of the background than DeepFilterNet3, and an unscaled
    shift raised the residual in speech pauses above -50 dB on held-out speakers."""
    q = np.clip((p - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return np.clip(w + np.float32(shift) * q[:, None], 0.0, 1.0).astype(np.float32)


def edge_gain(a: np.ndarray, t: np.ndarray, lam: float, half: int) -> np.ndarray:
    """Per-sample gain `E_t / (E_t + lam E_r)` for the samples `half + LOWPASS_DELAY` in from
    each end of `a` (the analysed signal) and `t` (Conv-TasNet's estimate, aligned with it):
    E_t and E_r are the powers of t and of the background estimate lowpass(a) - t over a
    centred window of 2 half + 1 samples. Conv-TasNet's estimate resolves about a
    millisecond, where the mask's 20 ms STFT frames at a word's edges still follow the word
    and keep the background with it. The low-pass (the voice detector's 7.2 kHz filter) keeps DeepFilterNet3's
    band above Conv-TasNet's 8 kHz, sibilants included, out of the background estimate."""
    lp = np.convolve(a, _LOWPASS, mode="valid")  # aligned with a[LOWPASS_DELAY:-LOWPASS_DELAY]
    d = LOWPASS_DELAY
    r = lp - t[d:len(t) - d]
    et = _window_sums(t[d:len(t) - d].astype(np.float64) ** 2, 2 * half + 1)
    er = _window_sums(r.astype(np.float64) ** 2, 2 * half + 1)
    return (et / (et + lam * er + 1e-20)).astype(np.float32)


def _window_sums(x: np.ndarray, n: int) -> np.ndarray:
    """Sums of x over every window of n samples (len(x) - n + 1 of them), from a running sum:
    a direct convolution with a 481-sample box cost as much as the rest of the edge gain
    ten times over. In float64 the running sum's rounding is ~1e-13 of the block's total
    power, far below anything audible; clipped at 0 so a pause's power is never negative."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    return np.maximum(c[n:] - c[:-n], 0.0)


def voice_scaled(w: np.ndarray, p: np.ndarray, power: float, lo: float,
                 hi: float) -> np.ndarray:
    """w [frames, bins] times each frame's own speech probability p mapped as the gate maps it
    (lo..hi -> 0..1), to the `power`: the frames the gate holds open around words without a
    voice (p low) take DeepFilterNet3's estimate (w = 0), the words keep w."""
    q = np.clip((p - lo) / (hi - lo), 0.0, 1.0)
    return (w * (q ** np.float32(power))[:, None]).astype(np.float32)


def model_path() -> Path:
    return resources_dir() / "models" / "separation" / "fusion-net-v2" / "fusion.onnx"


def features(A: np.ndarray, S: np.ndarray, T: np.ndarray) -> np.ndarray:
    """[4, frames, C] float32 network input from the STFT frames of the analysed signal and the
    two estimates (each [frames, >= C] complex). Training and inference call this."""
    A, S, T = (np.asarray(z[:, :C], np.complex64) for z in (A, S, T))
    pa = A.real ** 2 + A.imag ** 2 + EPS
    ps = S.real ** 2 + S.imag ** 2 + EPS
    pt = T.real ** 2 + T.imag ** 2 + EPS
    la = np.log10(pa)
    rs = np.clip(np.log10(ps) - la, -4.0, 1.0)
    rt = np.clip(np.log10(pt) - la, -4.0, 1.0)
    cosd = (S.real * T.real + S.imag * T.imag) / np.sqrt(ps * pt)
    shape = (la - la.mean(axis=1, keepdims=True)) / 3.0
    return np.stack([rs, rt, cosd, shape]).astype(np.float32)


# The default's gate settings (rule 17 of issue #29); an option given by name overrides them.
DEFAULTS = {"causal_vad": True, "margin_wiener": 0.3, "margin_ahead_ms": 40}
# The default's sample-resolution gain around word edges (rule 19 of issue #29's fifteenth
# round, adopted in its sixteenth: every held-out pause figure 3.5-17 dB lower, no SI-SDRi
# more than 0.08 dB below rule 17's). Only this class has it, so it is not in DEFAULTS.
EDGE_WIENER, EDGE_MS = 0.002, 10.0


class LearnedFusionSeparator(TasNetFusionSeparator):
    """The default pipeline with the per-bin fusion weights from the network (module doc).

    `dump=True` runs no network (`fused`'s rule) and records per frame A, S and T below
    C and the gate: the training script builds its data with it, so training and inference
    read the same numbers."""

    name = "default"

    def __init__(self, channels: int, fusion_model: str | Path | None = None,
                 dump: bool = False, w_shift: float = W_SHIFT, voice_scale: float = 0.0,
                 voice_ahead_ms: int = 0, voice_back_ms: int = 0,
                 voice_lo: float | None = None, voice_hi: float | None = None,
                 edge_wiener: float = EDGE_WIENER, edge_ms: float = EDGE_MS,
                 **options) -> None:
        self._fsess = None
        # > 0: the dialogue samples times `edge_gain` with this lambda over edge_ms windows
        # (issue #29's fifteenth round, the default since its sixteenth; 0: off). It reads the
        # analysed signal and Conv-TasNet's estimate around each output sample, kept here from
        # global sample _e0 on.
        self._edge = (float(edge_wiener), max(0, round(float(edge_ms) * 48 / 2)))
        self._e0 = -HOP
        self._ea = np.zeros(0, np.float32)
        self._et = np.zeros(0, np.float32)
        self._w_shift = float(w_shift)
        # > 0: w times each frame's own speech probability (mapped from voice_lo..voice_hi,
        # by default the gate's range, to 0..1), so the frames the gate holds open around
        # words without a voice take DeepFilterNet3's estimate (tried in issue #29's eleventh
        # round and not adopted: it also drops the word tails Conv-TasNet keeps; 0: off).
        self._voice_scale = float(voice_scale)
        self._ctx = L
        self.dump: dict[str, list[np.ndarray]] | None = None
        if dump:
            self.dump = {"A": [], "S": [], "T": [], "gate": []}
        else:
            path = Path(fusion_model) if fusion_model else model_path()
            self._fsess = small_network(path, "the fusion network")
            # The frames of context either side the network reads (its export records it).
            meta = self._fsess.get_modelmeta().custom_metadata_map
            self._ctx = int(meta.get("context", L))
        options["smooth_frames"] = max(self._ctx, int(options.get("smooth_frames", L)))
        # Issue #29's fourteenth round (rule 17, docs/separation.md): the voice detector hears
        # the input turned up as DeepFilterNet3 does (quiet clips keep their words), and in the
        # frames the gate holds open around words each bin gets the Wiener gain of the speech
        # estimate against the background estimate (less noise in the pauses).
        for k, v in DEFAULTS.items():
            options.setdefault(k, v)
        # Conv-TasNet fine-tuned on the Debian speech (tasnet.FINE_TUNED); `fused` keeps the
        # pretrained weights.
        options["tasnet_model"] = options.get("tasnet_model") or tasnet_model_path(FINE_TUNED)
        super().__init__(channels, **options)
        # voice_scale's probability: its maximum over voice_back_ms behind and voice_ahead_ms
        # ahead of each frame (so the first frames of a word, before the detector rises, keep
        # w), within the probabilities the gate keeps (hang frames back, look ahead); mapped
        # from voice_lo..voice_hi to 0..1 (None: the gate's own range).
        self._voice_win = (min(self.hang, max(0, int(voice_back_ms)) * 48 // HOP),
                           min(self.look, max(0, int(voice_ahead_ms)) * 48 // HOP))
        self._voice_range = (self.gate_lo if voice_lo is None else float(voice_lo),
                             self.gate_hi if voice_hi is None else float(voice_hi))

    def _gate(self, m_end: int) -> np.ndarray:
        g = super()._gate(m_end)
        if self.dump is not None:
            self.dump["gate"].append(g.astype(np.float32))
        return g

    def _transform(self) -> None:
        if self._edge[0] > 0:  # keep the samples the transform will drop, for _push_final
            end = self._e0 + len(self._ea)
            self._ea = np.concatenate([self._ea, self._a[end - self._x0:]])
            end_t = self._e0 + len(self._et)
            self._et = np.concatenate([self._et, self._t[end_t - self._x0:]])
        super()._transform()

    def _push_final(self, d: np.ndarray, first_global: int) -> None:
        lam, half = self._edge
        if lam > 0 and d.shape[1]:
            m = half + LOWPASS_DELAY
            g0, g1 = first_global - m, first_global + d.shape[1] + m
            a, t = (self._history(z, g0, g1) for z in (self._ea, self._et))
            d = d * edge_gain(a, t, lam, half)[None]
            keep = first_global + d.shape[1] - m - self._e0  # the next call starts there
            if keep > 0:
                self._ea, self._et, self._e0 = self._ea[keep:], self._et[keep:], self._e0 + keep
        super()._push_final(d, first_global)

    def _history(self, z: np.ndarray, g0: int, g1: int) -> np.ndarray:
        """Samples g0 .. g1-1 of a kept signal (zeros before the stream's start)."""
        i0, i1 = g0 - self._e0, g1 - self._e0
        if i1 > len(z):
            raise RuntimeError("edge gain: Conv-TasNet's estimate is not there yet")
        return np.concatenate([np.zeros(max(0, -i0), np.float32), z[max(0, i0):i1]])

    def _exponent(self, rows: slice) -> float | np.ndarray:
        if self.dump is not None:
            for k, z in (("A", self._A), ("S", self._S), ("T", self._T)):
                self.dump[k].append(z[rows, :C].copy())
            return super()._exponent(rows)
        # Frames m-ctx .. m_end+ctx-1 are still kept (smooth_frames >= ctx); rows before the
        # stream's first frame are zeros, as in training.
        lo, hi = rows.start - self._ctx, rows.stop + self._ctx
        ctx = [z[max(0, lo):hi] for z in (self._A, self._S, self._T)]
        pad = max(0, -lo)
        if pad:
            ctx = [np.concatenate([np.zeros((pad, z.shape[1]), z.dtype), z]) for z in ctx]
        assert self._fsess is not None
        w = self._fsess.run(None, {"feats": features(*ctx)[None]})[0][0, 0]
        if not self._w_shift and not self._voice_scale:
            return w
        p = self._frame_probs(rows.start + self._f0, rows.stop + self._f0)
        if self._w_shift:
            w = shifted_exponent(w, p, self._w_shift, self.gate_lo, self.gate_hi)
        if self._voice_scale:
            back, ahead = self._voice_win
            if back or ahead:
                p = self._window_probs(rows.start + self._f0, rows.stop + self._f0, back, ahead)
            w = voice_scaled(w, p, self._voice_scale, *self._voice_range)
        return w


def dump_frames(audio: np.ndarray, segment_s: float | None = None,
                tasnet: str = PRETRAINED) -> dict[str, np.ndarray]:
    """Run the default pipeline on mono `audio`; per frame A, S, T (bins < C) and the gate,
    frames 0 .. K-1 where frame k's window covers samples [(k-1) HOP, (k+1) HOP).
    `segment_s`: Conv-TasNet's segment length (None: the separator's). `tasnet`: the
    Conv-TasNet model folder; fusion-net-v2 was trained on the pretrained one's estimates (a
    fusion trained on the fine-tuned one's scored lower: docs/separation.md, seventh round)."""
    from foley_desktop.media.timebase import SAMPLE_RATE
    from foley_desktop.separation.base import separate_array

    # The pipeline fusion-net-v2 was trained on: the gate of the tenth round (the detector
    # hearing the input as it is; the margin gain acts after the dump anyway).
    opts: dict = {"tasnet_model": tasnet_model_path(tasnet), "causal_vad": False,
                  "margin_wiener": 0.0, "margin_ahead_ms": 0, "edge_wiener": 0.0}
    if segment_s is not None:
        opts["segment_s"] = segment_s
    sep = LearnedFusionSeparator(1, None, True, **opts)
    separate_array(sep, np.asarray(audio, np.float32)[None], block=SAMPLE_RATE)
    assert sep.dump is not None
    return {k: np.concatenate(v) for k, v in sep.dump.items()}


@register("default", "DeepFilterNet3 and a Conv-TasNet speech enhancer fused below 7.6 kHz "
          "per bin by a small network trained here on Debian speech + Silero VAD gate "
          "(offline, shipped weights)")
def _make_learned(channels: int, **options) -> Separator:
    return LearnedFusionSeparator(channels, **options)
