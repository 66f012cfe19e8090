"""The mask-based backends: a trained speech estimate, a mask from it, a Silero VAD gate.

`dfn` (DeepFilterSeparator; the default until the Conv-TasNet fusion of tasnet.py, which
builds on it): DeepFilterNet3 (deepfilter.py), a trained 48 kHz speech
enhancer that filters per bin, gives the speech estimate; it enters as a complex ratio of the
analysed signal (exactly the estimate on mono input) and the VAD gate zeroes it outside speech.
`rnnoise-mask` (MaskSeparator, the default until DeepFilterNet3 replaced it, about 3 dB lower
SI-SDR): RNNoise's estimate only serves as a speech power estimate: per STFT bin, speech
power |S|^2 against residual power |X - S|^2, both smoothed over neighbouring bins and frames,
gives a soft mask G = S / (S + N), because RNNoise smears its 22 band gains over harmonics.

Common to both: Silero VAD (a second trained network) gates the mask to zero outside speech,
with look-ahead so onsets are not clipped and a hang-over so word endings are kept; that is
what removes musical noise from the pauses. The dialogue stem is the masked input and the
background stem is input minus dialogue, so the two stems add up to the input exactly (up to
float rounding). Multichannel input: mono and stereo (and quad) sources are analysed on the
mean of their channels and the mask is applied to every channel, so a stereo dialogue keeps
its image. Sources with a centre channel (3.0, 5.0, 5.1, 6.1, 7.1) carry film dialogue there:
the centre is analysed and masked, and every other channel goes wholly to the background.
The stems keep the input's channel layout either way.
"""

from __future__ import annotations

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.separation import rnnoise, vad
from foley_desktop.separation.base import PrePass, Separator, register

HOP = rnnoise.FRAME  # 480: one STFT frame per RNNoise frame (10 ms)
WIN = 2 * HOP
BINS = WIN // 2 + 1
# sqrt of a periodic Hann at 50 % overlap: analysis * synthesis windows sum to exactly one.
_WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)


def analysis_channel(channels: int) -> int | None:
    """Index of the channel to analyse, or None for the mean of all channels.

    WAV/FFmpeg channel order puts front centre third (index 2) in 3.0, 5.0, 5.1, 6.1 and 7.1;
    film dialogue lives there. Quad (4 channels) has no centre, so it is mixed down.
    """
    return 2 if channels in (3, 5, 6, 7, 8) else None


class MaskSeparator(Separator):
    """RNNoise + Wiener-like mask + VAD gate, streamed with a fixed latency; subclasses change
    the estimator (`_make_estimator`, `_estimate`) and the mask (`_mask_and_synthesize`)."""

    name = "rnnoise-mask"
    detects_speech = True  # speech_probability() returns the VAD's output

    def __init__(self, channels: int, smooth_frames: int = 2, lookahead_ms: int = 100,
                 hangover_ms: int = 200, gate_lo: float = 0.15, gate_hi: float = 0.5,
                 use_gate: bool = True) -> None:
        super().__init__(channels)
        self.T = int(smooth_frames)
        self.look = max(0, lookahead_ms * 48 // HOP)
        self.hang = max(0, hangover_ms * 48 // HOP)
        self.gate_lo, self.gate_hi = gate_lo, gate_hi
        self.use_gate = use_gate
        self.centre = analysis_channel(channels)
        # Channels that carry dialogue: all, or only the centre (its STFT is the analysis').
        self._dch = channels if self.centre is None else 1
        # Worst case between input arriving and its frame's mask being final: RNNoise's delay,
        # the smoothing and look-ahead frames, one VAD chunk and the filter's delay, one frame
        # of window overlap and one of rounding. Checked on every block (see _emit).
        self._est, est_lag, est_delay = self._make_estimator()
        # A second speech estimate (None, or an object with process(a, vad_probs) -> its final
        # samples from sample 0 on, in step with its input, at most `aux_lag` behind it, and
        # finish()):
        # a subclass fuses the two per STFT bin in _mask_and_synthesize.
        self._aux, aux_lag = self._make_aux()
        self._est_lag = est_lag
        self.latency = (max(est_lag, aux_lag) + HOP * (self.T + self.look + 3) + vad.CHUNK
                        + vad.FILTER_DELAY)
        self._vad = vad.VoiceActivity()
        self._x0 = -HOP  # global index of _x[:, 0], _a[0] and _s[0]
        self._x = np.zeros((channels, HOP), np.float32)
        self._a = np.zeros(HOP, np.float32)
        # The speech estimate from global sample -HOP on: an estimate `est_delay` samples late
        # (RNNoise: 960) has its first est_delay - HOP samples dropped; one aligned with its
        # input (DeepFilterNet3) gets HOP zeros in front.
        self._s = np.zeros(max(0, HOP - est_delay), np.float32)
        self._s_skip = max(0, est_delay - HOP)
        self._t = np.zeros(HOP, np.float32)  # the second estimate, from global sample -HOP
        self._T = np.zeros((0, BINS), np.complex64)
        # After flush() has fed the estimator `est_lag` zeros past the input's end, nothing it
        # makes can change the output (the mask multiplies a zero input there): the rest of the
        # latency's zeros are not run through it.
        self._tail_left: int | None = None
        self._k = 0  # next frame to transform
        self._f0 = 0  # frame index of the first stored feature row
        self._X = np.zeros((self._dch, 0, BINS), np.complex64)  # the channels to mask
        self._A = np.zeros((0, BINS), np.complex64)  # the analysed signal
        self._S = np.zeros((0, BINS), np.complex64)  # the speech estimate
        self._m = 0  # next frame to mask and synthesize
        self._vad_probs = np.zeros(0, np.float32)  # chunk probabilities from _vad_c0 on
        self._vad_c0 = 0
        self._new_vad: list[np.ndarray] = []
        self._ola = np.zeros((self._dch, WIN), np.float32)  # starts at global (m - 1) * HOP
        self._final: list[np.ndarray] = []  # dialogue samples final but not yet emitted
        self._final_len = 0
        self._emitted = 0  # output samples returned so far (latency zeros included)
        self._pre = np.zeros((channels, 0), np.float32)  # input whose dialogue is not out yet

    def _make_estimator(self):
        """The speech estimator, the most samples its output can lag its input, and the
        delay of its output against its input."""
        return rnnoise.RNNoise(), rnnoise.DELAY, rnnoise.DELAY

    def _make_aux(self):
        """A second speech estimator and the most samples its output can lag its input."""
        return None, 0

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        # The latency's zeros go in a second at a time: in one block, a long latency's stereo
        # zeros and their stems held about 80 MiB (the default, 12 s segments); any block
        # size gives the same samples.
        if self._aux is not None:
            self._aux.finish()
        self._tail_left = self._est_lag
        ds, bs = [], []
        for n in (self._est_lag, self.latency - self._est_lag):
            for i in range(0, n, SAMPLE_RATE):
                d, b = self.process_block(np.zeros((self.channels, min(SAMPLE_RATE, n - i)),
                                                   np.float32))
                ds.append(d)
                bs.append(b)
        return np.concatenate(ds, axis=1), np.concatenate(bs, axis=1)

    def _estimate(self, a: np.ndarray) -> np.ndarray:
        return self._est.process(a)[0]

    def _vad_input(self, a: np.ndarray) -> np.ndarray:
        """What the VAD hears of the analysed block `a` (after `_estimate(a)` saw it)."""
        return a

    # -- streaming ---------------------------------------------------------------------
    def process_block(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        block = np.atleast_2d(np.asarray(block, np.float32))
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        n = block.shape[1]
        a = block[self.centre] if self.centre is not None else block.mean(axis=0)
        tail = self._tail_left is not None and self._tail_left <= 0
        if tail:  # past the input's end and the estimator's lag: zeros, without running it
            s = np.zeros(self._a.shape[0] + n - len(self._s), np.float32)
        else:
            s = self._estimate(a)
            if self._tail_left is not None:
                self._tail_left -= n
            if self._s_skip:
                drop = min(self._s_skip, len(s))
                s = s[drop:]
                self._s_skip -= drop
        self._s = np.concatenate([self._s, s])
        probs = self._vad.process(a if tail else self._vad_input(a))
        if len(probs):
            self._vad_probs = np.concatenate([self._vad_probs, probs])
            self._new_vad.append(probs)
        if self._aux is not None:  # it hears the VAD too: it may skip what the gate closes
            self._t = np.concatenate([self._t, self._aux.process(a, probs)])
        self._x = np.concatenate([self._x, block], axis=1)
        self._a = np.concatenate([self._a, a])
        self._pre = np.concatenate([self._pre, block], axis=1)
        self._transform()
        self._mask_and_synthesize()
        return self._emit(n)

    def speech_probability(self) -> np.ndarray:
        out = np.concatenate(self._new_vad) if self._new_vad else np.zeros(0, np.float32)
        self._new_vad = []
        return out

    # -- stages ------------------------------------------------------------------------
    def _transform(self) -> None:
        """STFT every frame whose window is complete in both the input and RNNoise output."""
        have = min(len(self._s), self._a.shape[0])  # samples from _x0 present in both
        if self._aux is not None:
            have = min(have, len(self._t))
        k_end = (self._x0 + have - HOP) // HOP + 1  # frames k with HOP*(k+1) <= x0 + have
        if k_end <= self._k:
            return
        ks = np.arange(self._k, k_end)
        starts = (ks - 1) * HOP - self._x0
        idx = starts[:, None] + np.arange(WIN)[None, :]
        S = np.fft.rfft(self._s[idx] * _WINDOW, axis=-1)
        Xa = np.fft.rfft(self._a[idx] * _WINDOW, axis=-1)
        if self._dch == 1:  # mono, or the centre channel: the analysis signal itself
            Xc = Xa[None]
        else:
            Xc = np.fft.rfft(self._x[:, idx] * _WINDOW, axis=-1)
        self._X = np.concatenate([self._X, Xc.astype(np.complex64)], axis=1)
        self._A = np.concatenate([self._A, Xa.astype(np.complex64)])
        self._S = np.concatenate([self._S, S.astype(np.complex64)])
        if self._aux is not None:
            T = np.fft.rfft(self._t[idx] * _WINDOW, axis=-1)
            self._T = np.concatenate([self._T, T.astype(np.complex64)])
        self._k = k_end
        # Samples before the next frame's window are no longer needed for transforms.
        keep_from = (self._k - 1) * HOP - self._x0
        if keep_from > 0:
            self._s = self._s[keep_from:]
            self._t = self._t[keep_from:]
            self._a = self._a[keep_from:]
            self._x = self._x[:, keep_from:]
            self._x0 += keep_from

    def _frame_probs(self, j0: int, j1: int) -> np.ndarray:
        """Speech probability of frames j0..j1-1 from the VAD chunk holding each frame centre."""
        js = np.arange(j0, j1)
        c = (js * HOP + vad.FILTER_DELAY) // vad.CHUNK - self._vad_c0
        p = np.zeros(len(js), np.float32)
        ok = (js >= 0) & (c >= 0) & (c < len(self._vad_probs))
        p[ok] = self._vad_probs[c[ok]]
        return p

    def _window_probs(self, j0: int, j1: int, back: int, ahead: int) -> np.ndarray:
        """Speech probability of frames j0..j1-1, each the maximum over `back` frames behind
        and `ahead` frames ahead of it (the gate, and the options that read around a frame,
        within the hang-over and look-ahead whose probabilities are kept)."""
        p = self._frame_probs(j0 - back, j1 + ahead)
        if back or ahead:
            p = np.lib.stride_tricks.sliding_window_view(p, back + ahead + 1).max(axis=1)
        return p

    def _vad_frames_ready(self) -> int:
        """Frames j whose VAD probability exists: centre chunk complete."""
        chunks = self._vad_c0 + len(self._vad_probs)
        return (chunks * vad.CHUNK - vad.FILTER_DELAY) // HOP

    def _mask_and_synthesize(self) -> None:
        m_end = min(self._k - self.T, self._vad_frames_ready() - self.look)
        if m_end <= self._m:
            return
        G = self._wiener(m_end)[2]
        if self.use_gate:
            G = G * self._gate(m_end)[:, None]
        self._apply_mask(G, m_end)

    def _wiener(self, m_end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech and residual powers of frames m-T .. m_end+T-1 (zeros before the start), and
        the Wiener-like mask of frames m .. m_end-1 from their centred moving averages over
        2T+1 frames, then 3 bins."""
        T = self.T
        count = m_end - self._m
        r0 = self._m - T - self._f0  # row of frame m - T (may be negative at the start)
        pad = max(0, -r0)
        S = self._S[max(0, r0):r0 + count + 2 * T]
        R = self._A[max(0, r0):r0 + count + 2 * T] - S
        ps_rows = (S.real ** 2 + S.imag ** 2).astype(np.float32)
        pn_rows = (R.real ** 2 + R.imag ** 2).astype(np.float32)
        if pad:
            ps_rows = np.concatenate([np.zeros((pad, BINS), np.float32), ps_rows])
            pn_rows = np.concatenate([np.zeros((pad, BINS), np.float32), pn_rows])
        ps = _smooth_bins(sum(ps_rows[d:d + count] for d in range(2 * T + 1)))
        pn = _smooth_bins(sum(pn_rows[d:d + count] for d in range(2 * T + 1)))
        return ps_rows, pn_rows, ps / (ps + pn + 1e-12)

    def _gate(self, m_end: int) -> np.ndarray:
        """Voice-activity gate per frame m .. m_end-1: the maximum speech probability over
        [-hang, +look] frames, mapped linearly from gate_lo..gate_hi to 0..1."""
        pmax = self._window_probs(self._m, m_end, self.hang, self.look)
        return np.clip((pmax - self.gate_lo) / (self.gate_hi - self.gate_lo), 0.0, 1.0)

    def _apply_mask(self, G: np.ndarray, m_end: int) -> None:
        """Mask frames m .. m_end-1 with G [frames, bins], overlap-add the final samples out
        and drop the features and VAD chunks no later frame reads."""
        T = self.T
        count = m_end - self._m
        rows = slice(self._m - self._f0, m_end - self._f0)
        G = G.astype(np.complex64 if np.iscomplexobj(G) else np.float32)
        D = self._X[:, rows] * G[None]
        frames = np.fft.irfft(D, n=WIN, axis=-1).astype(np.float32) * _WINDOW
        # Overlap-add: frame k covers [(k-1)HOP, (k+1)HOP); _ola starts at (m-1)HOP.
        ola = np.concatenate([self._ola, np.zeros((self._dch, count * HOP), np.float32)], axis=1)
        for i in range(count):
            ola[:, i * HOP:i * HOP + WIN] += frames[:, i]
        done = count * HOP  # samples before (m_end - 1) * HOP are final
        self._push_final(ola[:, :done], first_global=(self._m - 1) * HOP)
        self._ola = ola[:, done:]
        self._m = m_end
        # Drop features and VAD chunks no frame will read again.
        keep_f = self._m - T
        if keep_f > self._f0:
            cut = keep_f - self._f0
            self._X = self._X[:, cut:]
            self._A = self._A[cut:]
            self._S = self._S[cut:]
            self._T = self._T[cut:]
            self._f0 = keep_f
        keep_c = ((self._m - self.hang) * HOP + vad.FILTER_DELAY) // vad.CHUNK
        if keep_c > self._vad_c0:
            cut = min(keep_c - self._vad_c0, len(self._vad_probs))
            self._vad_probs = self._vad_probs[cut:]
            self._vad_c0 += cut

    def _push_final(self, d: np.ndarray, first_global: int) -> None:
        if first_global < 0:  # the pre-roll half frame before the input began
            d = d[:, -first_global:]
        if d.shape[1]:
            self._final.append(d)
            self._final_len += d.shape[1]

    def _emit(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Return n output samples: the latency's zeros first, then final dialogue samples.

        The background is the input minus the dialogue at the same instant; the input samples
        are kept in `_pre` until their dialogue is emitted.
        """
        zeros = max(0, min(n, self.latency - self._emitted))
        need = n - zeros
        if need > self._final_len:
            raise RuntimeError(f"separator fell behind its latency ({need} > {self._final_len})")
        parts = [np.zeros((self._dch, zeros), np.float32)]
        got = 0
        while got < need:
            head = self._final[0]
            take = min(need - got, head.shape[1])
            parts.append(head[:, :take])
            if take == head.shape[1]:
                self._final.pop(0)
            else:
                self._final[0] = head[:, take:]
            got += take
        self._final_len -= need
        d = np.concatenate(parts, axis=1)
        if self.centre is not None:  # every other channel goes wholly to the background
            full = np.zeros((self.channels, n), np.float32)
            full[self.centre] = d[0]
            d = full
        xin = np.concatenate([np.zeros((self.channels, zeros), np.float32),
                              self._pre[:, :need]], axis=1)
        self._pre = self._pre[:, need:]
        self._emitted += n
        return d, xin - d


def _smooth_bins(p: np.ndarray) -> np.ndarray:
    out = p * 0.5
    out[:, 1:] += 0.25 * p[:, :-1]
    out[:, :-1] += 0.25 * p[:, 1:]
    out[:, 0] += 0.25 * p[:, 0]
    out[:, -1] += 0.25 * p[:, -1]
    return out


LEVEL_FRAME = 4800  # the pre-pass measures the analysed signal's power per 100 ms


class LevelMeter(PrePass):
    """`dfn-prepass`'s pre-pass: the power of the analysed signal (the channel mean, or
    the centre channel) per 100 ms frame over the whole clip, 4 bytes per frame (144 kB an
    hour); `done()` turns it into DeepFilterNet3's input gain (`LevelCurve`)."""

    def __init__(self, sep: DeepFilterSeparator) -> None:
        self._sep = sep
        self._sum = 0.0  # squared samples of the frame being filled
        self._fill = 0
        self._pows: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        block = np.atleast_2d(np.asarray(block, np.float32))
        a = block[self._sep.centre] if self._sep.centre is not None else block.mean(axis=0)
        a = a.astype(np.float64)
        i = 0
        if self._fill:
            take = min(LEVEL_FRAME - self._fill, len(a))
            self._sum += float(np.dot(a[:take], a[:take]))
            self._fill += take
            i = take
            if self._fill == LEVEL_FRAME:
                self._pows.append(np.array([self._sum / LEVEL_FRAME], np.float32))
                self._sum, self._fill = 0.0, 0
        whole = (len(a) - i) // LEVEL_FRAME
        if whole:
            f = a[i:i + whole * LEVEL_FRAME].reshape(whole, LEVEL_FRAME)
            self._pows.append(np.mean(f * f, axis=1).astype(np.float32))
            i += whole * LEVEL_FRAME
        if i < len(a):
            rest = a[i:]
            self._sum += float(np.dot(rest, rest))
            self._fill += len(rest)

    def powers(self) -> np.ndarray:
        """Mean power per 100 ms frame so far (the last, partial frame over its own length)."""
        pows = list(self._pows)
        if self._fill:
            pows.append(np.array([self._sum / self._fill], np.float32))
        return np.concatenate(pows) if pows else np.zeros(0, np.float32)

    def done(self) -> None:
        self._sep.set_input_level(self.powers())


def frame_levels(pows: np.ndarray, window: int | None, top: float = 1.0,
                 stat: str = "power") -> np.ndarray:
    """The level (a mean power) each 100 ms frame's gain is set from, over `window` frames
    centred on it (None: the whole clip, one value for every frame): `stat` "power" the mean
    power of the loudest `top` share of those frames (at least one), "db" the mean of their
    powers in dB (a loud stretch entering the window moves it less), "median" their median."""
    n = len(pows)
    if n == 0:
        return pows
    pows = pows.astype(np.float64)
    if stat == "db":
        return np.exp(frame_levels(np.log(pows + 1e-12), window, top, "power")).astype(np.float32)

    def one(p: np.ndarray) -> float:
        if stat == "median":
            return float(np.median(p))
        k = max(1, int(np.ceil(top * len(p))))
        return float(np.mean(np.sort(p)[len(p) - k:]))

    if window is None or window >= 2 * n:
        return np.full(n, one(pows), np.float32)
    half = window // 2
    if top >= 1.0 and stat != "median":  # plain windowed mean: cumulative sums
        c = np.concatenate([[0.0], np.cumsum(pows)])
        lo = np.maximum(np.arange(n) - half, 0)
        hi = np.minimum(np.arange(n) + half + 1, n)
        return ((c[hi] - c[lo]) / (hi - lo)).astype(np.float32)
    return np.array([one(pows[max(0, f - half):f + half + 1]) for f in range(n)], np.float32)


class LevelCurve:
    """DeepFilterNet3's input gain per sample from the pre-pass: one gain per 100 ms frame,
    linear between frame centres (constant before the first and after the last)."""

    def __init__(self, gains: np.ndarray) -> None:
        self.gains = np.asarray(gains, np.float64)
        self.centres = np.arange(len(gains)) * LEVEL_FRAME + LEVEL_FRAME / 2

    def at(self, start: int, n: int) -> np.ndarray:
        if len(self.gains) == 0:
            return np.ones(n, np.float32)
        f0 = max(0, start // LEVEL_FRAME - 1)
        f1 = min(len(self.gains), (start + n) // LEVEL_FRAME + 2)
        t = np.arange(start, start + n)
        return np.interp(t, self.centres[f0:f1], self.gains[f0:f1]).astype(np.float32)


class DeepFilterSeparator(MaskSeparator):
    """The `dfn` backend (the default's first half): DeepFilterNet3's speech estimate, gated
    by Silero VAD.

    DeepFilterNet3 is fed the input at a set level and its estimate turned back by the same
    gain. The default: the causal running level, quiet input turned up only. With
    `level_pre_pass` (the `dfn-prepass` backend) whoever has the whole input (the file job,
    `separate_array`) lets a pre-pass (`pre_pass()`, `LevelMeter`) measure the clip's level
    first, and the gain follows it (turning loud input down too; the VAD hears the levelled
    signal as well); a stream without the pre-pass falls back to the causal level.

    DeepFilterNet3 (deepfilter.py) already filters per bin, so no Wiener smoothing is put on
    top (it measured worse); its estimate S enters as a complex ratio M = S / A of the
    analysed signal A, which reproduces S exactly on mono and centre-channel input and
    applies the same filter to every channel of stereo or quad input. |M| is capped so a
    near-silent bin cannot blow up another channel. The VAD gate then multiplies M, which
    makes speech pauses exactly silent in the dialogue stem.
    """

    name = "dfn"
    MAX_RATIO = 2.0
    # DeepFilterNet3 breaks down on quiet input (tuning set, 0 dB mixtures 30 dB down: -9.5 dB
    # SI-SDRi against 12.6 at their own level), so it is fed the input at a set level; chosen
    # on the tuning set (docs/separation.md, "Quiet input" and "the clip's level measured
    # first").
    LEVEL_DB = -30.0  # causal: the running RMS turned up to this (dBFS); measured: set to it
    LEVEL_FRAMES = 300  # causal input level: cumulative mean over the first 3 s, then a 3 s EMA
    CAUSAL_GAIN_DB = (0.0, 30.0)  # the causal level only turns quiet input up (<= 30 dB)
    LEVEL_WINDOW_S: float | None = 2.0  # measured: centred window of the level (None: the clip)
    LEVEL_STAT = "power"  # measured: frame_levels' statistic over the window
    LEVEL_TOP = 1.0  # measured: the loudest share of 100 ms frames the level is the mean of
    LEVEL_GAIN_DB = (-20.0, 30.0)  # measured: gain limits

    def __init__(self, channels: int, model_dir: str | None = None,
                 input_level_db: float | None = LEVEL_DB, level_pre_pass: bool = False,
                 level_window_s: float | None = LEVEL_WINDOW_S, level_stat: str = LEVEL_STAT,
                 level_top: float = LEVEL_TOP,
                 level_gain_db: tuple[float, float] = LEVEL_GAIN_DB,
                 level_vad: bool | str = True, causal_vad: bool = False,
                 margin_wiener: float = 0.0, margin_power: float = 1.0,
                 margin_back_ms: int = 0, margin_ahead_ms: int = 0,
                 **options) -> None:
        """`input_level_db`: feed DeepFilterNet3 the analysed signal at this level (dBFS) and
        turn its estimate back; the mask is a ratio, so only DeepFilterNet3's operating point
        moves. None: the input's own level (`dfn-plain`, the default before 2026-12-06).
        Without a pre-pass the running RMS is turned up (never down) to it; the VAD hears the
        input as it is (`causal_vad`: turned up as well). `level_pre_pass`: take the pre-pass
        when offered; the level is then `frame_levels(..., level_stat)` of 100 ms frames within
        `level_window_s` seconds centred on each frame (None: the whole clip), the gain stays
        within `level_gain_db`, and the VAD hears the levelled signal (`level_vad` True; "up":
        turned up only; False: as it is). `margin_wiener`, `margin_power`: lambda and power
        of `margin_gain` on the frames the gate holds open around words (0: off), which reads
        the speech probability's maximum over `margin_back_ms` behind and `margin_ahead_ms`
        ahead of each frame (within the gate's own hang-over and look-ahead)."""
        self._model_dir = model_dir
        self._level = input_level_db
        self._level_pre_pass = level_pre_pass
        self._level_window = level_window_s
        self._level_stat = level_stat
        self._level_top = level_top
        self._level_gain_db = level_gain_db
        self._level_vad = level_vad
        self._causal_vad = causal_vad
        self._margin = (float(margin_wiener), float(margin_power))
        self._margin_win_ms = (max(0, int(margin_back_ms)), max(0, int(margin_ahead_ms)))
        self._curve: LevelCurve | None = None  # the pre-pass's gain, once measured
        self._vad_g = np.ones(0, np.float32)  # the gain DeepFilterNet3 got on the last block
        self._lv_pos = 0  # input samples estimated so far
        self._lv_pow = 0.0  # running mean power of the analysed signal's complete hops
        self._lv_hops = 0
        self._lv_part = np.zeros(0, np.float32)  # samples of the hop being filled
        self._lv_g = 1.0  # gain at the end of the last complete hop
        self._lv_gains: list[np.ndarray] = []  # per-sample gains of input not yet estimated
        options.setdefault("smooth_frames", 0)
        super().__init__(channels, **options)

    def _make_estimator(self):
        from foley_desktop.separation import deepfilter

        # Its output comes in 0.5 s bursts but aligned with its input (delay 0).
        return deepfilter.DeepFilterNet3(self._model_dir), deepfilter.DeepFilterNet3.MAX_LAG, 0

    def pre_pass(self) -> LevelMeter | None:
        if self._level is None or not self._level_pre_pass:
            return None
        if self._lv_pos:
            raise RuntimeError("the level pre-pass must come before the first block")
        return LevelMeter(self)

    def set_input_level(self, frame_powers: np.ndarray) -> None:
        """The pre-pass's result: the analysed signal's mean power per 100 ms frame."""
        if self._level is None:
            return
        window = (None if self._level_window is None
                  else max(1, round(self._level_window * SAMPLE_RATE / LEVEL_FRAME)))
        level = frame_levels(np.asarray(frame_powers, np.float32), window, self._level_top,
                             self._level_stat)
        lo, hi = (10 ** (v / 20) for v in self._level_gain_db)
        g = np.clip(10 ** (self._level / 20) / np.sqrt(np.maximum(level, 1e-12)), lo, hi)
        self._curve = LevelCurve(g)

    def _estimate(self, a: np.ndarray) -> np.ndarray:
        if self._level is None:
            return self._est.process(a)
        g = (self._curve.at(self._lv_pos, len(a)) if self._curve is not None
             else self._input_gains(a))
        self._lv_pos += len(a)
        self._lv_gains.append(g)
        self._vad_g = g
        s = self._est.process(a * g)
        gains = np.concatenate(self._lv_gains)  # one per input sample not yet estimated
        self._lv_gains = [gains[len(s):]]
        return (s / gains[:len(s)]).astype(np.float32)

    def _vad_input(self, a: np.ndarray) -> np.ndarray:
        if self._level is None or not (self._causal_vad if self._curve is None
                                       else self._level_vad):
            return a
        if self._curve is not None and self._level_vad == "up":  # quiet input turned up only
            return a * np.maximum(self._vad_g, 1.0)
        return a * self._vad_g

    def _input_gains(self, a: np.ndarray) -> np.ndarray:
        """Causal per-sample gains for `a`, continuing the stream: within each 480-sample hop
        the gain goes linearly from the previous hop's end value to the one set by the running
        power of all complete hops before it (the same for any block sizes)."""
        out = np.empty(len(a), np.float32)
        i = 0
        lo, hi = (10 ** (v / 20) for v in self.CAUSAL_GAIN_DB)
        target = 10 ** (self._level / 20)
        while i < len(a):
            j = len(self._lv_part)  # position inside the current hop
            take = min(HOP - j, len(a) - i)
            g_end = float(np.clip(target / np.sqrt(max(self._lv_pow, 1e-12)), lo, hi)
                          ) if self._lv_hops else 1.0
            ramp = self._lv_g + (g_end - self._lv_g) * (np.arange(j, j + take) + 1) / HOP
            out[i:i + take] = ramp
            self._lv_part = np.concatenate([self._lv_part, a[i:i + take]])
            i += take
            if len(self._lv_part) == HOP:
                self._lv_g = g_end
                w = 1.0 / min(self._lv_hops + 1, self.LEVEL_FRAMES)
                self._lv_pow += w * (float(np.mean(self._lv_part.astype(np.float64) ** 2))
                                     - self._lv_pow)
                self._lv_hops += 1
                self._lv_part = np.zeros(0, np.float32)
        return out

    def _speech_estimate(self, rows: slice) -> np.ndarray:
        """The speech estimate's STFT frames `rows` (a subclass may fuse a second one in)."""
        return self._S[rows]

    def _mask_and_synthesize(self) -> None:
        m_end = min(self._k - self.T, self._vad_frames_ready() - self.look)
        if m_end <= self._m:
            return
        rows = slice(self._m - self._f0, m_end - self._f0)
        S, A = self._speech_estimate(rows), self._A[rows]
        M = S * A.conj() / (A.real ** 2 + A.imag ** 2 + 1e-20)
        mag = np.abs(M)
        M = np.where(mag > self.MAX_RATIO, M * (self.MAX_RATIO / np.maximum(mag, 1e-20)), M)
        if self.use_gate:
            if self._margin[0] > 0:
                M = M * self._margin_gain(M, m_end)
            M = M * self._gate(m_end)[:, None]
        self._apply_mask(M, m_end)

    def _margin_gain(self, M: np.ndarray, m_end: int) -> np.ndarray:
        lam, power = self._margin
        back, ahead = (min(lim, ms * 48 // HOP)
                       for lim, ms in zip((self.hang, self.look), self._margin_win_ms))
        p = self._window_probs(self._m, m_end, back, ahead)
        return margin_gain(M, p, lam, power, self.gate_lo, self.gate_hi)


def margin_gain(M: np.ndarray, p: np.ndarray, lam: float, power: float, lo: float,
                hi: float) -> np.ndarray:
    """Per-bin gain [frames, bins] for the frames the VAD gate holds open around words
    (issue #29, thirteenth round; `margin_wiener`). p is each frame's speech probability
    (its own, or the maximum over a window around it), mapped as the gate maps it
    (lo..hi -> 0..1) to q. Where q says voice, 1; where it says none, the Wiener gain of the
    dialogue estimate M A against the background estimate (1 - M) A,
    |M|^2 / (|M|^2 + lam |1 - M|^2), to the `power`; in between, linear in q. Why: in those
    margins both speech estimates let some of a noisy background through, a small share of
    the background in every bin, while a word's tail or a start the detector has not caught
    up with stands above the background in its own bins and keeps them."""
    q = np.clip((p - lo) / (hi - lo), 0.0, 1.0)
    r = M.real ** 2 + M.imag ** 2
    n = (1.0 - M.real) ** 2 + M.imag ** 2
    wien = (r / (r + lam * n + 1e-12)) ** power
    return (1.0 - (1.0 - q)[:, None] * (1.0 - wien)).astype(np.float32)


@register("dfn", "DeepFilterNet3 speech estimate (quiet input turned up for it) + Silero "
          "VAD gate (the default until 2026-12-06; the default fuses Conv-TasNet into it: "
          "dfn is 2-2.5 dB worse, 4x faster, about 120 MiB instead of 340)")
def _make_dfn(channels: int, **options) -> Separator:
    return DeepFilterSeparator(channels, **options)


@register("dfn-plain", "dfn without its level front end: DeepFilterNet3 at the input's own "
          "level (the default until 2026-12-06; fails on quiet clips)")
def _make_plain(channels: int, **options) -> Separator:
    options.setdefault("input_level_db", None)
    return DeepFilterSeparator(channels, **options)


@register("dfn-prepass", "dfn with the clip's level measured first (a pre-pass over the "
          "file; experimental: not better than dfn on every held-out set)")
def _make_prepass(channels: int, **options) -> Separator:
    options.setdefault("level_pre_pass", True)
    return DeepFilterSeparator(channels, **options)


@register("rnnoise-mask", "RNNoise speech estimate + Wiener-like mask + Silero VAD gate (the "
          "default before DeepFilterNet3)")
def _make_rnnoise_mask(channels: int, **options) -> Separator:
    return MaskSeparator(channels, **options)
