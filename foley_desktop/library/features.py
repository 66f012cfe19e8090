"""Audio features of a library sound, numpy only: where its hits start, whether it is a
sustained texture, how loud it is and how bright.

Everything is computed in one streaming pass over STFT frames (about 43 ms Hann windows,
hop a quarter of that), so a long file costs bounded memory; `analyse_file` reads at most the
first `max_seconds`.

- Onsets: spectral flux (half-wave rectified rise of the log-compressed magnitude spectrum),
  peaks above an adaptive threshold (a running median plus a floor tied to the file's largest
  flux), at least `min_gap_s` apart, on frames within 40 dB of the loudest; each peak is then
  moved back to where the 1 ms peak envelope first rises a quarter of the way from the level
  before it to the hit's peak, so an onset marks the start of the hit, not the frame where the
  flux was largest.
- Continuous: a recording is a sustained texture (rain, wind, fire, water, room tone, crowd)
  when it lasts at least `CONTINUOUS_MIN_S` and its frame levels stay within a narrow band:
  between the quietest 10 % and the loudest 10 % of its frames (leading and trailing silence
  trimmed, 0.25 s fades ignored) lie at most `CONTINUOUS_SPREAD_DB`. Hits decay into silence
  between them and so spread over 20 dB or more; textures rarely move 15 dB (tuned on the 225
  recordings of the test media: see docs/library.md).
- Loudness: an approximation of ITU-R BS.1770-4 integrated loudness: the K-weighting filter's
  magnitude response is applied to each frame's power spectrum (Parseval) instead of filtering
  in the time domain, channels are summed with equal weight (no surround weights), 400 ms
  blocks with 75 % overlap are gated at -70 LUFS and at -10 LU. Within about 0.5 LU of a
  reference meter on ordinary material; files shorter than 400 ms are measured as one block.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from foley_desktop.jobs import CancelToken, check

CONTINUOUS_MIN_S = 1.5
CONTINUOUS_SPREAD_DB = 15.0
DEFAULT_MAX_SECONDS = 300.0      # the first five minutes of a long ambience say enough
# Magnitude compression log(1 + GAMMA * |X| / n): large enough that a hit 40 dB down still
# rises as much as a loud one (the flux is nearly level-independent), small enough that the
# -80 dB floor of a quiet room does not flicker into onsets.
GAMMA = 10000.0
# Flux summed over 3 frames (~32 ms): a soft attack spreads its rise over several frames.
SMOOTH = 3
ONSET_FLOOR_DB = 40.0            # onsets only on frames within this of the loudest frame


@dataclass
class SoundFeatures:
    onsets_s: list[float]
    onset_strengths: list[float] = field(default_factory=list)  # 0..1, the strongest hit = 1
    continuous: bool = False
    loudness_lufs: float | None = None   # None: silence (every block gated out)
    peak_db: float | None = None         # sample peak, dBFS; None: digital silence
    centroid_hz: float | None = None     # power-weighted spectral centroid of the whole sound
    analysed_s: float = 0.0
    level_spread_db: float = 0.0         # p90 - p10 of the frame levels (the continuity rule)

    def to_dict(self) -> dict:
        return {"onsets_s": [round(t, 4) for t in self.onsets_s],
                "onset_strengths": [round(s, 3) for s in self.onset_strengths],
                "continuous": self.continuous, "loudness_lufs": _r(self.loudness_lufs),
                "peak_db": _r(self.peak_db), "centroid_hz": _r(self.centroid_hz),
                "analysed_s": round(self.analysed_s, 3), "level_spread_db": round(self.level_spread_db, 2)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def analyse(audio: np.ndarray, sr: int, min_gap_s: float = 0.08) -> SoundFeatures:
    """Features of `audio` (float [samples] mono, or [channels, samples]) at rate `sr`."""
    a = np.asarray(audio, np.float32)
    if a.ndim == 1:
        a = a[None]
    return analyse_blocks([a], sr, a.shape[0], min_gap_s=min_gap_s)


def analyse_blocks(blocks: Iterable[np.ndarray], sr: int, channels: int,
                   min_gap_s: float = 0.08, cancel: CancelToken | None = None) -> SoundFeatures:
    """Features from a stream of float blocks [channels, n] (any n)."""
    an = _Analyser(sr, channels)
    for block in blocks:
        check(cancel)
        an.feed(np.asarray(block, np.float32))
    return an.finish(min_gap_s)


def analyse_file(path: str | Path, max_seconds: float = DEFAULT_MAX_SECONDS,
                 min_gap_s: float = 0.08, cancel: CancelToken | None = None) -> SoundFeatures:
    """Features of the first `max_seconds` of a file, streamed in blocks. Raises
    `metadata.SkipFile` when the audio cannot be decoded."""
    import soundfile as sf

    from foley_desktop.library.metadata import SkipFile

    err: Exception | None = None
    try:
        if Path(path).suffix.lower() == ".mp3":
            # libsndfile's MP3 decoder (libmpg123) prints its complaints about damaged frames
            # straight to the terminal, beyond Python's reach; FFmpeg's, through PyAV, does not.
            raise RuntimeError("MP3: decoded with PyAV")
        with sf.SoundFile(str(path)) as f:
            sr, ch = f.samplerate, f.channels
            limit = int(max_seconds * sr)

            def blocks():
                left = limit
                while left > 0:
                    b = f.read(min(65536, left), dtype="float32", always_2d=True)
                    if not len(b):
                        return
                    left -= len(b)
                    yield b.T
            return analyse_blocks(blocks(), sr, ch, min_gap_s, cancel)
    except (sf.LibsndfileError, RuntimeError) as exc:
        err = exc
    # libsndfile could not read it (an MP3 variant, a WAV codec): decode with PyAV instead.
    from foley_desktop.errors import Cancelled, MediaError
    from foley_desktop.media.decode import iter_audio
    from foley_desktop.media.probe import probe

    try:
        info = probe(path)
        if info.audio is None:
            raise SkipFile("not audio (no audio stream)")
        sr = int(info.audio.sample_rate)
        return analyse_blocks(iter_audio(path, 65536, 0, int(min(max_seconds, float(info.duration)) * sr),
                                         sr=sr, cancel=cancel),
                              sr, int(info.audio.channels), min_gap_s, cancel)
    except Cancelled:
        raise
    except MediaError as exc:
        raise SkipFile(f"cannot decode ({exc}; libsndfile: {' '.join(str(err).split())[:80]})") from None


# ---- the streaming analyser -----------------------------------------------------------------

def _k_weight_power(freqs: np.ndarray, sr: int) -> np.ndarray:
    """|H(f)|^2 of BS.1770's K-weighting (high shelf then high pass), designed for `sr` with the
    bilinear transform from the analogue prototypes the standard's 48 kHz coefficients come from."""
    def biquad_power(b, a):
        z = np.exp(-1j * 2 * np.pi * freqs / sr)
        num = b[0] + b[1] * z + b[2] * z * z
        den = a[0] + a[1] * z + a[2] * z * z
        return np.abs(num / den) ** 2

    k = math.tan(math.pi * 1681.974450955533 / sr)
    q = 0.7071752369554196
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = biquad_power([(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0],
                         [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    k = math.tan(math.pi * 38.13547087602444 / sr)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    hp = biquad_power([1.0, -2.0, 1.0], [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    return shelf * hp


class _Analyser:
    def __init__(self, sr: int, channels: int) -> None:
        if sr <= 0 or channels <= 0:
            raise ValueError("sample rate and channels must be positive")
        self.sr, self.channels = sr, channels
        self.n = 1 << max(8, math.ceil(math.log2(0.04 * sr)))      # ~43 ms at 44.1/48 kHz
        self.hop = self.n // 4
        self.win = np.hanning(self.n).astype(np.float32)
        freqs = np.fft.rfftfreq(self.n, 1 / sr)
        self.freqs = freqs
        # Parseval: mean square of the frame = 2 * sum(P) / (n * sum(w^2)) (one-sided spectrum).
        self.kw = (_k_weight_power(freqs, sr) * 2 / (self.n * float(np.sum(self.win ** 2)))).astype(np.float32)
        self.pw = np.float32(2 / (self.n * float(np.sum(self.win ** 2))))
        # Centre the frames on multiples of the hop: frame t covers t*hop ± n/2.
        self.buf = np.zeros((channels, self.n // 2), np.float32)
        self.prev_log = np.zeros(len(freqs), np.float32)
        self.flux: list[np.ndarray] = []
        self.power: list[np.ndarray] = []      # plain mean square per frame (all channels)
        self.kpower: list[np.ndarray] = []     # K-weighted mean square per frame
        self.cent_num = 0.0
        self.cent_den = 0.0
        self.peak = 0.0
        self.samples = 0
        self.ms = max(1, sr // 1000)
        self.env: list[np.ndarray] = []        # max |x| per millisecond (all channels)
        self.env_rest = np.zeros(0, np.float32)

    def feed(self, block: np.ndarray) -> None:
        if block.ndim == 1:
            block = block[None]
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        if not block.shape[1]:
            return
        if not np.isfinite(block).all():          # a corrupt float file: treat NaN/Inf as silence
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        self.samples += block.shape[1]
        mag = np.abs(block).max(axis=0)
        self.peak = max(self.peak, float(mag.max()))
        env = np.concatenate([self.env_rest, mag])
        whole = len(env) // self.ms * self.ms
        self.env.append(env[:whole].reshape(-1, self.ms).max(axis=1))
        self.env_rest = env[whole:]
        self.buf = np.concatenate([self.buf, block], axis=1)
        self._frames()

    def _frames(self) -> None:
        count = (self.buf.shape[1] - self.n) // self.hop + 1
        if count <= 0:
            return
        idx = np.arange(count)[:, None] * self.hop + np.arange(self.n)[None]
        frames = self.buf[:, idx] * self.win                      # [ch, count, n]
        spec = np.fft.rfft(frames, axis=-1)
        p = (spec.real ** 2 + spec.imag ** 2).sum(axis=0)         # [count, bins]
        self.power.append(p.sum(axis=1) * self.pw)
        self.kpower.append(p @ self.kw)
        self.cent_num += float((p @ self.freqs).sum())
        self.cent_den += float(p.sum())
        # Log compression makes the flux respond to relative change, so a quiet hit after a
        # loud one still registers; the +1 keeps the noise floor from dominating.
        logm = np.log1p(GAMMA * np.sqrt(p) / self.n).astype(np.float32)
        prev = np.vstack([self.prev_log[None], logm[:-1]])
        self.flux.append(np.maximum(logm - prev, 0).sum(axis=1))
        self.prev_log = logm[-1]
        self.buf = self.buf[:, count * self.hop:]

    def finish(self, min_gap_s: float) -> SoundFeatures:
        # Flush: pad so that the last samples sit at the centre of a frame.
        self.buf = np.concatenate([self.buf, np.zeros((self.channels, self.n), np.float32)], axis=1)
        self._frames()
        if len(self.env_rest):
            self.env.append(np.array([self.env_rest.max()], np.float32))
        dur = self.samples / self.sr
        flux = np.concatenate(self.flux) if self.flux else np.zeros(0, np.float32)
        power = np.concatenate(self.power) if self.power else np.zeros(0, np.float32)
        kpower = np.concatenate(self.kpower) if self.kpower else np.zeros(0, np.float32)
        # Frames past the end of the audio (the flush) are not part of the sound.
        nframes = min(len(flux), self.samples // self.hop + 1)
        flux, power, kpower = flux[:nframes], power[:nframes], kpower[:nframes]
        env = np.concatenate(self.env) if self.env else np.zeros(0, np.float32)
        feats = SoundFeatures(onsets_s=[], analysed_s=dur)
        if self.peak <= 0 or not nframes:
            return feats
        feats.peak_db = 20 * math.log10(self.peak)
        feats.centroid_hz = self.cent_num / self.cent_den if self.cent_den > 0 else None
        feats.loudness_lufs = _integrated_loudness(kpower, self.hop / self.sr)
        level = 10 * np.log10(np.maximum(power, 1e-12))
        feats.level_spread_db, active_s = _level_spread(level, self.hop / self.sr)
        feats.continuous = bool(active_s >= CONTINUOUS_MIN_S and feats.level_spread_db <= CONTINUOUS_SPREAD_DB)
        onsets, strengths = _pick_onsets(flux, level, self.hop, self.sr, min_gap_s)
        top = max(strengths) if strengths else 1.0
        feats.onset_strengths = [float(s / top) for s in strengths]
        prev_ms = 0
        for t in onsets:
            o = self._refine_env(env, t, prev_ms)
            feats.onsets_s.append(o)
            prev_ms = int(o * self.sr / self.ms) + int(0.01 * self.sr / self.ms)
        return feats

    def _refine_env(self, env: np.ndarray, t: int, not_before_ms: int = 0) -> float:
        """The start of the hit whose flux peaked at frame t, from the 1 ms envelope: the first
        millisecond in the frame's span that rises a quarter of the way from the level before
        the span to the span's peak, then back while the envelope stays above a tenth of that
        rise (up to 100 ms: a soft heel before a footstep's impact belongs to the hit)."""
        centre_ms = t * self.hop / self.ms
        half_ms = self.n / 2 / self.ms
        lo = int(max(not_before_ms, centre_ms - half_ms))
        hi = int(min(len(env), centre_ms + half_ms + 1))
        if hi <= lo:
            return t * self.hop / self.sr
        top = float(env[lo:hi].max())
        pre = env[max(0, lo - 30):lo]
        base = float(np.median(pre)) if len(pre) else 0.0
        if top <= base:
            return t * self.hop / self.sr
        first = lo + int(np.argmax(env[lo:hi] >= base + 0.25 * (top - base)))
        low = base + 0.1 * (top - base)
        stop = max(not_before_ms, first - int(0.1 * self.sr / self.ms))
        while first > stop and env[first - 1] > low:
            first -= 1
        return first * self.ms / self.sr


def _integrated_loudness(kpower: np.ndarray, frame_s: float) -> float | None:
    per_block = max(1, round(0.4 / frame_s))
    step = max(1, round(0.1 / frame_s))
    if len(kpower) <= per_block:
        blocks = np.array([kpower.mean()])
    else:
        c = np.concatenate([[0.0], np.cumsum(kpower, dtype=np.float64)])
        starts = np.arange(0, len(kpower) - per_block + 1, step)
        blocks = (c[starts + per_block] - c[starts]) / per_block
    lk = -0.691 + 10 * np.log10(np.maximum(blocks, 1e-20))
    keep = lk > -70.0
    if not keep.any():
        return None
    rel = -0.691 + 10 * math.log10(float(blocks[keep].mean())) - 10.0
    keep &= lk > rel
    return float(-0.691 + 10 * math.log10(float(blocks[keep].mean())))


def _level_spread(level: np.ndarray, frame_s: float) -> tuple[float, float]:
    """(p90 - p10 of the frame levels inside the sound, the sound's duration in seconds): leading
    and trailing frames 60 dB under the loudest are trimmed, and 0.25 s at either end."""
    active = np.flatnonzero(level > level.max() - 60.0)
    seg = level[active[0]: active[-1] + 1]
    edge = int(0.25 / frame_s)
    inner = seg[edge: len(seg) - edge] if len(seg) > 4 * edge else seg
    p10, p90 = np.percentile(inner, [10, 90])
    return float(p90 - p10), len(seg) * frame_s


def _pick_onsets(flux: np.ndarray, level: np.ndarray, hop: int, sr: int,
                 min_gap_s: float) -> tuple[list[int], list[float]]:
    frame_s = hop / sr
    if not len(flux) or flux.max() <= 0:
        return [], []
    if SMOOTH > 1:
        flux = np.convolve(flux, np.ones(SMOOTH, np.float32), mode="full")[:len(flux)]
    w = max(1, round(0.15 / frame_s))
    # Before the file is silence (a hit at sample 0 is a hit); after it, the last frames go on.
    padded = np.concatenate([np.zeros(w, flux.dtype), flux, np.full(w, flux[-1], flux.dtype)])
    # Running median over ±150 ms: the local texture a hit must rise above.
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1)
    med = np.median(windows, axis=1)
    thr = 1.5 * med + 0.05 * float(flux.max())
    k = 2
    lmax = np.lib.stride_tricks.sliding_window_view(np.pad(flux, k, constant_values=-1), 2 * k + 1).max(axis=1)
    loud = level > level.max() - ONSET_FLOOR_DB
    cand = np.flatnonzero((flux >= lmax) & (flux > thr) & loud)
    if not len(cand):
        # A sound with a single gentle attack still has a start: its largest flux.
        cand = np.array([int(np.argmax(flux))])
    gap = max(1, round(min_gap_s / frame_s))
    kept: list[int] = []
    for i in cand[np.argsort(-flux[cand], kind="stable")]:
        if all(abs(int(i) - j) >= gap for j in kept):
            kept.append(int(i))
    kept.sort()
    return kept, [float(flux[i]) for i in kept]
