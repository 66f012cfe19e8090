"""The audio representation of foley-tiny: log energies of mel-spaced bands at 100 Hz.

Encoding (numpy, training side only): frame f covers samples [f*HOP, (f+1)*HOP) and is analysed
with a Hann window of 2*HOP centred on that block. Decoding is deterministic "filtered noise":
band energies -> linear power per STFT bin through a fixed interpolation matrix -> magnitudes
times a fixed pseudo-random phase table -> inverse FFT -> sine window -> overlap-add. Foley is
mostly noise-like, so this needs no trained vocoder; the decoder graph (export.py) computes
exactly `decode()` below, which is the reference the tests compare against.
"""
from __future__ import annotations

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.spotting.onsets import analysis_matrix, band_centres, log_bands

SR = SAMPLE_RATE               # the app's rate (the training modules read codec.SR)
HOP = 480                      # 100 latent frames per second
WIN = 2 * HOP                  # 20 ms: short enough to keep footsteps and impacts sharp
N_BINS = WIN // 2 + 1          # 481 linear bins, 50 Hz apart
N_BANDS = 64
F_MIN, F_MAX = 30.0, 20000.0
POWER_FLOOR = 1e-9             # -90 dB per bin: the latent of digital silence
# Latent normalisation: z = (ln(power + floor) - LOG_MEAN) / LOG_STD  (set from data, fixed).
LOG_MEAN = -12.0
LOG_STD = 4.0
PHASE_PERIOD = 1024            # phase table repeats every 10.24 s (inaudible for noise)
PHASE_SEED = 20260423


def band_matrices() -> tuple[np.ndarray, np.ndarray]:
    """(analysis [N_BANDS, N_BINS], synthesis [N_BINS, N_BANDS]).

    The analysis is the app's band analysis (spotting/onsets.py: triangular mel bands whose
    centres are forced at least one bin apart, rows averaging the power of their bins);
    synthesis rows interpolate band powers back to every bin (rows sum to 1).
    """
    centres = band_centres()
    k = np.arange(N_BINS, dtype=np.float64)
    # Synthesis: piecewise-linear interpolation between band centres (flat outside).
    syn = np.zeros((N_BINS, N_BANDS))
    for i in range(N_BINS):
        x = k[i]
        if x <= centres[0]:
            syn[i, 0] = 1.0
        elif x >= centres[-1]:
            syn[i, -1] = 1.0
        else:
            j = int(np.searchsorted(centres, x) - 1)
            a = (x - centres[j]) / (centres[j + 1] - centres[j])
            syn[i, j], syn[i, j + 1] = 1.0 - a, a
    return analysis_matrix(), syn.astype(np.float32)


def synthesis_window() -> np.ndarray:
    # Sine window: its squares overlap-add to exactly 1 at hop WIN/2, so uncorrelated
    # random-phase frames keep a constant power.
    return np.sin(np.pi * (np.arange(WIN) + 0.5) / WIN).astype(np.float32)


def phase_table() -> tuple[np.ndarray, np.ndarray]:
    """Fixed (cos, sin) of uniform random phases, each [N_BINS, PHASE_PERIOD]."""
    rng = np.random.Generator(np.random.PCG64(PHASE_SEED))
    ph = rng.uniform(0.0, 2 * np.pi, size=(N_BINS, PHASE_PERIOD))
    ph[0] = 0.0
    ph[-1] = 0.0
    return np.cos(ph).astype(np.float32), np.sin(ph).astype(np.float32)


_SYN = band_matrices()[1]


def encode(audio: np.ndarray) -> np.ndarray:
    """Mono float audio at 48 kHz -> normalised latent [N_BANDS, ceil(len/HOP)] float32 (the
    analysis every onset score in the app uses: spotting.onsets.log_bands)."""
    return log_bands(audio)


def decode(latent: np.ndarray) -> np.ndarray:
    """Reference decoder: latent [N_BANDS, F] -> audio [F*HOP] float32 (what the graph does)."""
    latent = np.asarray(latent, dtype=np.float32)
    n_frames = latent.shape[1]
    power_b = np.exp(latent * LOG_STD + LOG_MEAN) - POWER_FLOOR
    power_b = np.maximum(power_b, 0.0)
    power = _SYN @ power_b                                          # [bins, F]
    mag = np.sqrt(power * SYNTH_GAIN)
    cos_t, sin_t = phase_table()
    cols = np.arange(n_frames) % PHASE_PERIOD
    frames = np.fft.irfft(mag * cos_t[:, cols] + 1j * mag * sin_t[:, cols], n=WIN, axis=0)
    frames = frames.T * synthesis_window()                          # [F, WIN]
    out = np.zeros((n_frames + 1) * HOP, dtype=np.float64)
    for i in range(2):  # two interleaved sets of frames never overlap within a set
        sel = frames[i::2].reshape(-1)
        start = i * HOP
        out[start:start + len(sel)] += sel
    return out[HOP // 2: HOP // 2 + n_frames * HOP].astype(np.float32)


# irfft of a spectrum with per-bin power P and random phase gives a frame whose sample variance
# is sum_k c_k * P_k / WIN^2 (c_k = 2 except DC/Nyquist); with power measured per sample
# (divided by sum(w^2) = 3/8 WIN for Hann) the constant below makes decoded white noise keep
# its encoded power. Checked numerically in tests/test_model_codec.py.
SYNTH_GAIN = float(WIN ** 2 / (2 * (N_BINS - 1)) * 1.0)
