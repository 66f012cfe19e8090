"""After the decoder: DC removal, an optional loudness target, a true-peak-safe limit.

All at 48 kHz, float, mono. Loudness follows ITU-R BS.1770-4 (K-weighting, 400 ms blocks with
75 % overlap, absolute gate -70 LUFS, relative gate -10 LU). The K-weighting biquads are applied
as their exact complex frequency response on a zero-padded FFT (a linear convolution with the
filters' impulse response, which has decayed long before the padding ends): numpy only, no
per-sample Python loop. True peak is measured on a 4x oversampled copy (soxr).
"""

from __future__ import annotations

import math

import numpy as np
import soxr

from foley_desktop.media.timebase import SAMPLE_RATE as SR

DEFAULT_CEILING_DBTP = -1.0

# BS.1770-4 K-weighting at 48 kHz: high-shelf ("head") then RLB high-pass.
_SHELF_B = (1.53512485958697, -2.69169618940638, 1.19839281085285)
_SHELF_A = (1.0, -1.69065929318241, 0.73248077421585)
_HP_B = (1.0, -2.0, 1.0)
_HP_A = (1.0, -1.99004745483398, 0.99007225036621)


def remove_dc(x: np.ndarray, window_s: float = 0.05) -> np.ndarray:
    """x minus its twice box-smoothed (triangle, 2 x 50 ms) self: a linear-phase high-pass
    that removes DC and sub-sonic drift (-4.5 dB at 10 Hz, flat within 0.4 dB above 25 Hz)."""
    if len(x) == 0:
        return x
    w = max(1, round(window_s * SR))
    smooth = x.astype(np.float64)
    for _ in range(2):
        pad = np.pad(smooth, (w // 2, w - w // 2), mode="reflect" if len(smooth) > w else "edge")
        c = np.concatenate([[0.0], np.cumsum(pad)])
        smooth = (c[w:] - c[:-w])[: len(x)] / w
    return (x - smooth).astype(np.float32)


def _k_response(n_fft: int) -> np.ndarray:
    z = np.exp(-1j * np.linspace(0.0, np.pi, n_fft // 2 + 1))

    def biquad(b, a):
        return (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)

    return biquad(_SHELF_B, _SHELF_A) * biquad(_HP_B, _HP_A)


def k_weight(x: np.ndarray) -> np.ndarray:
    n = len(x)
    n_fft = 1 << math.ceil(math.log2(n + SR))   # 1 s of padding: no wrap-around
    return np.fft.irfft(np.fft.rfft(x.astype(np.float64), n_fft) * _k_response(n_fft), n_fft)[:n]


def integrated_loudness(x: np.ndarray) -> float:
    """Integrated loudness in LUFS (mono); -inf for silence."""
    y = k_weight(x)
    block, hop = int(0.4 * SR), int(0.1 * SR)
    if len(y) < block:
        z = np.array([np.mean(y * y)]) if len(y) else np.array([0.0])
    else:
        sq = np.concatenate([[0.0], np.cumsum(y * y)])
        starts = np.arange(0, len(y) - block + 1, hop)
        z = (sq[starts + block] - sq[starts]) / block
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(z)
    z = z[lk > -70.0]
    if len(z) == 0:
        return float("-inf")
    rel = -0.691 + 10 * np.log10(np.mean(z)) - 10.0
    with np.errstate(divide="ignore"):
        z = z[-0.691 + 10 * np.log10(z) > rel]
    return float(-0.691 + 10 * np.log10(np.mean(z)))


def true_peak_envelope(x: np.ndarray) -> np.ndarray:
    """Per-sample true peak: max |.| over the 4x oversampled samples around each sample."""
    up = soxr.resample(x.astype(np.float64), SR, 4 * SR, quality="VHQ")
    n = 4 * len(x)
    if len(up) < n:
        up = np.pad(up, (0, n - len(up)))
    up = np.abs(up[:n])
    # The max of each group of 4 as three element-wise maxima of strided views: the same
    # values as reshape(-1, 4).max(axis=1), in 60 % of its time (a reduction over a short axis
    # is slow in numpy); this runs 3-4 times per take.
    peak4 = np.maximum(np.maximum(up[0::4], up[1::4]), np.maximum(up[2::4], up[3::4]))
    return np.maximum(np.abs(x), peak4)


def true_peak_dbtp(x: np.ndarray) -> float:
    if len(x) == 0:
        return float("-inf")
    peak = float(true_peak_envelope(x).max())
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def limit_true_peak(x: np.ndarray, ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
                    block: int = 48, attack_s: float = 0.002,
                    release_s: float = 0.05) -> np.ndarray:
    """Gain-ride `x` so its true peak stays under the ceiling: a look-ahead limiter on 1 ms
    blocks (gain falls before a peak and recovers over `release_s`), then a final static trim
    that guarantees the ceiling even where the gain ramps created inter-sample overs."""
    return _limit(x, ceiling_dbtp, block, attack_s, release_s)[0]


def _limit(x: np.ndarray, ceiling_dbtp: float, block: int = 48, attack_s: float = 0.002,
           release_s: float = 0.05) -> tuple[np.ndarray, float]:
    """limit_true_peak's work; also returns the result's true peak (linear), which it has
    measured anyway, so that finish() need not oversample the take once more."""
    if len(x) == 0:
        return x, 0.0
    ceiling = 10 ** (ceiling_dbtp / 20)
    env = true_peak_envelope(x)
    if env.max() <= ceiling:
        return x, float(env.max())
    nb = math.ceil(len(x) / block)
    peaks = np.pad(env, (0, nb * block - len(x))).reshape(nb, block).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    rel = 1.0 - math.exp(-block / (release_s * SR))
    att = 1.0 - math.exp(-block / (attack_s * SR))
    g = need.copy()
    for i in range(1, nb):                     # release: recover slowly after a peak
        g[i] = min(need[i], g[i - 1] + (1.0 - g[i - 1]) * rel)
        if g[i] > 0.999:                       # within 0.01 dB: back to unity, exactly
            g[i] = min(need[i], 1.0)
    for i in range(nb - 2, -1, -1):            # look-ahead: start falling before a peak
        g[i] = min(g[i], g[i + 1] + (1.0 - g[i + 1]) * att)
    g = np.minimum(g, np.minimum(np.r_[g[1:], 1.0], np.r_[1.0, g[:-1]]))
    centres = np.arange(nb) * block + (block - 1) / 2
    gain = np.interp(np.arange(len(x)), centres, g)
    y = (x * gain).astype(np.float32)
    for _ in range(3):
        tp = float(true_peak_envelope(y).max())
        if tp <= ceiling:
            break
        y = (y * (ceiling / tp * 0.9999)).astype(np.float32)
    else:
        tp = float(true_peak_envelope(y).max())
    return y, tp


def finish(audio: np.ndarray, loudness_lufs: float | None = None,
           ceiling_dbtp: float = DEFAULT_CEILING_DBTP, dc: bool = True) -> tuple[np.ndarray, dict]:
    """DC removal, then a level: the loudness target's gain and the true-peak limiter when a
    target is asked; without one, a take whose true peak is over the ceiling is turned down as
    a whole (one gain, reported as `gain_db`). Why not the limiter there: a model's output level
    carries no meaning (foley-tiny's guided output peaks up to +25 dBFS on loud classes), and
    riding the gain down by 20 dB or more on every attack flattens them and squeezes loud
    events towards quiet ones; one gain keeps the take's dynamics as generated.
    `dc=False` skips the DC removal (recordings laid by the library renderer: its 100 ms
    linear-phase filter would smear a faint ramp ahead of every placed hit).
    Returns audio and a report."""
    y = remove_dc(audio.astype(np.float32)) if dc else audio.astype(np.float32)
    report: dict = {}
    if loudness_lufs is not None:
        before = integrated_loudness(y)
        report["loudness_before_lufs"] = before
        if math.isfinite(before):
            y = (y * 10 ** ((loudness_lufs - before) / 20)).astype(np.float32)
    if loudness_lufs is not None or not len(y):
        y, peak = _limit(y, ceiling_dbtp)
    else:
        # The true peak scales with the gain (the oversampling is linear): measured once.
        peak = float(true_peak_envelope(y).max())
        ceiling = 10 ** (ceiling_dbtp / 20)
        if peak > ceiling:
            gain = ceiling / peak * 0.9999
            y = (y * gain).astype(np.float32)
            peak *= gain
            report["gain_db"] = round(20 * math.log10(gain), 2)
    report["true_peak_dbtp"] = 20 * math.log10(peak) if peak > 0 else float("-inf")
    if loudness_lufs is not None:
        report["loudness_lufs"] = integrated_loudness(y)
    return y, report
