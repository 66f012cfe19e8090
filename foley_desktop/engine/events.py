"""Spotting markers -> the event track a marker-following denoiser is conditioned on.

The track is [frames, 2] at the latent frame rate of one window:
- channel 0: a strength-weighted Gaussian pulse (sigma PULSE_SIGMA frames) centred on each
  marker. The centre is the marker's *fractional* frame measured from the analysis frames'
  centres: the codec's frame f is the window of audio centred on sample f * hop + hop / 2
  (train/codec.py pads by half a hop), so a marker at sample s sits at frame s / hop - 1/2.
  A fractional centre keeps sub-frame timing (a 10 ms frame is a quarter of the +-40 ms
  tolerance editors check), and a pulse a few frames wide gives every frame near the event a
  non-zero value, which trains better than a single spike.
- channel 1: 1 on the frames where markers were given (the segment), 0 elsewhere; all 0 means
  "no markers": the model then places events from the picture, as packages without the input do.

Training (train/train.py) and the engine both rasterise through `event_track`, so the model
sees at generation exactly the shape it was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from foley_desktop.errors import GenerationError
from foley_desktop.media.timebase import SAMPLE_RATE

EVENTS_INPUT = "events"       # the denoiser input's name in a package's manifest
CHANNELS = 2
PULSE_SIGMA = 1.0             # latent frames (10 ms at 100 Hz)
_REACH = 4                    # frames either side where a pulse is written (4 sigma)


def event_track(times: np.ndarray, strengths: np.ndarray, n_frames: int, hop: float,
                given: tuple[int, int] | None) -> np.ndarray:
    """Event track [n_frames, 2] float32 for events at `times` (samples from the window's first
    sample, any float, may lie outside the window) with `strengths` (0..1).
    `given`: the frame range [lo, hi) where markers were given (channel 1), None for none."""
    track = np.zeros((n_frames, CHANNELS), np.float32)
    if given is None:
        return track
    lo, hi = max(0, int(given[0])), min(n_frames, int(given[1]))
    if hi > lo:
        track[lo:hi, 1] = 1.0
    frames = np.arange(n_frames, dtype=np.float64)
    for s, a in zip(np.asarray(times, np.float64).reshape(-1),
                    np.asarray(strengths, np.float64).reshape(-1)):
        c = s / hop - 0.5
        f0, f1 = max(0, math.floor(c) - _REACH), min(n_frames, math.ceil(c) + _REACH + 1)
        if f1 <= f0:
            continue
        pulse = a * np.exp(-0.5 * ((frames[f0:f1] - c) / PULSE_SIGMA) ** 2)
        # max, not sum: two close markers stay a pulse of the given strength each
        track[f0:f1, 0] = np.maximum(track[f0:f1, 0], pulse.astype(np.float32))
    return track


def validate_markers(markers: Iterable[Any], start: int, end: int) -> list[tuple[int, float]]:
    """Markers as (time in samples in the clip, strength 0..1), checked against the segment
    [start, end]; a bad one raises a one-line GenerationError that names it."""
    out = []
    for i, m in enumerate(markers):
        try:
            t, s = m
            s = float(s)
            if isinstance(t, float) and not math.isfinite(t):
                raise ValueError
            t = int(t)
        except (TypeError, ValueError, OverflowError):
            raise GenerationError(f"marker {i + 1} ({m!r}) must be (time in samples, "
                                  "strength 0..1)") from None
        if not math.isfinite(s) or not 0.0 <= s <= 1.0:
            raise GenerationError(f"marker {i + 1} at {t / SAMPLE_RATE:.3f} s has strength {s}; "
                                  "it must be within 0..1")
        if not start <= t <= end:
            raise GenerationError(f"marker {i + 1} at {t / SAMPLE_RATE:.3f} s is outside the segment "
                                  f"{start / SAMPLE_RATE:.3f}-{end / SAMPLE_RATE:.3f} s")
        out.append((t, s))
    return out


def window_track(markers: list[tuple[int, float]] | None, win_start: int, n_frames: int,
                 hop_48k: float, seg_start: int, seg_end: int) -> np.ndarray:
    """The event track of one generation window starting at clip sample `win_start` (48 kHz),
    `n_frames` latent frames of `hop_48k` samples at 48 kHz each. Channel 1 covers the part of
    the window inside the segment [seg_start, seg_end); markers of neighbouring windows whose
    pulses reach into this one are drawn too."""
    if markers is None:
        return np.zeros((n_frames, CHANNELS), np.float32)
    lo = math.floor((seg_start - win_start) / hop_48k)
    hi = math.ceil((seg_end - win_start) / hop_48k)
    times = np.array([t - win_start for t, _ in markers], np.float64)
    strengths = np.array([s for _, s in markers], np.float64)
    return event_track(times, strengths, n_frames, hop_48k, (lo, hi))
