"""Long segments as overlapping windows, joined with power-preserving crossfades.

Windows are `frames` latent frames long and start every `frames - overlap` frames; the last one
may reach past the segment and is trimmed. Audio of consecutive windows overlaps by
`overlap * hop` samples and is crossfaded there.

The crossfade is equal-power (sin/cos) when the two windows are uncorrelated, which is the
textbook case. But a window that continues the previous one (the sampler inpaints its overlap
from the previous latent) produces nearly the same audio in the overlap, and sin/cos gains
would then add +3 dB at the middle. So the gains are normalised by the measured correlation
rho of the two overlapping signals: g_a^2 + g_b^2 + 2 rho g_a g_b = 1 at every point, i.e. the
sum keeps the power of its parts whatever their correlation (equal-power for rho = 0,
equal-gain for rho = 1; rho is clipped at -0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPlan:
    frames: int          # latent frames per window
    overlap: int         # latent frames shared by consecutive windows
    starts: tuple[int, ...]

    @property
    def total_frames(self) -> int:
        return self.starts[-1] + self.frames


def plan(needed_frames: int, frames: int, overlap: int) -> WindowPlan:
    """Windows covering `needed_frames` latent frames (one window when it fits)."""
    if needed_frames <= frames:
        return WindowPlan(frames, overlap, (0,))
    step = frames - overlap
    count = 1 + math.ceil((needed_frames - frames) / step)
    return WindowPlan(frames, overlap, tuple(i * step for i in range(count)))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    denom = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b)) / denom if denom > 0 else 0.0


def crossfade_gains(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out gains for `a` and fade-in gains for `b` over their common length."""
    n = len(a)
    theta = (np.arange(n, dtype=np.float64) + 0.5) / n * (np.pi / 2)
    ga, gb = np.cos(theta), np.sin(theta)
    rho = correlation(a, b)
    # Strongly anti-correlated parts would need unbounded gains in the middle; from -0.5 on
    # the boost is capped at 3 dB (sqrt(1 + rho) at the midpoint).
    rho = min(1.0, max(-0.5, rho))
    norm = np.sqrt(ga * ga + gb * gb + 2.0 * rho * ga * gb)
    return ga / norm, gb / norm


def join(chunks: list[np.ndarray], step: int, overlap: int,
         correlations: list[float] | None = None) -> np.ndarray:
    """Concatenate chunks placed every `step` samples, crossfading `overlap` samples.
    The two sides' correlation at each join is appended to `correlations` when given."""
    total = step * (len(chunks) - 1) + len(chunks[-1])
    out = np.zeros(total, dtype=np.float64)
    for i, chunk in enumerate(chunks):
        pos = i * step
        chunk = chunk.astype(np.float64)
        if i == 0 or overlap == 0:
            out[pos: pos + len(chunk)] = chunk
            continue
        prev = out[pos: pos + overlap].copy()
        if correlations is not None:
            correlations.append(correlation(prev, chunk[:overlap]))
        ga, gb = crossfade_gains(prev, chunk[:overlap])
        out[pos: pos + overlap] = prev * ga + chunk[:overlap] * gb
        out[pos + overlap: pos + len(chunk)] = chunk[overlap:]
    return out.astype(np.float32)
