"""Exact time arithmetic: samples at 48 kHz, frames at rational rates, SMPTE timecode.

Every time in a project is an integer count of samples at `SAMPLE_RATE`; frame rates are
`Fraction`s (30000/1001, never 29.97) so that conversions never drift over an hour.

Timecode: non-drop timecode counts whole frames at the *nominal* rate (round(fps), e.g. 24 for
23.976, 30 for 29.97), which is what NLEs display. Drop-frame timecode (29.97, 59.94) skips
frame numbers 0 and 1 (0-3 at 59.94) at the start of every minute except each tenth minute, so
that the label stays within a frame of wall-clock time; it is written with ";" before frames.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np

SAMPLE_RATE = 48000

Number = Fraction | int | float | str


def to_fraction(value: Number) -> Fraction:
    """A Fraction from an int, Fraction, decimal string ("1.5", "30000/1001") or float."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        # Via repr so 0.1 means 1/10, not the binary float's exact value.
        return Fraction(repr(value))
    return Fraction(value)


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def seconds_to_samples(seconds: Number, sr: int = SAMPLE_RATE) -> int:
    """Seconds -> nearest whole sample (halves round up)."""
    return _round_half_up(to_fraction(seconds) * sr)


def samples_to_seconds(samples: int, sr: int = SAMPLE_RATE) -> Fraction:
    return Fraction(int(samples), sr)


def frame_to_samples(frame: int, fps: Number, sr: int = SAMPLE_RATE) -> int:
    """Start of frame `frame` in samples (rounded to nearest: 29.97 frames are not whole samples)."""
    return _round_half_up(Fraction(int(frame)) * sr / to_fraction(fps))


def frames_to_samples(frames: np.ndarray, fps: Number, sr: int = SAMPLE_RATE) -> np.ndarray:
    """`frame_to_samples` for an array of frames >= 0, in exact int64 arithmetic.

    floor(f*sr/fps + 1/2) = (2*f*sr*den + num) // (2*num): the timeline's ruler draws hundreds
    of ticks per repaint, and Fractions cost ~25 us each.
    """
    fps = to_fraction(fps)
    f = np.asarray(frames, dtype=np.int64)
    return (2 * f * (sr * fps.denominator) + fps.numerator) // (2 * fps.numerator)


def samples_to_frame(samples: int, fps: Number, sr: int = SAMPLE_RATE) -> int:
    """The frame whose interval contains `samples` (floor).

    Inverse of `frame_to_samples` for every frame: frame starts are rounded to the nearest
    sample, so we floor with that half-sample rounding undone.
    """
    fps = to_fraction(fps)
    # frame_to_samples(f) = floor(f*sr/fps + 1/2) <= s  <=>  f*sr/fps < s + 1/2
    return math.ceil((Fraction(int(samples)) + Fraction(1, 2)) * fps / sr) - 1


def nominal_fps(fps: Number) -> int:
    """Frames per timecode second: 24 for 23.976, 30 for 29.97, 60 for 59.94."""
    return round(to_fraction(fps))


def _drop_per_minute(fps: Fraction) -> int:
    nominal = nominal_fps(fps)
    if fps.denominator == 1 or nominal % 30 != 0:
        raise ValueError(f"drop-frame timecode is defined for 29.97 and 59.94 fps, not {float(fps):g}")
    return 2 * (nominal // 30)


def frames_to_timecode(frame: int, fps: Number, drop_frame: bool = False) -> str:
    fps = to_fraction(fps)
    nominal = nominal_fps(fps)
    frame = int(frame)
    if frame < 0:
        raise ValueError("timecode cannot be negative")
    if drop_frame:
        drop = _drop_per_minute(fps)
        per_10min = nominal * 600 - drop * 9
        per_min = nominal * 60 - drop
        tens, rem = divmod(frame, per_10min)
        # The first minute of each ten keeps all its numbers; the others skip `drop`.
        extra = drop * 9 * tens
        if rem >= drop:
            extra += drop * ((rem - drop) // per_min)
        frame += extra
    ff = frame % nominal
    total_s = frame // nominal
    sep = ";" if drop_frame else ":"
    return f"{total_s // 3600:02d}:{total_s // 60 % 60:02d}:{total_s % 60:02d}{sep}{ff:02d}"


_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def timecode_to_frames(tc: str, fps: Number, drop_frame: bool | None = None) -> int:
    """Parse "HH:MM:SS:FF" (or ";" for drop-frame, which is then implied) to a frame count."""
    m = _TC.match(tc.strip())
    if not m:
        raise ValueError(f"not a timecode: {tc!r} (expected HH:MM:SS:FF)")
    hh, mm, ss, sep, ff = m.groups()
    hh, mm, ss, ff = int(hh), int(mm), int(ss), int(ff)
    fps = to_fraction(fps)
    nominal = nominal_fps(fps)
    if drop_frame is None:
        drop_frame = sep in ";,"
    if mm > 59 or ss > 59 or ff >= nominal:
        raise ValueError(f"timecode out of range: {tc!r} at {float(fps):g} fps")
    frames = ((hh * 60 + mm) * 60 + ss) * nominal + ff
    if drop_frame:
        drop = _drop_per_minute(fps)
        if ss == 0 and ff < drop and mm % 10 != 0:
            raise ValueError(f"{tc!r} does not exist in drop-frame timecode")
        total_min = hh * 60 + mm
        frames -= drop * (total_min - total_min // 10)
    return frames


def samples_to_timecode(samples: int, fps: Number, drop_frame: bool = False,
                        sr: int = SAMPLE_RATE) -> str:
    """Timecode of the frame that contains sample `samples`."""
    return frames_to_timecode(samples_to_frame(samples, fps, sr), fps, drop_frame)


def timecode_to_samples(tc: str, fps: Number, drop_frame: bool | None = None,
                        sr: int = SAMPLE_RATE) -> int:
    """First sample of the frame labelled `tc`."""
    return frame_to_samples(timecode_to_frames(tc, fps, drop_frame), fps, sr)


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_time(text: str, fps: Number | None = None, sr: int = SAMPLE_RATE) -> int:
    """A user's time -> samples: "1.5" (seconds), "00:00:01.500", or "00:00:01:12" (needs fps)."""
    t = str(text).strip()
    try:
        if re.fullmatch(r"[+-]?\d+(\.\d*)?|[+-]?\.\d+", t):
            return seconds_to_samples(Fraction(t), sr)
        m = _CLOCK.match(t)
        if m:
            hh, mm, ss = m.groups()
            secs = (int(hh or 0) * 60 + int(mm)) * 60 + Fraction(ss)
            return seconds_to_samples(secs, sr)
        if _TC.match(t):
            if fps is None:
                raise ValueError(f"timecode {t!r} needs a frame rate")
            return timecode_to_samples(t, fps, sr=sr)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"not a time: {text!r} (use seconds like 1.5, 00:00:01.500 or HH:MM:SS:FF)")


def parse_rate(text: Number) -> Fraction:
    """A frame rate from "30000/1001", "29.97" (taken as 30000/1001), "25" …"""
    value = to_fraction(text)
    # Decimal NTSC rates are shorthand for the exact 1000/1001 rates.
    for nominal in (24, 30, 48, 60, 120):
        exact = Fraction(nominal * 1000, 1001)
        if value != exact and abs(value - exact) < Fraction(1, 200):
            return exact
    return value


def outside_clip(start: int, end: int, clip_len: int, sr: int = SAMPLE_RATE) -> str | None:
    """Why a segment [start, end) (samples) does not lie inside a clip `clip_len` samples
    long, or None when it does: the one rule (and wording) of the engine, `generate` in
    every mode and `spot`."""
    if start >= clip_len:
        return f"--start {start / sr:.3f} s is at or past the clip's end ({clip_len / sr:.3f} s)"
    if end > clip_len:
        return (f"the segment {start / sr:.3f}-{end / sr:.3f} s is outside the clip "
                f"({clip_len / sr:.3f} s long)")
    return None
