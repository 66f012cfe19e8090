"""Audio onsets and how well they match event times (numpy only).

This is the onset detector the model evaluation has always used (it moved here from
train/evaluate.py so the app can score a take against its markers without the training
extra). The band analysis below is also the analysis half of foley-tiny's codec: train/codec.py
imports it from here (spotting must not depend on the training package, the reverse is fine).
"""

from __future__ import annotations

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE as SR

HOP = 480                      # 100 analysis frames per second
_WIN = 2 * HOP
_N_BINS = _WIN // 2 + 1
_N_BANDS = 64
_F_MIN, _F_MAX = 30.0, 20000.0
_POWER_FLOOR = 1e-9
_LOG_MEAN = -12.0              # the codec's normalisation; kept so thresholds stay identical
_LOG_STD = 4.0


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _imel(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def band_centres() -> np.ndarray:
    """Centres of the 64 mel bands, in STFT bins, forced at least one bin apart (at 50 Hz
    resolution the low mel bands would otherwise be empty)."""
    centres = _imel(np.linspace(_mel(_F_MIN), _mel(_F_MAX), _N_BANDS)) / (SR / _WIN)
    for i in range(1, _N_BANDS):
        centres[i] = max(centres[i], centres[i - 1] + 1.0)
    return centres


def analysis_matrix() -> np.ndarray:
    """[bands, bins] triangular mel bands around `band_centres`, rows averaging."""
    centres = band_centres()
    k = np.arange(_N_BINS, dtype=np.float64)
    edges = np.concatenate([[max(centres[0] - 1.0, 0.0)], centres, [_N_BINS - 1.0]])
    ana = np.zeros((_N_BANDS, _N_BINS))
    for b in range(_N_BANDS):
        lo, c, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (k - lo) / max(c - lo, 1e-9)
        down = (hi - k) / max(hi - c, 1e-9)
        ana[b] = np.clip(np.minimum(up, down), 0.0, None)
        ana[b, round(c)] = max(ana[b, round(c)], 1.0)
    ana /= ana.sum(axis=1, keepdims=True)
    return ana.astype(np.float32)


_ANA = analysis_matrix()
_WA = (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(_WIN) + 0.5) / _WIN)).astype(np.float32)
_WA_NORM = float(np.sum(_WA ** 2))


def log_bands(audio: np.ndarray) -> np.ndarray:
    """Mono float audio at 48 kHz -> normalised log band power [64, ceil(len/HOP)] float32
    (identical to train/codec.encode)."""
    audio = np.asarray(audio, dtype=np.float32)
    n_frames = -(-len(audio) // HOP)
    padded = np.zeros(n_frames * HOP + _WIN, dtype=np.float32)
    padded[HOP // 2: HOP // 2 + len(audio)] = audio
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(_WIN)[None, :]
    spec = np.fft.rfft(padded[idx] * _WA, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2) / _WA_NORM
    bands = power @ _ANA.T
    return ((np.log(bands + _POWER_FLOOR) - _LOG_MEAN) / _LOG_STD).T.astype(np.float32)


def _to_mono_48k(audio: np.ndarray, sr: int) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 2:
        # (samples, channels) as soundfile reads it, or (channels, samples) as PyAV decodes.
        a = a.mean(axis=1) if a.shape[0] >= a.shape[1] else a.mean(axis=0)
    if sr != SR:
        # Linear interpolation is enough for onset timing (10 ms frames); callers wanting
        # a proper resample use media/ first.
        n_out = round(len(a) * SR / sr)
        a = np.interp(np.arange(n_out) * (sr / SR), np.arange(len(a)), a).astype(np.float32)
    return a


def detect_onsets(audio: np.ndarray, sr: int = SR, delta: float = 0.8,
                  min_gap_s: float = 0.2) -> np.ndarray:
    """Onset times (s): peaks of log-band spectral flux at 100 Hz, adaptive threshold."""
    audio = _to_mono_48k(audio, sr)
    if len(audio) == 0:
        return np.zeros(0, np.float64)
    z = log_bands(audio) * _LOG_STD          # ln power per band (offset cancels below)
    flux = np.maximum(np.diff(z, axis=1, prepend=z[:, :1]), 0.0).mean(axis=0)
    loud = np.log(np.mean(np.exp(z), axis=0) + 1e-12)
    n = len(flux)
    k = 25
    pad = np.pad(flux, k, mode="edge")
    med = np.array([np.median(pad[i:i + 2 * k + 1]) for i in range(n)])
    thr = med + delta * (flux.max() - med.min()) * 0.5
    peaks: list[int] = []
    for i in range(1, n - 1):
        if flux[i] >= thr[i] and flux[i] >= flux[i - 1] and flux[i] >= flux[i + 1] \
                and loud[i] > loud.max() - 12:
            if peaks and (i - peaks[-1]) * HOP / SR < min_gap_s:
                if flux[i] > flux[peaks[-1]]:
                    peaks[-1] = i
                continue
            peaks.append(i)
    return (np.array(peaks, dtype=np.float64) * HOP) / SR


def match(ref_s, est_s, tol_s: float) -> tuple[int, int, int]:
    """(hits, n_ref, n_est): each reference takes the nearest unused estimate within +-tol_s,
    references in their given order (one-to-one, greedy)."""
    ref = np.asarray(ref_s, dtype=np.float64).reshape(-1)
    est = np.asarray(est_s, dtype=np.float64).reshape(-1)
    used = np.zeros(len(est), bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r)
        d[used] = np.inf
        j = int(np.argmin(d)) if len(d) else -1
        if j >= 0 and d[j] <= tol_s:
            used[j] = True
            hits += 1
    return hits, len(ref), len(est)


def f1_from_counts(hits: int, n_ref: int, n_est: int) -> float:
    """F1 of a match; two empty lists agree perfectly (1.0), one empty list scores 0."""
    if n_ref == 0 and n_est == 0:
        return 1.0
    if n_ref == 0 or n_est == 0:
        return 0.0
    return 2.0 * hits / (n_ref + n_est)


def onset_f1(ref_s, est_s, tol_s: float) -> float:
    return f1_from_counts(*match(ref_s, est_s, tol_s))


def sync_score(audio: np.ndarray, marker_times_s, sr: int = SR) -> dict:
    """How well a take's onsets land on its markers: F1 at +-40 and +-100 ms, precision and
    recall at +-100 ms, and how many onsets the take has."""
    est = detect_onsets(audio, sr=sr)
    ref = np.asarray(marker_times_s, dtype=np.float64).reshape(-1)
    h40 = match(ref, est, 0.04)
    h100, n_ref, n_est = match(ref, est, 0.1)
    return {
        "f1_40ms": round(f1_from_counts(*h40), 4),
        "f1_100ms": round(f1_from_counts(h100, n_ref, n_est), 4),
        "precision": round(h100 / n_est, 4) if n_est else (1.0 if n_ref == 0 else 0.0),
        "recall": round(h100 / n_ref, 4) if n_ref else 1.0,
        "n_onsets": int(n_est),
        "n_markers": int(n_ref),
    }
